"""A systemd container standing in for the EC2 instance, made by the test bed's own
create/destroy playbooks (molecule/shared), without molecule itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from testlib import ROOT

NAME = "ec2lab-e2e"


def _testbed(playbook: str, workdir: Path, platform: dict) -> None:
    variables = {
        "molecule_yml": {"platforms": [platform]},
        "molecule_instance_config": str(workdir / "instance_config.yml"),
        "molecule_ephemeral_directory": str(workdir),
        "molecule_scenario_directory": str(workdir),
        "molecule_no_log": False,
        # An explicit localhost gets interpreter discovery, which can pick a pyenv shim.
        "ansible_python_interpreter": sys.executable,
    }
    env = dict(os.environ, MOLECULE_SCENARIO_NAME="e2e", ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
    proc = subprocess.run(
        ["ansible-playbook", "-i", "localhost,", "-c", "local", str(ROOT / "molecule/shared" / playbook),
         "-e", json.dumps(variables)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


class Instance:
    def __init__(self, config: dict, workdir: Path):
        self.address, self.port = config["address"], int(config["port"])
        self.fixtures = workdir / "fixtures"

    def exec(self, *argv: str, stdin: str | None = None) -> str:
        proc = subprocess.run(["podman", "exec", "--interactive", NAME, *argv], input=stdin,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    def loop_device(self) -> str:
        labels = json.loads(subprocess.run(["podman", "inspect", NAME], capture_output=True,
                                           text=True, check=True).stdout)[0]["Config"]["Labels"]
        return labels["ec2lab.testbed.loop"]


@pytest.fixture(scope="module")
def instance(tmp_path_factory):
    """The 'EC2 instance': sshd on 127.0.0.1, a blank loop device as the data volume, and the
    fixture installers served on its own loopback (port 8000)."""
    if not os.environ.get("CONTAINERS_CONF"):
        pytest.fail("source tests/testbed/env.sh first (make test-e2e does)")
    workdir = tmp_path_factory.mktemp("e2e-instance")
    subprocess.run([str(ROOT / "tests/fixtures/build-all"), str(workdir / "fixtures")], check=True)
    platform = {"name": NAME, "block_device_size": "1G", "fixtures_dir": str(workdir / "fixtures"),
                "fixtures_port": 8000}
    _testbed("create.yml", workdir, platform)
    try:
        [config] = yaml.safe_load((workdir / "instance_config.yml").read_text())
        yield Instance(config, workdir)
    finally:
        _testbed("destroy.yml", workdir, platform)
