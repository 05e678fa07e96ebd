"""Print "true" when a running service started before one of the given files last changed.

Run with the server's Python: server_is_stale.py UNIT PATH [PATH ...]
Handlers are lost when a run is cut off (an SSH session that dropped) between writing a file and
restarting the server; the next run finds the files unchanged and would leave the server running
with what it read at its start. Missing paths are ignored; a stopped service is not stale.
"""

import os
import subprocess
import sys
import time

unit, paths = sys.argv[1], sys.argv[2:]
shown = subprocess.run(
    ["systemctl", "show", "--property=ExecMainStartTimestampMonotonic,MainPID", unit],
    capture_output=True, text=True, check=True).stdout
properties = dict(line.split("=", 1) for line in shown.splitlines() if "=" in line)
if properties.get("MainPID", "0") == "0":
    print("false")
    sys.exit(0)
# systemd's monotonic clock is CLOCK_MONOTONIC, the one time.monotonic() reads.
started = time.time() - (time.monotonic() - int(properties["ExecMainStartTimestampMonotonic"]) / 1e6)
changed = max((os.stat(path).st_mtime for path in paths if os.path.exists(path)), default=0)
print("true" if changed > started else "false")
