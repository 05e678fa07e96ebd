#!/usr/bin/python
# Copyright: ec2lab contributors
# SPDX-License-Identifier: Apache-2.0
"""Wait, for a bounded time, until no other process holds the apt and dpkg locks; say who did."""

from __future__ import annotations

DOCUMENTATION = r"""
module: apt_lock_wait
short_description: Wait until no other process holds the apt and dpkg locks, and say who held them
version_added: "0.1.0"
description:
  - Asks the kernel whether another process holds one of the lock files apt and dpkg take before
    they change anything (a C(fcntl) record lock, the kind apt and dpkg use; C(flock) locks do not
    stop apt and are ignored), and which process that is.
  - When one is held, polls twice a second until none is, then returns a message naming each
    holder (program, pid, systemd unit) and how long it waited. On the first boot of an Ubuntu
    cloud image, C(unattended-upgrade) and C(apt.systemd.daily) hold them for minutes.
  - Fails with one message naming the holder and what to do when the locks are still held after
    O(timeout) seconds.
  - Takes no lock itself, so another process may take one between this module and the next apt
    task; give that task a C(lock_timeout) too.
  - In check mode it looks once and does not wait; the message says whom a real run would wait for.
options:
  timeout:
    description: Seconds to wait at most; V(0) looks once and fails at once if a lock is held.
    type: int
    default: 600
  paths:
    description: The lock files. A file that does not exist is not held.
    type: list
    elements: path
    default:
      - /var/lib/dpkg/lock-frontend
      - /var/lib/dpkg/lock
      - /var/lib/apt/lists/lock
      - /var/cache/apt/archives/lock
  hint:
    description: Appended to the message when the wait times out (for example, the variable that sets O(timeout)).
    type: str
    default: ""
notes:
  - Needs root (C(become)) to open the lock files, which are mode 0640.
  - Linux only.
author:
  - ec2lab contributors (@ec2lab)
"""

EXAMPLES = r"""
- name: Wait up to ten minutes for the first boot's automatic upgrade to finish
  ec2lab.notebook.apt_lock_wait:
    timeout: 600
  become: true
  register: apt_lock

- name: Say how long that took, and for whom
  ansible.builtin.debug:
    msg: "{{ apt_lock.msg }}"
  when: apt_lock.held
"""

RETURN = r"""
held:
  description: Whether another process held a lock when the module first looked.
  returned: success
  type: bool
  sample: true
waited:
  description: Whole seconds waited (rounded up); V(0) when nothing was held, and in check mode.
  returned: success
  type: int
  sample: 42
holders:
  description: Each process seen holding a lock, in the order first seen.
  returned: always
  type: list
  elements: dict
  contains:
    pid:
      description: Its process id; V(0) when the kernel does not say (a process in another PID namespace, or
        an open file description lock).
      type: int
    name:
      description: The program; for a script, the script's name rather than its interpreter's.
      type: str
    unit:
      description: The systemd service it runs in, or empty.
      type: str
    lock:
      description: The first lock file it was seen holding.
      type: str
  sample: [{"pid": 1234, "name": "unattended-upgrade", "unit": "apt-daily-upgrade.service",
            "lock": "/var/lib/dpkg/lock-frontend"}]
msg:
  description: What happened, for a person; empty when nothing was held.
  returned: always
  type: str
  sample: Waited 42 s for unattended-upgrade (pid 1234, apt-daily-upgrade.service) to release the dpkg lock
    (/var/lib/dpkg/lock-frontend).
"""

import fcntl
import math
import os
import re
import struct
import time

from ansible.module_utils.basic import AnsibleModule

DEFAULT_PATHS = [
    "/var/lib/dpkg/lock-frontend",
    "/var/lib/dpkg/lock",
    "/var/lib/apt/lists/lock",
    "/var/cache/apt/archives/lock",
]
# What to call each lock in a message; any other path is "the lock <path>".
LOCK_NAMES = {
    "/var/lib/dpkg/lock-frontend": "the dpkg lock",
    "/var/lib/dpkg/lock": "the dpkg lock",
    "/var/lib/apt/lists/lock": "the apt lists lock",
    "/var/cache/apt/archives/lock": "the apt archives lock",
}
# struct flock of 64-bit Linux: short l_type, short l_whence, off_t l_start, off_t l_len, pid_t l_pid.
FLOCK = "hhqqi"
# argv[0] of a script run through its interpreter; the script's own name is argv[1].
INTERPRETER = re.compile(r"^(python[0-9.]*|perl[0-9.]*|sh|bash|dash)$")
POLL_SECONDS = 0.5


def lock_holder(path: str) -> int | None:
    """The pid of a process whose fcntl lock on path would stop apt taking it, 0 when the kernel
    does not name it, None when nothing holds it (or the file does not exist)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        # The same question apt asks (a write lock on the whole file), without taking the lock.
        answer = fcntl.fcntl(fd, fcntl.F_GETLK, struct.pack(FLOCK, fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0))
    finally:
        os.close(fd)
    kind, _whence, _start, _length, pid = struct.unpack(FLOCK, answer)
    if kind == fcntl.F_UNLCK:
        return None
    return max(pid, 0)  # an open file description lock reports -1


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return ""


def program_name(cmdline: str, comm: str) -> str:
    """The program of a /proc/<pid>/cmdline (NUL-separated), naming a script rather than its
    interpreter: `/usr/bin/python3 /usr/bin/unattended-upgrade` is unattended-upgrade."""
    argv = [arg for arg in cmdline.split("\0") if arg]
    if not argv:
        return comm.strip() or "a process"
    name = os.path.basename(argv[0])
    if INTERPRETER.match(name) and len(argv) > 1 and not argv[1].startswith("-"):
        return os.path.basename(argv[1])
    return name


def service_unit(cgroup: str) -> str:
    """The systemd service of a /proc/<pid>/cgroup (unified or v1 name=systemd hierarchy), or ""."""
    for line in cgroup.splitlines():
        _id, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        if controllers in ("", "name=systemd"):
            unit = path.rstrip("/").rsplit("/", 1)[-1]
            if unit.endswith(".service"):
                return unit
    return ""


def describe(pid: int, proc: str = "/proc") -> dict:
    """The holder as a message names it: pid, program and systemd service."""
    if pid <= 0:
        return {"pid": 0, "name": "a process the kernel does not name", "unit": ""}
    base = f"{proc}/{pid}"
    return {"pid": pid, "name": program_name(_read(f"{base}/cmdline"), _read(f"{base}/comm")),
            "unit": service_unit(_read(f"{base}/cgroup"))}


def who(holder: dict) -> str:
    """`unattended-upgrade (pid 1234, apt-daily-upgrade.service)`."""
    details = [f"pid {holder['pid']}"] if holder["pid"] else []
    details += [holder["unit"]] if holder["unit"] else []
    return f"{holder['name']} ({', '.join(details)})" if details else holder["name"]


def lock_name(path: str) -> str:
    return f"{LOCK_NAMES.get(path, 'the lock')} ({path})"


def look(paths: list[str], probe=lock_holder, proc: str = "/proc") -> list[dict]:
    """Every process holding one of paths now, once each, with the first path it holds."""
    found: dict[int, dict] = {}
    for path in paths:
        pid = probe(path)
        if pid is not None and pid not in found:
            found[pid] = dict(describe(pid, proc), lock=path)
    return list(found.values())


class TimedOut(Exception):
    def __init__(self, holders: list[dict], msg: str):
        super().__init__(msg)
        self.holders = holders
        self.msg = msg


def held_by(holders: list[dict], still: bool = False) -> str:
    """`The dpkg lock (/var/lib/dpkg/lock-frontend) is held by unattended-upgrade (pid 1234)`."""
    text = " and ".join(f"{lock_name(h['lock'])} is {'still ' if still else ''}held by {who(h)}" for h in holders)
    return text[0].upper() + text[1:]


def timeout_message(holders: list[dict], timeout: int, hint: str) -> str:
    units = sorted({h["unit"] for h in holders if h["unit"]})
    remedy = "Wait for it to finish and run again"
    if units:
        remedy += f", or stop it now with `sudo systemctl stop {' '.join(units)}`"
    return f"{held_by(holders, still=True)} after {timeout} s of waiting, so apt cannot run. {remedy}. {hint}".strip()


def wait(paths: list[str], timeout: int, hint: str = "", check_mode: bool = False, probe=lock_holder,
         proc: str = "/proc", clock=time.monotonic, sleep=time.sleep) -> dict:
    """Poll until no lock in paths is held, at most timeout seconds; raise TimedOut after that.

    In check mode, look once and do not wait."""
    start = clock()
    holders = look(paths, probe, proc)
    if not holders:
        return {"held": False, "waited": 0, "holders": [], "msg": ""}
    if check_mode:
        return {"held": True, "waited": 0, "holders": holders,
                "msg": f"{held_by(holders)} now; a real run would wait for it, up to {timeout} s."}
    seen = {h["pid"]: h for h in holders}
    while True:
        elapsed = clock() - start
        if elapsed >= timeout:
            raise TimedOut(list(seen.values()), timeout_message(holders, timeout, hint))
        sleep(min(POLL_SECONDS, timeout - elapsed))
        holders = look(paths, probe, proc)
        if not holders:
            break
        for holder in holders:
            seen.setdefault(holder["pid"], holder)
    waited = max(1, math.ceil(clock() - start))
    releases = ", then for ".join(f"{who(h)} to release {lock_name(h['lock'])}" for h in seen.values())
    return {"held": True, "waited": waited, "holders": list(seen.values()), "msg": f"Waited {waited} s for {releases}."}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            timeout=dict(type="int", default=600),
            paths=dict(type="list", elements="path", default=DEFAULT_PATHS),
            hint=dict(type="str", default=""),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if params["timeout"] < 0:
        module.fail_json(msg=f"timeout must be 0 or more seconds, not {params['timeout']}.", holders=[])
    try:
        result = wait(params["paths"], params["timeout"], params["hint"], module.check_mode)
    except TimedOut as error:
        module.fail_json(msg=error.msg, holders=error.holders)
    except PermissionError as error:
        module.fail_json(msg=f"Cannot open {error.filename} to ask who holds it: run this with become (root).",
                         holders=[])
    except OSError as error:
        module.fail_json(msg=f"Cannot ask who holds {error.filename or 'the apt and dpkg locks'}: {error.strerror}.",
                         holders=[])
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
