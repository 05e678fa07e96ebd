#!/usr/bin/env python3
"""What auto-stop's check costs per tick: it runs every minute for the life of a workstation.

Runs the check's looks and decision (roles/idle_stop/files/ec2lab_idle_stop.py: /proc, the
keep-alive file, three Jupyter API calls answered by the FIXTURE Jupyter API of the idle_stop
scenario) in a fresh python3, as the timer does, and compares its CPU and wall time with a
bare `python3 -c pass` measured in the same run. Nothing is powered off: the verdict is printed.

Usage: bench/idle_check.py [--repeat R]
"""

import argparse
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
    args = parser.parse_args()
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
                      "jupyter_service": "", "state_dir": str(work)}
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


if __name__ == "__main__":
    main()
