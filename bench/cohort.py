#!/usr/bin/env python3
"""Cohorts, offline: a class's workstations side by side against the same work one after another,
each pair measured in this run on this machine.

  launch      launch.yml -e @roster (N students, one play host each, Ansible's forks) vs N
              personal launches one after another, against moto       target: >= 2.5x faster
              and N side by side vs 1 alone (context: what N costs on this controller)
  setup       setup-notebook.yml re-run (changed=0) on N containers side by side vs the same N
              re-runs one after another (--limit)                      target: >= 2x faster
              and the first converge of the N side by side (context)
  baked       setup-notebook.yml first converge of N containers side by side from the test bed image
              (everything installed from the fixtures) vs N from an image baked from one set-up
              container (role generalise, then `podman commit`: what bake.yml's AMI is offline).
              Offline the installers are local fixtures, so the ratio understates the gain: on real
              AWS the baked side also saves each host's downloads (Anaconda alone is ~1 GB).
  and, first, the size and file count of the collection tarball (ansible-galaxy collection build)

Needs root, podman and `source tests/testbed/env.sh` for `setup`.
Usage: bench/cohort.py [--students N] [launch] [setup] [baked]
"""

import argparse
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))
from benchlib import timed  # noqa: E402
from setup_notebook import write_inventory  # noqa: E402
from testbed.instance import Instance  # noqa: E402
from testlib import CALLER_CIDR, aws_test_env, reset_moto, start_moto  # noqa: E402


def seconds(argv, env=None):
    return timed(argv, env)[0]


def speedup(what, one_after_another, side_by_side, target):
    ratio = one_after_another / side_by_side
    verdict = "met" if ratio >= target else "MISSED"
    print(f"{what:52s} one after another {one_after_another:6.1f} s | side by side {side_by_side:6.1f} s = "
          f"{ratio:4.1f}x faster (target >= {target}x: {verdict})", flush=True)


def bench_launch(students, work):
    moto, endpoint = start_moto(work / "moto.log")
    try:
        env = aws_test_env(endpoint)
        env["HOME"] = str(work / "home")
        common = ["-e", f"ec2lab_key_dir={work / 'keys'}", "-e", "ec2lab_wait_for_ssh=false"]
        names = [f"s{number}" for number in range(1, students + 1)]
        roster = work / "roster.yml"
        roster.write_text(yaml.safe_dump({"ec2lab_cohort": {
            "name": "bench", "ssh_cidrs": [CALLER_CIDR], "students": [{"name": name} for name in names]}}))

        def fresh():
            reset_moto(endpoint)
            subprocess.run(["rm", "-rf", str(work / "keys"), str(work / "home")], check=True)

        fresh()
        one = seconds(["ansible-playbook", "launch.yml", *common, "-e", f"ec2lab_ssh_cidrs={CALLER_CIDR}"], env)
        # A class of 30 one after another is a quarter of an hour of the same launch: measured up to 8.
        sequential = None
        if students <= 8:
            fresh()
            sequential = sum(seconds(["ansible-playbook", "launch.yml", *common, "-e", f"ec2lab_name={name}",
                                    "-e", f"ec2lab_ssh_cidrs={CALLER_CIDR}"], env) for name in names)
        fresh()
        parallel = seconds(["ansible-playbook", "launch.yml", *common, "-e", f"@{roster}"], env)
        if sequential is not None:
            speedup(f"launch.yml, {students} workstations", sequential, parallel, 2.5)
        print(f"{'launch.yml, ' + str(students) + ' side by side vs 1 alone':52s} 1 alone {one:6.1f} s | "
              f"{students} side by side {parallel:6.1f} s = {parallel / one:4.1f}x the time of one", flush=True)
    finally:
        moto.terminate()
        moto.wait(timeout=10)


def bench_setup(students, work):
    instances = {}
    try:
        for number in range(1, students + 1):
            name = f"bench-{number}"
            instances[name] = Instance(f"ec2lab-bench-{number}", work / name).create()
        inventory = write_inventory(instances, work / "inventory.yml")
        play = ["ansible-playbook", "-i", str(inventory), "setup-notebook.yml", "-e", "ec2lab_setup_ssh_alias=false"]
        first = seconds(play)
        parallel = seconds(play)
        sequential = sum(seconds([*play, "--limit", name]) for name in instances)
        print(f"{'setup-notebook.yml, first converge of ' + str(students):52s} side by side {first:6.1f} s "
              f"({first / students:5.1f} s per workstation)", flush=True)
        speedup(f"setup-notebook.yml re-run, {students} workstations", sequential, parallel, 2)
    finally:
        for instance in instances.values():
            instance.destroy()


GENERALISE = """
- name: {what}
  hosts: template
  gather_facts: false
  vars_files: [{root}/playbooks/vars/workstation.yml]
  tasks:
    - name: {what}
      ansible.builtin.import_role:
        name: ec2lab.notebook.generalise
        tasks_from: {entry}
"""


def bake_image(work) -> str:
    """The test bed's stand-in for bake.yml's AMI: one set-up container, generalised, committed,
    put back (bake.yml runs the same role around CreateImage)."""
    template = Instance("ec2lab-bench-template", work / "template").create()
    image = "localhost/ec2lab-baked:bench"
    try:
        inventory = write_inventory({"template": template}, work / "template.yml")
        subprocess.run(["ansible-playbook", "-i", str(inventory), "setup-notebook.yml", "-e", "ec2lab_setup_ssh_alias=false"],
                       check=True, capture_output=True)
        for entry, what in (("main", "Generalise"), ("restore", "Put back")):
            play = work / f"{entry}.yml"
            play.write_text(GENERALISE.format(what=what, root=ROOT, entry=entry))
            subprocess.run(["ansible-playbook", "-i", str(inventory), str(play)], check=True, capture_output=True)
            if entry == "main":
                subprocess.run(["podman", "commit", "--quiet", template.name, image], check=True, capture_output=True)
    finally:
        template.destroy()
    return image


def first_converge(students, work, image=None):
    instances = {}
    try:
        for number in range(1, students + 1):
            name = f"bench-{number}"
            instances[name] = Instance(f"ec2lab-bench-{number}", work / name, image=image).create()
        inventory = write_inventory(instances, work / "inventory.yml")
        return seconds(["ansible-playbook", "-i", str(inventory), "setup-notebook.yml", "-e", "ec2lab_setup_ssh_alias=false"])
    finally:
        for instance in instances.values():
            instance.destroy()


def bench_baked(students, work):
    image = bake_image(work)
    try:
        scratch = first_converge(students, work / "scratch")
        baked = first_converge(students, work / "baked", image=image)
    finally:
        subprocess.run(["podman", "rmi", "--ignore", image], capture_output=True)
    print(f"{'setup-notebook.yml first converge, ' + str(students) + ' side by side':52s} from scratch {scratch:6.1f} s | "
          f"from the baked image {baked:6.1f} s = {scratch / baked:4.1f}x faster (offline: no downloads on either side)",
          flush=True)


def collection_tarball(work):
    subprocess.run(["ansible-galaxy", "collection", "build", "--output-path", str(work), str(ROOT)],
                   check=True, capture_output=True, text=True)
    [tarball] = work.glob("ec2lab-notebook-*.tar.gz")
    with tarfile.open(tarball) as archive:
        files = sum(1 for member in archive.getmembers() if member.isfile())
    print(f"{'collection tarball (' + tarball.name + ')':52s} {tarball.stat().st_size / 1024:6.0f} KiB, {files} files",
          flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=8)
    parser.add_argument("parts", nargs="*", help="launch, setup, baked (default: all)")
    args = parser.parse_args()
    if set(args.parts) - {"launch", "setup", "baked"}:
        parser.error("parts are launch, setup and baked")
    with tempfile.TemporaryDirectory(prefix="ec2lab-bench-cohort-") as tmp:
        collection_tarball(Path(tmp))
        for part in args.parts or ["launch", "setup", "baked"]:
            work = Path(tmp) / part
            work.mkdir()
            {"launch": bench_launch, "setup": bench_setup, "baked": bench_baked}[part](args.students, work)


if __name__ == "__main__":
    main()
