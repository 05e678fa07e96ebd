"""The aws_ec2 inventory finds what launch.yml made, as setup-notebook.yml will see it."""

import json
import subprocess

import pytest
from testlib import ROOT, aws_test_env, host_vars, launch_shared


def inventory(aws, *args):
    proc = subprocess.run(["ansible-inventory", "-i", "inventory/ec2lab.aws_ec2.yml", *args],
                          cwd=ROOT, env=aws_test_env(aws.endpoint), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _plain(value):
    """ansible-core 2.19 wraps strings in --list output as {"__ansible_unsafe": ...}."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def group_hosts(aws, group):
    listing = _plain(json.loads(inventory(aws, "--list")))
    return listing.get(group, {}).get("hosts", [])


@pytest.fixture(scope="module")
def private(moto_endpoint, tmp_path_factory):
    """A workstation without a public address, reached over a VPN (tests that come first here).
    The public address of the default launch: test_launch.py."""
    return launch_shared(moto_endpoint, tmp_path_factory, ec2lab_public_ip="false", ec2lab_ssh_cidrs="10.20.0.0/16")


def test_running_workstation_is_in_the_ec2lab_group_at_its_private_address_when_asked(private):
    aws = private.aws
    [instance] = aws.instances()
    assert group_hosts(aws, "ec2lab") == ["nb"]
    data_volume = [m["Ebs"]["VolumeId"] for m in instance["BlockDeviceMappings"] if m["DeviceName"] == "/dev/sdf"]
    assert host_vars(aws, "nb", "ansible_host") == {"ansible_host": instance["PrivateIpAddress"]}
    # What setup-notebook.yml reads from the host's instance, with nothing but this inventory file.
    [settings] = host_vars(aws, "nb", "hostvars[inventory_hostname] | ec2lab.notebook.workstation_host_vars").values()
    assert {key: settings[key] for key in ("ansible_user", "ansible_ssh_private_key_file", "ec2lab_name",
                                           "ec2lab_region", "ec2lab_data_volume_id")} == {
        "ansible_user": "ubuntu",
        "ansible_ssh_private_key_file": "~/.ssh/ec2lab-nb.pem",
        "ec2lab_name": "nb",
        "ec2lab_region": "us-west-2",
        "ec2lab_data_volume_id": data_volume[0],
    }


def test_stopped_and_foreign_instances_are_not_listed(private):
    aws = private.aws
    aws.ec2.run_instances(ImageId="ami-0a1b2c3d4e5f60003", MinCount=1, MaxCount=1,
                          TagSpecifications=[{"ResourceType": "instance",
                                              "Tags": [{"Key": "Name", "Value": "not-ours"}]}])
    assert group_hosts(aws, "ec2lab") == ["nb"]
    assert "not-ours" not in inventory(aws, "--graph")
    [instance] = aws.instances()
    aws.ec2.stop_instances(InstanceIds=[instance["InstanceId"]])
    assert group_hosts(aws, "ec2lab") == []


def test_unreachable_endpoint_fails_instead_of_listing_nothing(aws):
    env = aws_test_env("http://127.0.0.1:9")
    proc = subprocess.run(["ansible-inventory", "-i", "inventory/ec2lab.aws_ec2.yml", "--graph"],
                          cwd=ROOT, env=env, capture_output=True, text=True)
    assert proc.returncode != 0
