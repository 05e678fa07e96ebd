#!/usr/bin/python
# Copyright: ec2lab contributors
# SPDX-License-Identifier: Apache-2.0
"""Whether the account's EC2 vCPU quotas leave room for the workstations a run is about to start."""

from __future__ import annotations

DOCUMENTATION = r"""
module: ec2_vcpu_quota_info
short_description: Whether the EC2 vCPU quotas of a region leave room for the workstations about to start
version_added: "0.1.0"
description:
  - AWS limits the vCPUs of the instances that run at once in a region, per quota class (on-demand
    Standard, G and VT, P, and the same classes for spot). A new account has few (the G class often
    none), and AWS refuses each instance past the quota with C(VcpuLimitExceeded) only when it is
    asked to start it.
  - For each class the given workstations fall into, the module adds up the vCPUs they need, reads
    the quota (C(servicequotas:GetServiceQuota), falling back to the AWS default) and the vCPUs the
    region's pending and running instances of that class already use (C(ec2:DescribeInstances),
    C(ec2:DescribeInstanceTypes)), and reports each class and the ones short of room.
  - A workstation whose instance (tag C(ec2lab:name)) already runs needs nothing more, as it is counted
    as in use. A stopped one needs its vCPUs again to start.
  - Spot classes count the vCPUs of running spot instances, which is what a workstation's
    one-instance spot request holds.
  - Only reads. When a quota cannot be read (the credentials may not call Service Quotas, or AWS
    has no value for the class) the module warns once and reports the class as not checked;
    instance types of other classes (X, Inf, Trn, ...) are not checked either.
options:
  workstations:
    description: The workstations the run is about to launch or start.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: The workstation's name (its C(ec2lab:name) tag).
        type: str
        required: true
      instance_type:
        description: Its instance type, for example V(t3.medium).
        type: str
        required: true
      market:
        description: How it is bought.
        type: str
        choices: [on-demand, spot]
        default: on-demand
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
author:
  - ec2lab contributors (@ec2lab)
"""

EXAMPLES = r"""
- name: Check two workstations fit before launching them
  ec2lab.notebook.ec2_vcpu_quota_info:
    region: us-west-2
    workstations:
      - {name: nb, instance_type: t3.medium}
      - {name: gpu, instance_type: g5.xlarge, market: spot}
  register: quota

- name: Stop when a class is short
  ansible.builtin.assert:
    that: quota.short | length == 0
    fail_msg: "{{ quota.short }}"
"""

RETURN = r"""
classes:
  description: Each quota class the workstations fall into.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The quota as Service Quotas names it.
      type: str
      sample: Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances
    code:
      description: The quota code, for C(aws service-quotas request-service-quota-increase).
      type: str
      sample: L-1216C47A
    quota:
      description: The vCPUs the account may run at once in this class; null when it could not be read.
      type: int
    in_use:
      description: vCPUs of the pending and running instances of this class in the region.
      type: int
    needed:
      description: vCPUs the workstations of this class that do not run yet need.
      type: int
    workstations:
      description: The names of those workstations.
      type: list
      elements: str
short:
  description: The entries of RV(classes) whose quota is known and smaller than in use plus needed.
  returned: always
  type: list
  elements: dict
unchecked:
  description: Why some of the need could not be checked (one line each); empty when all of it was.
  returned: always
  type: list
  elements: str
"""

import re

try:
    import botocore
except ImportError:
    pass  # AnsibleAWSModule reports the missing dependency

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

# Instance families (the letters before the generation digit) by quota class, and each class's
# quota code and name per market, as Service Quotas lists them for ec2.
QUOTA_CLASSES = (
    {"families": {"a", "c", "d", "h", "i", "im", "is", "m", "r", "t", "z"},
     "on-demand": ("L-1216C47A", "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances"),
     "spot": ("L-34B43A08", "All Standard (A, C, D, H, I, M, R, T, Z) Spot Instance Requests")},
    {"families": {"g", "gr", "vt"},
     "on-demand": ("L-DB2E81BA", "Running On-Demand G and VT instances"),
     "spot": ("L-3819A6DF", "All G and VT Spot Instance Requests")},
    {"families": {"p"},
     "on-demand": ("L-417A185B", "Running On-Demand P instances"),
     "spot": ("L-7212CCBC", "All P Spot Instance Requests")},
)


def quota_of(instance_type: str, market: str) -> tuple[str, str] | None:
    """(code, name) of the quota an instance type counts against in a market, None if unknown."""
    family = re.match(r"([a-z]+)\d", instance_type)
    for quota_class in QUOTA_CLASSES:
        if family and family.group(1) in quota_class["families"]:
            return quota_class[market]
    return None


def needs_by_quota(workstations: list[dict], running_names: set[str], vcpus: dict[str, int]) -> tuple[dict, list]:
    """The vCPUs each quota needs for the workstations not running yet, and the types of no known quota."""
    needs, unknown = {}, []
    for workstation in workstations:
        if workstation["name"] in running_names:
            continue
        quota = quota_of(workstation["instance_type"], workstation["market"])
        if quota is None:
            unknown.append(workstation["instance_type"])
            continue
        need = needs.setdefault(quota, {"needed": 0, "workstations": []})
        need["needed"] += vcpus[workstation["instance_type"]]
        need["workstations"].append(workstation["name"])
    return needs, sorted(set(unknown))


def in_use_by_quota(instances: list[dict], vcpus: dict[str, int]) -> dict:
    """vCPUs the given (pending or running) instances hold, per quota."""
    in_use = {}
    for instance in instances:
        market = "spot" if instance.get("InstanceLifecycle") == "spot" else "on-demand"
        quota = quota_of(instance["InstanceType"], market)
        if quota is not None:
            in_use[quota] = in_use.get(quota, 0) + vcpus[instance["InstanceType"]]
    return in_use


def classes_report(needs: dict, in_use: dict, quotas: dict) -> list[dict]:
    """One entry per quota that the workstations need."""
    return [{"code": code, "name": name, "quota": quotas.get(code), "in_use": in_use.get((code, name), 0),
             "needed": need["needed"], "workstations": need["workstations"]}
            for (code, name), need in sorted(needs.items())]


def is_short(entry: dict) -> bool:
    return entry["quota"] is not None and entry["in_use"] + entry["needed"] > entry["quota"]


def _live_instances(ec2) -> list[dict]:
    pages = ec2.get_paginator("describe_instances").paginate(
        Filters=[{"Name": "instance-state-name", "Values": ["pending", "running"]}])
    return [instance for page in pages for reservation in page["Reservations"] for instance in reservation["Instances"]]


def _vcpus(ec2, instance_types: set[str]) -> dict[str, int]:
    vcpus = {}
    for instance_type in instance_types:  # a page of DescribeInstanceTypes is 100 at most; a class needs few
        answer = ec2.describe_instance_types(InstanceTypes=[instance_type])
        vcpus[instance_type] = answer["InstanceTypes"][0]["VCpuInfo"]["DefaultVCpus"]
    return vcpus


def _quota_value(quotas_client, code: str) -> float:
    """The account's applied value; AWS answers NoSuchResource for a quota never changed."""
    try:
        return quotas_client.get_service_quota(ServiceCode="ec2", QuotaCode=code)["Quota"]["Value"]
    except is_boto3_error_code("NoSuchResourceException"):
        return quotas_client.get_aws_default_service_quota(ServiceCode="ec2", QuotaCode=code)["Quota"]["Value"]


def _unreadable(error: Exception) -> str:
    if isinstance(error, botocore.exceptions.ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        if code in ("AccessDeniedException", "AccessDenied", "UnauthorizedOperation"):
            return "the AWS credentials may not call servicequotas:GetServiceQuota"
        return f"Service Quotas answered {code}: {error.response.get('Error', {}).get('Message', '')}".strip()
    return f"Service Quotas could not be reached: {error}"


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            workstations=dict(type="list", elements="dict", required=True, options=dict(
                name=dict(type="str", required=True),
                instance_type=dict(type="str", required=True),
                market=dict(type="str", choices=["on-demand", "spot"], default="on-demand"),
            )),
        ),
        supports_check_mode=True,
    )
    workstations = module.params["workstations"]
    retrying = AWSRetry.jittered_backoff()  # a class's runs side by side can be throttled
    ec2 = module.client("ec2", retry_decorator=retrying)
    try:
        live = _live_instances(ec2)
        wanted_types = {w["instance_type"] for w in workstations}
        vcpus = _vcpus(ec2, wanted_types | {i["InstanceType"] for i in live})
    except is_boto3_error_code("InvalidInstanceType") as error:
        module.fail_json(msg=f"{error.response['Error']['Message']} in {module.region}. Nothing was created.",
                         classes=[], short=[], unchecked=[])
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:  # pylint: disable=duplicate-except
        module.fail_json_aws(error, msg="Could not read the instances and their vCPUs")
    running_names = {tag["Value"] for instance in live for tag in instance.get("Tags", []) if tag["Key"] == "ec2lab:name"}
    needs, unknown = needs_by_quota(workstations, running_names, vcpus)
    unchecked = [f"instance type {t}: ec2lab knows no vCPU quota class for it" for t in unknown]
    quotas = {}
    quotas_client = module.client("service-quotas", retry_decorator=retrying)
    for code, name in needs:
        try:
            quotas[code] = int(_quota_value(quotas_client, code))
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
            unchecked.append(f"{name}: {_unreadable(error)}")
    if unchecked:
        module.warn("vCPU quotas not checked, AWS may refuse the instances: " + "; ".join(unchecked))
    classes = classes_report(needs, in_use_by_quota(live, vcpus), quotas)
    module.exit_json(changed=False, classes=classes, short=[entry for entry in classes if is_short(entry)],
                     unchecked=unchecked)


if __name__ == "__main__":
    main()
