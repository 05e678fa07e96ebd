"""launch.yml against moto: what a user (and their security reviewer) would check afterwards."""

import json
import stat

import pytest
from testlib import (
    DLAMI_AMD64,
    DLAMI_ARM64,
    NOBLE_AMD64,
    RESOLUTE_AMD64,
    RESOLUTE_ARM64,
    host_vars,
    key_pair_option,
    new_public_key,
)


def test_launch_makes_one_locked_down_instance(launched):
    aws, key_dir, run = launched.aws, launched.key_dir, launched.run

    [instance] = aws.instances()
    assert instance["State"]["Name"] == "running"
    assert instance["InstanceType"] == "t3.medium"
    assert instance["ImageId"] == NOBLE_AMD64
    assert instance["MetadataOptions"]["HttpTokens"] == "required"
    tags = {t["Key"]: t["Value"] for t in instance["Tags"]}
    assert tags["Name"] == "nb" and tags["ec2lab:name"] == "nb" and "ec2lab:owner" in tags
    assert instance["IamInstanceProfile"]["Arn"].endswith("instance-profile/ec2lab-nb")

    volumes = {v["Attachments"][0]["Device"]: v for v in aws.volumes(**{"attachment.instance-id": instance["InstanceId"]})}
    assert volumes["/dev/sda1"]["Encrypted"] and volumes["/dev/sda1"]["VolumeType"] == "gp3"
    data = volumes["/dev/sdf"]
    assert data["Encrypted"] and data["Size"] == 20
    [described] = aws.instances()
    delete_on_termination = {m["DeviceName"]: m["Ebs"]["DeleteOnTermination"] for m in described["BlockDeviceMappings"]}
    assert delete_on_termination == {"/dev/sda1": True, "/dev/sdf": False}

    [group] = aws.ec2.describe_security_groups(GroupIds=[g["GroupId"] for g in instance["SecurityGroups"]])["SecurityGroups"]
    assert [(p["IpProtocol"], p["FromPort"], p["ToPort"], [r["CidrIp"] for r in p["IpRanges"]], p.get("Ipv6Ranges", []))
            for p in group["IpPermissions"]] == [("tcp", 22, 22, ["203.0.113.10/32"], [])]

    key = key_dir / "ec2lab-nb.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o400
    assert key.read_text().startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert "Workstation nb in us-west-2" in run.output and "setup-notebook.yml" in run.output

    aliases = (key_dir.parent / "home/.ssh/config.d/ec2lab").read_text()
    assert "Host nb nb-jupyter" in aliases
    assert f"HostName {instance['PublicIpAddress']}" in aliases
    assert f"IdentityFile {key_dir}/ec2lab-nb.pem" in aliases


def test_bucket_is_private_encrypted_and_the_only_thing_the_role_may_use(launched):
    aws = launched.aws
    [bucket] = aws.ec2lab_resources()["buckets"]
    assert bucket == "ec2lab-nb-123456789012"
    block = aws.s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4
    rules = aws.s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"

    role = aws.iam.get_role(RoleName="ec2lab-nb")["Role"]
    assume = role["AssumeRolePolicyDocument"]
    assume = json.loads(assume) if isinstance(assume, str) else assume
    assert assume["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    assert aws.iam.list_attached_role_policies(RoleName="ec2lab-nb")["AttachedPolicies"] == []
    [policy_name] = aws.iam.list_role_policies(RoleName="ec2lab-nb")["PolicyNames"]
    document = aws.iam.get_role_policy(RoleName="ec2lab-nb", PolicyName=policy_name)["PolicyDocument"]
    document = json.loads(document) if isinstance(document, str) else document
    resources = {r for s in document["Statement"] for r in ([s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"])}
    assert resources == {f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"}
    assert all(a.startswith("s3:") for s in document["Statement"] for a in s["Action"])


def test_second_launch_changes_nothing(launched):
    again = launched.playbook("launch.yml")
    assert again.rc == 0, again
    assert again.recap()["changed"] == 0, again
    assert len(launched.aws.instances()) == 1


def test_check_mode_after_launch_reports_no_change(launched):
    run = launched.playbook("launch.yml", check=True)
    assert run.rc == 0, run
    assert run.recap()["changed"] == 0, run


def test_the_inventory_reaches_it_at_its_public_address(launched):
    [instance] = launched.aws.instances()
    assert host_vars(launched.aws, "nb", "ansible_host") == {"ansible_host": instance["PublicIpAddress"]}


def test_a_generated_key_pair_is_not_replaced_by_an_imported_one(launched, tmp_path):
    run = launched.playbook("launch.yml", *key_pair_option(new_public_key(tmp_path / "awx_machine_credential")))
    assert run.rc != 0
    assert "(made by a launch that generated it)" in run.output
    assert (launched.key_dir / "ec2lab-nb.pem").exists()


def test_check_mode_on_an_empty_account_creates_nothing(playbook, aws, key_dir):
    run = playbook("launch.yml", check=True)
    assert run.rc == 0, run
    assert run.recap()["changed"] > 0  # it reports what it would do
    assert aws.nothing_for("nb")
    assert not (key_dir / "ec2lab-nb.pem").exists()


@pytest.mark.slow(seconds=60)
def test_start_from_a_new_network_follows_the_caller_and_keeps_every_other_rule(playbook, aws):
    """The caller's address is looked up when no CIDR is given; after a night stopped, status says
    the rule no longer allows the caller, start.yml from another network replaces that rule only,
    and launch then finds nothing to change."""
    import http.server
    import threading

    caller = {"address": "198.51.100.23"}

    class Answer(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            self.send_response(200)
            self.end_headers()
            self.wfile.write(f"{caller['address']}\n".encode())

        def log_message(self, *args):
            pass

    def ranges():
        [group] = aws.ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["ec2lab-nb"]}])["SecurityGroups"]
        return group["GroupId"], sorted((p["FromPort"], r["CidrIp"], r.get("Description")) for p in group["IpPermissions"]
                                        for r in p["IpRanges"])

    server = http.server.HTTPServer(("127.0.0.1", 0), Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    from_here = {"ec2lab_ssh_cidrs": "", "ec2lab_public_ip_url": f"http://127.0.0.1:{server.server_port}/"}
    ours = "ec2lab: SSH from the caller (start.yml follows it)"
    try:
        run = playbook("launch.yml", **from_here)
        assert run.rc == 0, run
        group_id, allowed = ranges()
        assert allowed == [(22, "198.51.100.23/32", ours)]
        # Someone adds a rule by hand; it is theirs to keep.
        aws.ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[{
            "IpProtocol": "tcp", "FromPort": 8888, "ToPort": 8888,
            "IpRanges": [{"CidrIp": "10.8.0.0/16", "Description": "office VPN"}]}])
        assert playbook("stop.yml").rc == 0

        caller["address"] = "203.0.113.77"  # the next morning, from a café
        # status says so, and what mends it.
        moved = ("nb: SSH from your address 203.0.113.77 is not allowed (the group allows 198.51.100.23/32): "
                 "run ansible-playbook start.yml -e ec2lab_name=nb to move the rule")
        status = playbook("status.yml", ec2lab_pricing_api="false", **from_here)
        assert status.rc == 0 and moved in status.output, status
        started = playbook("start.yml", **from_here)
        assert started.rc == 0, started
        assert "SSH now allowed from 203.0.113.77/32 (was 198.51.100.23/32)" in started.output
        expected = [(22, "203.0.113.77/32", ours), (8888, "10.8.0.0/16", "office VPN")]
        assert ranges()[1] == expected
        status = playbook("status.yml", ec2lab_pricing_api="false", **from_here)
        assert status.rc == 0 and "is not allowed" not in status.output, status

        again = playbook("launch.yml", **from_here)
        assert again.rc == 0, again
        assert again.recap()["changed"] == 0, again
        assert ranges()[1] == expected
    finally:
        server.shutdown()


def test_auto_stop_stops_the_instance_and_never_terminates_it(playbook, aws):
    """The host's own poweroff (auto-stop) must stop the instance: launch sets the shutdown
    behaviour, puts it back when someone changed it, and records the auto-stop minutes."""
    assert playbook("launch.yml", idle_stop_minutes="30").rc == 0
    [instance] = aws.instances()
    instance_id = instance["InstanceId"]

    def behaviour():
        answer = aws.ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="instanceInitiatedShutdownBehavior")
        return answer["InstanceInitiatedShutdownBehavior"]["Value"]

    def tags():
        return {t["Key"]: t["Value"] for t in aws.instances()[0]["Tags"]}

    assert behaviour() == "stop" and tags()["ec2lab:idle-stop-minutes"] == "30"

    aws.ec2.modify_instance_attribute(InstanceId=instance_id, InstanceInitiatedShutdownBehavior={"Value": "terminate"})
    again = playbook("launch.yml")
    assert again.rc == 0 and again.recap()["changed"] >= 1, again
    assert behaviour() == "stop"
    assert tags()["ec2lab:idle-stop-minutes"] == "30"  # a launch without the option keeps it

    aws.shutdown_from_inside(instance_id)
    [stopped] = aws.instances()
    assert stopped["State"]["Name"] == "stopped"




@pytest.mark.parametrize("instance_type, image", [("g5.xlarge", DLAMI_AMD64), ("g5g.xlarge", DLAMI_ARM64)])
def test_gpu_types_get_the_deep_learning_image_and_its_root_size(playbook, aws, instance_type, image):
    run = playbook("launch.yml", ec2lab_name="gpu", ec2lab_instance_type=instance_type)
    assert run.rc == 0, run
    [instance] = aws.instances("gpu")
    assert instance["ImageId"] == image
    [root] = aws.volumes(**{"attachment.instance-id": instance["InstanceId"], "attachment.device": "/dev/sda1"})
    assert root["Size"] == 75  # the image's own root size, above ec2lab_root_volume_size's 16


@pytest.mark.parametrize(("instance_type", "image"), [("t3.medium", RESOLUTE_AMD64), ("t4g.medium", RESOLUTE_ARM64)])
def test_ubuntu_26_04_is_launched_when_asked_for(playbook, aws, instance_type, image):
    run = playbook("launch.yml", ec2lab_ubuntu_release="26.04", ec2lab_instance_type=instance_type)
    assert run.rc == 0, run
    assert aws.instances()[0]["ImageId"] == image
    assert "ubuntu-resolute-26.04" in run.output


def test_a_release_that_is_not_lts_is_refused_before_anything_is_made(playbook, aws):
    run = playbook("launch.yml", ec2lab_ubuntu_release="25.10")
    assert run.rc != 0 and "ec2lab_ubuntu_release '25.10' is not an Ubuntu LTS release" in run.output, run
    assert aws.nothing_for("nb")
