"""A class at once: launch.yml / status / stop / start / terminate with a roster, against moto.

Each student's workstation is a play host of its own, made as a personal one is; the tests check
what an instructor notices: every workstation complete and isolated, the bundles to hand out, a
failure of one student reported without stopping the others, and nothing else touched.
"""

import base64
import json
import re
import stat
import subprocess
from pathlib import Path

import pytest
import yaml
from testlib import CALLER_CIDR, ROOT, Run, new_public_key, playbook_command

CAMPUS = "198.51.100.0/24"
GIVEN = "ec2lab: SSH from ec2lab_ssh_cidrs"  # the description of the roster's SSH rules
# Several launches of two workstations each: started early, not left for the tail of the run.
# Two students are enough for "one fails, the other goes on"; each more costs every command a host.
pytestmark = pytest.mark.slow(seconds=100)


@pytest.fixture
def student_key(tmp_path):
    """Ada's own key pair: the instructor gets only the public half."""
    return new_public_key(tmp_path / "ada_ed25519", comment="ada@laptop")


@pytest.fixture
def roster(tmp_path, student_key):
    def write(name="ds101", students=None, **options):
        data = {"ec2lab_cohort": {"name": name, "ssh_cidrs": [CAMPUS], **options, "students": students or [
            {"name": "ada", "public_key": student_key},
            {"name": "grace", "instance_type": "t3.large"},
        ]}}
        path = tmp_path / f"{name}.yml"
        path.write_text(yaml.safe_dump(data))
        return path
    return write


@pytest.fixture
def cohort(aws, key_dir):
    """Run a root playbook with a roster as an instructor does: -e @roster.yml."""
    def run(name, roster_file, *args, **extra_vars):
        cmd, env = playbook_command(aws, key_dir, name, "-e", f"@{roster_file}", *args, **extra_vars)
        # The roster says where the class connects from; the tests' caller address is not asked.
        if f"ec2lab_ssh_cidrs={CALLER_CIDR}" in cmd:
            at = cmd.index(f"ec2lab_ssh_cidrs={CALLER_CIDR}")
            del cmd[at - 1:at + 1]
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
        run = Run(proc)
        run.home = Path(env["HOME"])
        return run
    return run


def recaps(run) -> dict[str, dict[str, int]]:
    return {host: {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", rest)}
            for host, rest in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", run.output, re.M)}


def tags_of(instance) -> dict:
    return {t["Key"]: t["Value"] for t in instance.get("Tags", [])}


def changed_tasks(run, host) -> list[str]:
    """The names of the tasks that reported a change on `host`, in order."""
    task, changed = None, []
    for line in run.output.splitlines():
        if line.startswith("TASK ["):
            task = line[len("TASK ["):line.rindex("]")].split(" : ", 1)[-1]
        elif line.startswith(f"changed: [{host}]") and task not in changed:
            changed.append(task)
    return changed


def ssh_rules(aws, group_id) -> list[tuple]:
    [group] = aws.ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
    return sorted((p["FromPort"], r["CidrIp"], r.get("Description")) for p in group["IpPermissions"] for r in p["IpRanges"])


def test_a_roster_launches_one_isolated_workstation_per_student_and_its_commands_touch_only_it(
        cohort, roster, aws, key_dir, student_key, playbook, ec2_throttling, fixture_files):
    """One failure stops no other student, and the re-run finishes them, throttled by AWS, with the
    roster's changed range in every group; then stop, status, start, backup and terminate of the cohort, beside
    another cohort and the instructor's own workstation (on the same launch: each cohort launch
    costs most of a minute of a core)."""
    # A key pair of that name that ec2lab did not make: launch refuses it for grace only.
    aws.ec2.create_key_pair(KeyName="ec2lab-ds101-grace")
    failed = cohort("launch.yml", roster(ssh_cidrs=["192.0.2.0/24"]))  # the room of the first lecture
    assert failed.rc != 0
    assert "Cohort ds101: 1 of 2 ready, 1 failed" in failed.output
    assert re.search(r"ds101-grace +FAILED .*Key pair ec2lab-ds101-grace exists in AWS", failed.output), failed
    assert "1 of 2 workstations failed (ds101-grace)" in failed.output
    assert aws.instances("ds101-ada") and not aws.instances("ds101-grace")
    # Ada's group gets a rule by hand, which is hers to keep.
    [ada_group] = aws.ec2lab_resources("ds101-ada")["security_groups"]
    aws.ec2.authorize_security_group_ingress(GroupId=ada_group, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 8888, "ToPort": 8888,
        "IpRanges": [{"CidrIp": "10.8.0.0/16", "Description": "office VPN"}]}])

    # The same command again, with the roster's range now the campus: it finishes grace and of ada
    # changes only the range her group allows. AWS throttles the class meanwhile: grace's instance,
    # and five account checks (of ec2lab's own module), more than botocore's default 3 attempts
    # let either student's run absorb; both are retried with backoff instead of failing a student.
    aws.ec2.delete_key_pair(KeyName="ec2lab-ds101-grace")
    ds101 = roster()
    ec2_throttling({"RunInstances": 2, "DescribeRegions": 5})
    run = cohort("launch.yml", ds101)
    assert run.rc == 0, run
    throttle = fixture_files["EC2LAB_FIXTURE_THROTTLE"]
    assert json.loads(throttle.read_text()) == {"RunInstances": 0, "DescribeRegions": 0}  # all were refused
    throttle.unlink()
    hosts = recaps(run)
    assert {"ada.ds101", "grace.ds101"} <= set(hosts), hosts  # one play host each
    assert changed_tasks(run, "ada.ds101") == ["Allow SSH from the chosen addresses only, keeping the group's other rules"], run
    assert hosts["grace.ds101"]["changed"] > 0, hosts
    assert "Cohort ds101: 2 of 2 ready" in run.output
    assert ssh_rules(aws, ada_group) == [(22, CAMPUS, GIVEN), (8888, "10.8.0.0/16", "office VPN")]

    for student in ("ada", "grace"):
        name = f"ds101-{student}"
        resources = aws.ec2lab_resources(name)
        assert all(resources[kind] for kind in ("instances", "volumes", "security_groups", "key_pairs", "roles",
                                                 "instance_profiles", "buckets")), (name, resources)
        [instance] = aws.instances(name)
        assert tags_of(instance)["ec2lab:cohort"] == "ds101" and tags_of(instance)["ec2lab:student"] == student
        [group_id] = resources["security_groups"]
        assert [cidr for port, cidr, _ in ssh_rules(aws, group_id) if port == 22] == [CAMPUS]
    assert aws.instances("ds101-grace")[0]["InstanceType"] == "t3.large"

    # Ada logs in with her own key (cloud-init authorises it at first boot); the others get one.
    [ada] = aws.instances("ds101-ada")
    user_data = aws.ec2.describe_instance_attribute(InstanceId=ada["InstanceId"], Attribute="userData")
    assert student_key in base64.b64decode(user_data["UserData"]["Value"]).decode()

    bundles = run.home / "ec2lab-cohorts" / "ds101"
    assert stat.S_IMODE(bundles.stat().st_mode) == 0o700
    assert not (bundles / "ada" / "ds101-ada.pem").exists()
    grace_key = bundles / "grace" / "ds101-grace.pem"
    assert stat.S_IMODE(grace_key.stat().st_mode) == 0o400
    assert grace_key.read_bytes() == (key_dir / "ec2lab-ds101-grace.pem").read_bytes()
    config = bundles / "grace" / "ssh_config"
    resolved = subprocess.run(["ssh", "-G", "-F", str(config), "ds101-grace-jupyter"], capture_output=True,
                              text=True, check=True).stdout
    assert f"hostname {aws.instances('ds101-grace')[0]['PublicIpAddress']}" in resolved
    assert "localforward [127.0.0.1]:8888 [127.0.0.1]:8888" in resolved
    assert "ssh -N ds101-ada-jupyter" in (bundles / "ada" / "README.txt").read_text()

    commands_touch_only_that_cohort(cohort, roster, aws, playbook, ds101)


def commands_touch_only_that_cohort(cohort, roster, aws, playbook, first):
    """`first` (ds101: ada, grace) is running; ds102 and the instructor's nb come beside it."""
    second = roster(name="ds102", students=[{"name": "ada"}])
    assert playbook("launch.yml").rc == 0  # the instructor's own workstation, nb
    assert cohort("launch.yml", second).rc == 0
    ds101 = ("ds101-ada", "ds101-grace")

    stop = cohort("stop.yml", first)
    assert stop.rc == 0 and "Cohort ds101: 2 of 2 stopped" in stop.output, stop
    state = {name: aws.instances(name)[0]["State"]["Name"] for name in (*ds101, "ds102-ada", "nb")}
    assert state == {**dict.fromkeys(ds101, "stopped"), "ds102-ada": "running", "nb": "running"}, state

    status = cohort("status.yml", second, ec2lab_pricing_api="false")
    assert status.rc == 0, status
    assert "ds102-ada" in status.output and "ds101-ada" not in status.output and '"nb ' not in status.output
    assert "Cohort ds102: 1 workstation(s), 1 running: $0.0416/hour" in status.output
    # The roster's ranges do not follow anyone: status does not look the caller up for them.
    assert "Look up the caller's public address" not in status.output and "is not allowed" not in status.output

    start = cohort("start.yml", first)
    assert start.rc == 0 and "Cohort ds101: 2 of 2 running" in start.output, start

    backup = cohort("backup.yml", first, ec2lab_backup_sync="false")
    assert backup.rc == 0 and "Cohort ds101: 2 of 2 backed up" in backup.output, backup
    assert [len(aws.backups(name)) for name in (*ds101, "ds102-ada", "nb")] == [1, 1, 0, 0]

    terminate = cohort("terminate.yml", first, ec2lab_purge="true")
    assert terminate.rc == 0, terminate
    assert all(aws.nothing_for(name) for name in ds101)
    assert not (terminate.home / "ec2lab-cohorts" / "ds101" / "ada").exists()
    assert aws.instances("ds102-ada") and aws.instances("nb")


def test_check_mode_previews_the_cohort_and_changes_nothing(cohort, roster, aws):
    run = cohort("launch.yml", roster(), "--check", "--diff")
    assert run.rc == 0, run
    assert "Cohort ds101: 2 of 2 ready (--check: a preview, nothing was changed)" in run.output
    assert all(aws.nothing_for(f"ds101-{student}") for student in ("ada", "grace"))
    assert not (run.home / "ec2lab-cohorts").exists()


@pytest.mark.parametrize(("students", "options", "message"), [
    ([{"name": "ada"}, {"name": "ada"}], {}, "student 2 (ada): the name is given twice"),
    ([{"name": "ada", "public_key": "-----BEGIN OPENSSH PRIVATE KEY-----"}], {}, "never a private key"),
    ([{"name": "ada"}, {"name": "grace", "instance_type": "huge"}], {},
     "Nothing was launched: the options of ds101-grace are not valid"),
])
def test_a_bad_roster_is_one_message_and_nothing_is_made(cohort, roster, aws, students, options, message):
    run = cohort("launch.yml", roster(students=students, **options))
    assert run.rc != 0 and message in run.output, run
    assert aws.nothing_for("ds101-ada") and aws.nothing_for("ds101-grace")


def test_an_imported_key_pair_needs_every_students_own_key(cohort, roster, aws, student_key):
    """On AWX the instructor's Machine credential can be every key pair, but then ec2lab writes no
    private key, so a student without a public key in the roster would have nothing to log in with."""
    run = cohort("launch.yml", roster(), "-e", f"ec2lab_key_pair_public_key='{student_key}'")
    assert run.rc != 0
    assert "Student grace has no public_key in the roster" in run.output, run
    assert all(aws.nothing_for(f"ds101-{student}") for student in ("ada", "grace"))


def test_a_class_the_quota_cannot_hold_is_refused_whole_before_anything_is_made(cohort, roster, aws, vcpu_quotas):
    # ada's t3.medium (2 vCPUs) would fit alone; with grace's t3.large (2) the class needs 4.
    vcpu_quotas({"L-1216C47A": 3})
    run = cohort("launch.yml", roster())
    assert run.rc != 0
    assert "Not enough vCPU quota; nothing was created." in run.output
    assert ("Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances: 2 workstations "
            "(ds101-ada, ds101-grace) need 4 vCPUs; the account allows 3 in us-west-2 and 0 are in use.") in run.output
    assert "--quota-code L-1216C47A --desired-value 4" in run.output
    assert aws.nothing_for("ds101-ada") and aws.nothing_for("ds101-grace")
