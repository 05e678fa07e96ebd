"""An instructor's path with a 2-student cohort, offline: launch.yml -e @roster against moto,
two containers standing in for the instances, setup-notebook.yml -e @roster converging them
side by side with one student's host failing, the re-run that finishes it, the students logging
in from their bundles (one with her own key), status and terminate of the cohort.

As in test_user_path.py, only the addresses differ from real use (an inventory overlay per host).
"""

from __future__ import annotations

import base64
import re
import subprocess

import pytest
import yaml
from ssh_user import User
from testbed.instance import Instance
from testlib import CALLER_CIDR

pytestmark = pytest.mark.slow(seconds=260)

# Two are enough for "side by side, one fails, the other goes on"; each more costs a full setup.
STUDENTS = ("ada", "grace")


@pytest.fixture(scope="module")
def hosts(tmp_path_factory):
    created = {}
    try:
        for student in STUDENTS:
            created[student] = Instance(f"ec2lab-e2e-{student}", tmp_path_factory.mktemp(f"cohort-{student}")).create()
        yield created
    finally:
        for host in created.values():
            host.destroy()


@pytest.fixture(scope="module")
def instructor(moto_endpoint, tmp_path_factory):
    ssh_dir = tmp_path_factory.mktemp("instructor") / ".ssh"
    ssh_dir.mkdir(mode=0o700)
    return User(ssh_dir, moto_endpoint)


def ssh_as_student(bundle, name, host, *identity):
    """The student's own ssh with the bundle's config; only the address is the container's."""
    return subprocess.run(["ssh", "-F", str(bundle / "ssh_config"), "-o", "HostName=127.0.0.1", "-o", f"Port={host.port}",
                           "-o", "BatchMode=yes", "-o", "UserKnownHostsFile=/dev/null", *identity, name, "id", "-un"],
                          capture_output=True, text=True, timeout=60, check=False)


def test_cohort_path(instructor, hosts, aws, tmp_path):
    ada_key = tmp_path / "ada_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(ada_key)], check=True)
    roster = tmp_path / "ds101.yml"
    roster.write_text(yaml.safe_dump({"ec2lab_cohort": {"name": "ds101", "ssh_cidrs": [CALLER_CIDR], "students": [
        {"name": "ada", "public_key": ada_key.with_suffix(".pub").read_text().strip()},
        {"name": "grace"}]}}))
    bundles = tmp_path / "bundles"
    cohort = ["-e", f"@{roster}", "-e", f"ec2lab_cohort_bundle_dir={bundles}"]

    # 1. Launch the cohort; the instructor's keys go to ~/.ssh/ec2lab-ds101/.
    launch = instructor.run("ansible-playbook", "launch.yml", *cohort, "-e", "ec2lab_wait_for_ssh=false")
    assert "Cohort ds101: 2 of 2 ready" in launch.stdout

    # 2. Each container boots as its instance would: the key pair's public half, and what the
    #    instance's user data asks cloud-init to authorise (ada's own key).
    overlays = []
    for student, host in hosts.items():
        name = f"ds101-{student}"
        [described] = aws.instances(name)
        keys = [instructor.run("ssh-keygen", "-y", "-f", str(instructor.ssh_dir / "ec2lab-ds101" / f"ec2lab-{name}.pem")).stdout]
        user_data = aws.ec2.describe_instance_attribute(InstanceId=described["InstanceId"], Attribute="userData")
        if "Value" in user_data.get("UserData", {}):
            keys += yaml.safe_load(base64.b64decode(user_data["UserData"]["Value"]))["ssh_authorized_keys"]
        volume = next(m["Ebs"]["VolumeId"] for m in described["BlockDeviceMappings"] if m["DeviceName"] == "/dev/sdf")
        host.boot_as("\n".join(key.strip() for key in keys) + "\n", volume)
        overlays += ["-i", str(host.inventory_overlay(name, tmp_path / f"overlay-{student}.yml"))]

    # 3. grace's host gets an installer whose checksum does not match: she fails, the others
    #    are set up side by side, and the summary says who and why.
    broken = tmp_path / "overlay-grace-broken.yml"
    broken.write_text(yaml.safe_dump({"ec2lab": {"hosts": {"ds101-grace": {"conda_installer_sha256": "0" * 64}}}}))
    first = instructor.run("ansible-playbook", "-i", "inventory/", *overlays, "-i", str(broken), "setup-notebook.yml",
                           *cohort, check=False)
    assert first.returncode != 0
    assert "Cohort ds101: 1 of 2 workstations ready, 1 not" in first.stdout, first.stdout[-4000:]
    assert re.search(r"ds101-grace +FAILED .*(sha256|checksum)", first.stdout, re.I), first.stdout[-4000:]
    assert "1 of 2 workstations are not ready (ds101-grace)" in first.stdout

    # 4. The same command again converges only what is missing.
    again = instructor.run("ansible-playbook", "-i", "inventory/", *overlays, "setup-notebook.yml", *cohort)
    assert "Cohort ds101: 2 of 2 workstations ready" in again.stdout
    assert re.search(r"ds101-ada\s+:\s+ok=\d+\s+changed=0\s", again.stdout), again.stdout[-3000:]

    # 5. The students log in from their bundles: ada with her own key, grace with the one handed to her.
    ada = ssh_as_student(bundles / "ada", "ds101-ada", hosts["ada"], "-o", "IdentitiesOnly=yes", "-i", str(ada_key))
    assert ada.stdout.strip() == "ubuntu", ada.stderr
    assert not (bundles / "ada" / "ds101-ada.pem").exists()
    grace = ssh_as_student(bundles / "grace", "ds101-grace", hosts["grace"], "-o",
                           f"IdentityFile={bundles / 'grace' / 'ds101-grace.pem'}")
    assert grace.stdout.strip() == "ubuntu", grace.stderr
    token_hint = (bundles / "grace" / "README.txt").read_text()
    assert "ssh -N ds101-grace-jupyter" in token_hint and "http://127.0.0.1:8888/lab" in token_hint

    # 6. status shows the cohort with its total; terminate with purge leaves nothing of it.
    status = instructor.run("ansible-playbook", "status.yml", *cohort, "-e", "ec2lab_pricing_api=false")
    assert "Cohort ds101: 2 workstation(s), 2 running" in status.stdout
    instructor.run("ansible-playbook", "terminate.yml", *cohort, "-e", "ec2lab_purge=true")
    assert all(aws.nothing_for(f"ds101-{student}") for student in STUDENTS)
    assert not (bundles / "grace").exists()
