"""Bad input: one clear message, before anything exists in AWS or on disk."""

import subprocess

import pytest

BAD_LAUNCHES = [
    ({"ec2lab_name": "NB_1"}, "ec2lab_name 'NB_1' is not valid"),
    ({"ec2lab_name": "a" * 33}, "is not valid: use 1 to 32 lowercase"),
    ({"ec2lab_name": "nb-"}, "ending with a letter or digit"),
    ({"ec2lab_bucket_name": "ab"}, "must be 4 to 63 characters long"),
    ({"ec2lab_bucket_name": "My_Bucket"}, "may contain only lowercase letters"),
    ({"ec2lab_bucket_name": "192.168.1.1"}, "must not be formatted as an IP address"),
    ({"ec2lab_bucket_name": ".data"}, "must begin and end with a lowercase letter or a digit"),
    ({"ec2lab_bucket_name": "xn--data"}, "reserved prefix 'xn--'"),
    ({"ec2lab_ssh_cidrs": "0.0.0.0/0"}, "is not a single IPv4 host"),
    ({"ec2lab_ssh_cidrs": "192.168.1.10/32"}, "is a private address"),
    ({"ec2lab_ssh_cidrs": "203.0.113.10"}, "write a single host as 203.0.113.10/32"),
    ({"ec2lab_region": "mars"}, "is not an AWS region name"),
    ({"ec2lab_region": "eu-mars-1"}, "Region 'eu-mars-1' is not enabled for this account"),
    ({"ec2lab_data_volume_size": "0"}, "the data volume 1 to 16384 (got 0)"),
    ({"ec2lab_root_volume_size": "4"}, "the root volume must be 8 to 16384 (got 4)"),
    ({"ec2lab_data_volume_size": "lots"}, "ec2lab_data_volume_size"),
    ({"ec2lab_instance_type": "huge"}, "is not an EC2 instance type"),
    ({"ec2lab_aws_endpoint_url": "ftp://127.0.0.1"}, "must be an http(s) URL"),
    ({"idle_stop_minutes": "1h"}, "idle_stop_minutes '1h' is not a whole number of minutes"),
    ({"ec2lab_market": "cheap"}, "ec2lab_market"),
    ({"ec2lab_market": "spot", "ec2lab_spot_max_price": "cheap"}, "ec2lab_spot_max_price 'cheap' is not a price"),
    ({"ec2lab_market": "spot", "ec2lab_spot_max_price": "0"}, "ec2lab_spot_max_price '0' is not a price"),
    ({"ec2lab_spot_max_price": "0.02"}, "ec2lab_spot_max_price applies to spot workstations only"),
    ({"ec2lab_ami_id": "ubuntu"}, "ec2lab_ami_id 'ubuntu' must be an image id such as ami-0123456789abcdef0, baked"),
    ({"ec2lab_ami_id": "baked"}, "No image baked by "),
]


def assert_refused_cleanly(run, message, aws, key_dir, name="nb"):
    assert run.rc != 0, run
    assert message in run.output, run
    assert run.output.count("fatal:") == 1, run
    assert aws.nothing_for(name), aws.ec2lab_resources(name)
    assert not (key_dir / f"ec2lab-{name}.pem").exists()


@pytest.mark.parametrize(("extra", "message"), BAD_LAUNCHES, ids=lambda v: str(v)[:40])
def test_bad_launch_input_is_refused_before_anything_is_made(playbook, aws, key_dir, extra, message):
    run = playbook("launch.yml", **extra)
    name = extra.get("ec2lab_name", "nb")
    assert_refused_cleanly(run, message, aws, key_dir, name if name.islower() else "nb")


def test_missing_credentials_are_explained(playbook, aws, key_dir):
    run = playbook("launch.yml", env_drop=("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                                           "ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED"))
    assert_refused_cleanly(run, "AWS did not accept the credentials", aws, key_dir)
    assert "aws configure --profile NAME" in run.output


def test_unknown_profile_is_explained(playbook, aws, key_dir):
    run = playbook("launch.yml", aws_profile="nosuchprofile",
                   env_drop=("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                             "ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED"))
    assert_refused_cleanly(run, "of profile nosuchprofile", aws, key_dir)


def test_key_file_others_can_read_is_refused(playbook, aws, key_dir):
    key_dir.mkdir(mode=0o700)
    key = key_dir / "ec2lab-nb.pem"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    key.chmod(0o644)
    run = playbook("launch.yml")
    assert run.rc != 0 and "chmod 400" in run.output, run
    assert aws.nothing_for("nb")
    assert key.stat().st_mode & 0o777 == 0o644  # left exactly as it was


def test_key_file_that_does_not_match_aws_is_refused(playbook, aws, key_dir):
    key_dir.mkdir(mode=0o700)
    other = key_dir / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    aws.ec2.import_key_pair(KeyName="ec2lab-nb", PublicKeyMaterial=(key_dir / "other.pub").read_bytes())
    key = key_dir / "ec2lab-nb.pem"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    before = key.read_bytes()
    run = playbook("launch.yml")
    assert run.rc != 0 and "does not match key pair ec2lab-nb in AWS" in run.output, run
    assert key.read_bytes() == before
    assert aws.ec2lab_resources()["instances"] == []


def test_aws_key_pair_without_local_key_is_refused(playbook, aws, key_dir):
    aws.ec2.create_key_pair(KeyName="ec2lab-nb", KeyType="ed25519")
    run = playbook("launch.yml")
    assert run.rc != 0, run
    assert "exists in AWS but its private key is not at" in run.output, run
    assert aws.ec2lab_resources()["instances"] == []


def test_bad_name_is_refused_by_terminate_too(playbook, aws):
    run = playbook("terminate.yml", ec2lab_name="Bad Name")
    assert run.rc != 0 and "is not valid" in run.output, run


BAD_OTHER_PLAYBOOKS = [
    ("status.yml", {"ec2lab_region": "mars"}, "is not an AWS region name"),
    ("status.yml", {"ec2lab_region": "eu-mars-1"}, "Region 'eu-mars-1' is not enabled for this account"),
    ("status.yml", {"ec2lab_pricing_timeout": "soon"}, "ec2lab_pricing_timeout"),
    ("status.yml", {"ec2lab_aws_endpoint_url": "ftp://127.0.0.1"}, "must be an http(s) URL"),
    ("stop.yml", {"ec2lab_name": "Nb"}, "ec2lab_name 'Nb' is not valid"),
    ("start.yml", {"ec2lab_name": "ghost"}, "No ec2lab instance named 'ghost'"),
    ("terminate.yml", {"ec2lab_purge": "perhaps"}, "ec2lab_purge"),
    ("terminate.yml", {"ec2lab_region": "mars"}, "is not an AWS region name"),
]


@pytest.mark.parametrize(("playbook_name", "extra", "message"), BAD_OTHER_PLAYBOOKS,
                         ids=lambda v: str(v)[:40])
def test_bad_input_to_the_other_playbooks_is_one_clear_message(launched, playbook_name, extra, message):
    """Against a launched workstation, which must come out of it untouched."""
    before = launched.aws.ec2lab_resources()
    run = launched.playbook(playbook_name, **extra)
    assert run.rc != 0, run
    assert message in run.output, run
    assert run.output.count("fatal:") == 1, run
    assert launched.aws.ec2lab_resources() == before
    assert [i["State"]["Name"] for i in launched.aws.instances()] == ["running"]
