#!/usr/bin/python3
"""ec2lab idle stop: power this workstation off after a stretch of time nobody used it.

    ec2lab-idle-stop check            what the timer runs every minute: look, decide, act
    ec2lab-idle-stop status           what counts as use right now, and the last check's verdict
    ec2lab-keepalive 4h               count the host as used for 4 hours (also 90m, 2d; off)
    ec2lab-idle-stop status --config -   status with the settings on stdin, not the installed ones

The host counts as used while a Jupyter kernel is busy or starting (or Jupyter saw use within the
window), an SSH login has a terminal, an SSH connection without one is open (a tunnel, VS Code;
unless tunnels are not counted), a tmux client is attached, the keep-alive time has not passed,
or it booted less than the grace period ago. A look that fails counts as use: uncertainty never
powers a machine off. Each check writes one line to the journal (journalctl -u ec2lab-idle-stop).

Standard library only. `assess` is a pure function of what the looks returned, so it is tested
on recorded outputs; the rest gathers those outputs and carries out the verdict.
"""

from __future__ import annotations

import json
import os
import re
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


def assess(settings: dict, seen: dict, state: dict) -> dict:
    """The verdict of one check.

    settings: window, grace, warn (seconds), count_tunnels.
    seen: now, uptime, boot_id, jupyter, processes, keepalive_until (what the looks returned).
    state: what the previous check left (boot_id, last_use, warned); {} at first.
    Returns action ('none', 'warn' or 'poweroff'), line (for the journal), idle (seconds) and
    state (for the next check).
    """
    now, window = seen["now"], settings["window"]
    if state.get("boot_id") != seen["boot_id"]:  # first check since boot: idle counts from boot
        state = {"boot_id": seen["boot_id"], "last_use": now - seen["uptime"], "warned": False}

    reasons, failures = [], []
    if seen["uptime"] < settings["grace"]:
        reasons.append(f"boot grace ({_span(seen['uptime'], settings['grace'])})")
    jupyter_reasons, jupyter_failures, jupyter_last = jupyter_use(seen.get("jupyter"), now, window)
    session_reasons, session_failures = session_use(seen["processes"], settings["count_tunnels"])
    reasons += jupyter_reasons + session_reasons
    failures += jupyter_failures + session_failures
    keepalive = seen.get("keepalive_until")
    if isinstance(keepalive, dict):
        failures.append(f"keep-alive file: {keepalive['error']}")
    elif keepalive and keepalive > now:
        until = datetime.fromtimestamp(keepalive, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        reasons.append(f"keep-alive until {until}")

    if reasons or failures:
        line = "active: " + ", ".join(reasons + [f"uncertain, {f}" for f in failures])
        state = dict(state, last_use=now, warned=False)
        return {"action": "none", "line": line, "idle": 0, "state": state}

    last_use = max(state["last_use"], jupyter_last or 0)
    idle = max(0.0, now - last_use)
    state = dict(state, last_use=last_use)
    if idle >= window:
        return {"action": "poweroff", "line": f"idle {_span(idle, window)}: powering off",
                "idle": idle, "state": state}
    if idle >= window - settings["warn"] and not state.get("warned"):
        return {"action": "warn", "line": f"idle {_span(idle, window)}: warning logged-in users",
                "idle": idle, "state": dict(state, warned=True)}
    return {"action": "none", "line": f"idle {_span(idle, window)}", "idle": idle, "state": state}


def parse_duration(text: str) -> int:
    """Seconds in '90m', '4h' or '2d'."""
    match = DURATION.match(text.strip())
    if not match:
        raise ValueError(f"'{text}' is not a duration like 90m, 4h or 2d")
    return int(match.group(1)) * {"m": 60, "h": 3600, "d": 86400}[match.group(2)]


# --- the looks: what the host shows right now --------------------------------------------------

def look_at_jupyter(config: dict) -> dict | None:
    if not config.get("jupyter_url"):
        return None
    unit = config.get("jupyter_service")
    if unit:
        active = subprocess.run(["systemctl", "is-active", "--quiet", unit], check=False)
        if active.returncode:
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


def look(config: dict) -> dict:
    return {
        "now": time.time(),
        **look_at_boot(),
        "jupyter": look_at_jupyter(config),
        "processes": look_at_processes(),
        "keepalive_until": look_at_keepalive(Path(config["state_dir"])),
    }


# --- the commands --------------------------------------------------------------------------------

def settings_of(config: dict) -> dict:
    return {"window": config["window_seconds"], "grace": config["grace_seconds"],
            "warn": config["warn_seconds"], "count_tunnels": config["count_tunnels"]}


def read_state(state_dir: Path) -> dict:
    try:
        return json.loads((state_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return {}


def check(config: dict) -> int:
    state_dir = Path(config["state_dir"])
    verdict = assess(settings_of(config), look(config), read_state(state_dir))
    new_state = dict(verdict["state"], line=verdict["line"], checked=time.time())
    (state_dir / (STATE_FILE + ".new")).write_text(json.dumps(new_state))
    (state_dir / (STATE_FILE + ".new")).replace(state_dir / STATE_FILE)
    print(verdict["line"], flush=True)
    if verdict["action"] == "warn":
        left = max(0, config["window_seconds"] - verdict["idle"])
        subprocess.run(["wall", f"ec2lab: nobody has used this workstation for a while; it powers off "
                                f"in about {int(left // 60) or 1} min. Keep it up with: ec2lab-keepalive 2h"],
                       check=False)
    elif verdict["action"] == "poweroff":
        subprocess.run(["systemctl", "poweroff"], check=True)
    return 0


def status(config: dict) -> int:
    print(f"Auto-stop: powers off after {_length(config['window_seconds'])} without use.")
    verdict = assess(settings_of(config), look(config), read_state(Path(config["state_dir"])))
    print(f"Now: {verdict['line']}.")
    last = read_state(Path(config["state_dir"]))
    if "line" in last:
        when = datetime.fromtimestamp(last["checked"], timezone.utc).strftime("%H:%M:%S UTC")
        print(f"Last check ({when}): {last['line']}.")
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
