#!/usr/bin/python
# Copyright: ec2lab contributors
# SPDX-License-Identifier: Apache-2.0
"""Read the current EC2 spot price of instance types in availability zones."""

from __future__ import annotations

DOCUMENTATION = r"""
module: ec2_spot_price_info
short_description: Current spot prices of EC2 instance types, per availability zone
version_added: "0.1.0"
description:
  - Asks EC2 (C(ec2:DescribeSpotPriceHistory)) for the newest spot price of each instance type in
    each availability zone of the region, for one product (operating system).
  - A spot price moves over time and differs between zones; the one a running spot instance pays
    is the price in its own zone.
options:
  instance_types:
    description: Instance types to price, for example V(t3.large).
    type: list
    elements: str
    required: true
  availability_zones:
    description: Zones to price; empty prices every zone of the region.
    type: list
    elements: str
    default: []
  product_description:
    description: The product, as EC2 spells it in the spot price history.
    type: str
    default: Linux/UNIX
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
author:
  - ec2lab contributors (@ec2lab)
"""

EXAMPLES = r"""
- name: Spot price of a g5.xlarge where the workstation runs
  ec2lab.notebook.ec2_spot_price_info:
    region: us-west-2
    instance_types: [g5.xlarge]
    availability_zones: [us-west-2a]
  register: spot

- name: Show it
  ansible.builtin.debug:
    msg: "{{ spot.prices['g5.xlarge']['us-west-2a'] | default('no spot offer') }}"
"""

RETURN = r"""
prices:
  description: USD per hour, by instance type and then availability zone. A type or zone without a
    spot offer is absent.
  returned: always
  type: dict
  sample: {"t3.large": {"us-west-2a": 0.0251, "us-west-2b": 0.0263}}
"""

import datetime

try:
    import botocore
except ImportError:
    pass  # AnsibleAWSModule reports the missing dependency

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule


def current_prices(history: list[dict]) -> dict[str, dict[str, float]]:
    """The newest price of each (type, zone) in a DescribeSpotPriceHistory answer."""
    newest: dict[tuple[str, str], dict] = {}
    for entry in history:
        key = (entry["InstanceType"], entry["AvailabilityZone"])
        if key not in newest or entry["Timestamp"] > newest[key]["Timestamp"]:
            newest[key] = entry
    prices: dict[str, dict[str, float]] = {}
    for (instance_type, zone), entry in sorted(newest.items()):
        prices.setdefault(instance_type, {})[zone] = float(entry["SpotPrice"])
    return prices


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            instance_types=dict(type="list", elements="str", required=True),
            availability_zones=dict(type="list", elements="str", default=[]),
            product_description=dict(type="str", default="Linux/UNIX"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if not params["instance_types"]:
        module.exit_json(changed=False, prices={})
    client = module.client("ec2")
    filters = [{"Name": "availability-zone", "Values": params["availability_zones"]}] if params["availability_zones"] else []
    # Asked from "now", the history holds exactly the price in force for each type and zone.
    now = datetime.datetime.now(datetime.timezone.utc)
    try:
        pages = client.get_paginator("describe_spot_price_history").paginate(
            InstanceTypes=params["instance_types"], ProductDescriptions=[params["product_description"]],
            StartTime=now, EndTime=now, Filters=filters,
        )
        history = [entry for page in pages for entry in page["SpotPriceHistory"]]
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        module.fail_json_aws(error, msg="Could not read the spot price history")
    module.exit_json(changed=False, prices=current_prices(history))


if __name__ == "__main__":
    main()
