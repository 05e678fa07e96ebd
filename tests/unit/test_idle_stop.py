"""The idle_stop check's decision, on what its looks returned on real hosts.

The fixtures under fixtures/idle_stop were recorded: the Jupyter answers from jupyter_server
2.21.1 (the jupyter role's pin) with a kernel started, run and left idle; the process lists
from the Debian test bed image (OpenSSH 9.2, tmux 3.3) with a login, a tunnel, a command and
tmux sessions attached and detached.
"""

import importlib.util
import json
import pathlib

import pytest

_ROOT = pathlib.Path(__file__).parents[2]
_SPEC = importlib.util.spec_from_file_location("ec2lab_idle_stop", _ROOT / "roles/idle_stop/files/ec2lab_idle_stop.py")
idle = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(idle)

FIXTURES = pathlib.Path(__file__).parent / "fixtures/idle_stop"
HOUR = 3600.0
SETTINGS = {"window": HOUR, "grace": 600.0, "warn": 300.0, "count_tunnels": True}


def recorded(name):
    return json.loads((FIXTURES / name).read_text())


def seconds(iso):
    return idle._timestamp(iso)


BUSY = recorded("jupyter-kernel-busy.json")
BUSY_AT = seconds(BUSY["kernels"][0]["last_activity"])
IDLE_PROCESSES = recorded("processes-idle-detached-tmux.json")


def seen(now, uptime=5 * HOUR, jupyter=None, processes=None, keepalive_until=None, boot_id="boot-1"):
    return {"now": now, "uptime": uptime, "boot_id": boot_id, "jupyter": jupyter,
            "processes": IDLE_PROCESSES if processes is None else processes,
            "keepalive_until": keepalive_until}


def quiet_since(last_use, boot_id="boot-1"):
    return {"boot_id": boot_id, "last_use": last_use, "warned": False}


# --- what counts as use --------------------------------------------------------------------

def test_a_busy_kernel_keeps_the_host_up_however_long_it_runs():
    verdict = idle.assess(SETTINGS, seen(BUSY_AT + 10 * HOUR, jupyter=BUSY), quiet_since(BUSY_AT))
    assert (verdict["action"], verdict["line"]) == ("none", "active: kernel busy (1)")


def test_an_idle_kernel_counts_from_its_last_activity():
    answer = recorded("jupyter-kernel-idle.json")
    last = seconds(answer["kernels"][0]["last_activity"])
    early = idle.assess(SETTINGS, seen(last + 23 * 60, jupyter=answer), quiet_since(last - 2 * HOUR))
    assert (early["action"], early["line"]) == ("none", "idle 23/60 min")
    late = idle.assess(SETTINGS, seen(last + HOUR, jupyter=answer), quiet_since(last - 2 * HOUR))
    assert late["action"] == "poweroff"


def test_a_kernel_nobody_attached_to_stops_counting_after_the_window():
    """Started over the API and never connected to, a kernel stays 'starting' for ever."""
    answer = recorded("jupyter-kernel-starting.json")
    started = seconds(answer["kernels"][0]["last_activity"])
    soon = idle.assess(SETTINGS, seen(started + 60, jupyter=answer), quiet_since(started))
    assert soon["line"] == "active: kernel starting (1)"
    later = idle.assess(SETTINGS, seen(started + HOUR + 60, jupyter=answer), quiet_since(started))
    assert later["action"] == "poweroff"


def test_a_terminal_used_in_jupyterlab_counts_like_a_kernel():
    answer = dict(recorded("jupyter-fresh.json"), terminals=[{"name": "1", "last_activity": "2026-11-30T10:00:00Z"}])
    verdict = idle.assess(SETTINGS, seen(seconds("2026-11-30T10:30:00Z"), jupyter=answer),
                          quiet_since(seconds("2026-11-30T08:00:00Z")))
    assert verdict["line"] == "idle 30/60 min"


def test_an_ssh_login_a_tunnel_and_an_attached_tmux_each_count_by_name():
    verdict = idle.assess(SETTINGS, seen(10 * HOUR, processes=recorded("processes-login-tunnel-tmux.json")),
                          quiet_since(0))
    assert verdict["line"] == ("active: ssh login with a terminal (1), ssh without a terminal, e.g. a tunnel (2), "
                               "tmux attached (1)")


@pytest.mark.parametrize("fixture", ["processes-tunnel.json", "processes-command-notty.json"])
def test_a_connection_without_a_terminal_counts_unless_tunnels_are_not_counted(fixture):
    processes = recorded(fixture)
    counted = idle.assess(SETTINGS, seen(10 * HOUR, processes=processes), quiet_since(0))
    assert counted["line"] == "active: ssh without a terminal, e.g. a tunnel (1)"
    ignored = idle.assess(dict(SETTINGS, count_tunnels=False), seen(10 * HOUR, processes=processes), quiet_since(0))
    assert ignored["action"] == "poweroff"


def test_a_detached_tmux_session_with_nothing_attached_does_not_count():
    verdict = idle.assess(SETTINGS, seen(10 * HOUR), quiet_since(0))
    assert verdict["action"] == "poweroff"


def test_openssh_9_8_session_titles_count_too():
    processes = [{"comm": "sshd-session", "args": "sshd-session: ubuntu [priv]"},
                 {"comm": "sshd-session", "args": "sshd-session: ubuntu@pts/1"}]
    assert idle.session_use(processes, True) == (["ssh login with a terminal (1)"], [])


def test_the_keepalive_time_counts_until_it_passes():
    until = 10 * HOUR + 4 * HOUR
    kept = idle.assess(SETTINGS, seen(10 * HOUR, keepalive_until=until), quiet_since(0))
    assert kept["line"] == "active: keep-alive until 1970-01-01 14:00 UTC"
    passed = idle.assess(SETTINGS, seen(until + 1, keepalive_until=until), quiet_since(0))
    assert passed["action"] == "poweroff"


def test_the_minutes_after_boot_count_as_use():
    verdict = idle.assess(SETTINGS, seen(10 * HOUR, uptime=125), quiet_since(0))
    assert verdict["line"] == "active: boot grace (2/10 min)"


# --- uncertainty never powers off ----------------------------------------------------------

@pytest.mark.parametrize("broken, named", [
    ({"jupyter": {"error": "HTTP Error 403: Forbidden"}}, "uncertain, jupyter: HTTP Error 403: Forbidden"),
    ({"processes": {"error": "Permission denied: '/proc'"}}, "uncertain, processes: Permission denied: '/proc'"),
    ({"keepalive_until": {"error": "could not convert string to float: 'soon'"}},
     "uncertain, keep-alive file: could not convert string to float: 'soon'"),
])
def test_a_look_that_fails_keeps_the_host_up_and_says_why(broken, named):
    verdict = idle.assess(SETTINGS, dict(seen(10 * HOUR), **broken), quiet_since(0))
    assert (verdict["action"], verdict["line"]) == ("none", f"active: {named}")
    assert verdict["state"]["last_use"] == 10 * HOUR


def test_a_stopped_jupyter_service_is_no_use_and_no_error():
    verdict = idle.assess(SETTINGS, seen(10 * HOUR, jupyter={"stopped": "jupyterlab"}), quiet_since(0))
    assert verdict["action"] == "poweroff"


# --- counting, warning, acting -------------------------------------------------------------

def test_idle_time_counts_from_boot_on_the_first_check_after_a_start():
    """A start.yml after an auto-stop must not power off at once on the old state's idle time."""
    verdict = idle.assess(SETTINGS, seen(10 * HOUR, uptime=20 * 60, boot_id="boot-2"), quiet_since(0))
    assert (verdict["action"], verdict["line"]) == ("none", "idle 20/60 min")
    assert verdict["state"]["boot_id"] == "boot-2"


def test_logged_in_users_are_warned_once_before_the_power_off():
    state = quiet_since(0)
    first = idle.assess(SETTINGS, seen(56 * 60), state)
    assert (first["action"], first["line"]) == ("warn", "idle 56/60 min: warning logged-in users")
    second = idle.assess(SETTINGS, seen(57 * 60), first["state"])
    assert second["action"] == "none"
    assert idle.assess(SETTINGS, seen(60 * 60), second["state"])["line"] == "idle 60/60 min: powering off"


def test_use_after_a_warning_resets_both_the_count_and_the_warning():
    warned = dict(quiet_since(0), warned=True)
    verdict = idle.assess(SETTINGS, seen(58 * 60, processes=recorded("processes-tunnel.json")), warned)
    assert verdict["state"] == {"boot_id": "boot-1", "last_use": 58 * 60, "warned": False}


def test_short_test_windows_read_in_seconds():
    verdict = idle.assess(dict(SETTINGS, window=20, grace=0, warn=0), seen(12), quiet_since(0))
    assert verdict["line"] == "idle 12/20 s"


@pytest.mark.parametrize("text, expected", [("90m", 5400), ("4h", 14400), ("2d", 172800), (" 1h ", 3600)])
def test_keepalive_durations(text, expected):
    assert idle.parse_duration(text) == expected


@pytest.mark.parametrize("text", ["4", "4 hours", "-1h", "h"])
def test_keepalive_durations_it_cannot_read_are_refused_with_an_example(text):
    with pytest.raises(ValueError, match="like 90m, 4h or 2d"):
        idle.parse_duration(text)


@pytest.mark.parametrize("window, text", [(3600, "60 min"), (60, "1 min"), (10, "10 s"), (90, "90 s")])
def test_the_window_is_named_in_minutes_when_it_is_whole_minutes(window, text):
    assert idle._length(window) == text
