"""A roster as an instructor writes it: every mistake named at once, then one workstation each."""

from pathlib import Path

import pytest
import yaml

from ansible_collections.ec2lab.notebook.plugins.filter.cohort import cohort_problems, cohort_workstations

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeFakeFakeFakeFakeFakeFakeFakeFakeFakeFake ada@laptop"


def roster(**changes):
    base = {"name": "ds101", "ssh_cidrs": ["198.51.100.0/24"], "instance_type": "t3.medium",
            "students": [{"name": "ada", "public_key": KEY}, {"name": "grace", "instance_type": "t3.large"}]}
    return {**base, **changes}


def test_a_good_roster_has_no_problems():
    assert cohort_problems(roster()) == []


def test_each_student_gets_the_cohort_options_unless_they_override_them():
    ada, grace = cohort_workstations(roster())
    assert (ada["name"], ada["host"]) == ("ds101-ada", "ada.ds101")
    assert ada["vars"]["ec2lab_instance_type"] == "t3.medium"
    assert ada["vars"]["ec2lab_student_public_key"] == KEY
    assert grace["vars"]["ec2lab_instance_type"] == "t3.large"
    assert grace["vars"]["ec2lab_student_public_key"] == ""
    assert grace["vars"]["ec2lab_cohort_name"] == "ds101"
    assert grace["vars"]["ec2lab_ssh_cidrs"] == ["198.51.100.0/24"]
    # Options nobody set are left to the role's defaults.
    assert "ec2lab_market" not in grace["vars"]


def test_ssh_cidrs_may_be_a_comma_separated_string():
    assert cohort_workstations(roster(ssh_cidrs="203.0.113.7/32, 198.51.100.0/24"))[0]["vars"]["ec2lab_ssh_cidrs"] == \
        ["203.0.113.7/32", "198.51.100.0/24"]


@pytest.mark.parametrize(("changes", "expected"), [
    ({"name": "DS 101"}, "cohort name 'DS 101'"),
    ({"name": "a-very-long-cohort"}, "1 to 12 lowercase"),
    ({"ssh_cidrs": []}, "ssh_cidrs is required"),
    ({"ssh_cidrs": ["0.0.0.0/0"]}, "not a public IPv4 range of /16 or narrower"),
    ({"ssh_cidrs": ["10.1.0.0/16"]}, "private address"),
    ({"students": []}, "at least one student"),
    ({"student": []}, "unknown key 'student'"),
    ({"students": [{"name": "ada"}, {"name": "ada"}]}, "student 2 (ada): the name is given twice"),
    ({"students": [{"name": "Ada"}]}, "student 1 (Ada): the name must be"),
    ({"students": [{"name": "ada", "instance": "t3.large"}]}, "unknown key 'instance'"),
    ({"students": [{"name": "ada", "public_key": "-----BEGIN OPENSSH PRIVATE KEY-----"}]}, "never a private key"),
    ({"students": ["ada"]}, "student 1 must be a mapping"),
])
def test_mistakes_are_named(changes, expected):
    problems = cohort_problems(roster(**changes))
    assert any(expected in problem for problem in problems), problems


def test_every_mistake_is_reported_at_once():
    problems = cohort_problems(roster(name="X", students=[{"name": "ada", "public_key": "nope"}, {"name": "B"}]))
    assert len(problems) == 3, problems


def test_not_a_mapping():
    assert "must be a mapping" in cohort_problems(["ada", "grace"])[0]


def test_the_documented_example_roster_is_valid():
    example = yaml.safe_load((Path(__file__).parents[4] / "examples" / "cohort.yml").read_text())
    assert cohort_problems(example["ec2lab_cohort"]) == []
    assert [w["name"] for w in cohort_workstations(example["ec2lab_cohort"])] == ["ds101-ada", "ds101-grace", "ds101-linus"]


def test_the_image_is_a_cohort_default_a_student_may_override():
    base = roster(image="baked")
    base["students"][1]["image"] = "ami-0123456789abcdef0"
    ada, grace = cohort_workstations(base)
    assert ada["vars"]["ec2lab_ami_id"] == "baked"
    assert grace["vars"]["ec2lab_ami_id"] == "ami-0123456789abcdef0"
    assert cohort_problems(base) == []
