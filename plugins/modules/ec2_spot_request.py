#!/usr/bin/python
# Copyright: ec2lab contributors
# SPDX-License-Identifier: Apache-2.0
"""Cancel EC2 spot instance requests in every state that can still launch or restart an instance."""

from __future__ import annotations

DOCUMENTATION = r"""
module: ec2_spot_request
short_description: Cancel EC2 spot instance requests, including those of stopped instances
version_added: "0.1.0"
description:
  - Cancels the given spot instance requests that are C(open), C(active) or C(disabled). A
    persistent request that is not cancelled launches a new instance when its instance is
    terminated, so cancel before terminating.
  - M(amazon.aws.ec2_spot_instance) with O(state=absent) leaves C(disabled) requests alone (the
    request of an instance its user stopped, which ec2lab workstations often are).
  - Cancelling never terminates the instances; terminate them afterwards.
  - Requests are created through launch templates (M(amazon.aws.ec2_launch_template)), not here.
options:
  spot_instance_request_ids:
    description: The requests to cancel; those already cancelled, closed or unknown are skipped.
    type: list
    elements: str
    required: true
  state:
    description: Only V(absent).
    type: str
    default: absent
    choices: [absent]
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
author:
  - ec2lab contributors (@ec2lab)
"""

EXAMPLES = r"""
- name: Find the workstation's spot requests
  amazon.aws.ec2_spot_instance_info:
    filters:
      "tag:ec2lab:name": nb
      state: [open, active, disabled]
  register: requests

- name: Cancel them before the instance is terminated
  ec2lab.notebook.ec2_spot_request:
    spot_instance_request_ids: "{{ requests.spot_request | map(attribute='spot_instance_request_id') }}"
    state: absent
"""

RETURN = r"""
cancelled:
  description: The requests that were (or in check mode would be) cancelled.
  returned: always
  type: list
  elements: str
  sample: ["sir-0123456789abcdef0"]
"""

try:
    import botocore
except ImportError:
    pass  # AnsibleAWSModule reports the missing dependency

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

LIVE_STATES = ["open", "active", "disabled"]


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            spot_instance_request_ids=dict(type="list", elements="str", required=True),
            state=dict(type="str", default="absent", choices=["absent"]),
        ),
        supports_check_mode=True,
    )
    wanted = module.params["spot_instance_request_ids"]
    if not wanted:
        module.exit_json(changed=False, cancelled=[])
    client = module.client("ec2")
    try:
        # Filtering by id (not naming them) keeps an unknown id from failing the whole call.
        live = client.describe_spot_instance_requests(Filters=[
            {"Name": "spot-instance-request-id", "Values": wanted},
            {"Name": "state", "Values": LIVE_STATES},
        ])["SpotInstanceRequests"]
        cancelled = sorted(request["SpotInstanceRequestId"] for request in live)
        if cancelled and not module.check_mode:
            client.cancel_spot_instance_requests(SpotInstanceRequestIds=cancelled)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        module.fail_json_aws(error, msg=f"Could not cancel the spot requests {', '.join(wanted)}")
    module.exit_json(changed=bool(cancelled), cancelled=cancelled)


if __name__ == "__main__":
    main()
