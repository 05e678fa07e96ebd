"""The idle_stop check's decision, on what its looks returned on real hosts.

The fixtures under fixtures/idle_stop were recorded: the Jupyter answers from jupyter_server
2.21.1 (the jupyter role's pin) with a kernel started, run and left idle; the process lists
from the Debian test bed image (OpenSSH 9.2, tmux 3.3) with a login, a tunnel, a command and
tmux sessions attached and detached; cpu.stat, `systemctl show` and /proc/self/mountinfo from
the bookworm and trixie test bed images booted with cgroup v2 (tests/testbed/start).
Not recorded, written from their documentation: io.stat (the kernel's cgroup v2 docs; the test
bed's kernel keeps the io controller on cgroup v1) and the nvidia-smi answers (the shape of
tests/fixtures/nvidia-smi; no GPU machine was lent to record the real one).
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


# --- work: CPU, disk and GPU of users' jobs ------------------------------------------------------

WORK = dict(SETTINGS, cpu_percent=10, disk_bytes_per_second=512 * 1024, gpu_percent=10)
IO_STAT = "259:0 rbytes=1048576 wbytes=4194304 rios=256 wios=1024 dbytes=0 dios=0\n" \
          "259:1 rbytes=4096 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n"


def work(now, cpu_usec, io_bytes=None, processes=None):
    return {"now": now, "cgroups": {"/user.slice": {"cpu_usec": cpu_usec, "io_bytes": io_bytes}},
            "processes": processes if processes is not None else {
                "812": {"name": "python3 train.py", "where": "in tmux", "group": "/user.slice",
                        "counters": [cpu_usec // 10000, 0]}}}


def judged(after, before, settings=WORK):
    """The verdict on `after` when the previous check kept the sample of `before`."""
    first = idle.assess(settings, dict(seen(before["now"]), work=before), quiet_since(before["now"] - 60))
    return idle.assess(settings, dict(seen(after["now"]), work=after), first["state"])


@pytest.mark.parametrize("suite", ["bookworm", "trixie"])
def test_cpu_stat_usage_is_read_from_the_recorded_files(suite):
    text = (FIXTURES / f"cpu.stat-{suite}").read_text()
    assert idle.parse_cpu_stat(text) == int(text.split()[1])


def test_io_stat_adds_the_bytes_read_and_written_on_every_device():
    assert idle.parse_io_stat(IO_STAT) == 1048576 + 4194304 + 4096
    assert idle.parse_io_stat("") == 0


def test_units_and_their_cgroups_come_from_one_systemctl_show_in_the_order_asked():
    units = idle.parse_units(["ssh", "systemd-journald.service", "no-such.service"],
                             (FIXTURES / "systemctl-show-trixie").read_text())
    assert units == {"ssh": ("active", "/system.slice/ssh.service"),
                     "systemd-journald.service": ("active", "/system.slice/systemd-journald.service"),
                     "no-such.service": ("inactive", "")}


def test_the_cgroup2_mount_is_found_in_the_hybrid_layout_and_on_a_pure_v2_host():
    assert idle.cgroup2_mount((FIXTURES / "mountinfo-hybrid-bookworm").read_text()) == "/sys/fs/cgroup/unified"
    pure = "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"
    assert idle.cgroup2_mount(pure) == "/sys/fs/cgroup"
    assert idle.cgroup2_mount("25 1 0:23 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n") is None


def test_a_busy_job_keeps_the_host_up_and_is_named_with_where_it_runs():
    verdict = judged(work(10 * HOUR + 60, 60_000_000 + 58_200_000), work(10 * HOUR, 60_000_000))
    assert verdict["action"] == "none"
    assert verdict["line"] == "active: work: 97 % CPU, top python3 train.py (pid 812) in tmux"


def test_work_below_the_cpu_threshold_is_not_use_and_the_idle_line_shows_it():
    verdict = judged(work(10 * HOUR + 60, 60_000_000 + 3_000_000), work(10 * HOUR, 60_000_000))
    assert verdict["line"].startswith("idle ") and verdict["line"].endswith(
        " (work below the thresholds: CPU 5 %, disk 0.0 MB/s)"), verdict["line"]


def test_the_first_check_since_boot_has_no_interval_to_judge():
    verdict = idle.assess(WORK, dict(seen(10 * HOUR), work=work(10 * HOUR, 10**12)), quiet_since(0))
    assert verdict["line"].startswith("idle ") and "CPU" not in verdict["line"]
    assert verdict["state"]["work"]["cgroups"]["/user.slice"]["cpu_usec"] == 10**12


def test_counters_of_the_boot_before_are_never_compared_with_this_boots():
    """After a reboot the counters start again at 0: the old sample is dropped with the old boot."""
    first = idle.assess(WORK, dict(seen(10 * HOUR), work=work(10 * HOUR, 10**12)), quiet_since(0))
    rebooted = idle.assess(WORK, dict(seen(10 * HOUR + 60, uptime=30, boot_id="boot-2"),
                                      work=work(10 * HOUR + 60, 1_000_000)), first["state"])
    assert "work" not in rebooted["line"] and "CPU" not in rebooted["line"], rebooted["line"]


def test_a_cgroup_made_again_counts_all_of_its_new_usage():
    """Jupyter restarted between two checks: its counter is lower than before, all of it is new."""
    before = dict(work(10 * HOUR, 60_000_000), cgroups={"/system.slice/jupyterlab.service": {"cpu_usec": 90_000_000, "io_bytes": None}})
    after = dict(work(10 * HOUR + 60, 0), cgroups={"/system.slice/jupyterlab.service": {"cpu_usec": 30_000_000, "io_bytes": None}})
    assert judged(after, before)["line"].startswith("active: work: 50 % CPU")


def test_a_cgroup_that_disappeared_between_two_checks_is_no_use_and_no_failure():
    before = dict(work(10 * HOUR, 0), cgroups={"/user.slice": {"cpu_usec": 1, "io_bytes": None},
                                               "/system.slice/train.service": {"cpu_usec": 500_000_000, "io_bytes": None}})
    after = dict(work(10 * HOUR + 60, 0, processes={}), cgroups={"/user.slice": {"cpu_usec": 1, "io_bytes": None}})
    verdict = judged(after, before)
    assert verdict["action"] == "none" and verdict["line"].startswith("idle ") and "uncertain" not in verdict["line"]


def test_disk_work_counts_from_io_stat_where_the_io_controller_is_on():
    verdict = judged(work(10 * HOUR + 60, 0, io_bytes=400_000_000), work(10 * HOUR, 0, io_bytes=100_000_000))
    assert verdict["line"].startswith("active: work: disk 5.0 MB/s"), verdict["line"]


def test_disk_work_counts_from_the_processes_where_it_is_off_and_names_the_writer():
    def processes(written, with_old=True):
        table = {"900": {"name": "aws s3 sync s3://bucket/data /data", "where": "in a login session",
                         "group": "/user.slice", "counters": [100, written]}}
        if with_old:  # a process that exits between two checks takes its bytes with it
            table["901"] = {"name": "cp", "where": "in tmux", "group": "/user.slice", "counters": [5, 10**9]}
        return table
    verdict = judged(work(10 * HOUR + 60, 0, processes=processes(130_000_000, with_old=False)),
                     work(10 * HOUR, 0, processes=processes(10_000_000)))
    assert verdict["line"] == ("active: work: disk 2.0 MB/s, top aws s3 sync s3://bucket/data /data (pid 900) "
                               "in a login session"), verdict["line"]


def test_a_look_at_work_that_fails_keeps_the_host_up_and_says_why():
    missing = {"error": "no cgroup v2 hierarchy is mounted, so the work of jobs cannot be measured"}
    verdict = idle.assess(WORK, dict(seen(10 * HOUR), work=missing), quiet_since(0))
    assert verdict["line"] == "active: uncertain, work: no cgroup v2 hierarchy is mounted, so the work of jobs cannot be measured"


@pytest.mark.parametrize(("gpu", "line"), [
    ({"utilization": [88], "processes": []}, "active: work: GPU 88 %"),
    ({"utilization": [0], "processes": [{"pid": "812", "name": "python3"}]},
     "active: work: 1 GPU compute process(es), python3 (pid 812)"),
    ({"error": "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver."},
     "active: uncertain, gpu: NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver."),
])
def test_a_busy_gpu_a_compute_process_or_a_failing_nvidia_smi_keeps_the_host_up(gpu, line):
    assert idle.assess(WORK, dict(seen(10 * HOUR), gpu=gpu), quiet_since(0))["line"] == line


def test_an_idle_gpu_without_processes_is_no_use():
    verdict = idle.assess(WORK, dict(seen(10 * HOUR), gpu={"utilization": [0, 3], "processes": []}), quiet_since(0))
    assert verdict["action"] == "poweroff" and "GPU 3 %" in verdict["line"], verdict["line"]


@pytest.mark.parametrize(("pid", "where"), [("30", "in tmux"), ("40", "in a login session"), ("50", "in Jupyter")])
def test_where_a_process_runs_is_said_in_a_users_words(pid, where):
    processes = {
        "10": {"comm": "sshd", "ppid": "1", "group": "/user.slice"},
        "20": {"comm": "tmux: server", "ppid": "1", "group": "/user.slice"},
        "25": {"comm": "bash", "ppid": "20", "group": "/user.slice"},
        "30": {"comm": "python3", "ppid": "25", "group": "/user.slice"},
        "40": {"comm": "python3", "ppid": "1", "group": "/user.slice"},  # nohup, its login gone
        "50": {"comm": "python3", "ppid": "45", "group": "/system.slice/jupyterlab.service"},
    }
    labels = {"/user.slice": "in a login session", "/system.slice/jupyterlab.service": "in Jupyter"}
    assert idle.place(pid, processes, labels) == where
