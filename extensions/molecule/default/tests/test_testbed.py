"""What every role scenario relies on when it gets a host from create.yml, on each test bed image."""

import subprocess
from pathlib import Path

FIXTURE = Path(__file__).parents[4] / "tests" / "fixtures" / "nvidia-smi" / "nvidia-smi"


def test_systemd_has_booted(host):
    state = host.run("systemctl is-system-running --wait").stdout.strip()
    assert state in {"running", "degraded"}, host.run("systemctl --failed --no-legend").stdout
    assert host.service("ssh").is_running


def test_ubuntu_logs_in_and_uses_sudo_without_a_password(host):
    assert host.user().name == "ubuntu"
    assert host.run("sudo -n true").rc == 0


def test_ssh_is_published_on_loopback_only(host):
    published = subprocess.run(["podman", "port", host.backend.get_hostname(), "22/tcp"], capture_output=True,
                               text=True, check=True).stdout.split()
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


def test_apt_sources_are_deb822_only_as_on_a_cloud_image(host):
    """Debian 12 and 13 cloud images (and Ubuntu 24.04's) list their mirrors in one deb822 file and
    have no one-line sources.list; every suite there, and every package list baked in, is of the
    image's own release."""
    codename = host.run(". /etc/os-release && printf %s \"$VERSION_CODENAME\"").stdout
    assert codename in {"bookworm", "trixie"}
    assert not host.file("/etc/apt/sources.list").exists
    sources = host.file("/etc/apt/sources.list.d/debian.sources").content_string
    suites = [suite for line in sources.splitlines() if line.startswith("Suites:") for suite in line.split()[1:]]
    assert codename in suites and all(suite.split("-")[0] == codename for suite in suites), sources
    lists = host.run("apt-get indextargets --format '$(CODENAME)' 'Created-By: Packages'").stdout.split()
    assert codename in lists and all(suite.split("-")[0] == codename for suite in lists), lists
