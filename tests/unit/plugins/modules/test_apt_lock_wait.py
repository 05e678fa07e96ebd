"""apt_lock_wait: who holds the apt and dpkg locks, how long the wait was, and what a timeout says.

The locks are real files in tmp_path held by a real child process, locked the way apt and dpkg
lock them (fcntl); /proc is a fake tree where a test needs a program or a systemd unit."""

import json
import subprocess
import sys
import time

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.ec2lab.notebook.plugins.modules import apt_lock_wait

HOLD = """
import fcntl, sys, time
lock = open(sys.argv[1], "w")
getattr(fcntl, sys.argv[2])(lock, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(60)
"""


@pytest.fixture
def hold(tmp_path):
    """Hold a lock on a file in tmp_path from a child process until the test ends: hold(kind)
    with kind `lockf` (fcntl, as apt does) or `flock`. Returns (path, child)."""
    children = []

    def start(kind="lockf", name="lock-frontend"):
        path = tmp_path / name
        path.touch()
        child = subprocess.Popen([sys.executable, "-c", HOLD, str(path), kind], stdout=subprocess.PIPE, text=True)
        children.append(child)
        assert child.stdout.readline().strip() == "locked"
        return str(path), child

    yield start
    for child in children:
        child.kill()
        child.wait(timeout=10)


def fake_proc(tmp_path, pid, cmdline, comm="", cgroup=""):
    proc = tmp_path / "proc"
    (proc / str(pid)).mkdir(parents=True)
    (proc / str(pid) / "cmdline").write_text("\0".join(cmdline) + ("\0" if cmdline else ""))
    (proc / str(pid) / "comm").write_text(comm + "\n")
    (proc / str(pid) / "cgroup").write_text(cgroup)
    return str(proc)


class Clock:
    """A monotonic clock that moves only when the code under test sleeps."""

    def __init__(self):
        self.now = 100.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def probe_from(timeline, clock):
    """A lock probe answering from {path: [(until_seconds, pid), ...]}: pid holds path until then."""
    start = clock.now

    def probe(path):
        for until, pid in timeline.get(path, []):
            if clock.now - start < until:
                return pid
        return None

    return probe


def test_a_free_or_missing_lock_file_has_no_holder(tmp_path):
    (tmp_path / "lock").touch()
    assert apt_lock_wait.lock_holder(str(tmp_path / "lock")) is None
    assert apt_lock_wait.lock_holder(str(tmp_path / "absent")) is None


def test_the_process_holding_the_lock_as_apt_does_is_found(hold):
    path, child = hold("lockf")
    assert apt_lock_wait.lock_holder(path) == child.pid


def test_an_flock_is_not_a_holder_because_it_does_not_stop_apt(hold):
    # flock(1) and flock(2) locks and fcntl locks do not conflict on Linux: apt would go ahead.
    path, _child = hold("flock")
    assert apt_lock_wait.lock_holder(path) is None


@pytest.mark.parametrize(("cmdline", "comm", "name"), [
    (["/usr/bin/python3", "/usr/bin/unattended-upgrade"], "unattended-upgr", "unattended-upgrade"),
    (["/usr/bin/python3", "-c", "import time"], "python3", "python3"),
    (["/bin/sh", "/usr/lib/apt/apt.systemd.daily", "update"], "apt.systemd.dai", "apt.systemd.daily"),
    (["apt-get", "-qq", "install", "tmux"], "apt-get", "apt-get"),
    (["/usr/bin/dpkg", "--configure", "-a"], "dpkg", "dpkg"),
    ([], "kworker", "kworker"),
])
def test_a_script_is_named_by_its_script_not_its_interpreter(cmdline, comm, name):
    assert apt_lock_wait.program_name("\0".join(cmdline) + "\0", comm) == name


@pytest.mark.parametrize(("cgroup", "unit"), [
    ("0::/system.slice/apt-daily-upgrade.service\n", "apt-daily-upgrade.service"),
    ("12:memory:/system.slice/apt-daily.service\n1:name=systemd:/system.slice/apt-daily.service\n0::/\n",
     "apt-daily.service"),
    ("0::/user.slice/user-1000.slice/session-3.scope\n", ""),
    ("", ""),
])
def test_the_systemd_service_comes_from_the_cgroup(cgroup, unit):
    assert apt_lock_wait.service_unit(cgroup) == unit


def test_a_wait_names_the_holder_its_unit_and_the_lock(tmp_path):
    proc = fake_proc(tmp_path, 1234, ["/usr/bin/python3", "/usr/bin/unattended-upgrade"],
                     cgroup="0::/system.slice/apt-daily-upgrade.service\n")
    clock = Clock()
    probe = probe_from({"/var/lib/dpkg/lock-frontend": [(41.2, 1234)], "/var/lib/dpkg/lock": [(41.2, 1234)]}, clock)
    result = apt_lock_wait.wait(apt_lock_wait.DEFAULT_PATHS, 600, probe=probe, proc=proc, clock=clock,
                                sleep=clock.sleep)
    assert result["held"] is True
    assert result["waited"] == 42
    assert result["msg"] == ("Waited 42 s for unattended-upgrade (pid 1234, apt-daily-upgrade.service) "
                             "to release the dpkg lock (/var/lib/dpkg/lock-frontend).")
    assert result["holders"] == [{"pid": 1234, "name": "unattended-upgrade", "unit": "apt-daily-upgrade.service",
                                  "lock": "/var/lib/dpkg/lock-frontend"}]
    assert max(clock.sleeps) <= 1


def test_each_holder_in_turn_is_named(tmp_path):
    proc = fake_proc(tmp_path, 10, ["/bin/sh", "/usr/lib/apt/apt.systemd.daily", "update"],
                     cgroup="0::/system.slice/apt-daily.service\n")
    fake_proc(tmp_path, 20, ["/usr/bin/python3", "/usr/bin/unattended-upgrade"],
              cgroup="0::/system.slice/apt-daily-upgrade.service\n")
    clock = Clock()
    probe = probe_from({"/var/lib/apt/lists/lock": [(5, 10)], "/var/lib/dpkg/lock-frontend": [(5, None), (9, 20)]},
                       clock)
    result = apt_lock_wait.wait(apt_lock_wait.DEFAULT_PATHS, 600, probe=probe, proc=proc, clock=clock,
                                sleep=clock.sleep)
    assert result["msg"] == (
        "Waited 9 s for apt.systemd.daily (pid 10, apt-daily.service) to release the apt lists lock "
        "(/var/lib/apt/lists/lock), then for unattended-upgrade (pid 20, apt-daily-upgrade.service) "
        "to release the dpkg lock (/var/lib/dpkg/lock-frontend).")


def test_nothing_held_means_no_wait_and_no_message():
    clock = Clock()
    result = apt_lock_wait.wait(apt_lock_wait.DEFAULT_PATHS, 600, probe=lambda path: None, clock=clock,
                                sleep=clock.sleep)
    assert result == {"held": False, "waited": 0, "holders": [], "msg": ""}
    assert clock.sleeps == []


def test_a_timeout_says_who_holds_what_and_what_to_do(tmp_path):
    proc = fake_proc(tmp_path, 812, ["/usr/bin/python3", "/usr/bin/unattended-upgrade"],
                     cgroup="1:name=systemd:/system.slice/apt-daily-upgrade.service\n")
    clock = Clock()
    probe = probe_from({"/var/lib/dpkg/lock-frontend": [(10_000, 812)]}, clock)
    with pytest.raises(apt_lock_wait.TimedOut) as raised:
        apt_lock_wait.wait(apt_lock_wait.DEFAULT_PATHS, 30, hint="Raise the timeout.", probe=probe, proc=proc,
                           clock=clock, sleep=clock.sleep)
    assert raised.value.msg == (
        "The dpkg lock (/var/lib/dpkg/lock-frontend) is still held by unattended-upgrade (pid 812, "
        "apt-daily-upgrade.service) after 30 s of waiting, so apt cannot run. Wait for it to finish and run "
        "again, or stop it now with `sudo systemctl stop apt-daily-upgrade.service`. Raise the timeout.")
    assert clock.now - 100.0 == pytest.approx(30)


def test_a_holder_outside_any_service_is_only_waited_for(tmp_path):
    proc = fake_proc(tmp_path, 55, ["apt-get", "install", "htop"], cgroup="0::/user.slice/session-3.scope\n")
    clock = Clock()
    with pytest.raises(apt_lock_wait.TimedOut) as raised:
        apt_lock_wait.wait(["/var/lib/dpkg/lock"], 0, probe=lambda path: 55, proc=proc, clock=clock,
                           sleep=clock.sleep)
    assert raised.value.msg == ("The dpkg lock (/var/lib/dpkg/lock) is still held by apt-get (pid 55) after 0 s "
                                "of waiting, so apt cannot run. Wait for it to finish and run again.")
    assert clock.sleeps == []


def test_check_mode_looks_once_and_does_not_wait(tmp_path):
    proc = fake_proc(tmp_path, 812, ["/usr/bin/python3", "/usr/bin/unattended-upgrade"])
    clock = Clock()
    result = apt_lock_wait.wait(apt_lock_wait.DEFAULT_PATHS, 600, check_mode=True, probe=lambda path: 812,
                                proc=proc, clock=clock, sleep=clock.sleep)
    assert clock.sleeps == []
    assert result["held"] is True and result["waited"] == 0
    assert result["msg"] == ("The dpkg lock (/var/lib/dpkg/lock-frontend) is held by unattended-upgrade (pid 812) "
                             "now; a real run would wait for it, up to 600 s.")


def run_module(args, capsys):
    with patch_module_args(args), pytest.raises(SystemExit):
        apt_lock_wait.main()
    return json.loads(capsys.readouterr().out)


def test_the_module_waits_for_a_real_holder_and_reports_it(hold, capsys):
    path, child = hold()
    subprocess.Popen(["sh", "-c", f"sleep 1.5; kill {child.pid}"])
    started = time.monotonic()
    result = run_module({"paths": [path], "timeout": 30}, capsys)
    assert time.monotonic() - started < 10
    assert not result.get("failed") and result["changed"] is False
    assert result["holders"][0]["pid"] == child.pid
    assert result["msg"].startswith(f"Waited {result['waited']} s for python")
    assert f"(pid {child.pid}" in result["msg"] and f"to release the lock ({path})." in result["msg"]


def test_the_module_gives_up_after_its_timeout(hold, capsys):
    path, child = hold()
    result = run_module({"paths": [path], "timeout": 1, "hint": "Nothing was installed."}, capsys)
    assert result["failed"] is True
    assert result["msg"].startswith(f"The lock ({path}) is still held by python")
    assert "after 1 s of waiting, so apt cannot run. Wait for it to finish and run again" in result["msg"]
    assert result["msg"].endswith(". Nothing was installed.")
    assert result["holders"][0]["pid"] == child.pid


def test_the_module_in_check_mode_answers_at_once(hold, capsys):
    path, child = hold()
    started = time.monotonic()
    result = run_module({"paths": [path], "timeout": 600, "_ansible_check_mode": True}, capsys)
    assert time.monotonic() - started < 5
    assert result["held"] is True and result["waited"] == 0 and not result.get("failed")
    assert result["holders"][0]["pid"] == child.pid


def test_the_module_refuses_a_negative_timeout(capsys):
    result = run_module({"timeout": -1}, capsys)
    assert result["failed"] is True
    assert result["msg"] == "timeout must be 0 or more seconds, not -1."


def test_a_lock_file_root_alone_may_read_asks_for_become(tmp_path, capsys, monkeypatch):
    def refuse(path, *_args):
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(apt_lock_wait.os, "open", refuse)
    result = run_module({"paths": [str(tmp_path / "lock")]}, capsys)
    assert result["failed"] is True
    assert result["msg"] == f"Cannot open {tmp_path / 'lock'} to ask who holds it: run this with become (root)."
