"""The path AWX / Automation Platform takes, offline: the collection installed from its tarball,
run by FQCN from an empty directory with no ansible.cfg; launch imports the key pair from the
Machine credential's public half (the job's home is thrown away, so no private key may be
written there), setup_notebook converges the container standing in for the instance with
the private half offered by an ssh-agent, as AWX offers a Machine credential, and a backup job
flushes the running workstation over SSH before its snapshot.

Only the addresses differ from real use (an inventory overlay, as in test_user_path.py).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tarfile

import pytest
from ssh_user import User
from testlib import CALLER_CIDR, install_collection, installed_collection_env

pytestmark = pytest.mark.slow(seconds=220)


def with_agent(key, *argv):
    """`argv` run with an ssh-agent holding only `key`, as AWX runs a job with a Machine credential."""
    return ["ssh-agent", "sh", "-c", 'ssh-add -q "$0" && exec "$@"', str(key), *argv]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    return install_collection(tmp_path_factory.mktemp("galaxy"))


def test_the_tarball_holds_the_collection_and_none_of_the_tests(installed):
    tarball, _ = installed
    with tarfile.open(tarball) as archive:
        tops = {name.split("/")[0] for name in archive.getnames()}
    assert {"roles", "plugins", "playbooks", "inventory", "examples", "meta"} <= tops
    assert not tops & {"tests", "extensions", "bench", "collections", ".venv", ".ci"}, tops


def test_awx_path(installed, moto_endpoint, instance, aws, tmp_path):
    _, collection = installed
    project = tmp_path / "project"
    project.mkdir()
    ssh_dir = tmp_path / "home" / ".ssh"
    ssh_dir.mkdir(parents=True, mode=0o700)
    job = User(ssh_dir, moto_endpoint)
    job.env = installed_collection_env(job.env, collection)
    credential = tmp_path / "machine_credential"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "awx-machine-credential", "-f", str(credential)],
                   check=True)
    public_key = credential.with_suffix(".pub").read_text().strip()

    # 1. Launch job template: the survey's name, the credential's public key; no key file written.
    launch = job.run("ansible-playbook", "ec2lab.notebook.launch", "-e", f"ec2lab_ssh_cidrs={CALLER_CIDR}",
                     "-e", "ec2lab_wait_for_ssh=false", "-e", json.dumps({"ec2lab_key_pair_public_key": public_key}),
                     cwd=project)
    assert "Key pair: imported from ec2lab_key_pair_public_key" in launch.stdout
    assert not list(ssh_dir.glob("*.pem"))
    status = job.run("ansible-playbook", "ec2lab.notebook.status", "-e", "ec2lab_pricing_api=false", cwd=project)
    assert '"nb ' in status.stdout
    [described] = aws.instances()
    data_volume_id = next(m["Ebs"]["VolumeId"] for m in described["BlockDeviceMappings"] if m["DeviceName"] == "/dev/sdf")
    instance.boot_as(public_key + "\n", data_volume_id)

    # 2. The inventory source: the one file the collection ships (an AWX source's variables), and
    # no group_vars: setup-notebook reads login, key and data volume from the instance itself.
    (project / "inventory").mkdir()
    shutil.copy(collection / "inventory" / "ec2lab.aws_ec2.yml", project / "inventory")
    overlay = instance.inventory_overlay("nb", tmp_path / "overlay.yml")

    # 3. Setup job template: the Machine credential in an agent; nothing else knows the key.
    setup = job.run(*with_agent(credential, "ansible-playbook", "-i", "inventory", "-i", str(overlay),
                                "ec2lab.notebook.setup_notebook"), cwd=project)
    assert re.search(r"nb\s+:\s+ok=\d+\s+changed=\d+\s+unreachable=0\s+failed=0", setup.stdout), setup.stdout[-3000:]
    assert re.search(r"Token \(.*?\): [0-9a-f]{32,}", setup.stdout)
    assert "IdentityFile" not in (ssh_dir / "config.d" / "ec2lab").read_text()
    who = job.run(*with_agent(credential, "ssh", "-o", "BatchMode=yes", "nb", "id -un; systemctl is-active jupyterlab"))
    assert who.stdout.split() == ["ubuntu", "active"], who.stdout

    # 4. A scheduled backup job template: the running workstation is flushed over SSH first.
    backup = job.run(*with_agent(credential, "ansible-playbook", "-i", "inventory", "-i", str(overlay),
                                 "ec2lab.notebook.backup"), cwd=project)
    assert "right after a sync over SSH" in backup.stdout, backup.stdout[-3000:]
    [snapshot] = aws.backups()
    assert {t["Key"]: t["Value"] for t in snapshot["Tags"]}["ec2lab:consistency"] == "flushed"

    # 5. Terminate job template, with purge: nothing of the workstation is left but its backup.
    job.run("ansible-playbook", "ec2lab.notebook.terminate", "-e", "ec2lab_purge=true", cwd=project)
    assert aws.nothing_for("nb") and aws.backups()
