"""ec2_instance_price_info: reading AWS Pricing API answers into $/hour, and saying why not."""

import json

import boto3
import botocore.exceptions
import pytest
from botocore.stub import ANY, Stubber

from ansible_collections.ec2lab.notebook.plugins.modules import ec2_instance_price_info as price_info


def _entry(usd: str, unit: str = "Hrs") -> str:
    """One PriceList item as the API returns it: a JSON document in a string."""
    return json.dumps({"product": {"attributes": {"instanceType": "t3.large"}},
                       "terms": {"OnDemand": {"SKU.TERM": {"priceDimensions": {
                           "SKU.TERM.DIM": {"unit": unit, "pricePerUnit": {"USD": usd}}}}}}})


@pytest.fixture
def pricing():
    client = boto3.client("pricing", region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    with Stubber(client) as stubber:
        yield client, stubber


def test_reads_the_hourly_usd_price():
    assert price_info.hourly_usd(_entry("0.0832000000")) == pytest.approx(0.0832)


@pytest.mark.parametrize("entry", [_entry("0.0000000000"), _entry("0.1", unit="Quantity"),
                                   json.dumps({"terms": {}})])
def test_ignores_free_non_hourly_and_empty_lines(entry):
    assert price_info.hourly_usd(entry) is None


def test_asks_for_a_plain_linux_launch_in_the_wanted_region(pricing):
    client, stubber = pricing
    filters = {"instanceType": "t3.large", "regionCode": "eu-west-1", "operatingSystem": "Linux",
               "tenancy": "Shared", "preInstalledSw": "NA", "capacitystatus": "Used",
               "licenseModel": "No License required"}
    stubber.add_response(
        "get_products",
        {"PriceList": [_entry("0.0912"), _entry("0.0950")], "FormatVersion": "aws_v1"},
        {"ServiceCode": "AmazonEC2", "FormatVersion": "aws_v1", "MaxResults": ANY,
         "Filters": [{"Type": "TERM_MATCH", "Field": k, "Value": v} for k, v in filters.items()]},
    )
    stubber.add_response("get_products", {"PriceList": []})
    prices, missing = price_info.instance_prices(client, ["t3.large", "x9.nonsense", "t3.large"],
                                                 "eu-west-1", "Linux")
    assert prices == {"t3.large": pytest.approx(0.0912)}  # the cheapest line, each type asked once
    assert missing == ["x9.nonsense"]
    stubber.assert_no_pending_responses()


def test_access_denied_names_the_permission_to_grant():
    error = botocore.exceptions.ClientError(
        {"Error": {"Code": "AccessDeniedException", "Message": "not authorized"}}, "GetProducts")
    assert price_info.unavailable_reason(error) == "the AWS credentials may not call pricing:GetProducts"


def test_an_error_page_becomes_one_short_line():
    error = botocore.exceptions.ClientError(
        {"Error": {"Code": "500", "Message": "<!doctype html>\n<title>500</title>\n" + "x" * 5000}},
        "GetProducts")
    reason = price_info.unavailable_reason(error)
    assert reason == "the AWS Pricing API refused the request (500): <!doctype html>"


def test_an_unreachable_endpoint_is_explained():
    error = botocore.exceptions.EndpointConnectionError(endpoint_url="https://api.pricing.us-east-1.amazonaws.com/")
    assert price_info.unavailable_reason(error).startswith("the AWS Pricing API could not be reached: ")
