#!/usr/bin/env python3
"""What auto-stop's check costs per tick: it runs every minute for the life of a workstation.

Runs the check's looks and decision (roles/idle_stop/files/ec2lab_idle_stop.py: /proc, the
keep-alive file, three Jupyter API calls answered by the FIXTURE Jupyter API of the idle_stop
scenario, the cgroup v2 look) in a fresh python3, as the timer does, and compares its CPU and
wall time with a bare `python3 -c pass` measured in the same run. Nothing is powered off: the
verdict is printed. Target: at most 60 ms of CPU per tick.

This machine runs no systemd, so here the work look finds no user.slice and the GPU look no
nvidia-smi. `--in-container NAME` measures the same inside a converged test bed host instead
(`molecule converge -s idle_stop`): its installed settings, systemctl show, the cgroups of
user.slice and the Jupyter unit with their processes, and the FIXTURE nvidia-smi, all real.

Usage: bench/idle_check.py [--repeat R] [--in-container NAME]
"""

import argparse
import inspect
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from testlib import free_port  # noqa: E402

CHECK = ROOT / "roles/idle_stop/files/ec2lab_idle_stop.py"
FIXTURE_API = ROOT / "extensions/molecule/idle_stop/files/fixture_jupyter_api.py"
# One tick without the service manager: the check's own look, decision and state write.
ONE_TICK = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("check", sys.argv[1])
check = importlib.util.module_from_spec(spec); spec.loader.exec_module(check)
config = json.loads(open(sys.argv[2]).read())
verdict = check.assess(check.settings_of(config), check.look(config), check.read_state(__import__("pathlib").Path(config["state_dir"])))
print(verdict["line"])
"""


def cost(argv, repeat):
    """Median wall seconds and CPU seconds (user + system, the child's) of running argv."""
    walls, cpus = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--in-container", metavar="NAME")
    args = parser.parse_args()
    if args.in_container:
        return in_container(args.in_container, args.repeat)
    python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable

    with tempfile.TemporaryDirectory(prefix="ec2lab-bench-idle-") as work:
        work = Path(work)
        (work / "token").write_text("bench-token\n")
        port = free_port()
        api = subprocess.Popen([python, str(FIXTURE_API), str(port), str(work / "token"), str(work / "api")])
        try:
            for _ in range(100):
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=1)
                except urllib.error.HTTPError:  # 403 without the token: it is up
                    break
                except OSError:
                    time.sleep(0.1)
            config = {"window_seconds": 3600, "grace_seconds": 0, "warn_seconds": 300, "count_tunnels": True,
                      "jupyter_url": f"http://127.0.0.1:{port}", "jupyter_token_file": str(work / "token"),
                      "jupyter_service": "", "state_dir": str(work), "cpu_percent": 10,
                      "disk_bytes_per_second": 512 * 1024, "gpu_percent": 10, "work_units": []}
            (work / "config.json").write_text(json.dumps(config))
            verdict = subprocess.run([python, "-c", ONE_TICK, str(CHECK), str(work / "config.json")],
                                     capture_output=True, text=True, check=True).stdout.strip()
            base_wall, base_cpu = cost([python, "-c", "pass"], args.repeat)
            wall, cpu = cost([python, "-c", ONE_TICK, str(CHECK), str(work / "config.json")], args.repeat)
        finally:
            api.terminate()
            api.wait(timeout=10)
    print(f"idle check, one tick ({verdict!r}): python3 -c pass {base_wall * 1000:5.0f} ms wall, "
          f"{base_cpu * 1000:4.0f} ms CPU | check {wall * 1000:5.0f} ms wall = {wall / base_wall:4.1f}x, "
          f"{cpu * 1000:4.0f} ms CPU = {cpu / max(base_cpu, 1e-3):4.1f}x "
          f"(per day at one tick a minute: {cpu * 1440:4.0f} s CPU)")


# Runs inside the container: the same two measurements, with the installed check and settings
# (its state is read, not written).
IN_CONTAINER = """
import json, resource, statistics, subprocess, sys, time
{cost}
tick = [sys.executable, "-c", sys.argv[1], "/usr/local/lib/ec2lab/ec2lab_idle_stop.py", "/etc/ec2lab/idle-stop.json"]
verdict = subprocess.run(tick, capture_output=True, text=True, check=True).stdout.strip()
print(json.dumps([verdict, *cost([sys.executable, "-c", "pass"], int(sys.argv[2])), *cost(tick, int(sys.argv[2]))]))
"""


def in_container(name, repeat):
    program = IN_CONTAINER.format(cost=inspect.getsource(cost))
    answer = subprocess.run(["podman", "exec", name, "/usr/bin/python3", "-c", program, ONE_TICK, str(repeat)],
                            capture_output=True, text=True, check=True).stdout
    verdict, base_wall, base_cpu, wall, cpu = json.loads(answer)
    print(f"idle check, one tick in {name} ({verdict!r}): python3 -c pass {base_wall * 1000:5.0f} ms wall, "
          f"{base_cpu * 1000:4.0f} ms CPU | check {wall * 1000:5.0f} ms wall = {wall / base_wall:4.1f}x, "
          f"{cpu * 1000:4.0f} ms CPU = {cpu / max(base_cpu, 1e-3):4.1f}x "
          f"(per day at one tick a minute: {cpu * 1440:4.0f} s CPU)")


if __name__ == "__main__":
    main()
