"""ssh_alias end to end: the user's own ssh logs in to a test-bed container and opens the tunnel.

The container (tests/testbed image: systemd + sshd + user ubuntu) publishes sshd on
127.0.0.1:<free port>, and a web server on its own loopback 127.0.0.1:8888 stands in for
JupyterLab. Its host keys are learned with ssh-keyscan through 127.0.0.1, as the launch play
would learn them from the console output.
"""

import os
import pathlib
import shutil
import subprocess
import time
import urllib.request

import pytest
from test_ssh_alias_role import PASSWD_HOME, Home, _free

REPO = pathlib.Path(__file__).parents[2]
CONTAINER = "ec2lab-ssh-alias-e2e"
IMAGE = os.environ.get("EC2LAB_TESTBED_IMAGE", "localhost/ec2lab-testbed:bookworm")


def podman(*args, **kwargs):
    script = f'source "{REPO}/tests/testbed/env.sh" >/dev/null && exec podman "$@"'
    return subprocess.run(["bash", "-c", script, "podman", *args], capture_output=True, text=True,
                          timeout=120, **kwargs)


def _usable():
    return (shutil.which("podman") and shutil.which("unshare") and os.getuid() == 0
            and podman("image", "exists", IMAGE).returncode == 0)


pytestmark = pytest.mark.skipif(not _usable(), reason=f"needs root, podman and the test-bed image {IMAGE}")


@pytest.fixture(scope="module")
def instance():
    """(sshd port on 127.0.0.1, its host keys as 'type base64')."""
    podman("rm", "--force", "--time=2", CONTAINER)
    started = podman("run", "--detach", "--systemd=always", f"--name={CONTAINER}", f"--hostname={CONTAINER}",
                     "--label=ec2lab.testbed=true", "--label=ec2lab.testbed.scenario=ssh_alias",
                     f"--label=ec2lab.testbed.instance={CONTAINER}", "--label=ec2lab.testbed.role=host",
                     "--publish=127.0.0.1::22", IMAGE)
    assert started.returncode == 0, started.stderr
    try:
        port = int(podman("port", CONTAINER, "22").stdout.strip().rsplit(":", 1)[1])
        keys = []
        for _ in range(60):
            scan = subprocess.run(["ssh-keyscan", "-p", str(port), "127.0.0.1"], capture_output=True, text=True)
            keys = [" ".join(line.split()[1:3]) for line in scan.stdout.splitlines() if not line.startswith("#")]
            if keys:
                break
            time.sleep(1)
        assert keys, "sshd in the test-bed container did not answer"
        served = podman("exec", "--detach", "--user=ubuntu", CONTAINER, "sh", "-c",
                        "mkdir -p /tmp/lab && echo fake-jupyterlab > /tmp/lab/index.html && "
                        "exec python3 -m http.server 8888 --bind 127.0.0.1 --directory /tmp/lab")
        assert served.returncode == 0, served.stderr
        yield port, keys
    finally:
        podman("rm", "--force", "--time=2", CONTAINER)


@pytest.fixture
def user(tmp_path, instance):
    """A fresh HOME whose launch key is authorised for ubuntu in the container."""
    (tmp_path / "home/.ssh").mkdir(parents=True, mode=0o700)
    (tmp_path / "work").mkdir()
    home = Home(tmp_path / "home", tmp_path / "work")
    key = home.ssh / "ec2lab-nb.pem"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ec2lab-nb", "-f", str(key)], check=True)
    key.chmod(0o400)
    authorised = podman("exec", "--interactive", CONTAINER, "sh", "-ec",
                        "install -d -o ubuntu -g ubuntu -m 0700 ~ubuntu/.ssh && "
                        "cat > ~ubuntu/.ssh/authorized_keys && chown ubuntu: ~ubuntu/.ssh/authorized_keys",
                        input=(key.with_suffix(".pem.pub")).read_text())
    assert authorised.returncode == 0, authorised.stderr
    home.sshd_port, home.host_keys = instance
    return home


def user_ssh(home, *args, **kwargs):
    """The user's own `ssh ARGS`, reading <home>/.ssh/config as ~/.ssh/config (no -F)."""
    script = 'mount --bind "$1" "$2" && shift 2 && exec ssh -o BatchMode=yes "$@"'
    command = ["unshare", "-m", "sh", "-c", script, "sh", str(home.path), PASSWD_HOME, *args]
    if kwargs.pop("background", False):
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def test_ssh_nb_logs_in_with_the_pinned_host_key_and_the_tunnel_reaches_jupyter(user):
    user.run(ssh_alias_host_address="127.0.0.1", ssh_alias_port=user.sshd_port, ssh_alias_host_keys=user.host_keys)
    login = user_ssh(user, "nb", "id", "-un")
    assert login.returncode == 0 and login.stdout.strip() == "ubuntu", login.stderr

    tunnel = user_ssh(user, "-N", "nb-jupyter", background=True)
    try:
        page = None
        deadline = time.monotonic() + 60  # beside the other suites ssh can take a while
        while page is None and time.monotonic() < deadline:
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{user.port}/", timeout=2).read()
            except OSError:
                time.sleep(0.2)
        assert page == b"fake-jupyterlab\n"
        # The open tunnel holds the port; a re-run recognises it as the alias's own.
        again = user.run(ssh_alias_host_address="127.0.0.1", ssh_alias_port=user.sshd_port,
                         ssh_alias_host_keys=user.host_keys)
        assert again["changed"] == 0 and again["port"] == user.port, again["out"]
    finally:
        tunnel.terminate()
        tunnel.wait(timeout=10)
    assert _free(user.port)


def test_a_wrong_pinned_host_key_stops_the_login(user, tmp_path):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "impostor")], check=True)
    impostor = (tmp_path / "impostor.pub").read_text()
    user.run(ssh_alias_host_address="127.0.0.1", ssh_alias_port=user.sshd_port, ssh_alias_host_keys=[impostor])
    login = user_ssh(user, "nb", "true")
    assert login.returncode == 255 and "REMOTE HOST IDENTIFICATION HAS CHANGED" in login.stderr


def test_without_host_keys_the_first_login_records_the_key_under_the_alias(user):
    first = user.run(ssh_alias_host_address="127.0.0.1", ssh_alias_port=user.sshd_port)
    assert "accepted on the first connection" in first["out"]
    login = user_ssh(user, "nb", "true")
    assert login.returncode == 0, login.stderr
    learned = (user.ssh / "ec2lab_known_hosts").read_text().splitlines()
    assert learned and all(line.startswith("nb ") for line in learned)
    # Now that a key is known, the alias stops accepting new ones.
    user.run(ssh_alias_host_address="127.0.0.1", ssh_alias_port=user.sshd_port)
    assert user.ssh_g("nb")["stricthostkeychecking"] == ["true"]
    user.run(ssh_alias_state="absent")
    assert not (user.ssh / "ec2lab_known_hosts").exists()
