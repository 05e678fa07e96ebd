#!/usr/bin/python
# Copyright: ec2lab contributors
# SPDX-License-Identifier: Apache-2.0
"""Read on-demand EC2 prices from the AWS Price List Query API."""

from __future__ import annotations

DOCUMENTATION = r"""
module: ec2_instance_price_info
short_description: On-demand hourly prices of EC2 instance types from the AWS Pricing API
version_added: "0.1.0"
description:
  - Asks the AWS Price List Query API (C(pricing:GetProducts)) for the on-demand, shared-tenancy
    hourly USD price of each instance type in one region.
  - The Pricing API is optional for ec2lab. When it cannot be reached or the caller may not use it,
    the module does not fail unless O(fail_on_unavailable=true); it returns RV(available=false)
    and a RV(reason), so a playbook can fall back to a shipped price table.
options:
  instance_types:
    description: Instance types to price, for example V(t3.large).
    type: list
    elements: str
    required: true
  operating_system:
    description: The C(operatingSystem) attribute of the price, as the Pricing API spells it.
    type: str
    default: Linux
  pricing_region:
    description:
      - Region of the Pricing API endpoint. The API answers in a few regions only and gives the
        prices of every region from each of them.
      - O(region) is the region whose prices are wanted.
    type: str
    default: us-east-1
    choices: [us-east-1, eu-central-1, ap-south-1]
  timeout:
    description:
      - Seconds to wait for each connection and each answer. A request is tried twice, and each
        instance type is one request.
    type: int
    default: 10
  fail_on_unavailable:
    description: Fail instead of returning RV(available=false) when the API cannot answer.
    type: bool
    default: false
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
author:
  - ec2lab contributors (@ec2lab)
"""

EXAMPLES = r"""
- name: Price two instance types in Oregon
  ec2lab.notebook.ec2_instance_price_info:
    region: us-west-2
    instance_types: [t3.large, g5.xlarge]
  register: prices

- name: Show them, or say why there are none
  ansible.builtin.debug:
    msg: "{{ prices.prices if prices.available else prices.reason }}"
"""

RETURN = r"""
available:
  description: Whether the Pricing API answered.
  returned: always
  type: bool
prices:
  description: USD per hour for each instance type the API priced.
  returned: always
  type: dict
  sample: {"t3.large": 0.0832}
missing:
  description: Requested instance types the API has no on-demand price for in that region.
  returned: always
  type: list
  elements: str
reason:
  description: Why no prices could be read, when RV(available=false).
  returned: when not available
  type: str
source:
  description: Where the prices come from, for display.
  returned: always
  type: str
  sample: AWS Pricing API (us-east-1 endpoint)
"""

import json

try:
    import botocore
except ImportError:
    pass  # AnsibleAWSModule reports the missing dependency

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

# Attributes that narrow a type's many price lines to the one a plain launch pays.
_PLAIN_LAUNCH = {
    "tenancy": "Shared",
    "preInstalledSw": "NA",
    "capacitystatus": "Used",
    "licenseModel": "No License required",
}


def _filters(instance_type: str, region: str, operating_system: str) -> list[dict]:
    wanted = dict(instanceType=instance_type, regionCode=region, operatingSystem=operating_system,
                  **_PLAIN_LAUNCH)
    return [{"Type": "TERM_MATCH", "Field": field, "Value": value} for field, value in wanted.items()]


def hourly_usd(price_list_item: str) -> float | None:
    """The on-demand USD per hour in one PriceList entry (a JSON document), if it has one."""
    document = json.loads(price_list_item)
    for term in document.get("terms", {}).get("OnDemand", {}).values():
        for dimension in term.get("priceDimensions", {}).values():
            usd = dimension.get("pricePerUnit", {}).get("USD")
            if dimension.get("unit") == "Hrs" and usd is not None and float(usd) > 0:
                return float(usd)
    return None


def instance_prices(client, instance_types: list[str], region: str,
                    operating_system: str) -> tuple[dict[str, float], list[str]]:
    """Prices of the types found, and the types the API has no price for."""
    prices, missing = {}, []
    for instance_type in dict.fromkeys(instance_types):
        response = client.get_products(
            ServiceCode="AmazonEC2",
            Filters=_filters(instance_type, region, operating_system),
            FormatVersion="aws_v1",
            MaxResults=20,
        )
        found = [p for p in map(hourly_usd, response.get("PriceList", [])) if p is not None]
        if found:
            # Several lines can remain (e.g. per capacity reservation kind); a plain launch pays the lowest.
            prices[instance_type] = min(found)
        else:
            missing.append(instance_type)
    return prices, missing


def _first_line(text: str, limit: int = 160) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= limit else line[: limit - 3] + "..."


def unavailable_reason(error: Exception) -> str:
    """One short line for the status footer (an error page can be kilobytes of HTML)."""
    if isinstance(error, botocore.exceptions.ClientError):
        details = error.response.get("Error", {})
        code = details.get("Code", "")
        if code in ("AccessDeniedException", "AccessDenied", "UnauthorizedOperation"):
            return "the AWS credentials may not call pricing:GetProducts"
        return _first_line(f"the AWS Pricing API refused the request ({code}): {details.get('Message', '')}")
    return _first_line(f"the AWS Pricing API could not be reached: {error}")


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            instance_types=dict(type="list", elements="str", required=True),
            operating_system=dict(type="str", default="Linux"),
            pricing_region=dict(type="str", default="us-east-1",
                                choices=["us-east-1", "eu-central-1", "ap-south-1"]),
            timeout=dict(type="int", default=10),
            fail_on_unavailable=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    params = module.params
    region = module.region
    if not region:
        module.fail_json(msg="region is required: the region whose prices are wanted, e.g. us-west-2")
    source = f"AWS Pricing API ({params['pricing_region']} endpoint)"
    timeout = params["timeout"]
    # Few retries and short timeouts: without the API the caller falls back to a table, and
    # status.yml should not hang for a minute on a machine that cannot reach it.
    client = module.client(
        "pricing",
        region=params["pricing_region"],
        config={"connect_timeout": timeout, "read_timeout": timeout,
                "retries": {"mode": "standard", "max_attempts": 2}},
    )
    try:
        prices, missing = instance_prices(client, params["instance_types"], region,
                                          params["operating_system"])
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError, ValueError) as error:
        reason = unavailable_reason(error)
        if params["fail_on_unavailable"]:
            module.fail_json(msg=f"No prices for {region}: {reason}")
        module.exit_json(changed=False, available=False, prices={}, missing=params["instance_types"],
                         reason=reason, source=source)
    module.exit_json(changed=False, available=True, prices=prices, missing=missing, source=source)


if __name__ == "__main__":
    main()
