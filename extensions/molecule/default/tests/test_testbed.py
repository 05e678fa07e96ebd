"""What every role scenario relies on when it gets a host from create.yml."""

import subprocess
from pathlib import Path

HOST = "ec2lab-testbed-check"
FIXTURE = Path(__file__).parents[4] / "tests" / "fixtures" / "nvidia-smi" / "nvidia-smi"


def test_systemd_has_booted(host):
    state = host.run("systemctl is-system-running --wait").stdout.strip()
    assert state in {"running", "degraded"}, host.run("systemctl --failed --no-legend").stdout
    assert host.service("ssh").is_running


def test_ubuntu_logs_in_and_uses_sudo_without_a_password(host):
    assert host.user().name == "ubuntu"
    assert host.run("sudo -n true").rc == 0


def test_ssh_is_published_on_loopback_only():
    published = subprocess.run(["podman", "port", HOST, "22/tcp"], capture_output=True, text=True,
                               check=True).stdout.split()
    assert published and all(port.startswith("127.0.0.1:") for port in published)


def test_the_loop_device_has_its_nitro_nvme_name(host):
    link = host.file("/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0defa017000000001")
    assert link.is_symlink
    device = host.file(link.linked_to)
    assert device.exists and host.run("test -b %s", link.linked_to).rc == 0


def test_fixtures_are_served_on_the_hosts_own_loopback(host):
    served = host.run("python3 -c %s", "import urllib.request as u; "
                      "print(u.urlopen('http://127.0.0.1:8000/nvidia-smi').read().decode(), end='')")
    assert served.rc == 0, served.stderr
    assert served.stdout == FIXTURE.read_text()
