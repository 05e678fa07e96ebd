"""terminate.yml: back to nothing, except the data the user would not want to lose."""

import stat

TRICKY_SSH_CONFIG = (
    b"# my laptop's config\r\n"
    b"Include ~/.ssh/work/*\r\n"
    b"User alice\r\n"
    b"\r\n"
    b"Host *\r\n"
    b"    IdentityFile ~/.ssh/id_ed25519\r\n"
    b"    ForwardAgent yes   \r\n"
    b"Match host *.internal exec \"true\"\r\n"
    b"    ProxyJump bastion\r\n"
    b"Host nb-old\r\n"
    b"    HostName 198.51.100.1"  # no final newline
)


def test_terminate_keeps_data_and_the_users_ssh_config_and_a_relaunch_reattaches_it(playbook, aws, key_dir):
    ssh_dir = key_dir.parent / "home" / ".ssh"
    ssh_dir.mkdir(parents=True, mode=0o700)
    config = ssh_dir / "config"
    config.write_bytes(TRICKY_SSH_CONFIG)
    config.chmod(0o600)

    assert playbook("launch.yml").rc == 0
    [data_volume] = aws.volumes(**{"tag:ec2lab:role": "data"})
    after_launch = config.read_bytes()
    added = after_launch.replace(TRICKY_SSH_CONFIG, b"")
    assert after_launch.endswith(TRICKY_SSH_CONFIG)  # everything of the user's is still there, in order
    assert added.count(b"Include") == 1 and b"config.d/ec2lab" in added

    run = playbook("terminate.yml")
    assert run.rc == 0, run
    assert config.read_bytes() == TRICKY_SSH_CONFIG  # byte for byte, but for the Include it added
    left = aws.ec2lab_resources()
    assert left["instances"] == [] and left["security_groups"] == [] and left["key_pairs"] == []
    assert left["roles"] == [] and left["instance_profiles"] == []
    assert left["volumes"] == [data_volume["VolumeId"]]
    assert aws.volumes(**{"volume-id": data_volume["VolumeId"]})[0]["State"] == "available"
    assert left["buckets"] == ["ec2lab-nb-123456789012"]
    assert (key_dir / "ec2lab-nb.pem").exists()
    assert "Kept: the data volume" in run.output
    assert not (ssh_dir / "config.d/ec2lab").exists() or "Host nb" not in (ssh_dir / "config.d/ec2lab").read_text()

    again = playbook("terminate.yml")  # twice is harmless
    assert again.rc == 0 and again.recap()["changed"] == 0, again
    status = playbook("status.yml")  # and status says what was kept
    assert status.rc == 0, status
    assert "no ec2lab instance in us-west-2" in status.output
    assert "kept: data volume" in status.output and "of 'nb', 20 GiB" in status.output

    relaunch = playbook("launch.yml")
    assert relaunch.rc == 0, relaunch
    [instance] = aws.instances()
    attached = aws.volumes(**{"attachment.instance-id": instance["InstanceId"]})
    assert data_volume["VolumeId"] in [v["VolumeId"] for v in attached]
    assert stat.S_IMODE((key_dir / "ec2lab-nb.pem").stat().st_mode) == 0o400


def test_purge_leaves_nothing_of_the_name_and_spares_what_it_did_not_make(playbook, aws, key_dir):
    """A custom bucket is found by its tags; a bucket under ec2lab's default name that ec2lab did
    not make, and another workstation, are left alone. (Purging a running workstation at once is
    the path of tests/e2e and of the cohort tests.)"""
    assert playbook("launch.yml", ec2lab_bucket_name="team-data-nb-2026").rc == 0
    assert playbook("launch.yml", ec2lab_name="bob").rc == 0
    aws.s3.put_object(Bucket="team-data-nb-2026", Key="results.csv", Body=b"run,score\n")
    # Somebody's own bucket under the name ec2lab would pick by default, without ec2lab tags.
    aws.s3.create_bucket(Bucket="ec2lab-nb-123456789012",
                         CreateBucketConfiguration={"LocationConstraint": "us-west-2"})

    # The way the summary suggests: terminate, and purge later; the custom name is not repeated.
    assert playbook("terminate.yml").rc == 0
    run = playbook("terminate.yml", ec2lab_purge="true")
    assert run.rc == 0, run
    assert run.our_deprecations() == [], run.our_deprecations()
    left = aws.ec2lab_resources()
    assert left.pop("buckets") == ["ec2lab-nb-123456789012"] and not any(left.values()), left
    assert "team-data-nb-2026" not in [b["Name"] for b in aws.s3.list_buckets()["Buckets"]]
    assert not (key_dir / "ec2lab-nb.pem").exists()
    [bob] = aws.instances("bob")
    assert bob["State"]["Name"] == "running"
    assert aws.ec2lab_resources("bob")["buckets"] == ["ec2lab-bob-123456789012"]
    assert (key_dir / "ec2lab-bob.pem").exists()
