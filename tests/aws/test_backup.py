"""backup.yml, restore (launch.yml -e ec2lab_data_snapshot=...) and purge of backups, against moto.

What a user relies on: a backup of the data volume exists and says how consistent it is, only
the newest N of that workstation are kept and nobody else's snapshot is touched, a purged
workstation comes back with its notebooks, and an existing data volume is never replaced.
(The flush over SSH is proven against a container in tests/e2e/test_awx_path.py; here no
workstation is reachable, so the tests turn it off.) Launches are few and shared: each costs.
"""

import time

import pytest

NO_SYNC = {"ec2lab_backup_sync": "false"}


def tags_of(resource) -> dict:
    return {t["Key"]: t["Value"] for t in resource.get("Tags", [])}


def data_volume(aws, name="nb"):
    return aws.volumes(**{"tag:ec2lab:name": name, "tag:ec2lab:role": "data"})


def backup(playbook, **extra):
    run = playbook("backup.yml", **NO_SYNC, **extra)
    assert run.rc == 0, run
    time.sleep(1.1)  # snapshots a second apart, so "newest" is never a tie
    return run


def test_backups_are_kept_per_workstation_and_nobody_elses_are_touched(playbook, aws):
    assert playbook("launch.yml").rc == 0
    assert playbook("launch.yml", ec2lab_name="other").rc == 0
    [volume] = data_volume(aws)
    mine = aws.ec2.create_snapshot(VolumeId=volume["VolumeId"], Description="made by hand")["SnapshotId"]
    backup(playbook, ec2lab_name="other")

    first = backup(playbook)
    assert "Backup of nb: snap-" in first.output and "crash-consistent" in first.output, first
    [snapshot] = aws.backups()
    assert snapshot["VolumeId"] == volume["VolumeId"]
    tags = tags_of(snapshot)
    assert tags["ec2lab:name"] == "nb" and "ec2lab:owner" in tags and tags["ec2lab:consistency"] == "crash-consistent"

    backup(playbook, ec2lab_backup_keep=2)
    third = backup(playbook, ec2lab_backup_keep=2)
    kept = aws.backups()
    assert len(kept) == 2 and snapshot["SnapshotId"] not in [s["SnapshotId"] for s in kept]
    assert f"deleted {snapshot['SnapshotId']}" in third.output
    # The snapshot made by hand and the other workstation's backup are still there.
    assert aws.ec2.describe_snapshots(SnapshotIds=[mine])["Snapshots"]
    assert len(aws.backups("other")) == 1

    # status shows how old each workstation's newest backup is.
    status = playbook("status.yml", ec2lab_pricing_api="false")
    assert status.rc == 0, status
    row = next(line for line in status.output.splitlines() if line.strip().startswith('"nb '))
    assert "0m ago" in row, status

    # A stopped workstation: nothing writes, so the backup is consistent.
    assert playbook("stop.yml").rc == 0
    stopped = backup(playbook)
    assert "The instance was stopped, so nothing was writing; the backup is consistent." in stopped.output
    assert tags_of(aws.backups()[0])["ec2lab:consistency"] == "consistent"

    # Backups go only with an explicit purge of them, and only this workstation's.
    refused = playbook("terminate.yml", ec2lab_purge_snapshots="true")
    assert refused.rc != 0 and "deletes the backups only together with the data volume" in refused.output, refused
    assert aws.instances()
    purged = playbook("terminate.yml", ec2lab_purge="true", ec2lab_purge_snapshots="true")
    assert purged.rc == 0 and "Deleted 3 backup(s)." in purged.output, purged
    assert not aws.backups() and len(aws.backups("other")) == 1


def test_purge_keeps_backups_launch_restores_them_and_never_replaces_a_volume(playbook, aws):
    assert playbook("launch.yml").rc == 0
    backup(playbook)
    newest = aws.backups()[0]["SnapshotId"]

    # A plain terminate keeps the data volume: a restore would replace it, so launch refuses
    # before anything is made (no key pair, group or instance comes back).
    assert playbook("terminate.yml").rc == 0
    [kept] = data_volume(aws)
    refused = playbook("launch.yml", ec2lab_data_snapshot="latest")
    assert refused.rc != 0
    assert f"nb already has data volume {kept['VolumeId']}; ec2lab never replaces a data volume" in refused.output, refused
    assert not aws.instances() and not aws.ec2lab_resources()["key_pairs"] and not aws.ec2lab_resources()["security_groups"]
    assert [v["VolumeId"] for v in data_volume(aws)] == [kept["VolumeId"]]

    purged = playbook("terminate.yml", ec2lab_purge="true")
    assert purged.rc == 0 and "Kept 1 backup(s)" in purged.output and "ec2lab_data_snapshot=latest" in purged.output, purged
    assert not data_volume(aws) and aws.backups()

    restored = playbook("launch.yml", ec2lab_data_snapshot="latest")
    assert restored.rc == 0, restored.output[-3000:]
    [volume] = data_volume(aws)
    assert volume["SnapshotId"] == newest and tags_of(volume)["ec2lab:restored-from"] == newest
    assert f"restored from {newest}" in restored.output
    again = playbook("launch.yml", ec2lab_data_snapshot="latest")
    assert again.rc == 0 and again.recap()["changed"] == 0, again


@pytest.mark.parametrize(("snapshot", "message"), [
    ("latest", "No completed ec2lab backup of nb in us-west-2"),
    ("snap-0123456789abcdef0", "Snapshot snap-0123456789abcdef0 is not a completed snapshot in us-west-2"),
    ("yesterday", "ec2lab_data_snapshot 'yesterday' must be latest or a snapshot id"),
])
def test_a_restore_that_cannot_happen_is_one_message_and_nothing_is_made(playbook, aws, snapshot, message):
    run = playbook("launch.yml", ec2lab_data_snapshot=snapshot)
    assert run.rc != 0 and message in run.output, run
    assert aws.nothing_for("nb")


def test_backup_of_a_name_without_a_data_volume_says_so(playbook, aws):
    run = playbook("backup.yml", ec2lab_name="ghost", **NO_SYNC)
    assert run.rc != 0 and "No data volume of ghost in us-west-2: nothing to back up" in run.output, run
