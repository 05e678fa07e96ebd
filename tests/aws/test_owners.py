"""One AWS account, many people: a workstation name held by another owner is refused.

alice launches `nb`; bob (another EC2LAB_OWNER, his own laptop: his own HOME and key directory)
runs every command on `nb` and is refused with one message before anything is created or
changed; his own `nb-bob` lives and dies beside hers without touching it; an instructor's explicit
-e ec2lab_owner=alice works; alice on a second laptop without her key file gets advice that
touches nothing of anyone else's. Two launches in all, shared by the whole module (CONTRIBUTING):
every other run is refused early or acts on bob's workstation.
"""

import re
import types

import pytest
from testlib import playbook_runner, reset_moto

# Two launches and some twenty short runs, on one worker: started early.
pytestmark = pytest.mark.slow(seconds=150)

NO_SYNC = {"ec2lab_backup_sync": "false"}
REFUSAL = "Workstation name 'nb' in us-west-2 belongs to alice ("


def person(aws, key_dir, owner):
    """Run root playbooks as `owner` on a laptop of their own (HOME beside `key_dir`)."""
    run = playbook_runner(aws, key_dir)

    def as_owner(name, *args, **options):
        return run(name, *args, env_set={"EC2LAB_OWNER": owner}, **options)
    return types.SimpleNamespace(aws=aws, key_dir=key_dir, home=key_dir.parent / "home", run=as_owner)


def _tags(resource) -> dict:
    return {t["Key"]: t["Value"] for t in resource.get("Tags", resource.get("TagSet", []))}


def holdings(aws, name: str = "nb") -> dict:
    """Everything of workstation `name` a user would miss or notice changed, with its tags."""
    tag = [{"Name": "tag:ec2lab:name", "Values": [name]}]
    resource_name = f"ec2lab-{name}"
    instances = [(i["InstanceId"], i["State"]["Name"], i["InstanceType"], _tags(i),
                  sorted(m["Ebs"]["VolumeId"] for m in i["BlockDeviceMappings"]))
                 for i in aws.instances(name)]
    volumes = [(v["VolumeId"], v["State"], v["Size"], _tags(v), [a["InstanceId"] for a in v["Attachments"]])
               for v in aws.ec2.describe_volumes(Filters=tag)["Volumes"]]
    snapshots = [(s["SnapshotId"], _tags(s)) for s in aws.ec2.describe_snapshots(OwnerIds=["self"], Filters=tag)["Snapshots"]]
    key_pairs = [(k["KeyName"], k["KeyFingerprint"], _tags(k)) for k in aws.ec2.describe_key_pairs(
        Filters=[{"Name": "key-name", "Values": [resource_name]}])["KeyPairs"]]
    groups = [(g["GroupId"], g["IpPermissions"], _tags(g)) for g in aws.ec2.describe_security_groups(
        Filters=[{"Name": "group-name", "Values": [resource_name]}])["SecurityGroups"]]
    buckets = [(b, _tags(aws.s3.get_bucket_tagging(Bucket=b)),
                [o["Key"] for o in aws.s3.list_objects_v2(Bucket=b).get("Contents", [])])
               for b in aws.ec2lab_resources(name)["buckets"] if b == f"{resource_name}-123456789012"]
    roles = [(r, _tags(aws.iam.get_role(RoleName=r)["Role"]), aws.iam.list_role_policies(RoleName=r)["PolicyNames"])
             for r in aws.ec2lab_resources(name)["roles"]]
    return {"instances": instances, "volumes": sorted(volumes), "snapshots": sorted(snapshots),
            "key_pairs": key_pairs, "security_groups": groups, "buckets": buckets, "roles": roles,
            "instance_profiles": aws.ec2lab_resources(name)["instance_profiles"]}


def owned_by(aws, owner: str) -> dict:
    """What carries ec2lab:owner=`owner` anywhere in the account (instances: not terminated)."""
    tag = [{"Name": "tag:ec2lab:owner", "Values": [owner]}]
    live = [{"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}]
    found = {
        "instances": [i["InstanceId"] for r in aws.ec2.describe_instances(Filters=tag + live)["Reservations"]
                      for i in r["Instances"]],
        "volumes": [v["VolumeId"] for v in aws.ec2.describe_volumes(Filters=tag)["Volumes"]],
        "snapshots": [s["SnapshotId"] for s in aws.ec2.describe_snapshots(OwnerIds=["self"], Filters=tag)["Snapshots"]],
        "key_pairs": [k["KeyName"] for k in aws.ec2.describe_key_pairs()["KeyPairs"] if _tags(k).get("ec2lab:owner") == owner],
        "security_groups": [g["GroupId"] for g in aws.ec2.describe_security_groups(Filters=tag)["SecurityGroups"]],
        "launch_templates": [t["LaunchTemplateName"] for t in aws.ec2.describe_launch_templates(Filters=tag)["LaunchTemplates"]],
        "buckets": [b["Name"] for b in aws.s3.list_buckets()["Buckets"]
                    if _tags(_bucket_tagging(aws, b["Name"])).get("ec2lab:owner") == owner],
        "roles": [r["RoleName"] for r in aws.iam.list_roles()["Roles"]
                  if _tags(aws.iam.get_role(RoleName=r["RoleName"])["Role"]).get("ec2lab:owner") == owner],
    }
    return {kind: ids for kind, ids in found.items() if ids}


def _bucket_tagging(aws, bucket: str) -> dict:
    try:
        return aws.s3.get_bucket_tagging(Bucket=bucket)
    except aws.s3.exceptions.ClientError:
        return {}


@pytest.fixture(scope="module")
def alice(moto_endpoint, tmp_path_factory):
    """alice's `nb` (launch 1 of 2), with a backup and a file in its bucket."""
    aws = reset_moto(moto_endpoint)
    alice = person(aws, tmp_path_factory.mktemp("alice") / "ssh", "alice")
    launch = alice.run("launch.yml")
    assert launch.rc == 0, launch
    assert launch.our_deprecations() == [], launch.our_deprecations()
    backup = alice.run("backup.yml", **NO_SYNC)
    assert backup.rc == 0, backup
    aws.s3.put_object(Bucket="ec2lab-nb-123456789012", Key="thesis.ipynb", Body=b"{}")
    before = holdings(aws)
    assert len(before["instances"]) == 1 and len(before["snapshots"]) == 1 and before["key_pairs"], before
    assert set(owned_by(aws, "alice")) >= {"instances", "volumes", "snapshots", "key_pairs", "security_groups",
                                           "buckets", "roles"}
    alice.before = before
    return alice


@pytest.fixture(scope="module")
def bob(alice, tmp_path_factory):
    """bob on his own laptop, in alice's account."""
    return person(alice.aws, tmp_path_factory.mktemp("bob") / "ssh", "bob")


@pytest.mark.parametrize(("playbook", "extra"), [
    ("launch.yml", {}),
    ("stop.yml", {}),
    ("start.yml", {}),
    ("backup.yml", NO_SYNC),
    ("terminate.yml", {}),
    ("terminate.yml", {"ec2lab_purge": "true", "ec2lab_purge_snapshots": "true"}),
], ids=["launch", "stop", "start", "backup", "terminate", "purge"])
def test_another_owners_name_is_refused_with_one_message_before_anything_is_touched(alice, bob, playbook, extra):
    aws = alice.aws
    # launch twice: a re-run is refused the same way, with nothing made in between.
    for _attempt in range(2 if playbook == "launch.yml" else 1):
        run = bob.run(playbook, **extra)
        assert run.rc != 0, run
        [failure] = re.findall(r"^fatal: .*", run.output, re.M)  # one failure, the refusal
        message = failure[failure.index(REFUSAL):]
        assert "not to you (ec2lab_owner=bob" in message and "Nothing was created or changed" in message
        assert "instance i-" in message and "data volume vol-" in message and "key pair ec2lab-nb" in message
        assert "Pick another name for yours, e.g. -e ec2lab_name=nb-bob." in message
        assert "passes its owner explicitly: -e ec2lab_owner=alice." in message
        # Refused by the ownership check, not later by the key pair's advice.
        assert "private key is not at" not in run.output
        assert run.recap()["changed"] == 0 and run.recap()["failed"] == 1, run
        assert holdings(aws) == alice.before
        assert owned_by(aws, "bob") == {}
        assert not bob.key_dir.exists() or list(bob.key_dir.iterdir()) == []
        assert not (bob.home / ".ssh/config.d/ec2lab").exists()


def test_alices_second_laptop_without_the_key_gets_advice_that_keeps_her_data(alice, tmp_path_factory):
    laptop = person(alice.aws, tmp_path_factory.mktemp("alice-laptop-2") / "ssh", "alice")
    run = laptop.run("launch.yml")
    assert run.rc != 0, run
    assert REFUSAL not in run.output  # her own name: not refused
    start = run.output.index("Key pair ec2lab-nb exists in AWS but its private key is not at")
    message = run.output[start:run.output.index("\n", start)]
    assert f"Copy ec2lab-nb.pem from the computer that launched nb to {laptop.key_dir}/ec2lab-nb.pem" in message
    assert "keeps the data volume, the bucket and the backups (do not add ec2lab_purge)" in message
    # Every command it names acts on her own nb, as herself, and none purges.
    commands = re.findall(r"(\w+\.yml)((?: -e \S+)*)", message)
    assert commands and all(options.split() == ["-e", "ec2lab_name=nb"] for _, options in commands), commands
    assert "ec2lab_purge=true" not in message and "ec2lab_owner" not in message
    assert holdings(alice.aws) == alice.before
    assert not laptop.key_dir.exists() or list(laptop.key_dir.iterdir()) == []


def test_bobs_own_name_lives_and_dies_beside_alices_without_touching_it(alice, bob):
    aws = alice.aws

    def unchanged(step):
        assert step.rc == 0, step
        assert REFUSAL not in step.output
        assert holdings(aws) == alice.before

    launch = bob.run("launch.yml", ec2lab_name="nb-bob")  # launch 2 of 2
    unchanged(launch)
    assert launch.our_deprecations() == [], launch.our_deprecations()
    mine = owned_by(aws, "bob")
    assert set(mine) == {"instances", "volumes", "key_pairs", "security_groups", "buckets", "roles"}, mine
    assert (bob.key_dir / "ec2lab-nb-bob.pem").exists() and not (bob.key_dir / "ec2lab-nb.pem").exists()

    status = bob.run("status.yml", ec2lab_pricing_api="false")
    unchanged(status)
    rows = {line.split()[0].strip('"'): line.split() for line in status.output.splitlines()
            if re.match(r'\s*"nb(-bob)? ', line)}
    assert re.search(r" OWNER +BUCKET +\$/HOUR", status.output), status
    # OWNER comes right before BUCKET; * marks the caller's own.
    owner = {name: row[row.index(f"ec2lab-{name}-123456789012") - 1] for name, row in rows.items()}
    assert owner == {"nb": "alice", "nb-bob": "bob*"}, status
    assert "Owners: * marks yours (ec2lab_owner=bob); the others are alice's." in status.output

    stop = bob.run("stop.yml", ec2lab_name="nb-bob")
    unchanged(stop)
    assert aws.instances("nb-bob")[0]["State"]["Name"] == "stopped"
    assert "Start it with: ansible-playbook start.yml -e ec2lab_name=nb-bob\"" in stop.output
    unchanged(bob.run("start.yml", ec2lab_name="nb-bob"))
    assert aws.instances("nb-bob")[0]["State"]["Name"] == "running"
    unchanged(bob.run("backup.yml", ec2lab_name="nb-bob", **NO_SYNC))
    assert len(aws.backups("nb-bob")) == 1

    unchanged(bob.run("terminate.yml", ec2lab_name="nb-bob"))
    assert not aws.instances("nb-bob")
    purge = bob.run("terminate.yml", ec2lab_name="nb-bob", ec2lab_purge="true", ec2lab_purge_snapshots="true")
    unchanged(purge)
    assert aws.nothing_for("nb-bob") and not aws.backups("nb-bob")
    assert owned_by(aws, "bob") == {}


def test_an_instructor_acts_on_someone_elses_workstation_only_by_naming_its_owner(alice, bob):
    """Last: it stops and starts alice's nb, as a teammate or instructor who means it would."""
    aws = alice.aws
    stop = bob.run("stop.yml", "-e", "ec2lab_owner=alice")
    assert stop.rc == 0, stop
    assert aws.instances("nb")[0]["State"]["Name"] == "stopped"
    # The command it suggests keeps the explicit owner, so it is not refused.
    suggested = re.search(r"Start it with: ansible-playbook start.yml (-e ec2lab_name=nb -e ec2lab_owner=alice)\"", stop.output)
    assert suggested, stop
    start = bob.run("start.yml", *suggested.group(1).split())
    assert start.rc == 0, start
    after = holdings(aws)
    assert after == alice.before  # running again, still alice's, nothing else changed
    assert owned_by(aws, "bob") == {}
