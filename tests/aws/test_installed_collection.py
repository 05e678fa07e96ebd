"""The collection as a user of `ansible-galaxy collection install` has it: built into a tarball,
installed into an empty collections path, and run by FQCN from an empty directory against moto,
with the inventory the collection ships (copied, as README says)."""

import shutil
import subprocess
import tarfile

import pytest
from testlib import CALLER_CIDR, aws_test_env, install_collection, installed_collection_env

pytestmark = pytest.mark.slow(seconds=60)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    return install_collection(tmp_path_factory.mktemp("installed"))


def test_the_tarball_holds_the_collection_and_none_of_the_tests(installed):
    tarball, _ = installed
    with tarfile.open(tarball) as archive:
        tops = {name.split("/")[0] for name in archive.getnames()}
    assert {"roles", "plugins", "playbooks", "inventory", "examples", "meta"} <= tops
    assert not tops & {"tests", "extensions", "bench", "collections", ".venv", ".ci"}, tops


def test_an_installed_collection_launches_finds_its_host_and_terminates_by_fqcn(installed, aws, tmp_path):
    _, collection = installed
    user_dir = tmp_path / "empty"
    user_dir.mkdir()
    env = installed_collection_env(aws_test_env(aws.endpoint), collection)
    env["HOME"] = str(tmp_path / "home")
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
