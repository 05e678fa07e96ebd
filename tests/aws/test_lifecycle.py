"""stop / start / status: what a user sees between launch and terminate.

The tests that use `two_workstations` share one launch of `nb` and `gpu` and come first: the
price look-ups only read, and the stop/start test leaves both running as it found them.
"""

import pytest
from testlib import NOBLE_ARM64


@pytest.fixture(scope="module")
def two_workstations(launched):
    """`nb` (t3.medium) from the shared launch, and `gpu` (t4g.large, Graviton) beside it."""
    run = launched.playbook("launch.yml", ec2lab_name="gpu", ec2lab_instance_type="t4g.large")
    assert run.rc == 0, run
    return launched


def test_a_graviton_type_gets_the_arm64_image(two_workstations):
    [gpu] = two_workstations.aws.instances("gpu")
    assert gpu["ImageId"] == NOBLE_ARM64


def _row(output: str, name: str) -> str:
    return next(line for line in output.splitlines() if line.strip().startswith(f'"{name} '))


def test_status_prices_come_from_the_pricing_api_when_it_answers(two_workstations, pricing_api):
    playbook = two_workstations.playbook
    # FIXTURE prices, deliberately unlike the table's, so the row shows where its price came from.
    pricing_api({"us-west-2": {"t3.medium": 0.0999}, "eu-west-1": {"t4g.large": 0.5}})

    status = playbook("status.yml")
    assert status.rc == 0, status
    assert "0.0999" in _row(status.output, "nb")
    # No API price for t4g.large in this region: that row falls back to the table, and says so.
    assert "0.0672" in _row(status.output, "gpu")
    assert ("Prices: on-demand Linux from the AWS Pricing API (us-east-1 endpoint), read now;"
            " t4g.large from the table of 2026-11.") in status.output

    offline = playbook("status.yml", ec2lab_pricing_api="false")
    assert offline.rc == 0 and "0.0416" in _row(offline.output, "nb"), offline
    assert "Prices: on-demand Linux, table of 2026-11 (roles/ec2lab/vars/prices.yml).\"" in offline.output


def test_stop_of_unknown_name_says_so(two_workstations):
    run = two_workstations.playbook("stop.yml", ec2lab_name="ghost")
    assert run.rc != 0 and "No ec2lab instance named 'ghost'" in run.output, run


def test_status_shows_auto_stop_and_why_a_workstation_stopped(two_workstations):
    playbook, aws = two_workstations.playbook, two_workstations.aws
    assert playbook("launch.yml", ec2lab_name="gpu", ec2lab_instance_type="t4g.large", idle_stop_minutes="0").rc == 0
    [gpu] = aws.instances("gpu")
    aws.shutdown_from_inside(gpu["InstanceId"])  # FIXTURE: the host powered itself off

    status = playbook("status.yml", ec2lab_pricing_api="false")
    assert status.rc == 0, status
    header = next(line for line in status.output.splitlines() if "NAME" in line and "AUTO-STOP" in line)
    assert header.split()[6] == "AUTO-STOP"
    assert _row(status.output, "gpu").split()[6] == "off"
    assert _row(status.output, "nb").split()[6] == "-"  # setup-notebook.yml has not recorded it yet
    assert ("gpu: last stop from inside the host: auto-stop after idle time, or a shutdown run there"
            " — start.yml -e ec2lab_name=gpu brings it back") in status.output

    assert playbook("start.yml", ec2lab_name="gpu").rc == 0  # as the next tests expect it


def test_stop_start_and_status(two_workstations):
    playbook, aws, key_dir = two_workstations.playbook, two_workstations.aws, two_workstations.key_dir

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
    assert "nb: last stop by a user (stop.yml, the console or the API)" in status.output
    assert "running" in rows["gpu"] and "0.0672" in rows["gpu"] and "ec2lab-gpu-123456789012" in rows["gpu"]
    assert "Storage: 40 GiB of data volumes, about $3.20/month" in status.output
    # moto has no Pricing API: the dated table answers, and the footer says why.
    assert "Prices: on-demand Linux, table of 2026-11" in status.output
    assert "the AWS Pricing API refused the request" in status.output

    start = playbook("start.yml")
    assert start.rc == 0, start
    # The shared launch was checked too (testlib's `launched`).
    assert [run.our_deprecations() for run in (stop, status, start)] == [[], [], []]
    [nb] = aws.instances("nb")
    assert nb["State"]["Name"] == "running"
    assert f"nb is running at {nb['PublicIpAddress']}" in start.output
    aliases = ((key_dir.parent / "home") / ".ssh/config.d/ec2lab").read_text()
    assert f"HostName {nb['PublicIpAddress']}" in aliases  # the alias followed the new IP
    again = playbook("start.yml")
    assert again.rc == 0 and again.recap()["changed"] == 0, again
