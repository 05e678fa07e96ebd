"""A fresh host whose dpkg lock is held, as by unattended-upgrades after the first boot: an install
waits for it and says whom it waited for; a timeout shorter than the hold stops the run with one
message and installs nothing; a preview and a converged host do not wait.

The holder is the FIXTURE files/unattended-upgrade in a transient systemd unit, locking the way
apt does. The tests run in file order on one host; each holder is stopped when its test ends.
"""

import re
import time

import pytest

UNIT = "fake-unattended-upgrades"
FIXTURE = "/usr/local/lib/ec2lab-fixture/unattended-upgrade"
HOLDER = rf"unattended-upgrade \(pid {{pid}}, {UNIT}\.service\)"
LOCK = r"the dpkg lock \(/var/lib/dpkg/lock-frontend\)"


@pytest.fixture
def holder(host):
    """hold(seconds): start the holder, return its pid once it holds the lock and the time (host
    clock) at which it will let go is recorded in the returned file. Stopped at the end."""
    record = "/run/fake-unattended-upgrades.test"

    def hold(seconds):
        host.run(f"sudo rm -f {record}")
        started = host.run(f"sudo systemd-run --unit={UNIT} --property=Type=notify --collect "
                           f"{FIXTURE} {seconds} {record}")
        assert started.rc == 0, started.stderr
        return int(host.check_output(f"systemctl show --property=MainPID --value {UNIT}")), record

    yield hold
    host.run(f"sudo systemctl stop {UNIT}")


def installed_at(host, package):
    """When dpkg unpacked the package (host clock, whole seconds)."""
    return int(host.check_output(f"stat --format=%Y /var/lib/dpkg/info/{package}.list"))


def released_at(host, record):
    return float(host.check_output(f"cat {record}"))


def test_the_first_boot_install_waited_for_the_holder(host):
    assert host.package("tree").is_installed
    assert installed_at(host, "tree") >= int(released_at(host, "/run/fake-unattended-upgrades.converge"))


def test_an_install_waits_for_the_holder_and_says_whom_for(host, holder, apply_role):
    pid, record = holder(15)
    result = apply_role(host_support_packages=["pv"])
    assert result.returncode == 0, result.stdout + result.stderr
    said = re.search(rf"Waited (\d+) s for {HOLDER.format(pid=pid)} to release {LOCK}\.", result.stdout)
    assert said, result.stdout
    assert 1 <= int(said.group(1)) <= 17
    assert host.package("pv").is_installed
    assert installed_at(host, "pv") >= int(released_at(host, record))


def test_a_timeout_shorter_than_the_hold_stops_with_one_message(host, holder, apply_role):
    pid, _record = holder(300)
    started = time.monotonic()
    result = apply_role(host_support_packages=["hello"], host_support_apt_lock_timeout=3)
    assert result.returncode != 0
    assert time.monotonic() - started < 120
    output = result.stdout + result.stderr
    failures = [line for line in output.splitlines() if "FAILED!" in line]
    assert len(failures) == 1, output
    assert re.search(
        rf"The dpkg lock \(/var/lib/dpkg/lock-frontend\) is still held by {HOLDER.format(pid=pid)} after 3 s "
        rf"of waiting, so apt cannot run\. Wait for it to finish and run again, or stop it now with "
        rf"`sudo systemctl stop {UNIT}\.service`\. Nothing was installed \(hello\)\. To wait longer, raise "
        rf"host_support_apt_lock_timeout \(now 3 s\)\.", failures[0]), failures[0]
    assert not host.package("hello").is_installed
    # The run leaves the holder alone: stopping it is the user's call.
    assert host.service(f"{UNIT}.service").is_running


def test_a_negative_timeout_is_refused_before_anything_is_installed(host, apply_role):
    result = apply_role(host_support_packages=["hello"], host_support_apt_lock_timeout=-1)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert ("host_support_apt_lock_timeout must be a whole number of seconds, 0 or more (0 = do not wait), "
            "not -1.") in output
    assert not host.package("hello").is_installed


def test_a_preview_names_the_holder_and_does_not_wait(host, holder, apply_role):
    pid, _record = holder(300)
    started = time.monotonic()
    result = apply_role(check=True, host_support_packages=["hello"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert time.monotonic() - started < 120
    assert re.search(rf"Would install with apt: hello\. The dpkg lock \(/var/lib/dpkg/lock-frontend\) is held "
                     rf"by {HOLDER.format(pid=pid)} now; a real run would wait for it, up to 600 s\.",
                     result.stdout), result.stdout
    assert not host.package("hello").is_installed


def test_a_host_with_every_package_does_not_wait(host, holder, apply_role):
    holder(300)
    started = time.monotonic()
    result = apply_role(host_support_packages=["tree", "pv"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert time.monotonic() - started < 120
    assert "Waited" not in result.stdout
    assert re.search(r"changed=0\s", result.stdout)
