"""The whole path a user walks, offline: launch.yml against moto, the aws_ec2 inventory finds
the instance, setup-notebook.yml converges the container standing in for it, then `ssh nb`,
`ssh -N -f nb-jupyter`, a notebook cell through the tunnel, a real browser, terminate.yml.

Only the address differs from real use: an inventory overlay points host `nb` at the
container's sshd on 127.0.0.1 and the installers at the fixtures on its own loopback.

Once on each test bed image: Debian 12, and Debian 13 for the generation of Ubuntu 24.04/26.04
(Python 3.13 under PEP 668, deb822 apt sources, OpenSSH 10).
"""

from __future__ import annotations

import os
import re
import sys
import time

import pytest
from jupyter_client import Jupyter
from ssh_user import User
from testbed.instance import SUITES
from testlib import CALLER_CIDR, ROOT

ARTIFACTS = ROOT / "tests" / "output" / "e2e"

pytestmark = [pytest.mark.slow(seconds=190), pytest.mark.parametrize("instance", SUITES, indirect=True)]

# The suites run side by side on one machine, each user with a ~/.ssh of their own but the same
# loopback: each tunnel's port search starts at a port of its own, or both would take the first
# free one before either tunnel holds it.
TUNNEL_PORTS = {"bookworm": 8888, "trixie": 9888}


# One per suite: a fresh ~/.ssh, so no alias or known host of the other suite's run is left.
@pytest.fixture
def user(moto_endpoint, tmp_path_factory):
    ssh_dir = tmp_path_factory.mktemp("home") / ".ssh"
    ssh_dir.mkdir(mode=0o700)
    return User(ssh_dir, moto_endpoint)


def test_user_path(user, instance, aws):
    # 1. launch.yml against moto: key pair, SG, bucket, role, data volume, instance.
    port = f"ssh_alias_jupyter_preferred_port={TUNNEL_PORTS[instance.suite]}"
    user.run("ansible-playbook", "launch.yml", "-e", f"ec2lab_ssh_cidrs={CALLER_CIDR}",
             "-e", "ec2lab_wait_for_ssh=false", "-e", port)
    key = user.ssh_dir / "ec2lab-nb.pem"
    assert key.stat().st_mode & 0o777 == 0o400
    [described] = aws.instances()
    data_volume_id = next(m["Ebs"]["VolumeId"] for m in described["BlockDeviceMappings"] if m["DeviceName"] == "/dev/sdf")

    # 2. The container boots as that instance would: the key pair's public half authorised
    #    for ubuntu (cloud-init's job), the EBS volume under its Nitro NVMe name (udev's job).
    instance.boot_as(user.run("ssh-keygen", "-y", "-f", str(key)).stdout, data_volume_id)

    # 3. The aws_ec2 inventory finds it; the overlay only changes where `nb` is reached.
    graph = user.run("ansible-inventory", "--graph", "ec2lab").stdout
    assert "nb" in graph
    overlay = instance.inventory_overlay("nb", user.ssh_dir.parent / "overlay.yml")

    # 4. setup-notebook.yml converges it and prints how to reach JupyterLab.
    setup = user.run("ansible-playbook", "-i", "inventory/", "-i", str(overlay), "-e", port, "setup-notebook.yml")
    token = re.search(r"Token \(.*?\): ([0-9a-f]{32,})", setup.stdout).group(1)
    local_port = int(re.search(r"ssh -N -f nb-jupyter\S*.*?http://127\.0\.0\.1:(\d+)/lab", setup.stdout, re.S).group(1))

    # Auto-stop is on, says so, and status.yml can tell from the instance's tag.
    assert "Auto-stop: powers off after 60 min without use" in setup.stdout
    assert {t["Key"]: t["Value"] for t in aws.instances()[0]["Tags"]}["ec2lab:idle-stop-minutes"] == "60"

    # The token is shown once, in the first summary, and nowhere else — a re-run, even with
    # -vvv, says how to read it instead.
    verbose = user.run("ansible-playbook", "-vvv", "-i", "inventory/", "-i", str(overlay), "-e", port,
                       "setup-notebook.yml")
    assert verbose.stdout.count(token) + verbose.stderr.count(token) == 0
    assert "Token: unchanged; print it with: ssh nb cat /home/ubuntu/.jupyter/" in verbose.stdout
    assert re.search(r"nb\s+:\s+ok=\d+\s+changed=0\s", verbose.stdout), "re-run is not idempotent"

    # 5. `ssh nb` works with nothing but the alias.
    who = user.run("ssh", "-o", "BatchMode=yes", "nb", "id -un; findmnt -n -o TARGET --target /data/notebooks")
    assert who.stdout.split() == ["ubuntu", "/data"]
    hint = re.search(r"print it with: ssh nb cat (/[\w./-]+)", verbose.stdout).group(1)
    assert user.run("ssh", "-o", "BatchMode=yes", "nb", "cat", hint).stdout.strip() == token
    # The idle check sees this very connection, and reads the real JupyterLab without doubt.
    idle = user.run("ssh", "-o", "BatchMode=yes", "nb", "ec2lab-idle-stop", "status").stdout
    now = next(line for line in idle.splitlines() if line.startswith("Now: "))
    assert now.startswith("Now: active: ") and "ssh without a terminal" in now and "uncertain" not in now, idle
    # What an idle workstation's users' cgroups use (JupyterLab, sshd, this login): far below
    # auto-stop's thresholds (10 % CPU, 0.5 MB/s), so a machine nobody uses still stops.
    work = re.search(r"^Work in the last second: CPU (\d+) %, disk (\d+\.\d) MB/s", idle, re.M)
    assert work and int(work[1]) < 10 and float(work[2]) < 0.5, idle
    # The lecture's habit for a long job: start it in tmux, detach, log out. It is work the
    # idle check counts, so auto-stop will not power the workstation off under it.
    user.run("ssh", "-o", "BatchMode=yes", "nb", "tmux new-session -d -s train \"python3 -c 'while True: pass'\"")
    try:
        idle = user.run("ssh", "-o", "BatchMode=yes", "nb", "ec2lab-idle-stop", "status").stdout
        assert re.search(r"^Now: active: .*work: \d+ % CPU, top python3 -c while True: pass \(pid \d+\) in tmux",
                         idle, re.M), idle
    finally:
        user.run("ssh", "-o", "BatchMode=yes", "nb", "tmux kill-session -t train", check=False)
    config = (user.ssh_dir / "config").read_text()
    assert config.count("Include") == 1

    # 6. The tunnel alias opens the tunnel the lecture builds by hand.
    # Its own log file tells this tunnel from the other suite's, for the pkill below.
    tunnel_log = user.ssh_dir.parent / "tunnel.log"
    tunnel = ["ssh", "-o", "BatchMode=yes", "-E", str(tunnel_log), "-N", "-f", "nb-jupyter"]
    opened = user.run(*tunnel, check=False)
    assert opened.returncode == 0, tunnel_log.read_text() if tunnel_log.exists() else opened.stderr
    try:
        jupyter = Jupyter(f"http://127.0.0.1:{local_port}", token)
        deadline = time.monotonic() + 30
        while jupyter.status_code(authenticated=False) != 403 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert jupyter.status_code(authenticated=False) == 403
        assert jupyter.status_code() == 200
        assert jupyter.run_cell("print(6 * 7)").strip() == "42"
        # New notebooks and saved ones (kernel name python3) run the conda env's python, not the
        # server's venv.
        for kernel_name in (None, "python3"):
            assert jupyter.run_cell("import sys; print(sys.prefix)", kernel_name=kernel_name).strip() == "/opt/conda"

        # 7. A real browser opens JupyterLab through the tunnel and runs a cell.
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        if os.path.exists("/usr/bin/chromium"):
            browser = user.run(sys.executable, str(ROOT / "tests/e2e/browser.py"), "--url",
                               f"http://127.0.0.1:{local_port}", "--token", token,
                               "--screenshot", str(ARTIFACTS / f"jupyterlab-{instance.suite}.png"), timeout=300)
            assert re.search(r"3\.\d+\.\d+", browser.stdout), browser.stdout
        else:
            pytest.fail("Debian's chromium is not installed (.ci/run installs it)")
    finally:
        user.run("pkill", "-f", " ".join(tunnel), check=False)

    # 8. terminate.yml removes the aliases and the AWS resources; the data volume stays.
    user.run("ansible-playbook", "terminate.yml")
    aliases = user.ssh_dir / "config.d" / "ec2lab"
    assert not aliases.exists() or "Host nb" not in aliases.read_text()
    assert user.run("ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "nb", "true", check=False).returncode != 0
    left = aws.ec2lab_resources()
    assert left["instances"] == [] and left["volumes"] == [data_volume_id]
