#!/usr/bin/python3
"""ec2lab idle stop: power this workstation off after a stretch of time nobody used it.

    ec2lab-idle-stop check            what the timer runs every minute: look, decide, act
    ec2lab-idle-stop status           what counts as use right now, and the last check's verdict
    ec2lab-keepalive 4h               count the host as used for 4 hours (also 90m, 2d; off)
    ec2lab-idle-stop status --config -   status with the settings on stdin, not the installed ones

The host counts as used while someone is connected or the host is doing someone's work:
a Jupyter kernel is busy or starting (or Jupyter saw use within the window), an SSH login has a
terminal, an SSH connection without one is open (a tunnel, VS Code; unless tunnels are not
counted), a tmux client is attached, the work of users is at or above a threshold since the last
check (CPU time and bytes read and written by user.slice, the Jupyter service and the units named
in the settings, from the kernel's cgroup v2 accounting; GPU utilization or compute processes),
the keep-alive time has not passed, or it booted less than the grace period ago. A look that
fails counts as use: uncertainty never powers a machine off. Each check writes one line to the
journal (journalctl -u ec2lab-idle-stop). Before powering off it runs the configured command
(a unit of its own, as the login user, with a timeout), then powers off whatever it returned.

Standard library only. `assess` is a pure function of what the looks returned, so it is tested
on recorded outputs; the rest gathers those outputs and carries out the verdict.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

CONFIG = Path("/etc/ec2lab/idle-stop.json")
STATE_FILE = "state.json"
KEEPALIVE_FILE = "keepalive"

# The unprivileged half of each logged-in SSH connection: 'sshd: USER@pts/N' with a terminal,
# 'sshd: USER@notty' running a command (scp, VS Code, Ansible), plain 'sshd: USER' with no
# session at all (ssh -N, a tunnel). OpenSSH 9.8 and later say 'sshd-session:'. The '[priv]'
# monitor, the '[listener]' and not yet authenticated '[preauth]' processes do not match.
SSH_SESSION = re.compile(r"^sshd(?:-session)?: (?P<user>[^\s@]+)(?:@(?P<tty>\S+))?$")
# tmux renames its processes (comm) to 'tmux: client' and 'tmux: server' but leaves argv alone.
TMUX_CLIENT = "tmux: client"
TMUX_SERVER = "tmux: server"
USER_SLICE = "/user.slice"
DURATION = re.compile(r"^(\d+)([mhd])$")


# --- the decision: pure ----------------------------------------------------------------------

def _span(seconds: float, window: float) -> str:
    """'23/60 min', or '12/20 s' for the short windows tests use."""
    if window < 120:
        return f"{int(seconds)}/{int(window)} s"
    return f"{int(seconds // 60)}/{int(window // 60)} min"


def _length(window: float) -> str:
    """'60 min', '1 min', or '20 s' for a window that is not whole minutes."""
    return f"{int(window // 60)} min" if window >= 60 and window % 60 == 0 else f"{int(window)} s"


def _timestamp(text: str | None) -> float | None:
    """Jupyter's ISO 8601 UTC times ('2026-11-30T10:00:00.123456Z') as epoch seconds."""
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def jupyter_use(answer: dict | None, now: float, window: float) -> tuple[list[str], list[str], float | None]:
    """(reasons the host is in use now, failures, newest earlier use) from the Jupyter look.

    A busy kernel counts for as long as it runs (a training run). A kernel 'starting' counts
    only within the window: one started over the API that no client ever attached to stays
    'starting' in Jupyter's eyes for ever, and must not keep the host up for ever.
    """
    if answer is None:  # not configured on this host
        return [], [], None
    if "error" in answer:
        return [], [f"jupyter: {answer['error']}"], None
    if "stopped" in answer:  # the service is not running: nothing can use it
        return [], [], None
    kernels = answer["kernels"]
    busy = [k for k in kernels if k.get("execution_state") == "busy"]
    starting = [k for k in kernels if k.get("execution_state") == "starting"
                and now - (_timestamp(k.get("last_activity")) or 0) < window]
    stamps = [_timestamp(answer["status"].get("last_activity"))]
    stamps += [_timestamp(k.get("last_activity")) for k in kernels]
    stamps += [_timestamp(t.get("last_activity")) for t in answer["terminals"]]
    stamps = [s for s in stamps if s is not None]
    reasons = ([f"kernel busy ({len(busy)})"] if busy else [])
    reasons += ([f"kernel starting ({len(starting)})"] if starting else [])
    return reasons, [], max(stamps, default=None)


def session_use(processes: list[dict] | dict, count_tunnels: bool) -> tuple[list[str], list[str]]:
    """(reasons, failures) from the processes' names and titles: sshd sessions, tmux clients."""
    if isinstance(processes, dict):
        return [], [f"processes: {processes['error']}"]
    sessions = (SSH_SESSION.match(p["args"]) for p in processes if p["comm"].startswith("sshd"))
    ttys = [match["tty"] or "" for match in sessions if match]
    terminals = sum(1 for tty in ttys if tty.startswith("pts/"))
    tunnels = len(ttys) - terminals
    tmux = sum(1 for p in processes if p["comm"] == TMUX_CLIENT)
    reasons = []
    if terminals:
        reasons.append(f"ssh login with a terminal ({terminals})")
    if tunnels and count_tunnels:
        reasons.append(f"ssh without a terminal, e.g. a tunnel ({tunnels})")
    if tmux:
        reasons.append(f"tmux attached ({tmux})")
    return reasons, []


def parse_cpu_stat(text: str) -> int:
    """usage_usec of a cgroup's cpu.stat: the CPU time of every process it ever held, exited
    ones included (cgroup v2 keeps this core file whether the cpu controller is on or not)."""
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == "usage_usec":
            return int(value)
    raise ValueError("cpu.stat has no usage_usec")


def parse_io_stat(text: str) -> int:
    """Bytes read and written, all devices together, from a cgroup's io.stat
    ('259:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0' per device)."""
    total = 0
    for line in text.splitlines():
        for field in line.split()[1:]:
            key, _, value = field.partition("=")
            if key in ("rbytes", "wbytes"):
                total += int(value)
    return total


def _grown(now: int, before: int | None) -> int:
    """What a counter grew by. A counter below its last value, or one not there last time, was
    made anew since (a cgroup created again, a new process): all of it is new."""
    return now - before if before is not None and now >= before else now


def _top(processes: dict, previous: dict, index: int) -> dict | None:
    """The process whose counter `index` (0 CPU ticks, 1 bytes) grew most since the last look."""
    grown = {pid: _grown(p["counters"][index], (previous.get(pid) or [None, None])[index])
             for pid, p in processes.items() if p["counters"][index] is not None}
    pid = max(grown, key=grown.get, default=None)
    return None if pid is None or grown[pid] <= 0 else dict(processes[pid], pid=pid)


def _named(process: dict | None) -> str:
    return f", top {process['name']} (pid {process['pid']}) {process['where']}" if process else ""


def sample_of(work: dict) -> dict:
    """What of a work look the next check compares with: the counters, not the names."""
    return {"now": work["now"], "cgroups": work["cgroups"],
            "processes": {pid: p["counters"] for pid, p in work["processes"].items()}}


def work_use(settings: dict, work: dict | None, previous: dict | None) -> tuple[list[str], list[str], dict | None, str]:
    """(reasons, failures, sample for the next check, figures) from the work look.

    work: now, cgroups {path: {cpu_usec, io_bytes or None}}, processes {pid: {name, where, group,
    counters [cpu ticks, bytes]}}, clock_ticks; or {"error": ...}. previous: the sample the last
    check kept, or None (the first check since boot: no interval to judge yet).
    An interval is used when its average CPU is at or above settings cpu_percent of one core, or
    its bytes read and written at or above disk_bytes_per_second. Bytes come from io.stat where
    the io controller is on for the cgroup, else from its processes' /proc/PID/io.
    """
    if work is None:
        return [], [], None, ""
    if "error" in work:
        return [], [f"work: {work['error']}"], None, ""
    sample = sample_of(work)
    interval = work["now"] - previous["now"] if previous else 0
    if interval < 1:
        return [], [], sample, ""
    before_groups, before_processes = previous["cgroups"], previous["processes"]
    cpu_usec = disk_bytes = 0
    for path, group in work["cgroups"].items():
        before = before_groups.get(path) or {}
        cpu_usec += _grown(group["cpu_usec"], before.get("cpu_usec"))
        if group["io_bytes"] is not None:
            disk_bytes += _grown(group["io_bytes"], before.get("io_bytes"))
        else:
            disk_bytes += sum(_grown(p["counters"][1], (before_processes.get(pid) or [None, None])[1])
                              for pid, p in work["processes"].items()
                              if p["group"] == path and p["counters"][1] is not None)
    cpu = 100 * cpu_usec / (interval * 1e6)
    disk = disk_bytes / interval
    reasons = []
    if cpu >= settings["cpu_percent"]:
        reasons.append(f"work: {cpu:.0f} % CPU{_named(_top(work['processes'], before_processes, 0))}")
    if disk >= settings["disk_bytes_per_second"]:
        reasons.append(f"work: disk {disk / 1e6:.1f} MB/s{_named(_top(work['processes'], before_processes, 1))}")
    return reasons, [], sample, f"CPU {cpu:.0f} %, disk {disk / 1e6:.1f} MB/s"


def gpu_use(settings: dict, gpu: dict | None) -> tuple[list[str], list[str], str]:
    """(reasons, failures, figures) from nvidia-smi: utilization per GPU, compute processes."""
    if gpu is None:  # no NVIDIA driver on this host
        return [], [], ""
    if "error" in gpu:
        return [], [f"gpu: {gpu['error']}"], ""
    busiest = max(gpu["utilization"], default=0)
    said = []
    if busiest >= settings["gpu_percent"]:
        said.append(f"GPU {busiest} %")
    if gpu["processes"]:
        first = gpu["processes"][0]
        said.append(f"{len(gpu['processes'])} GPU compute process(es), {first['name']} (pid {first['pid']})")
    return ([f"work: {', '.join(said)}"] if said else []), [], f"GPU {busiest} %"


def assess(settings: dict, seen: dict, state: dict) -> dict:
    """The verdict of one check.

    settings: window, grace, warn (seconds), count_tunnels, cpu_percent, disk_bytes_per_second,
    gpu_percent.
    seen: now, uptime, boot_id, jupyter, processes, keepalive_until, work, gpu (what the looks
    returned; work and gpu may be missing: not looked at).
    state: what the previous check left (boot_id, last_use, warned, work); {} at first.
    Returns action ('none', 'warn' or 'poweroff'), line (for the journal), idle (seconds), state
    (for the next check) and figures (the work measured, '' when none was).
    """
    now, window = seen["now"], settings["window"]
    if state.get("boot_id") != seen["boot_id"]:  # first check since boot: idle counts from boot
        state = {"boot_id": seen["boot_id"], "last_use": now - seen["uptime"], "warned": False}

    reasons, failures = [], []
    if seen["uptime"] < settings["grace"]:
        reasons.append(f"boot grace ({_span(seen['uptime'], settings['grace'])})")
    jupyter_reasons, jupyter_failures, jupyter_last = jupyter_use(seen.get("jupyter"), now, window)
    session_reasons, session_failures = session_use(seen["processes"], settings["count_tunnels"])
    work_reasons, work_failures, sample, work_figures = work_use(settings, seen.get("work"), state.get("work"))
    gpu_reasons, gpu_failures, gpu_figures = gpu_use(settings, seen.get("gpu"))
    reasons += jupyter_reasons + session_reasons + work_reasons + gpu_reasons
    failures += jupyter_failures + session_failures + work_failures + gpu_failures
    keepalive = seen.get("keepalive_until")
    if isinstance(keepalive, dict):
        failures.append(f"keep-alive file: {keepalive['error']}")
    elif keepalive and keepalive > now:
        until = datetime.fromtimestamp(keepalive, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        reasons.append(f"keep-alive until {until}")
    state = {key: value for key, value in state.items() if key != "work"} | ({"work": sample} if sample else {})

    figures = ", ".join(f for f in (work_figures, gpu_figures) if f)
    if reasons or failures:
        line = "active: " + ", ".join(reasons + [f"uncertain, {f}" for f in failures])
        state = dict(state, last_use=now, warned=False)
        return {"action": "none", "line": line, "idle": 0, "state": state, "figures": figures}

    last_use = max(state["last_use"], jupyter_last or 0)
    idle = max(0.0, now - last_use)
    state = dict(state, last_use=last_use)
    said = f"idle {_span(idle, window)}" + (f" (work below the thresholds: {figures})" if figures else "")
    if idle >= window:
        return {"action": "poweroff", "line": f"{said}: powering off", "idle": idle, "state": state, "figures": figures}
    if idle >= window - settings["warn"] and not state.get("warned"):
        return {"action": "warn", "line": f"{said}: warning logged-in users",
                "idle": idle, "state": dict(state, warned=True), "figures": figures}
    return {"action": "none", "line": said, "idle": idle, "state": state, "figures": figures}


def place(pid: str, processes: dict, labels: dict) -> str:
    """Where a process runs, in a user's words: 'in tmux' when a tmux server is among its
    ancestors, else the label of the counted cgroup holding it ('in Jupyter', 'in a login
    session', 'in train.service'). processes: {pid: {comm, ppid, group}}; labels: {group: text}."""
    seen, current = set(), processes.get(pid)
    while current and current["ppid"] not in seen:
        if current["comm"] == TMUX_SERVER:
            return "in tmux"
        seen.add(current["ppid"])
        current = processes.get(current["ppid"])
    return labels.get(processes[pid]["group"], "")


def parse_duration(text: str) -> int:
    """Seconds in '90m', '4h' or '2d'."""
    match = DURATION.match(text.strip())
    if not match:
        raise ValueError(f"'{text}' is not a duration like 90m, 4h or 2d")
    return int(match.group(1)) * {"m": 60, "h": 3600, "d": 86400}[match.group(2)]


# --- the looks: what the host shows right now --------------------------------------------------

def parse_units(units: list[str], shown: str) -> dict:
    """{unit: (ActiveState, ControlGroup)} from `systemctl show --property=Id,ActiveState,ControlGroup`
    of `units`: one block per unit in the order asked ('jupyterlab' is shown as jupyterlab.service)."""
    answer = {}
    for unit, block in zip(units, shown.strip().split("\n\n"), strict=False):
        fields = dict(line.partition("=")[::2] for line in block.splitlines())
        answer[unit] = (fields.get("ActiveState", ""), fields.get("ControlGroup", ""))
    return answer


def cgroup2_mount(mountinfo: str) -> str | None:
    """Where /proc/self/mountinfo says the cgroup v2 hierarchy is: /sys/fs/cgroup, or
    /sys/fs/cgroup/unified in systemd's hybrid layout; None without one."""
    mounts = {}
    for line in mountinfo.splitlines():
        fields = line.split()
        mounts[fields[4]] = fields[fields.index("-") + 1]
    for path in ("/sys/fs/cgroup", "/sys/fs/cgroup/unified"):
        if mounts.get(path) == "cgroup2":
            return path
    return next((path for path, kind in mounts.items() if kind == "cgroup2"), None)


def look_at_units(units: list[str]) -> dict:
    if not units:
        return {}
    return parse_units(units, subprocess.run(["systemctl", "show", "--property=Id,ActiveState,ControlGroup", "--", *units],
                                             capture_output=True, text=True, check=True).stdout)


def look_at_jupyter(config: dict, units: dict) -> dict | None:
    if not config.get("jupyter_url"):
        return None
    unit = config.get("jupyter_service")
    if unit and units.get(unit, ("inactive",))[0] not in ("active", "reloading"):
        return {"stopped": unit}
    try:
        token = Path(config["jupyter_token_file"]).read_text(encoding="ascii").strip()

        def get(path: str):
            # /api/status never counts as use; the others do unless told not to.
            request = urllib.request.Request(config["jupyter_url"].rstrip("/") + path,
                                             headers={"Authorization": f"token {token}"})
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            with opener.open(request, timeout=10) as answer:
                return json.load(answer)

        return {"status": get("/api/status"), "kernels": get("/api/kernels?no_track_activity=1"),
                "terminals": get("/api/terminals?no_track_activity=1")}
    except (OSError, ValueError, KeyError) as error:
        return {"error": str(error) or type(error).__name__}


def look_at_processes() -> list[dict] | dict:
    """Each process's name (comm) and command line (args), as ps -o comm,args shows them."""
    try:
        processes = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                comm = Path(f"/proc/{pid}/comm").read_text(errors="replace").strip()
                args = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:  # gone since listdir
                continue
            processes.append({"comm": comm, "args": args.replace(b"\0", b" ").decode(errors="replace").strip()})
        return processes
    except OSError as error:
        return {"error": str(error)}


def _read_process(pid: str) -> dict | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        try:
            io = dict(line.split(": ") for line in Path(f"/proc/{pid}/io").read_text().splitlines())
            io_bytes = int(io["read_bytes"]) + int(io["write_bytes"])
        except (OSError, KeyError, ValueError):
            io_bytes = None
    except OSError:  # gone since cgroup.procs was read
        return None
    comm = stat[stat.index("(") + 1:stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2:].split()
    words = [a.decode(errors="replace") for a in args if a]
    name = " ".join([os.path.basename(words[0]), *words[1:]]) if words else comm
    return {"comm": comm, "ppid": fields[1], "name": name[:60],
            "counters": [int(fields[11]) + int(fields[12]), io_bytes]}


def look_at_work(config: dict, units: dict) -> dict:
    """CPU time and bytes of the counted cgroups, and their processes (to name the busiest)."""
    try:
        root = cgroup2_mount(Path("/proc/self/mountinfo").read_text())
        if root is None:
            return {"error": "no cgroup v2 hierarchy is mounted, so the work of jobs cannot be measured"}
        groups = {USER_SLICE: "in a login session"}
        for unit in [config.get("jupyter_service") or "", *config.get("work_units", [])]:
            path = units.get(unit, ("", ""))[1]
            if unit and path and not any(path.startswith(g + "/") for g in groups):
                groups[path] = "in Jupyter" if unit == config.get("jupyter_service") else f"in {unit}"
        cgroups, processes, members = {}, {}, {}
        for path, _label in groups.items():
            directory = Path(root + path)
            try:
                cpu = parse_cpu_stat((directory / "cpu.stat").read_text())
            except FileNotFoundError:  # not there (yet, or any more): nothing runs in it
                continue
            try:
                io_bytes = parse_io_stat((directory / "io.stat").read_text())
            except FileNotFoundError:  # the io controller is not on for it
                io_bytes = None
            cgroups[path] = {"cpu_usec": cpu, "io_bytes": io_bytes}
            for below, _dirs, _files in os.walk(directory):
                try:
                    pids = Path(below, "cgroup.procs").read_text().split()
                except FileNotFoundError:
                    continue
                members.update(dict.fromkeys(pids, path))
        for pid, group in members.items():
            process = _read_process(pid)
            if process:
                processes[pid] = dict(process, group=group)
        for pid in processes:
            processes[pid]["where"] = place(pid, processes, groups)
        for process in processes.values():
            del process["comm"], process["ppid"]
        return {"now": time.time(), "cgroups": cgroups, "processes": processes}
    except (OSError, ValueError) as error:
        return {"error": str(error)}


def look_at_gpu() -> dict | None:
    """GPU utilization and compute processes from nvidia-smi, where the NVIDIA driver is."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None

    def query(*argv: str) -> list[list[str]]:
        answer = subprocess.run([smi, *argv, "--format=csv,noheader,nounits"], capture_output=True,
                                text=True, timeout=30, check=False)
        if answer.returncode:
            raise OSError((answer.stdout + answer.stderr).strip() or f"nvidia-smi exited {answer.returncode}")
        return [[field.strip() for field in line.split(",")] for line in answer.stdout.splitlines() if line.strip()]

    try:
        # '[N/A]' where a GPU cannot say (a MIG slice): its processes still count.
        utilization = [int(row[0]) for row in query("--query-gpu=utilization.gpu") if row[0].isdigit()]
        processes = [{"pid": row[0], "name": os.path.basename(row[1])}
                     for row in query("--query-compute-apps=pid,process_name")]
        return {"utilization": utilization, "processes": processes}
    except (OSError, subprocess.SubprocessError, IndexError) as error:
        return {"error": str(error) or type(error).__name__}


def look_at_keepalive(state_dir: Path) -> float | dict | None:
    try:
        text = (state_dir / KEEPALIVE_FILE).read_text(encoding="ascii").strip()
        return float(text) if text else None
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        return {"error": str(error)}


def look_at_boot() -> dict:
    """Seconds since this system booted, and a name for this boot.

    Counted from the start of PID 1, not the kernel's: in a container (the test bed) the kernel's
    uptime and boot_id are the host's, and a container started again is a new boot too.
    """
    kernel_uptime = float(Path("/proc/uptime").read_text().split()[0])
    # Field 22 of /proc/1/stat, after the parenthesised name: start time in clock ticks.
    init_started = int(Path("/proc/1/stat").read_text().rsplit(")", 1)[1].split()[19]) / os.sysconf("SC_CLK_TCK")
    kernel_boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    return {"uptime": kernel_uptime - init_started, "boot_id": f"{kernel_boot}/{init_started:.0f}"}


def counted_units(config: dict) -> list[str]:
    return [u for u in [config.get("jupyter_service") or "", *config.get("work_units", [])] if u]


def look(config: dict) -> dict:
    try:
        units = look_at_units(counted_units(config))
    except (OSError, subprocess.CalledProcessError) as error:
        failed = {"error": f"systemctl show: {error}"}
        return {"now": time.time(), **look_at_boot(), "jupyter": failed if config.get("jupyter_url") else None,
                "processes": look_at_processes(), "work": failed, "gpu": look_at_gpu(),
                "keepalive_until": look_at_keepalive(Path(config["state_dir"]))}
    return {
        "now": time.time(),
        **look_at_boot(),
        "jupyter": look_at_jupyter(config, units),
        "processes": look_at_processes(),
        "work": look_at_work(config, units),
        "gpu": look_at_gpu(),
        "keepalive_until": look_at_keepalive(Path(config["state_dir"])),
    }


# --- the commands --------------------------------------------------------------------------------

def settings_of(config: dict) -> dict:
    return {"window": config["window_seconds"], "grace": config["grace_seconds"],
            "warn": config["warn_seconds"], "count_tunnels": config["count_tunnels"],
            "cpu_percent": config["cpu_percent"], "disk_bytes_per_second": config["disk_bytes_per_second"],
            "gpu_percent": config["gpu_percent"]}


def read_state(state_dir: Path) -> dict:
    try:
        return json.loads((state_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return {}


def before_poweroff(config: dict) -> str:
    """Run the configured command (its own unit: the login user, a timeout, output in the journal)
    and say how it ended. Power-off goes ahead whatever it returned: a hook that hangs is stopped
    by systemd at its timeout and must never keep a host up."""
    unit, timeout = config["before_poweroff_unit"], config["before_poweroff_timeout"]
    print(f"running the command before power-off ({unit}, at most {timeout} s)", flush=True)
    subprocess.run(["systemctl", "start", unit], check=False, capture_output=True)
    result = subprocess.run(["systemctl", "show", "--property=Result", "--value", unit],
                            capture_output=True, text=True, check=False).stdout.strip() or "unknown"
    said = {"success": "finished", "timeout": f"cut off after {timeout} s (it hung)"}.get(result, f"failed ({result})")
    said = f"the command before power-off {said}; journalctl -u {unit} has its output"
    print(said, flush=True)
    return said


def _write_state(state_dir: Path, state: dict) -> None:
    (state_dir / (STATE_FILE + ".new")).write_text(json.dumps(state))
    (state_dir / (STATE_FILE + ".new")).replace(state_dir / STATE_FILE)


def check(config: dict) -> int:
    state_dir = Path(config["state_dir"])
    previous = read_state(state_dir)
    verdict = assess(settings_of(config), look(config), previous)
    new_state = dict(verdict["state"], line=verdict["line"], checked=time.time())
    if "before_poweroff" in previous:  # kept until the next power-off, for status after a start
        new_state["before_poweroff"] = previous["before_poweroff"]
    _write_state(state_dir, new_state)
    print(verdict["line"], flush=True)
    if verdict["action"] == "warn":
        left = max(0, config["window_seconds"] - verdict["idle"])
        subprocess.run(["wall", f"ec2lab: nobody has used this workstation for {_length(verdict['idle'])}; "
                                f"auto-stop powers it off after {_length(config['window_seconds'])} without use, "
                                f"in about {int(left // 60) or 1} min. Use is a login, a tunnel, an attached tmux, "
                                f"a busy kernel, or jobs using {config['cpu_percent']:g} % CPU or more "
                                "(a detached tmux job too). Keep it up with: ec2lab-keepalive 2h"],
                       check=False)
    elif verdict["action"] == "poweroff":
        if config.get("before_poweroff_unit"):
            _write_state(state_dir, dict(new_state, before_poweroff=before_poweroff(config)))
        subprocess.run(["systemctl", "poweroff"], check=True)
    return 0


def status(config: dict) -> int:
    print(f"Auto-stop: powers off after {_length(config['window_seconds'])} without use.")
    print(f"Work counts at {config['cpu_percent']:g} % CPU of one core, "
          f"{config['disk_bytes_per_second'] / 1e6:g} MB/s of disk or {config['gpu_percent']:g} % GPU "
          f"(user sessions, tmux, nohup jobs, Jupyter{''.join(', ' + u for u in config.get('work_units', []))}).")
    last = read_state(Path(config["state_dir"]))
    # "Now" is the last second, not the time since the last check: a job started a moment ago shows.
    try:
        before = look_at_work(config, look_at_units(counted_units(config)))
    except (OSError, subprocess.CalledProcessError):
        before = {"error": "not looked at"}
    time.sleep(1)
    seen = look(config)
    if last.get("boot_id") != seen["boot_id"]:  # no check yet since boot: as assess starts one
        last = {"boot_id": seen["boot_id"], "last_use": seen["now"] - seen["uptime"], "warned": False}
    verdict = assess(settings_of(config), seen, dict(last, work=sample_of(before)) if "error" not in before else last)
    print(f"Now: {verdict['line']}.")
    if verdict["figures"]:
        print(f"Work in the last second: {verdict['figures']}.")
    last = read_state(Path(config["state_dir"]))
    if "line" in last:
        when = datetime.fromtimestamp(last["checked"], timezone.utc).strftime("%H:%M:%S UTC")
        print(f"Last check ({when}): {last['line']}.")
    if "before_poweroff" in last:
        print(f"Before the last power-off: {last['before_poweroff']}.")
    return 0


def keepalive(config: dict, argument: str | None) -> int:
    path = Path(config["state_dir"]) / KEEPALIVE_FILE
    if argument is None:
        return status(config)
    if argument == "off":
        path.write_text("")
        print("Keep-alive off: the host powers off after the usual time without use.")
        return 0
    until = time.time() + parse_duration(argument)
    path.write_text(f"{until:.0f}\n")
    print("Counted as in use until "
          f"{datetime.fromtimestamp(until, timezone.utc).strftime('%Y-%m-%d %H:%M UTC')} (ec2lab-keepalive off ends it).")
    return 0


def main(argv: list[str]) -> int:
    command, *rest = argv or ["status"]
    if command == "status" and rest == ["--config", "-"]:  # the role tries settings before writing them
        return status(json.load(sys.stdin))
    config = json.loads(CONFIG.read_text())
    try:
        if command == "check":
            return check(config)
        if command == "status":
            return status(config)
        if command == "keepalive":
            return keepalive(config, rest[0] if rest else None)
    except (ValueError, PermissionError) as error:
        print(f"ec2lab-idle-stop: {error}", file=sys.stderr)
        return 2
    print(__doc__.split("\n\n")[1], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
