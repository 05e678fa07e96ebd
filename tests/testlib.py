"""Shared test bed for the AWS side: a moto server on 127.0.0.1 standing in for AWS, and helpers
that run the real playbooks. Fixtures are re-exported by tests/conftest.py."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import boto3
import pytest

ROOT = Path(__file__).resolve().parents[1]
REGION = "us-west-2"
CALLER_CIDR = "203.0.113.10/32"

# Images of tests/moto/amis.json that the launch tests expect to be chosen.
NOBLE_AMD64 = "ami-0a1b2c3d4e5f60003"  # newest 24.04 amd64 image
NOBLE_ARM64 = "ami-0a1b2c3d4e5f60004"
RESOLUTE_AMD64 = "ami-0a1b2c3d4e5f60026"  # 26.04 images: newer than noble, never the default
RESOLUTE_ARM64 = "ami-0a1b2c3d4e5f60027"
DLAMI_AMD64 = "ami-0d1a2b3c4d5e6f702"  # newest Deep Learning Base GPU images
DLAMI_ARM64 = "ami-0d1a2b3c4d5e6f703"


def pins(text: str) -> dict[str, str]:
    """name (lower case) -> version of each `name==version` line of a requirements text."""
    return {name.lower(): version for name, version in re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", text, re.M)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def aws_test_env(endpoint: str) -> dict[str, str]:
    """Environment that points every AWS client at `endpoint` and nowhere else."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_SESSION_TOKEN="testing",
        AWS_REGION=REGION,
        AWS_DEFAULT_REGION=REGION,
        AWS_CONFIG_FILE="/dev/null",
        AWS_SHARED_CREDENTIALS_FILE="/dev/null",
        AWS_EC2_METADATA_DISABLED="true",
        # Leak guard: anything not sent to loopback hits a closed port instead of AWS.
        HTTPS_PROXY="http://127.0.0.1:9",
        HTTP_PROXY="http://127.0.0.1:9",
        https_proxy="http://127.0.0.1:9",
        http_proxy="http://127.0.0.1:9",
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
        ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED="true",
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_NOCOLOR="true",
        ANSIBLE_FORCE_COLOR="false",
        PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    )
    return env


def _answered_for_one_test(path: Path):
    """Body of a fixture that makes moto's FIXTURE responder answer from `path` for one test."""
    def answer(table: dict) -> None:
        path.write_text(json.dumps(table))
    yield answer
    path.unlink(missing_ok=True)


# The files tests/moto/server.py reads FIXTURE answers from, by the variable that names each (read
# per request, so a test switches them; while one is absent the server gives its default answer).
FIXTURE_FILES = {"EC2LAB_FIXTURE_PRICES": "prices.json", "EC2LAB_FIXTURE_SPOT_PRICES": "spot-prices.json",
                 "EC2LAB_FIXTURE_QUOTAS": "quotas.json", "EC2LAB_FIXTURE_CONTAINERS": "containers.json",
                 "EC2LAB_FIXTURE_THROTTLE": "throttle.json"}


@pytest.fixture(scope="session")
def fixture_files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("moto-fixtures")
    return {variable: folder / name for variable, name in FIXTURE_FILES.items()}


@pytest.fixture
def pricing_api(fixture_files):
    """Make moto's Pricing API (broken by default) answer the given {region: {type: usd}} for one test."""
    yield from _answered_for_one_test(fixture_files["EC2LAB_FIXTURE_PRICES"])


@pytest.fixture
def spot_prices(fixture_files):
    """Make moto's spot price history answer the given {zone: {type: usd}} for one test."""
    yield from _answered_for_one_test(fixture_files["EC2LAB_FIXTURE_SPOT_PRICES"])


@pytest.fixture
def vcpu_quotas(fixture_files):
    """Make Service Quotas answer the given {quota code: vCPUs} (or {"denied": true}) for one test
    (default: tests/moto/quotas.json)."""
    yield from _answered_for_one_test(fixture_files["EC2LAB_FIXTURE_QUOTAS"])


@pytest.fixture
def ec2_throttling(fixture_files):
    """Make EC2 refuse the next calls of the given actions with RequestLimitExceeded, {action: how
    many}, for one test; moto counts the file down as it refuses them."""
    yield from _answered_for_one_test(fixture_files["EC2LAB_FIXTURE_THROTTLE"])


def start_moto(log: Path, **env) -> tuple[subprocess.Popen, str]:
    """tests/moto/server.py on a free loopback port, answering; its output goes to `log`."""
    port = free_port()
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, str(ROOT / "tests/moto/server.py"), str(port)],
                                stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ, **env))
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1)
            return proc, endpoint
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"moto did not start: {log.read_text()}") from None
            time.sleep(0.2)


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory, fixture_files):
    proc, endpoint = start_moto(tmp_path_factory.mktemp("moto") / "moto.log",
                                **{variable: str(path) for variable, path in fixture_files.items()})
    yield endpoint
    proc.terminate()
    proc.wait(timeout=10)


def reset_moto(endpoint: str) -> Aws:
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(request, timeout=10)
    return Aws(endpoint)


@pytest.fixture
def aws(moto_endpoint):
    """A fresh, empty moto account for one test, and boto3 clients on it."""
    return reset_moto(moto_endpoint)


class Aws:
    def __init__(self, endpoint: str):
        self.endpoint = endpoint
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
        )
        self.ec2 = session.client("ec2", endpoint_url=endpoint)
        self.s3 = session.client("s3", endpoint_url=endpoint)
        self.iam = session.client("iam", endpoint_url=endpoint)

    def ec2_in(self, region: str):
        """An EC2 client on the same moto server for another region."""
        return boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                     region_name=region).client("ec2", endpoint_url=self.endpoint)

    def instances(self, name: str = "nb", states=("pending", "running", "stopping", "stopped")):
        pages = self.ec2.describe_instances(Filters=[
            {"Name": "tag:ec2lab:name", "Values": [name]},
            {"Name": "instance-state-name", "Values": list(states)},
        ])
        return [i for r in pages["Reservations"] for i in r["Instances"]]

    def shutdown_from_inside(self, instance_id: str) -> None:
        """FIXTURE (tests/moto/server.py): what a poweroff on the host does to the instance."""
        self._fixture("shutdown-from-inside", instance_id)

    def _fixture(self, action: str, instance_id: str) -> None:
        body = json.dumps({"region": REGION, "instance_id": instance_id}).encode()
        request = urllib.request.Request(f"{self.endpoint}/ec2lab-fixture/{action}", data=body, method="POST")
        urllib.request.urlopen(request, timeout=10)

    def spot_interruption(self, instance_id: str) -> None:
        """FIXTURE (tests/moto/server.py): AWS taking a spot instance's capacity back."""
        self._fixture("spot-interruption", instance_id)

    def spot_requests(self, name: str = "nb", states=("open", "active", "disabled")) -> list[dict]:
        return self.ec2.describe_spot_instance_requests(Filters=[
            {"Name": "tag:ec2lab:name", "Values": [name]}, {"Name": "state", "Values": list(states)},
        ])["SpotInstanceRequests"]

    def launch_templates(self) -> list[str]:
        return [t["LaunchTemplateName"] for t in self.ec2.describe_launch_templates()["LaunchTemplates"]]

    def volumes(self, **filters):
        return self.ec2.describe_volumes(
            Filters=[{"Name": k, "Values": [v]} for k, v in filters.items()]
        )["Volumes"]

    def backups(self, name: str = "nb") -> list[dict]:
        """ec2lab's backups of `name`, newest first."""
        snapshots = self.ec2.describe_snapshots(OwnerIds=["self"], Filters=[
            {"Name": "tag:ec2lab:name", "Values": [name]}, {"Name": "tag:ec2lab:role", "Values": ["backup"]}])["Snapshots"]
        return sorted(snapshots, key=lambda s: s["StartTime"], reverse=True)

    def ec2lab_resources(self, name: str = "nb") -> dict[str, list]:
        """Everything launch.yml could have made for `name`, by kind (volumes: any state)."""
        tag = [{"Name": "tag:ec2lab:name", "Values": [name]}]
        return {
            "instances": [i["InstanceId"] for i in self.instances(name)],
            "volumes": [v["VolumeId"] for v in self.ec2.describe_volumes(Filters=tag)["Volumes"]],
            "security_groups": [g["GroupId"] for g in self.ec2.describe_security_groups(
                Filters=[{"Name": "group-name", "Values": [f"ec2lab-{name}"]}])["SecurityGroups"]],
            "key_pairs": [k["KeyName"] for k in self.ec2.describe_key_pairs()["KeyPairs"]
                          if k["KeyName"] == f"ec2lab-{name}"],
            "roles": [r["RoleName"] for r in self.iam.list_roles()["Roles"]
                      if r["RoleName"] == f"ec2lab-{name}"],
            "instance_profiles": [p["InstanceProfileName"] for p in
                                  self.iam.list_instance_profiles()["InstanceProfiles"]
                                  if p["InstanceProfileName"] == f"ec2lab-{name}"],
            "buckets": [b["Name"] for b in self.s3.list_buckets()["Buckets"]
                        if b["Name"].startswith(f"ec2lab-{name}-")],
            "launch_templates": [t for t in self.launch_templates() if t == f"ec2lab-{name}"],
            "spot_requests": [r["SpotInstanceRequestId"] for r in self.spot_requests(name)],
        }

    def nothing_for(self, name: str = "nb") -> bool:
        return not any(self.ec2lab_resources(name).values())


# ansible.cfg hides deprecation warnings from users because the ones left are inside amazon.aws
# and cannot be acted on. The tests' runs show them (playbook_command), and the tests of launch,
# status, stop, start and terminate fail on any other: a deprecation from our own tasks.
UPSTREAM_DEPRECATIONS = (
    "Passing `disable_lookups` to `template` is deprecated",  # amazon.aws aws_ec2 inventory plugin
    "iam_role.assume_role_policy_document_raw will no longer be returned",  # iam_role, always
)
# With the opt-in Mitogen strategy (README), ansible-core warns about the strategy itself: that
# line and no other is allowed then.
MITOGEN_DEPRECATION = "Use of strategy plugins not included in ansible.builtin are deprecated"


class Run:
    """One ansible-playbook run and what a user would read from it."""

    def __init__(self, proc: subprocess.CompletedProcess):
        self.rc = proc.returncode
        self.output = proc.stdout + proc.stderr

    def our_deprecations(self) -> list[str]:
        """Deprecation warnings that did not come from amazon.aws (see UPSTREAM_DEPRECATIONS)."""
        mitogen = os.environ.get("ANSIBLE_STRATEGY") == "mitogen_linear"
        return [line for line in self.output.splitlines() if "[DEPRECATION WARNING]" in line
                and not any(known in line for known in UPSTREAM_DEPRECATIONS)
                and not (mitogen and MITOGEN_DEPRECATION in line)]

    def recap(self) -> dict[str, int]:
        match = re.search(r"localhost\s+:\s+(.*)", self.output)
        assert match, self.output
        return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match.group(1))}

    def __repr__(self) -> str:
        return f"<rc={self.rc}>\n{self.output[-6000:]}"


def playbook_command(aws: Aws, key_dir: Path, name: str, *args: str, check: bool = False,
                     env_drop=(), env_set=None, **extra_vars) -> tuple[list[str], dict[str, str]]:
    """The ansible-playbook command line and environment a user at the repository root runs."""
    variables = {"ec2lab_key_dir": str(key_dir), "ec2lab_wait_for_ssh": "false"}
    if name == "launch.yml":
        variables["ec2lab_ssh_cidrs"] = CALLER_CIDR
    variables.update({k: str(v) for k, v in extra_vars.items()})
    cmd = ["ansible-playbook", name, *args]
    for key, value in variables.items():
        cmd += ["-e", f"{key}={value}"]
    if check:
        cmd += ["--check", "--diff"]
    env = aws_test_env(aws.endpoint)
    # The SSH alias files land in this HOME, never in the real one.
    env["HOME"] = str(key_dir.parent / "home")
    env["ANSIBLE_DEPRECATION_WARNINGS"] = "true"  # see UPSTREAM_DEPRECATIONS
    for key in env_drop:
        env.pop(key, None)
    env.update(env_set or {})
    return cmd, env


def playbook_runner(aws: Aws, key_dir: Path):
    """Run a root playbook against moto, as a user would from the repository root."""

    def run(name: str, *args: str, **options) -> Run:
        cmd, env = playbook_command(aws, key_dir, name, *args, **options)
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
        return Run(proc)

    return run


@pytest.fixture
def key_dir(tmp_path):
    return tmp_path / "ssh"


@pytest.fixture
def playbook(aws, key_dir):
    return playbook_runner(aws, key_dir)


class Launched:
    """One launch shared by tests that only read what it made.

    The `aws` fixture resets moto, so in a module, tests that use `launched` come first.
    """

    def __init__(self, aws, key_dir, run):
        self.aws, self.key_dir, self.run = aws, key_dir, run
        self.playbook = playbook_runner(aws, key_dir)


def host_vars(aws: Aws, host: str, *names: str) -> dict:
    """The variables as a play on `host` sees them through the aws_ec2 inventory (templated),
    without connecting to it."""
    proc = subprocess.run(
        ["ansible", "-i", "inventory/", host, "-m", "ansible.builtin.debug", "-a",
         "msg={{ {" + ", ".join(f"'{n}': {n}" for n in names) + "} | to_json }}"],
        cwd=ROOT, env=aws_test_env(aws.endpoint), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(json.loads(proc.stdout.split("=>", 1)[1])["msg"])


def new_public_key(path: Path, comment: str = "awx") -> str:
    """A fresh ed25519 key pair at `path` (no passphrase); its public half, one line."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)], check=True)
    return path.with_suffix(".pub").read_text().strip()


def key_pair_option(public_key: str) -> list[str]:
    """launch.yml's -e for a key pair imported from `public_key`, as AWX passes a credential's."""
    return ["-e", json.dumps({"ec2lab_key_pair_public_key": public_key})]


def launch_shared(moto_endpoint: str, tmp_path_factory, **extra_vars) -> Launched:
    """A fresh moto account and one launch.yml run in it, for a module-scoped fixture."""
    aws = reset_moto(moto_endpoint)
    key_dir = tmp_path_factory.mktemp("launched") / "ssh"
    run = playbook_runner(aws, key_dir)("launch.yml", **extra_vars)
    assert run.rc == 0, run
    assert run.our_deprecations() == [], run.our_deprecations()
    return Launched(aws, key_dir, run)


@pytest.fixture(scope="module")
def launched(moto_endpoint, tmp_path_factory):
    return launch_shared(moto_endpoint, tmp_path_factory)
