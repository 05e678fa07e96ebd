"""stop / start / status: what a user sees between launch and terminate."""


def test_stop_start_and_status(playbook, aws, key_dir):
    assert playbook("launch.yml").rc == 0
    assert playbook("launch.yml", ec2lab_name="gpu", ec2lab_instance_type="t4g.large").rc == 0

    stop = playbook("stop.yml")
    assert stop.rc == 0, stop
    [nb] = aws.instances("nb")
    assert nb["State"]["Name"] == "stopped"
    assert aws.instances("gpu")[0]["State"]["Name"] == "running"  # the other name is untouched

    status = playbook("status.yml")
    assert status.rc == 0, status
    rows = {line.split()[0].strip('"'): line for line in status.output.splitlines()
            if line.strip().startswith('"nb ') or line.strip().startswith('"gpu ')}
    assert "stopped" in rows["nb"] and "0 (stopped)" in rows["nb"]
    assert "running" in rows["gpu"] and "0.0672" in rows["gpu"] and "ec2lab-gpu-123456789012" in rows["gpu"]
    assert "Storage: 40 GiB of data volumes, about $3.20/month" in status.output

    start = playbook("start.yml")
    assert start.rc == 0, start
    [nb] = aws.instances("nb")
    assert nb["State"]["Name"] == "running"
    assert f"nb is running at {nb['PublicIpAddress']}" in start.output
    aliases = ((key_dir.parent / "home") / ".ssh/config.d/ec2lab").read_text()
    assert f"HostName {nb['PublicIpAddress']}" in aliases  # the alias followed the new IP
    again = playbook("start.yml")
    assert again.rc == 0 and again.recap()["changed"] == 0, again


def test_status_lists_data_kept_after_terminate(playbook, aws):
    assert playbook("launch.yml").rc == 0
    assert playbook("terminate.yml").rc == 0
    status = playbook("status.yml")
    assert status.rc == 0, status
    assert "no ec2lab instance in us-west-2" in status.output
    assert "kept: data volume" in status.output and "of 'nb', 20 GiB" in status.output


def test_stop_of_unknown_name_says_so(playbook, aws):
    run = playbook("stop.yml", ec2lab_name="ghost")
    assert run.rc != 0 and "No ec2lab instance named 'ghost'" in run.output, run
