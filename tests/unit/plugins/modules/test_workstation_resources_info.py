"""workstation_resources_info: what a name holds, read from fake AWS clients (no endpoint)."""

import botocore.exceptions

from ansible_collections.ec2lab.notebook.plugins.modules import workstation_resources_info as info


class Pages:
    def __init__(self, answers, calls):
        self.answers, self.calls = answers, calls

    def paginate(self, **kwargs):
        self.calls.append(kwargs)
        return self.answers


class FakeEc2:
    def __init__(self):
        self.calls = {}
        self.answers = {
            "describe_instances": [{"Reservations": [{"Instances": [
                {"InstanceId": "i-1", "State": {"Name": "stopped"}, "Tags": [
                    {"Key": "Name", "Value": "nb"}, {"Key": "ec2lab:owner", "Value": "alice"}]}]}]}],
            "describe_volumes": [{"Volumes": [{"VolumeId": "vol-1", "State": "in-use", "AvailabilityZone": "us-west-2a",
                                               "Size": 20, "SnapshotId": "", "VolumeType": "gp3", "Encrypted": True,
                                               "Attachments": [{"InstanceId": "i-1", "Device": "/dev/sdf",
                                                                "State": "attached"}],
                                               "Tags": [{"Key": "ec2lab:role", "Value": "data"}]}]}],
            "describe_snapshots": [{"Snapshots": [{"SnapshotId": "snap-1", "State": "completed"}]}],
            "describe_security_groups": [{"SecurityGroups": [{"GroupId": "sg-1", "GroupName": "ec2lab-nb", "Tags": []}]}],
        }

    def get_paginator(self, operation):
        return Pages(self.answers[operation], self.calls.setdefault(operation, []))

    def describe_key_pairs(self, **kwargs):
        self.calls.setdefault("describe_key_pairs", []).append(kwargs)
        return {"KeyPairs": [{"KeyName": "ec2lab-nb", "KeyPairId": "key-1", "PublicKey": "ssh-ed25519 AAAA",
                              "Tags": [{"Key": "ec2lab:owner", "Value": "alice"}]}]}


def _client_error(code):
    return botocore.exceptions.ClientError({"Error": {"Code": code, "Message": code}}, "Operation")


def test_each_kind_is_found_with_its_tags_and_terminated_instances_are_not_asked_for():
    ec2 = FakeEc2()
    found = info.ec2_resources(ec2, {"ec2lab:name": "nb"}, ["ec2lab-nb"], ["ec2lab-nb"])
    assert [(r["kind"], r["id"], r["name"], r["state"]) for r in found] == [
        ("instance", "i-1", "nb", "stopped"), ("volume", "vol-1", "", "in-use"), ("snapshot", "snap-1", "", "completed"),
        ("key pair", "key-1", "ec2lab-nb", ""), ("security group", "sg-1", "ec2lab-nb", "")]
    assert found[0]["tags"] == {"Name": "nb", "ec2lab:owner": "alice"}
    [instances] = ec2.calls["describe_instances"]
    assert {"Name": "tag:ec2lab:name", "Values": ["nb"]} in instances["Filters"]
    assert {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]} in instances["Filters"]
    assert ec2.calls["describe_snapshots"][0]["OwnerIds"] == ["self"]
    # By filter, so an absent key pair is no error; with the public key, which launch compares.
    assert ec2.calls["describe_key_pairs"] == [{"Filters": [{"Name": "key-name", "Values": ["ec2lab-nb"]}],
                                                "IncludePublicKey": True}]


def test_instances_volumes_key_pairs_and_groups_carry_their_description_as_amazon_aws_gives_it():
    found = {r["kind"]: r for r in info.ec2_resources(FakeEc2(), {"ec2lab:name": "nb"}, ["ec2lab-nb"], ["ec2lab-nb"])}
    assert found["instance"]["details"] == {"instance_id": "i-1", "state": {"name": "stopped"},
                                            "tags": {"Name": "nb", "ec2lab:owner": "alice"}}
    volume = found["volume"]["details"]
    assert (volume["id"], volume["zone"], volume["size"], volume["status"], volume["tags"]) == (
        "vol-1", "us-west-2a", 20, "in-use", {"ec2lab:role": "data"})
    assert volume["attachment_set"][0]["instance_id"] == "i-1"
    assert found["key pair"]["details"]["public_key"] == "ssh-ed25519 AAAA"
    assert found["security group"]["details"]["group_id"] == "sg-1"
    assert "details" not in found["snapshot"]


def test_without_tags_only_the_named_resources_are_asked_for():
    ec2 = FakeEc2()
    assert [r["kind"] for r in info.ec2_resources(ec2, {}, ["ec2lab-nb"], [])] == ["key pair"]
    assert set(ec2.calls) == {"describe_key_pairs"}


class FakeS3:
    answers = {"mine": {"TagSet": [{"Key": "ec2lab:owner", "Value": "bob"}]}, "untagged": "NoSuchTagSet",
               "gone": "NoSuchBucket", "foreign": "AccessDenied"}

    def get_bucket_tagging(self, Bucket):  # noqa: N803 - boto3's name
        answer = self.answers[Bucket]
        if isinstance(answer, str):
            raise _client_error(answer)
        return answer


class FakeModule:
    def __init__(self):
        self.warnings = []

    def warn(self, text):
        self.warnings.append(text)


def test_buckets_missing_or_unreadable_are_left_out_and_untagged_ones_kept():
    module = FakeModule()
    found = info.bucket_resources(module, FakeS3(), ["mine", "untagged", "gone", "foreign"])
    assert [(r["name"], r["tags"]) for r in found] == [("mine", {"ec2lab:owner": "bob"}), ("untagged", {})]
    assert module.warnings == ["Could not read the tags of bucket foreign (AccessDenied); left out."]


class FakeIam:
    def list_role_tags(self, RoleName):  # noqa: N803 - boto3's name
        if RoleName == "gone":
            raise _client_error("NoSuchEntity")
        return {"Tags": [{"Key": "ec2lab:owner", "Value": "alice"}]}


def test_roles_that_do_not_exist_are_left_out():
    found = info.role_resources(FakeIam(), ["ec2lab-nb", "gone"])
    assert [(r["kind"], r["name"], r["tags"]) for r in found] == [("IAM role", "ec2lab-nb", {"ec2lab:owner": "alice"})]


def test_the_regions_the_account_may_use_come_back_sorted_by_name():
    class Regions:
        def describe_regions(self):
            return {"Regions": [{"RegionName": "us-west-2"}, {"RegionName": "eu-central-1"}]}

    assert info.enabled_regions(Regions()) == ["eu-central-1", "us-west-2"]
