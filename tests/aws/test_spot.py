"""Spot workstations against moto: the market, the persistent request behind it, and that
nothing of it outlives terminate. moto's gaps here are filled in tests/moto/server.py."""

import pytest
from testlib import launch_shared


@pytest.fixture(scope="module")
def spot(moto_endpoint, tmp_path_factory):
    """A spot workstation `nb` with a max price, launched once in a fresh account for the tests
    that come first in this module. They run in file order; the last of them leaves it
    interrupted (stopped by AWS)."""
    return launch_shared(moto_endpoint, tmp_path_factory, ec2lab_market="spot", ec2lab_spot_max_price="0.03")


def _row(output: str, name: str) -> str:
    return next(line for line in output.splitlines() if line.strip().startswith(f'"{name} '))


def test_spot_launch_is_a_persistent_request_that_stops_on_interruption(spot):
    playbook, aws = spot.playbook, spot.aws
    [instance] = aws.instances()
    assert instance["InstanceLifecycle"] == "spot"
    [request] = aws.spot_requests()
    assert request["SpotInstanceRequestId"] == instance["SpotInstanceRequestId"]
    assert request["InstanceId"] == instance["InstanceId"]
    assert (request["Type"], request["InstanceInterruptionBehavior"]) == ("persistent", "stop")
    assert float(request["SpotPrice"]) == pytest.approx(0.03)
    # Everything an on-demand workstation has, a spot one has too.
    tags = {t["Key"]: t["Value"] for t in instance["Tags"]}
    assert tags["ec2lab:name"] == "nb" and instance["MetadataOptions"]["HttpTokens"] == "required"
    assert [v["Attachments"][0]["Device"] for v in aws.volumes(**{"attachment.instance-id": instance["InstanceId"]})
            if v["Size"] == 20] == ["/dev/sdf"]
    assert f"Market: spot (request {request['SpotInstanceRequestId']}), up to 0.03 USD/hour" in spot.run.output

    again = playbook("launch.yml", ec2lab_market="spot", ec2lab_spot_max_price="0.03")
    assert again.rc == 0 and again.recap()["changed"] == 0, again
    assert len(aws.instances()) == 1 and len(aws.spot_requests()) == 1


def test_a_running_workstation_keeps_its_market_and_says_how_to_change_it(spot):
    playbook, aws = spot.playbook, spot.aws
    run = playbook("launch.yml")  # on-demand asked, spot running
    assert run.rc == 0, run
    assert "Market: spot, not on-demand: the market is fixed when the instance is created." in run.output
    assert [i["InstanceLifecycle"] for i in aws.instances()] == ["spot"]


def test_status_shows_the_market_and_the_spot_price_next_to_on_demand(spot, spot_prices):
    playbook, aws = spot.playbook, spot.aws
    zone = aws.instances()[0]["Placement"]["AvailabilityZone"]
    assert playbook("launch.yml", ec2lab_name="od").rc == 0
    # FIXTURE spot prices: another zone is cheaper, but the workstation pays its own zone's price.
    spot_prices({zone: {"t3.medium": 0.0125}, "us-west-2z": {"t3.medium": 0.0001}})

    status = playbook("status.yml", ec2lab_pricing_api="false")
    assert status.rc == 0, status
    assert _row(status.output, "nb").split()[3] == "spot"
    assert _row(status.output, "nb").endswith('0.0125 (on-demand 0.0416)",')
    assert _row(status.output, "od").split()[3] == "on-demand"
    assert _row(status.output, "od").endswith(' 0.0416",')
    assert "Spot: the current price in each spot workstation's zone" in status.output


def test_stop_start_and_an_interruption_on_a_spot_workstation(spot):
    playbook, aws = spot.playbook, spot.aws
    assert playbook("stop.yml").rc == 0
    [stopped] = aws.instances()
    assert stopped["State"]["Name"] == "stopped"
    assert [r["State"] for r in aws.spot_requests()] == ["disabled"]

    started = playbook("start.yml")
    assert started.rc == 0, started
    [running] = aws.instances()
    assert running["State"]["Name"] == "running" and running["InstanceId"] == stopped["InstanceId"]
    assert [r["State"] for r in aws.spot_requests()] == ["active"]

    aws.spot_interruption(running["InstanceId"])  # FIXTURE: AWS takes the capacity back
    status = playbook("status.yml", ec2lab_pricing_api="false")
    assert status.rc == 0, status
    assert "nb: last stop by AWS: spot interruption — AWS starts it again when spot capacity returns" in status.output


def test_terminate_cancels_the_request_first_and_leaves_no_template(playbook, aws):
    """A persistent request outliving its instance would launch a new one: none may be left,
    whether the workstation was running or stopped (its request then is `disabled`)."""
    assert playbook("launch.yml", ec2lab_market="spot", ec2lab_spot_max_price="0.03").rc == 0
    for stopped_first in (False, True):
        if stopped_first:
            assert playbook("stop.yml").rc == 0
        [request] = aws.spot_requests()

        run = playbook("terminate.yml")
        assert run.rc == 0, run
        assert f"cancelled spot request {request['SpotInstanceRequestId']}" in run.output
        assert aws.spot_requests(states=("open", "active", "disabled")) == []
        assert aws.launch_templates() == [] and aws.instances() == []
        assert len(aws.volumes(**{"tag:ec2lab:role": "data"})) == 1  # the data is kept as for on-demand

        relaunch = playbook("launch.yml", ec2lab_market="spot")
        assert relaunch.rc == 0, relaunch
        assert len(aws.spot_requests()) == 1
    purge = playbook("terminate.yml", ec2lab_purge="true")
    assert purge.rc == 0, purge
    assert aws.nothing_for("nb"), aws.ec2lab_resources("nb")


def test_check_mode_spot_launch_creates_nothing(playbook, aws):
    run = playbook("launch.yml", ec2lab_market="spot", check=True)
    assert run.rc == 0, run
    assert aws.nothing_for("nb"), aws.ec2lab_resources("nb")


def test_the_region_given_on_the_command_line_reaches_every_aws_call(playbook, aws, spot_prices):
    """AWS_REGION says us-west-2; -e ec2lab_region=eu-west-1 must win for ec2lab's own modules
    (spot price, spot request) as for amazon.aws's."""
    region = {"ec2lab_region": "eu-west-1"}
    assert playbook("launch.yml", ec2lab_market="spot", **region).rc == 0
    eu = aws.ec2_in("eu-west-1")
    [instance] = [i for r in eu.describe_instances()["Reservations"] for i in r["Instances"]]
    spot_prices({instance["Placement"]["AvailabilityZone"]: {"t3.medium": 0.0131}})

    status = playbook("status.yml", ec2lab_pricing_api="false", **region)
    assert status.rc == 0 and "0.0131 (on-demand" in _row(status.output, "nb"), status

    assert playbook("terminate.yml", **region).rc == 0
    assert eu.describe_spot_instance_requests(Filters=[
        {"Name": "state", "Values": ["open", "active", "disabled"]}])["SpotInstanceRequests"] == []
