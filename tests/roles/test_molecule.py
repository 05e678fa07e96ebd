"""Every role's molecule scenario, one pytest item each, so that `pytest -n` runs scenarios side by
side with each other and with the AWS and end-to-end suites.

A scenario owns everything it makes (its container names, published ports on 127.0.0.1, loop
devices and molecule's ephemeral directory), so two can run at once. molecule's own output goes to
tests/output/molecule/<scenario>.log, its step lines (INFO ...) prefixed with the seconds since the
start, so the log shows where a scenario spends its time; a failing scenario shows the end of it.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time

import pytest
from testlib import ROOT

# Needs the internet and real installers; run by hand (see extensions/molecule/online/molecule.yml).
NOT_OFFLINE = {"online"}
SCENARIOS = sorted(path.parent.name for path in (ROOT / "extensions" / "molecule").glob("*/molecule.yml")
                   if path.parent.name not in NOT_OFFLINE)
# Seconds each took on a 2-core CI machine, one at a time; only to start the longest first.
# A new scenario counts as long until it is measured.
ROUGH_SECONDS = {"jupyter": 230, "idle_stop": 480, "setup-notebook": 220, "nvidia_gpu": 60, "awscli": 130, "data_volume": 130,
                 "conda": 100, "apt_lock": 100, "tmux": 50, "default": 20}
LOGS = ROOT / "tests" / "output" / "molecule"


@pytest.mark.parametrize("scenario", [
    pytest.param(name, marks=pytest.mark.slow(seconds=ROUGH_SECONDS.get(name, 300))) for name in SCENARIOS
])
def test_molecule_scenario(scenario):
    if not os.environ.get("CONTAINERS_CONF"):
        pytest.fail("run `source tests/testbed/env.sh` first (tests/bin/run-tests does)")
    LOGS.mkdir(parents=True, exist_ok=True)
    log = LOGS / f"{scenario}.log"
    started = time.monotonic()
    plain = dict(os.environ, NO_COLOR="1")  # a log to read, not a terminal
    with log.open("w") as out, subprocess.Popen(["molecule", "test", "-s", scenario], cwd=ROOT, env=plain,
                                                text=True, errors="replace",
                                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as proc:
        hung = threading.Timer(1800, proc.kill)
        hung.start()
        for line in proc.stdout:
            out.write(f"[{time.monotonic() - started:6.0f}s] {line}" if line.startswith("INFO") else line)
        proc.wait()
        hung.cancel()
    if proc.returncode:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-200:])
        pytest.fail(f"molecule test -s {scenario} failed (rc {proc.returncode}); "
                    f"whole log: {log.relative_to(ROOT)}\n{tail}", pytrace=False)
