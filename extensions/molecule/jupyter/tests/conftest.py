"""Shared fixtures: plain ssh as the login user, the way a user reaches the notebook host."""

import json
import os
import pathlib
import shlex
import subprocess

import pytest
import yaml

PROBE = pathlib.Path(__file__).with_name("jupyter_probe.py")
SERVER_PYTHON = "/opt/jupyter/venv/bin/python"


def _instances():
    with open(os.environ["MOLECULE_INSTANCE_CONFIG"], encoding="utf-8") as handle:
        return {item["instance"]: item for item in yaml.safe_load(handle)}


class Ssh:
    """New ssh connections as the login user of one instance."""

    def __init__(self, instance):
        self.instance = instance
        self.options = [
            "-i", instance["identity_file"], "-p", str(instance["port"]),
            "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
            "-o", "ControlMaster=no", "-o", "ControlPath=none",
        ]
        self.target = f"{instance['user']}@{instance['address']}"

    def run(self, command, stdin=None, timeout=120):
        return subprocess.run(["ssh", *self.options, self.target, command], input=stdin,
                              capture_output=True, text=True, timeout=timeout, check=False)

    def tunnel(self, local_port, remote_port):
        """`ssh -N -L`, exactly what the README tells users to run."""
        return subprocess.Popen(
            ["ssh", *self.options, "-N", "-o", "ExitOnForwardFailure=yes",
             "-L", f"127.0.0.1:{local_port}:127.0.0.1:{remote_port}", self.target],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def probe(self, port, *args, stdin=None):
        """Run jupyter_probe.py on the host with the server's Python; returns its JSON answer."""
        command = [SERVER_PYTHON, "/tmp/jupyter_probe.py", "--port", str(port), *args]
        result = self.run(shlex.join(command), stdin=stdin)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)


@pytest.fixture(scope="module")
def ssh(host):
    connection = Ssh(_instances()[host.backend.get_hostname()])
    copied = connection.run("cat > /tmp/jupyter_probe.py", stdin=PROBE.read_text(encoding="utf-8"))
    assert copied.returncode == 0, copied.stderr
    return connection


@pytest.fixture(scope="module")
def host_vars(host):
    return host.ansible.get_variables()
