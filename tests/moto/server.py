"""moto_server for the ec2lab test bed, on 127.0.0.1 only, with AWS's behaviour where moto 5.2.5
differs in a way the playbooks notice.

- A volume created empty has SnapshotId "" and MultiAttachEnabled false in AWS; moto leaves
  both keys out and amazon.aws.ec2_vol / ec2_vol_info then fail with a KeyError.
- The AMI catalogue is replaced by tests/moto/amis.json (MOTO_AMIS_PATH): a few Canonical
  images shaped like today's, so the "latest Ubuntu LTS" lookup has real choices to make.
- moto gives every image a 15 GiB root snapshot; tests/moto/ami_root_sizes.json gives the
  DLAMI-shaped images AWS's real size (75 GiB), so "a root volume at least the image's size" is
  tested.
- moto has no Pricing API (GetProducts answers 500). When EC2LAB_FIXTURE_PRICES names a JSON
  file {"region": {"type": usd_per_hour}}, a FIXTURE responder answers GetProducts from it in
  the shape AWS uses; while that file does not exist the Pricing API stays broken, as it is
  for a caller who may not use it. The file is read per request, so a test switches it.
- An instance cannot power itself off in moto (no guest). A FIXTURE request,
  POST /ec2lab-fixture/shutdown-from-inside with {"region": ..., "instance_id": ...}, stops it
  with the StateReason AWS gives an instance-initiated shutdown (Client.InstanceInitiatedShutdown)
  when its shutdown behaviour is `stop`, as auto-stop's poweroff does.
"""

import json
import os
import pathlib
import sys

os.environ.setdefault("MOTO_AMIS_PATH", str(pathlib.Path(__file__).with_name("amis.json")))

from moto.core import DEFAULT_ACCOUNT_ID  # noqa: E402
from moto.ec2.models import amis, ec2_backends, elastic_block_store  # noqa: E402
from moto.ec2.models.instances import StateReason  # noqa: E402
import moto.server  # noqa: E402
from moto.server import main  # noqa: E402

_volume_init = elastic_block_store.Volume.__init__


def _volume_init_with_snapshot_id(self, *args, **kwargs):
    _volume_init(self, *args, **kwargs)
    if self.snapshot_id is None:
        self.snapshot_id = ""
    if self.multi_attach_enabled is None:
        self.multi_attach_enabled = False


elastic_block_store.Volume.__init__ = _volume_init_with_snapshot_id

_ROOT_SIZES = json.loads(pathlib.Path(__file__).with_name("ami_root_sizes.json").read_text())
_block_device_mappings = amis.Ami.block_device_mappings.fget


def _block_device_mappings_with_root_size(self):
    mappings = _block_device_mappings(self)
    if self.id in _ROOT_SIZES:
        mappings[0]["Ebs"]["VolumeSize"] = _ROOT_SIZES[self.id]
    return mappings


amis.Ami.block_device_mappings = property(_block_device_mappings_with_root_size)


def _price_list_entry(instance_type: str, region: str, usd: float) -> str:
    sku = f"FIXTURE-{region}-{instance_type}"
    return json.dumps({
        "product": {"productFamily": "Compute Instance", "sku": sku,
                    "attributes": {"instanceType": instance_type, "regionCode": region,
                                   "operatingSystem": "Linux", "tenancy": "Shared"}},
        "terms": {"OnDemand": {f"{sku}.JRTCKXETXF": {"priceDimensions": {
            f"{sku}.JRTCKXETXF.6YS6EN2CT7": {"unit": "Hrs", "pricePerUnit": {"USD": f"{usd:.10f}"},
                                             "description": "FIXTURE price, not from AWS"}}}}},
    })


def _fixture_get_products(body: bytes) -> bytes:
    table = json.loads(pathlib.Path(os.environ["EC2LAB_FIXTURE_PRICES"]).read_text())
    wanted = {f["Field"]: f["Value"] for f in json.loads(body or b"{}").get("Filters", [])}
    region, instance_type = wanted.get("regionCode"), wanted.get("instanceType")
    usd = table.get(region, {}).get(instance_type)
    entries = [] if usd is None else [_price_list_entry(instance_type, region, usd)]
    return json.dumps({"FormatVersion": "aws_v1", "PriceList": entries}).encode()


def _fixture_shutdown_from_inside(body: bytes) -> bytes:
    wanted = json.loads(body)
    instance = ec2_backends[DEFAULT_ACCOUNT_ID][wanted["region"]].get_instance(wanted["instance_id"])
    if instance.instance_initiated_shutdown_behavior != "stop":
        instance.terminate()
    else:
        instance.stop()
        instance.state_reason = StateReason("Client.InstanceInitiatedShutdown: Instance initiated shutdown",
                                            "Client.InstanceInitiatedShutdown")
        instance._reason = "Client.InstanceInitiatedShutdown: Instance initiated shutdown"  # noqa: SLF001
    return json.dumps({"state": instance.state}).encode()


class _DispatcherWithFixturePrices(moto.server.DomainDispatcherApplication):
    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") == "/ec2lab-fixture/shutdown-from-inside":
            answer = _fixture_shutdown_from_inside(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)))
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(answer)))])
            return [answer]
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        prices = os.environ.get("EC2LAB_FIXTURE_PRICES")
        if target == "AWSPriceListService.GetProducts" and prices and os.path.exists(prices):
            length = int(environ.get("CONTENT_LENGTH") or 0)
            answer = _fixture_get_products(environ["wsgi.input"].read(length))
            start_response("200 OK", [("Content-Type", "application/x-amz-json-1.1"),
                                      ("Content-Length", str(len(answer)))])
            return [answer]
        return super().__call__(environ, start_response)


moto.server.DomainDispatcherApplication = _DispatcherWithFixturePrices

if __name__ == "__main__":
    port = sys.argv[1] if len(sys.argv) > 1 else "5000"
    sys.exit(main(["-H", "127.0.0.1", "-p", port]))
