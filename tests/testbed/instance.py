"""One systemd container standing in for an EC2 instance, made by the test bed's own
create/destroy playbooks (extensions/molecule/default) without molecule itself. Used by tests/e2e and by
`make demo`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
# The test bed images, localhost/ec2lab-testbed:<suite> (tests/testbed/build-image): Debian 12, and
# Debian 13 for the generation of Ubuntu 24.04/26.04.
SUITES = ("bookworm", "trixie")
FIXTURE_CONDA = "conda/ec2lab-fixture-conda-0.0.0-Linux.sh"
FIXTURE_AWSCLI_VERSION = "2.99.0-fixture"


class Instance:
    """The container `name`: sshd on 127.0.0.1, a blank loop device as the data volume, and
    the fixture installers served on its own loopback (port 8000). From the test bed image of
    `suite` (one of SUITES), else from the default one ($EC2LAB_TESTBED_IMAGE, bookworm)."""

    def __init__(self, name: str, workdir: Path, suite: str | None = None, image: str | None = None):
        if suite is not None and suite not in SUITES:
            raise ValueError(f"no test bed image for suite {suite!r}; there are {', '.join(SUITES)}")
        self.name, self.workdir, self.suite = name, workdir, suite
        self.fixtures = workdir / "fixtures"
        self.platform = {"name": name, "block_device_size": "1G", "fixtures_dir": str(self.fixtures),
                         "fixtures_port": 8000}
        if suite is not None:
            self.platform["image"] = f"localhost/ec2lab-testbed:{suite}"
        if image is not None:  # a baked AMI's image (tests/moto/server.py commits it)
            self.platform["image"] = image
        self.address, self.port = "127.0.0.1", 0

    def create(self) -> Instance:
        if not os.environ.get("CONTAINERS_CONF"):
            raise RuntimeError("source tests/testbed/env.sh first")
        subprocess.run([str(ROOT / "tests/fixtures/build-all"), str(self.fixtures)], check=True)
        self._playbook("create.yml")
        [config] = yaml.safe_load((self.workdir / "instance_config.yml").read_text())
        self.address, self.port = config["address"], int(config["port"])
        return self

    def destroy(self) -> None:
        self._playbook("destroy.yml")

    def _playbook(self, playbook: str) -> None:
        variables = {
            "molecule_yml": {"platforms": [self.platform]},
            "molecule_instance_config": str(self.workdir / "instance_config.yml"),
            "molecule_ephemeral_directory": str(self.workdir),
            "molecule_scenario_directory": str(self.workdir),
            "molecule_no_log": False,
            # An explicit localhost gets interpreter discovery, which can pick a pyenv shim.
            "ansible_python_interpreter": sys.executable,
        }
        env = dict(os.environ, MOLECULE_SCENARIO_NAME=self.name, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
        proc = subprocess.run(
            ["ansible-playbook", "-i", "localhost,", "-c", "local", str(ROOT / "extensions/molecule/default" / playbook),
             "-e", json.dumps(variables)],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
        )
        if proc.returncode:
            raise RuntimeError(f"{playbook} failed:\n{proc.stdout[-4000:]}{proc.stderr[-2000:]}")

    def exec(self, *argv: str, stdin: str | None = None) -> str:
        proc = subprocess.run(["podman", "exec", "--interactive", self.name, *argv], input=stdin,
                              capture_output=True, text=True, timeout=120)
        if proc.returncode:
            raise RuntimeError(proc.stderr)
        return proc.stdout

    def boot_as(self, public_key: str, data_volume_id: str) -> None:
        """What EC2 does at boot: cloud-init authorises the key pair's public half for ubuntu,
        and udev names the attached EBS volume after its id (the Nitro NVMe by-id link)."""
        self.exec("sh", "-ec", "cat > ~ubuntu/.ssh/authorized_keys", stdin=public_key)
        labels = json.loads(subprocess.run(["podman", "inspect", self.name], capture_output=True,
                                           text=True, check=True).stdout)[0]["Config"]["Labels"]
        loop = Path(labels["ec2lab.testbed.loop"]).name
        by_id = f"/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_{data_volume_id.replace('-', '')}"
        self.exec("sh", "-ec", f"mkdir -p /dev/disk/by-id && ln -sfn ../../{loop} {by_id}")

    def inventory_overlay(self, host: str, path: Path) -> Path:
        """An inventory file that only says where `host` is really reached and where the
        fixture installers are; everything else comes from the aws_ec2 inventory."""
        sha = {arch: (self.fixtures / f"awscli/awscli-exe-linux-{arch}-{FIXTURE_AWSCLI_VERSION}.zip.sha256")
               .read_text().strip() for arch in ("x86_64", "aarch64")}
        overlay = {"ec2lab": {"hosts": {host: {
            "ansible_host": self.address,
            "ansible_port": self.port,
            "conda_installer_url": f"http://127.0.0.1:8000/{FIXTURE_CONDA}",
            "conda_installer_sha256": (self.fixtures / f"{FIXTURE_CONDA}.sha256").read_text().split()[0],
            "awscli_bundle_url": "http://127.0.0.1:8000/awscli",
            "awscli_version": FIXTURE_AWSCLI_VERSION,
            "awscli_bundle_sha256": sha,
        }}}}
        path.write_text(yaml.safe_dump(overlay))
        return path
