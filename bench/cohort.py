#!/usr/bin/env python3
"""Cohorts, offline: a class's workstations side by side against the same work one after another,
each pair measured in this run on this machine.

  launch      launch.yml -e @roster (N students, one play host each, Ansible's forks) vs N
              personal launches one after another, against moto       target: >= 2.5x faster
              and N side by side vs 1 alone (context: what N costs on this controller)
  setup       setup-notebook.yml re-run (changed=0) on N containers side by side vs the same N
              re-runs one after another (--limit)                      target: >= 2x faster
              and the first converge of the N side by side (context)
  and, first, the size and file count of the collection tarball (ansible-galaxy collection build)

Needs root, podman and `source tests/testbed/env.sh` for `setup`.
Usage: bench/cohort.py [--students N] [launch] [setup]
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
        fresh()
        sequential = sum(seconds(["ansible-playbook", "launch.yml", *common, "-e", f"ec2lab_name={name}",
                                "-e", f"ec2lab_ssh_cidrs={CALLER_CIDR}"], env) for name in names)
        fresh()
        parallel = seconds(["ansible-playbook", "launch.yml", *common, "-e", f"@{roster}"], env)
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
    parser.add_argument("parts", nargs="*", help="launch, setup (default: both)")
    args = parser.parse_args()
    if set(args.parts) - {"launch", "setup"}:
        parser.error("parts are launch and setup")
    with tempfile.TemporaryDirectory(prefix="ec2lab-bench-cohort-") as tmp:
        collection_tarball(Path(tmp))
        for part in args.parts or ["launch", "setup"]:
            work = Path(tmp) / part
            work.mkdir()
            {"launch": bench_launch, "setup": bench_setup}[part](args.students, work)


if __name__ == "__main__":
    main()
