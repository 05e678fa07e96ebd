"""The collection as a user of `ansible-galaxy collection install` has it: built into a tarball,
installed into an empty collections path, and run by FQCN from an empty directory against moto,
with the inventory the collection ships (copied, as README says)."""

import os
import shutil
import subprocess
import tarfile

import pytest
from testlib import CALLER_CIDR, ROOT, aws_test_env

pytestmark = pytest.mark.slow(seconds=60)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    work = tmp_path_factory.mktemp("installed")
    subprocess.run(["ansible-galaxy", "collection", "build", "--output-path", str(work / "dist"), str(ROOT)],
                   check=True, capture_output=True, text=True)
    [tarball] = (work / "dist").glob("ec2lab-notebook-*.tar.gz")
    # Its dependencies come with the ansible bundle; nothing is fetched from Galaxy. Away from the
    # checkout, whose ansible.cfg would show ec2lab.notebook as installed already.
    env = {key: value for key, value in os.environ.items() if not key.startswith("ANSIBLE_")}
    subprocess.run(["ansible-galaxy", "collection", "install", "--no-deps", "-p", str(work / "collections"), str(tarball)],
                   cwd=work, env=env, check=True, capture_output=True, text=True)
    return tarball, work / "collections" / "ansible_collections" / "ec2lab" / "notebook"


def test_the_tarball_holds_the_collection_and_none_of_the_tests(installed):
    tarball, _ = installed
    with tarfile.open(tarball) as archive:
        tops = {name.split("/")[0] for name in archive.getnames()}
    assert {"roles", "plugins", "playbooks", "inventory", "examples", "meta"} <= tops
    assert not tops & {"tests", "extensions", "bench", "collections", ".venv", ".ci"}, tops


def test_an_installed_collection_launches_sets_up_and_terminates_by_fqcn(installed, aws, tmp_path):
    _, collection = installed
    user_dir = tmp_path / "empty"
    user_dir.mkdir()
    env = aws_test_env(aws.endpoint)
    env.pop("ANSIBLE_CONFIG", None)  # no checkout, no ansible.cfg: only the installed collection
    env.update(HOME=str(tmp_path / "home"), ANSIBLE_COLLECTIONS_PATH=str(collection.parents[2]))
    keys = ["-e", f"ec2lab_key_dir={tmp_path / 'keys'}", "-e", "ec2lab_wait_for_ssh=false"]

    def run(*argv):
        proc = subprocess.run(["ansible-playbook", *argv], cwd=user_dir, env=env, capture_output=True, text=True,
                              timeout=600)
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
        return proc.stdout

    run("ec2lab.notebook.launch", *keys, "-e", f"ec2lab_ssh_cidrs={CALLER_CIDR}")
    assert [i["State"]["Name"] for i in aws.instances()] == ["running"]
    assert '"nb ' in run("ec2lab.notebook.status", "-e", "ec2lab_pricing_api=false")

    shutil.copytree(collection / "inventory", user_dir / "inventory")
    hosts = run("-i", "inventory", "ec2lab.notebook.setup_notebook", "--list-hosts", *keys)
    assert "hosts (1):\n      nb" in hosts.replace("\r", ""), hosts

    run("ec2lab.notebook.terminate", *keys, "-e", "ec2lab_purge=true")
    assert aws.nothing_for("nb")
