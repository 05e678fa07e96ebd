"""ec2_vcpu_quota_info: which quota an instance counts against, and what a run adds to each."""

import pytest

from ansible_collections.ec2lab.notebook.plugins.modules import ec2_vcpu_quota_info as quota

STANDARD = ("L-1216C47A", "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances")
G_SPOT = ("L-3819A6DF", "All G and VT Spot Instance Requests")


@pytest.mark.parametrize("instance_type, market, code", [
    ("t3.medium", "on-demand", "L-1216C47A"), ("m7i-flex.large", "on-demand", "L-1216C47A"),
    ("im4gn.large", "on-demand", "L-1216C47A"), ("t3.medium", "spot", "L-34B43A08"),
    ("g5.xlarge", "on-demand", "L-DB2E81BA"), ("gr6.4xlarge", "on-demand", "L-DB2E81BA"),
    ("vt1.3xlarge", "spot", "L-3819A6DF"), ("p4d.24xlarge", "on-demand", "L-417A185B"),
    ("p5.48xlarge", "spot", "L-7212CCBC"),
])
def test_each_type_counts_against_its_class_and_market(instance_type, market, code):
    assert quota.quota_of(instance_type, market)[0] == code


@pytest.mark.parametrize("instance_type", ["x2idn.large", "inf2.xlarge", "trn1.2xlarge", "u-6tb1.metal", "mac1.metal"])
def test_classes_ec2lab_does_not_know_are_not_guessed(instance_type):
    assert quota.quota_of(instance_type, "on-demand") is None


def test_a_run_needs_the_vcpus_of_what_does_not_run_yet_and_counts_what_runs_as_in_use():
    vcpus = {"t3.medium": 2, "t3.large": 2, "g5.xlarge": 4, "x2idn.large": 2}
    workstations = [
        {"name": "ds-ada", "instance_type": "t3.medium", "market": "on-demand"},
        {"name": "ds-grace", "instance_type": "t3.large", "market": "on-demand"},
        {"name": "ds-alan", "instance_type": "t3.medium", "market": "on-demand"},  # runs already
        {"name": "gpu", "instance_type": "g5.xlarge", "market": "spot"},
        {"name": "big", "instance_type": "x2idn.large", "market": "on-demand"},
    ]
    needs, unknown = quota.needs_by_quota(workstations, {"ds-alan"}, vcpus)
    assert needs == {STANDARD: {"needed": 4, "workstations": ["ds-ada", "ds-grace"]},
                     G_SPOT: {"needed": 4, "workstations": ["gpu"]}}
    assert unknown == ["x2idn.large"]

    running = [{"InstanceType": "t3.medium"}, {"InstanceType": "g5.xlarge", "InstanceLifecycle": "spot"},
               {"InstanceType": "g5.xlarge"}]
    in_use = quota.in_use_by_quota(running, vcpus)
    assert in_use[STANDARD] == 2 and in_use[G_SPOT] == 4

    classes = quota.classes_report(needs, in_use, {"L-1216C47A": 6, "L-3819A6DF": 8})
    assert [(c["code"], c["quota"], c["in_use"], c["needed"]) for c in classes] == [
        ("L-1216C47A", 6, 2, 4), ("L-3819A6DF", 8, 4, 4)]
    assert [quota.is_short(c) for c in classes] == [False, False]
    assert quota.is_short(dict(classes[0], quota=5))
    assert not quota.is_short(dict(classes[0], quota=None))  # unread: warned about, not refused
