"""ec2_spot_price_info: the price in force is the newest entry of each type and zone."""

import datetime

from ansible_collections.ec2lab.notebook.plugins.modules import ec2_spot_price_info as spot_price_info


def _entry(instance_type: str, zone: str, usd: str, minute: int) -> dict:
    return {"InstanceType": instance_type, "AvailabilityZone": zone, "SpotPrice": usd,
            "ProductDescription": "Linux/UNIX",
            "Timestamp": datetime.datetime(2026, 11, 30, 6, minute, tzinfo=datetime.timezone.utc)}


def test_the_newest_price_of_each_type_and_zone_wins():
    history = [
        _entry("t3.medium", "us-west-2a", "0.0150", 1),
        _entry("t3.medium", "us-west-2a", "0.0125", 5),  # newer: the one in force
        _entry("t3.medium", "us-west-2b", "0.0190", 2),
        _entry("g5.xlarge", "us-west-2a", "0.4100", 3),
    ]
    assert spot_price_info.current_prices(history) == {
        "g5.xlarge": {"us-west-2a": 0.41},
        "t3.medium": {"us-west-2a": 0.0125, "us-west-2b": 0.019},
    }


def test_no_offer_means_no_price():
    assert spot_price_info.current_prices([]) == {}
