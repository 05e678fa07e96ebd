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
- Spot through a launch template: moto's RunInstances reads the market options only from the
  request itself, not from the launch template, and creates no spot request for them. AWS makes a
  spot instance (InstanceLifecycle "spot", SpotInstanceRequestId) with a request that carries the
  template's type, interruption behaviour, max price and spot-instances-request tags; the patch
  does the same. A persistent request then follows its instance as in AWS: "disabled" while the
  user has it stopped, "active" again on start, back to "open" when the instance is terminated
  while the request stands (AWS would launch a replacement from it: why terminate cancels first).
- A launch template's own tags (CreateLaunchTemplate's TagSpecifications) are copied by moto into
  the template data, as if they were tags for launched resources; AWS keeps them apart, and
  amazon.aws.ec2_launch_template then sees a changed template on every run. The patch keeps them
  on the template only.
- Spot prices: moto answers DescribeSpotPriceHistory with 0.00001 for everything. When
  EC2LAB_FIXTURE_SPOT_PRICES names a JSON file {"zone": {"type": usd_per_hour}}, the FIXTURE prices
  in it are answered instead (read per request); types and zones it lacks are left out.
- Service Quotas: moto 5.2.5 knows only the vpc quotas. GetServiceQuota for ec2 answers the FIXTURE
  vCPU quotas of tests/moto/quotas.json (a settled account: room for a class of 30 and a few GPU
  workstations), or those of the file EC2LAB_FIXTURE_QUOTAS names while it exists ({code: vCPUs},
  the same in every region; {"denied": true} answers AccessDeniedException, as for credentials that
  may not read quotas). A code the table lacks answers NoSuchResourceException, as AWS does.
- An interruption cannot happen in moto. A FIXTURE request, POST /ec2lab-fixture/spot-interruption
  with {"region": ..., "instance_id": ...}, stops a spot instance the way AWS does when it needs
  the capacity back (StateReason Server.SpotInstanceShutdown; the request stays open).
- CreateImage: moto refuses TagSpecifications for the image's snapshots (NotImplementedError),
  which amazon.aws.ec2_ami always sends with its tags; the patch tags the snapshot moto makes for
  the image, as AWS does. moto ignores BlockDeviceMappings (the data volume left out with
  NoDevice) and NoReboot: nothing in moto has a disk to copy.
- Baking: the instance moto images has no disk. While the file EC2LAB_FIXTURE_CONTAINERS names
  exists ({instance_id: container}), CreateImage of such an instance commits that test bed
  container (FIXTURE: `podman commit`) to localhost/ec2lab-baked:<ami-id>, the image a test then
  boots the workstations launched from that AMI from; DeregisterImage removes it again.
- moto never throttles. While the file EC2LAB_FIXTURE_THROTTLE names exists ({"RunInstances": 2,
  ...}: EC2 action to the number of calls to refuse), the next calls of each action answer HTTP 400
  with RequestLimitExceeded in EC2's XML error shape, and the file counts down (a test reads 0 once
  they were all refused). EC2 lists that code among its client errors (HTTP 400); it has also been
  seen with 503. botocore's legacy retry mode (its default before mid-2025) retries a 503 but not a
  400; standard mode retries both, 3 attempts unless told more: ec2lab's retry settings are for this.
"""

import json
import os
import pathlib
import subprocess
import sys

os.environ.setdefault("MOTO_AMIS_PATH", str(pathlib.Path(__file__).with_name("amis.json")))

import moto.server  # noqa: E402
from moto.core import DEFAULT_ACCOUNT_ID  # noqa: E402
from moto.core.exceptions import JsonRESTError  # noqa: E402
from moto.core.responses import ActionResult  # noqa: E402
from moto.ec2.models import amis, ec2_backends, elastic_block_store, instances, launch_templates, spot_requests  # noqa: E402  # noqa: E402
from moto.ec2.models.instances import StateReason  # noqa: E402
from moto.ec2.responses.spot_instances import SpotInstances  # noqa: E402
from moto.ec2.utils import random_spot_request_id  # noqa: E402
from moto.server import main  # noqa: E402
from moto.servicequotas.exceptions import NoSuchResource  # noqa: E402
from moto.servicequotas.models import ServiceQuotasBackend  # noqa: E402

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


_create_launch_template = launch_templates.LaunchTemplateBackend.create_launch_template


def _create_launch_template_tagging_only_the_template(self, name, description, template_data, tag_spec):
    specs = [spec for spec in template_data.get("TagSpecifications", []) if spec.get("ResourceType") != "launch-template"]
    template_data = {k: v for k, v in template_data.items() if k != "TagSpecifications"}
    if specs:
        template_data["TagSpecifications"] = specs
    return _create_launch_template(self, name, description, template_data, tag_spec)


launch_templates.LaunchTemplateBackend.create_launch_template = _create_launch_template_tagging_only_the_template


class _TemplateSpotRequest(spot_requests.SpotInstanceRequest):
    """The spot request AWS records for an instance launched with a template's market options."""

    __module__ = "moto.ec2.models.spot_requests"  # moto's model registry keys classes by module

    def __init__(self, backend, instance, spot_options: dict, tags: dict):
        self._launched = instance
        super().__init__(
            backend, random_spot_request_id(), spot_options.get("MaxPrice"), instance.image_id,
            spot_options.get("SpotInstanceType", "one-time"), None, None, None, None,
            instance.key_name, [], None, instance.instance_type, instance.availability_zone, None, None,
            False, instance.subnet_id, tags, None, spot_options.get("InstanceInterruptionBehavior"),
        )

    def launch_instance(self):
        return self._launched

    @property
    def launched_availability_zone(self) -> str:
        return self._launched.availability_zone


_run_instances = instances.InstanceBackend.run_instances


def _run_instances_with_template_market(self, image_id, count, user_data, security_group_names, **kwargs):
    template = kwargs.get("launch_template")
    market = self._get_template_from_args(template).data.get("InstanceMarketOptions") if template else None
    if market and not kwargs.get("instance_market_options"):
        kwargs["instance_market_options"] = market.get("MarketType")
    reservation = _run_instances(self, image_id, count, user_data, security_group_names, **kwargs)
    if market and market.get("MarketType") == "spot":
        specs = self._get_template_from_args(template).data.get("TagSpecifications", [])
        tags = {"spot-instances-request": {t["Key"]: t["Value"] for spec in specs
                                           if spec.get("ResourceType") == "spot-instances-request"
                                           for t in spec.get("Tags", [])}}
        for instance in reservation.instances:
            request = _TemplateSpotRequest(self, instance, market.get("SpotOptions", {}), tags)
            self.spot_instance_requests[request.id] = request
            instance.spot_instance_request_id = request.id
    return reservation


instances.InstanceBackend.run_instances = _run_instances_with_template_market


def _spot_request_of(instance):
    request_id = getattr(instance, "spot_instance_request_id", None)
    return instance.ec2_backend.spot_instance_requests.get(request_id) if request_id else None


def _follow_with_request(method, state: str, code: str):
    def wrapped(self, *args, **kwargs):
        answer = method(self, *args, **kwargs)
        request = _spot_request_of(self)
        if request is not None and request.type == "persistent":
            request.state, request._status_code = state, code  # noqa: SLF001
        return answer
    return wrapped


instances.Instance.stop = _follow_with_request(instances.Instance.stop, "disabled", "instance-stopped-by-user")
instances.Instance.start = _follow_with_request(instances.Instance.start, "active", "fulfilled")
instances.Instance.terminate = _follow_with_request(instances.Instance.terminate, "open",
                                                    "instance-terminated-by-user")


def _describe_spot_price_history_with_fixture_prices(self):
    answer = _describe_spot_price_history(self)
    path = os.environ.get("EC2LAB_FIXTURE_SPOT_PRICES")
    if not (path and os.path.exists(path)):
        return answer
    table = json.loads(pathlib.Path(path).read_text())
    history = []
    for entry in answer.result["SpotPriceHistory"]:
        usd = table.get(entry["AvailabilityZone"], {}).get(entry["InstanceType"])
        if usd is not None:
            history.append(dict(entry, SpotPrice=f"{usd:.6f}", ProductDescription="Linux/UNIX"))
    return ActionResult({"SpotPriceHistory": history})


_describe_spot_price_history = SpotInstances.describe_spot_price_history
SpotInstances.describe_spot_price_history = _describe_spot_price_history_with_fixture_prices


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


def _fixture_spot_interruption(body: bytes) -> bytes:
    wanted = json.loads(body)
    instance = ec2_backends[DEFAULT_ACCOUNT_ID][wanted["region"]].get_instance(wanted["instance_id"])
    request = _spot_request_of(instance)
    if request is None:
        raise ValueError(f"{instance.id} is not a spot instance")
    instance.stop()
    instance.state_reason = StateReason("Server.SpotInstanceShutdown: Spot instance shutdown",
                                        "Server.SpotInstanceShutdown")
    instance._reason = "Server.SpotInstanceShutdown: Spot instance shutdown"  # noqa: SLF001
    request.state, request._status_code = "open", "instance-stopped-no-capacity"  # noqa: SLF001
    return json.dumps({"state": instance.state}).encode()


_get_service_quota = ServiceQuotasBackend.get_service_quota
_DEFAULT_QUOTAS = pathlib.Path(__file__).with_name("quotas.json")


def _get_service_quota_with_fixture_vcpus(self, service_code, quota_code):
    if service_code != "ec2":
        return _get_service_quota(self, service_code, quota_code)
    path = os.environ.get("EC2LAB_FIXTURE_QUOTAS")
    table = json.loads(pathlib.Path(path if path and os.path.exists(path) else _DEFAULT_QUOTAS).read_text())
    if table.get("denied"):
        raise JsonRESTError("AccessDeniedException", "FIXTURE: not authorized to perform servicequotas:GetServiceQuota")
    if quota_code not in table:
        raise NoSuchResource
    return {"ServiceCode": "ec2", "QuotaCode": quota_code, "Value": float(table[quota_code]), "Unit": "None",
            "QuotaArn": f"arn:aws:servicequotas:{self.region_name}:{self.account_id}:ec2/{quota_code}",
            "Adjustable": True, "GlobalQuota": False}


ServiceQuotasBackend.get_service_quota = _get_service_quota_with_fixture_vcpus


_create_image = amis.AmiBackend.create_image
_deregister_image = amis.AmiBackend.deregister_image


def _baked_container_image(ami_id: str) -> str:
    return f"localhost/ec2lab-baked:{ami_id}"


def _fixture_containers() -> dict:
    path = os.environ.get("EC2LAB_FIXTURE_CONTAINERS")
    return json.loads(pathlib.Path(path).read_text()) if path and os.path.exists(path) else {}


def _create_image_with_snapshot_tags_and_fixture_container(self, instance_id, name, description, tag_specifications):
    snapshot_tags = [tag for spec in tag_specifications if spec["ResourceType"] == "snapshot" for tag in spec["Tags"]]
    image_specs = [spec for spec in tag_specifications if spec["ResourceType"] != "snapshot"]
    ami = _create_image(self, instance_id, name, description, image_specs)
    for tag in snapshot_tags:
        ami.ebs_snapshot.add_tag(tag["Key"], tag["Value"])
    container = _fixture_containers().get(instance_id)
    if container:
        subprocess.run(["podman", "commit", "--quiet", container, _baked_container_image(ami.id)],
                       check=True, capture_output=True, timeout=300)
    return ami


def _deregister_image_and_its_fixture_container(self, ami_id):
    _deregister_image(self, ami_id)
    if _fixture_containers():
        subprocess.run(["podman", "rmi", "--ignore", _baked_container_image(ami_id)], capture_output=True, timeout=120)


amis.AmiBackend.create_image = _create_image_with_snapshot_tags_and_fixture_container
amis.AmiBackend.deregister_image = _deregister_image_and_its_fixture_container


def _fixture_throttled(environ) -> bytes | None:
    """EC2's refusal of a throttled call, while EC2LAB_FIXTURE_THROTTLE's file still counts refusals
    for its action; None (and the request body left to read) otherwise."""
    import fcntl
    import io
    import urllib.parse

    path = os.environ.get("EC2LAB_FIXTURE_THROTTLE")
    if not path or not os.path.exists(path) or "/ec2/aws4_request" not in environ.get("HTTP_AUTHORIZATION", ""):
        return None
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    environ["wsgi.input"] = io.BytesIO(body)
    action = urllib.parse.parse_qs(body.decode()).get("Action", [""])[0]
    with open(path, "r+") as table_file:
        fcntl.flock(table_file, fcntl.LOCK_EX)  # the server answers side by side requests in threads
        table = json.load(table_file)
        if table.get(action, 0) <= 0:
            return None
        table[action] -= 1
        table_file.seek(0)
        table_file.truncate()
        json.dump(table, table_file)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>RequestLimitExceeded</Code>'
            "<Message>Request limit exceeded.</Message></Error></Errors>"
            f"<RequestID>FIXTURE-throttle-{action}</RequestID></Response>").encode()


_FIXTURE_ACTIONS = {
    "/ec2lab-fixture/shutdown-from-inside": _fixture_shutdown_from_inside,
    "/ec2lab-fixture/spot-interruption": _fixture_spot_interruption,
}


class _DispatcherWithFixturePrices(moto.server.DomainDispatcherApplication):
    def __call__(self, environ, start_response):
        action = _FIXTURE_ACTIONS.get(environ.get("PATH_INFO"))
        if action is not None:
            answer = action(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)))
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(answer)))])
            return [answer]
        refusal = _fixture_throttled(environ)
        if refusal is not None:
            start_response("400 Bad Request", [("Content-Type", "text/xml"), ("Content-Length", str(len(refusal)))])
            return [refusal]
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
