"""The vCPU quota check: a launch or start that AWS would refuse for want of quota stops before
anything is made, with one message that says what to ask for; unreadable quotas only warn.
A roster's class is checked whole: tests/aws/test_cohorts.py."""

import pytest

STANDARD, G_AND_VT = "L-1216C47A", "L-DB2E81BA"


def test_a_gpu_type_without_gpu_quota_is_refused_before_anything_is_made(playbook, aws, vcpu_quotas):
    vcpu_quotas({STANDARD: 640, G_AND_VT: 0})
    run = playbook("launch.yml", ec2lab_instance_type="g5.xlarge")
    assert run.rc != 0
    assert "Running On-Demand G and VT instances: nb needs 4 vCPUs; the account allows 0" in run.output
    assert aws.nothing_for("nb")


@pytest.mark.slow(seconds=40)
def test_unreadable_quotas_warn_and_launch_and_start_counts_what_already_runs(playbook, aws, vcpu_quotas):
    vcpu_quotas({"denied": True})
    run = playbook("launch.yml")
    assert run.rc == 0, run
    assert "vCPU quotas not checked, AWS may refuse the instances: Running On-Demand Standard" in run.output
    assert "may not call servicequotas:GetServiceQuota" in run.output
    assert len(aws.instances()) == 1

    assert playbook("stop.yml").rc == 0
    # While nb was stopped someone else's instance took the room it needs to start again.
    aws.ec2.run_instances(ImageId=aws.instances(states=("stopped",))[0]["ImageId"], InstanceType="t3.large",
                          MinCount=1, MaxCount=1)
    vcpu_quotas({STANDARD: 3})
    refused = playbook("start.yml")
    assert refused.rc != 0
    assert "nb needs 2 vCPUs; the account allows 3 in us-west-2 and 2 are in use." in refused.output
    assert [i["State"]["Name"] for i in aws.instances()] == ["stopped"]
