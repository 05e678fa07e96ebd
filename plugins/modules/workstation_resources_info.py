#!/usr/bin/python
# Copyright: ec2lab contributors
# SPDX-License-Identifier: Apache-2.0
"""Find what a workstation name holds in an AWS account: tagged EC2 resources and named ones."""

from __future__ import annotations

DOCUMENTATION = r"""
module: workstation_resources_info
short_description: The caller's account and regions, and the AWS resources that carry a workstation's tags or names
version_added: "0.1.0"
description:
  - Says whose account the credentials reach (C(sts:GetCallerIdentity)) and which regions it may use
    (C(ec2:DescribeRegions)), which every ec2lab playbook checks before it acts
    (C(roles/ec2lab/tasks/common/account.yml)).
  - Lists, with their tags, the EC2 instances (not terminated), EBS volumes and EBS snapshots (of
    this account) that carry every tag of O(tags), and the key pairs, security groups, S3 buckets
    and IAM roles of the given names that exist.
  - The ec2lab role reads the C(ec2lab:owner) tag of each before it acts on a name
    (C(roles/ec2lab/tasks/common/owner.yml)); key pair, security group, bucket and role names are
    account-wide, so whoever holds them holds the name.
  - Instances, volumes, key pairs and security groups come with their whole description
    (RV(resources[].details)), so the playbooks that act on the name pick theirs from this answer
    instead of asking again.
  - One module run for all of it, because each module run costs a Python process that loads boto3,
    more than the calls themselves. Each kind is asked with its own C(Describe*) call rather than one
    C(ec2:DescribeTags), which also answers for terminated instances and cannot tell them apart.
  - The resources are looked up only in a region the account may use; in any other the module
    returns none, and the caller says which regions it may use.
  - Only reads; a bucket whose tags cannot be read (another account's, or no
    C(s3:GetBucketTagging) right) is left out with a warning.
options:
  tags:
    description: 'Tags that the instances, volumes and snapshots must all carry, for example
      V({"ec2lab:name": "nb"}). Empty lists none of them.'
    type: dict
    default: {}
  key_pair_names:
    description: EC2 key pairs to look up by name.
    type: list
    elements: str
    default: []
  security_group_names:
    description: Security groups to look up by name, in every VPC of the region.
    type: list
    elements: str
    default: []
  bucket_names:
    description: S3 buckets to look up by name. C({account}) in a name stands for the caller's account
      ID, for example V(ec2lab-nb-{account}).
    type: list
    elements: str
    default: []
  iam_role_names:
    description: IAM roles to look up by name.
    type: list
    elements: str
    default: []
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
author:
  - ec2lab contributors (@ec2lab)
"""

EXAMPLES = r"""
- name: Find the account, its regions and what the name nb holds
  ec2lab.notebook.workstation_resources_info:
    tags:
      "ec2lab:name": nb
    key_pair_names: [ec2lab-nb]
    security_group_names: [ec2lab-nb]
    bucket_names: ["ec2lab-nb-{account}"]
    iam_role_names: [ec2lab-nb]
  register: held

- name: Name the owners
  ansible.builtin.debug:
    msg: "{{ held.resources | map(attribute='tags') | map(attribute='ec2lab:owner', default='none') | unique }}"
"""

RETURN = r"""
account:
  description: The AWS account ID of the credentials.
  returned: always
  type: str
  sample: "123456789012"
regions:
  description: The names of the regions the account may use, sorted.
  returned: always
  type: list
  elements: str
  sample: [eu-central-1, us-east-1, us-west-2]
resources:
  description: What was found, instances first, then volumes, snapshots, key pairs, security groups,
    buckets and roles.
  returned: always
  type: list
  elements: dict
  contains:
    kind:
      description: V(instance), V(volume), V(snapshot), V(key pair), V(security group), V(bucket) or
        V(IAM role).
      type: str
    id:
      description: The resource's id (instance, volume, snapshot, key pair, group), else its name.
      type: str
    name:
      description: Its name (key pair, security group, bucket, role), else its C(Name) tag or C("").
      type: str
    state:
      description: The instance state, volume state or snapshot state; C("") for the other kinds.
      type: str
    tags:
      description: Its tags, as a dict.
      type: dict
    details:
      description:
        - Instances, key pairs and security groups, their description as M(amazon.aws.ec2_instance_info),
          M(amazon.aws.ec2_key_info) (with the public key) and M(amazon.aws.ec2_security_group_info)
          return it; volumes, as M(amazon.aws.ec2_vol_info) does (C(id), C(zone), C(size),
          C(snapshot_id), C(status), C(type), C(encrypted), C(attachment_set), C(tags)).
        - The filter C(ec2lab.notebook.resources_of) picks them by kind, tags and state.
      returned: for instances, volumes, key pairs and security groups
      type: dict
  sample:
    - {"kind": "instance", "id": "i-0123456789abcdef0", "name": "nb", "state": "running",
       "tags": {"Name": "nb", "ec2lab:name": "nb", "ec2lab:owner": "alice"}}
    - {"kind": "key pair", "id": "key-0123456789abcdef0", "name": "ec2lab-nb", "state": "",
       "tags": {"ec2lab:name": "nb", "ec2lab:owner": "alice"}}
"""

try:
    import botocore
except ImportError:
    pass  # AnsibleAWSModule reports the missing dependency

from ansible.module_utils.common.dict_transformations import camel_dict_to_snake_dict
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.tagging import boto3_tag_list_to_ansible_dict

LIVE_INSTANCE_STATES = ["pending", "running", "stopping", "stopped"]


def _resource(kind: str, rid: str, name: str = "", state: str = "", tags=None, details=None) -> dict:
    tags = tags or {}
    found = {"kind": kind, "id": rid, "name": name or tags.get("Name", ""), "state": state, "tags": tags}
    if details is not None:
        found["details"] = details
    return found


def _details(description: dict) -> dict:
    """A description as amazon.aws's info modules return it: snake_case keys, tags as a dict."""
    details = camel_dict_to_snake_dict(description)
    details["tags"] = boto3_tag_list_to_ansible_dict(description.get("Tags", []))
    return details


def _volume_details(volume: dict) -> dict:
    """A volume in the shape of amazon.aws.ec2_vol_info's answer."""
    return {
        "id": volume["VolumeId"], "zone": volume["AvailabilityZone"], "size": volume["Size"],
        "snapshot_id": volume.get("SnapshotId", ""), "status": volume["State"], "type": volume.get("VolumeType"),
        "encrypted": volume.get("Encrypted", False), "create_time": volume.get("CreateTime"),
        "attachment_set": [{"instance_id": a.get("InstanceId"), "device": a.get("Device"), "status": a.get("State"),
                            "attach_time": a.get("AttachTime"), "delete_on_termination": a.get("DeleteOnTermination")}
                           for a in volume.get("Attachments", [])],
        "tags": boto3_tag_list_to_ansible_dict(volume.get("Tags", [])),
    }


def _tag_filters(tags: dict) -> list[dict]:
    return [{"Name": f"tag:{key}", "Values": [str(value)]} for key, value in sorted(tags.items())]


def ec2_resources(ec2, tags: dict, key_pair_names: list[str], security_group_names: list[str]) -> list[dict]:
    """Instances, volumes and snapshots carrying `tags`; key pairs and groups of those names."""
    found = []
    if tags:
        filters = _tag_filters(tags)
        pages = ec2.get_paginator("describe_instances").paginate(
            Filters=filters + [{"Name": "instance-state-name", "Values": LIVE_INSTANCE_STATES}])
        for page in pages:
            for reservation in page["Reservations"]:
                found += [_resource("instance", i["InstanceId"], state=i["State"]["Name"],
                                    tags=boto3_tag_list_to_ansible_dict(i.get("Tags", [])), details=_details(i))
                          for i in reservation["Instances"]]
        for page in ec2.get_paginator("describe_volumes").paginate(Filters=filters):
            found += [_resource("volume", v["VolumeId"], state=v["State"],
                                tags=boto3_tag_list_to_ansible_dict(v.get("Tags", [])), details=_volume_details(v))
                      for v in page["Volumes"]]
        for page in ec2.get_paginator("describe_snapshots").paginate(OwnerIds=["self"], Filters=filters):
            found += [_resource("snapshot", s["SnapshotId"], state=s["State"],
                                tags=boto3_tag_list_to_ansible_dict(s.get("Tags", []))) for s in page["Snapshots"]]
    if key_pair_names:
        # A filter, not KeyNames: an absent name is no error.
        pairs = ec2.describe_key_pairs(Filters=[{"Name": "key-name", "Values": key_pair_names}],
                                       IncludePublicKey=True)["KeyPairs"]
        found += [_resource("key pair", k.get("KeyPairId", k["KeyName"]), name=k["KeyName"],
                            tags=boto3_tag_list_to_ansible_dict(k.get("Tags", [])), details=_details(k)) for k in pairs]
    if security_group_names:
        pages = ec2.get_paginator("describe_security_groups").paginate(
            Filters=[{"Name": "group-name", "Values": security_group_names}])
        for page in pages:
            found += [_resource("security group", g["GroupId"], name=g["GroupName"],
                                tags=boto3_tag_list_to_ansible_dict(g.get("Tags", [])), details=_details(g))
                      for g in page["SecurityGroups"]]
    return found


def _error_code(error) -> str:
    return getattr(error, "response", {}).get("Error", {}).get("Code", "")


def bucket_resources(module, s3, names: list[str]) -> list[dict]:
    found = []
    for name in names:
        try:
            tag_set = s3.get_bucket_tagging(Bucket=name)["TagSet"]
        except botocore.exceptions.ClientError as error:
            code = _error_code(error)
            if code == "NoSuchBucket":
                continue
            if code == "NoSuchTagSet":
                tag_set = []
            elif code in ("AccessDenied", "403", "AllAccessDisabled"):
                module.warn(f"Could not read the tags of bucket {name} ({code}); left out.")
                continue
            else:
                raise
        found.append(_resource("bucket", name, name=name, tags=boto3_tag_list_to_ansible_dict(tag_set)))
    return found


def role_resources(iam, names: list[str]) -> list[dict]:
    found = []
    for name in names:
        try:
            tags = iam.list_role_tags(RoleName=name)["Tags"]
        except botocore.exceptions.ClientError as error:
            if _error_code(error) == "NoSuchEntity":
                continue
            raise
        found.append(_resource("IAM role", name, name=name, tags=boto3_tag_list_to_ansible_dict(tags)))
    return found


def enabled_regions(ec2) -> list[str]:
    return sorted(region["RegionName"] for region in ec2.describe_regions()["Regions"])


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            tags=dict(type="dict", default={}),
            key_pair_names=dict(type="list", elements="str", default=[], no_log=False),
            security_group_names=dict(type="list", elements="str", default=[]),
            bucket_names=dict(type="list", elements="str", default=[]),
            iam_role_names=dict(type="list", elements="str", default=[]),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        account = module.client("sts").get_caller_identity()["Account"]
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        module.fail_json_aws(error, msg="Failed to retrieve caller identity")
    ec2 = module.client("ec2")
    try:
        regions = enabled_regions(ec2)
    # Any failure (an opt-in region refuses the call, an endpoint answers garbage) means the region
    # cannot be used; the caller says so and lists none.
    except Exception as error:  # pylint: disable=broad-exception-caught
        module.fail_json_aws(error, msg="Failed to list the regions", account=account, regions=[])
    resources = []
    try:
        if module.region in regions:
            if params["tags"] or params["key_pair_names"] or params["security_group_names"]:
                resources += ec2_resources(ec2, params["tags"], params["key_pair_names"], params["security_group_names"])
            if params["bucket_names"]:
                names = [name.replace("{account}", account) for name in params["bucket_names"]]
                resources += bucket_resources(module, module.client("s3"), names)
            if params["iam_role_names"]:
                resources += role_resources(module.client("iam"), params["iam_role_names"])
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        module.fail_json_aws(error, msg="Could not look up the resources of the workstation", account=account,
                             regions=regions)
    module.exit_json(changed=False, account=account, regions=regions, resources=resources)


if __name__ == "__main__":
    main()
