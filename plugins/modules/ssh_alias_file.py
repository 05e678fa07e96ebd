#!/usr/bin/python
# Copyright: ec2lab contributors
# SPDX-License-Identifier: Apache-2.0
"""Write or remove one workstation's aliases in the ec2lab ssh config file, and its host keys,
choosing the tunnel's local port in the same step, under a lock."""

from __future__ import annotations

DOCUMENTATION = r"""
module: ssh_alias_file
short_description: Write or remove one workstation's ssh aliases and host keys, with its tunnel port, under a lock
version_added: "0.1.0"
description:
  - Edits the ec2lab ssh config file (C(~/.ssh/config.d/ec2lab)) and its known_hosts file for one
    workstation, as one step under an exclusive lock on the config file's directory, so that
    playbooks run side by side (two terminals, two launches) never lose each other's aliases or
    host keys and never give two aliases the same local port.
  - With O(state=present), chooses the local port of the JupyterLab tunnel under that lock. It keeps
    the port the alias has while it is free or held by the alias's own running tunnel (an C(ssh)
    process started for O(tunnel_alias)); otherwise it takes the first port from
    O(preferred_port) up that no other alias in the file claims and that can be listened on
    now on 127.0.0.1. It then writes O(block) with that port in place of C(@LOCAL_PORT@)
    between the markers C(# BEGIN ec2lab <name>) and C(# END ec2lab <name>) (those of
    M(ansible.builtin.blockinfile), so a file it wrote reads back unchanged), checked with
    C(ssh -G) before it replaces the file.
  - With O(state=absent), removes the block, and the file with its last block.
  - Replaces the known_hosts lines of O(name) with O(host_keys), checked with C(ssh-keygen -l), and
    removes the file with its last line. Every other byte of both files is kept.
  - Check mode chooses the port and reports the diff, and writes nothing.
options:
  name:
    description: The alias, the workstation's name.
    type: str
    required: true
  state:
    description: Whether the block should be there.
    type: str
    choices: [present, absent]
    default: present
  path:
    description: The ec2lab ssh config file. Its directory must exist for O(state=present).
    type: path
    required: true
  known_hosts_path:
    description: The known_hosts file the aliases name in C(UserKnownHostsFile).
    type: path
    required: true
  block:
    description: The block's text, with C(@LOCAL_PORT@) where the tunnel's local port goes. Required
      for O(state=present).
    type: str
  tunnel_alias:
    description: The alias that opens the tunnel (C(ssh -N -f <name>-jupyter)).
    type: str
  preferred_port:
    description: The first local port to try.
    type: int
    default: 8888
  port_tries:
    description: How many ports from O(preferred_port) up to try.
    type: int
    default: 100
  host_keys:
    description:
      - The host keys of O(name), each C(<type> <base64>). V(null) keeps the lines there are (none was
        supplied; ssh learns them on the first connection); an empty list removes them.
    type: list
    elements: str
  lock_timeout:
    description: Seconds to wait for another run that holds the lock.
    type: int
    default: 60
notes:
  - "Runs where the user's ssh runs (C(hosts: localhost), C(connection: local)), as that user."
  - The lock is C(flock) on the directory of O(path), released when the module ends.
author:
  - ec2lab contributors (@ec2lab)
"""

EXAMPLES = r"""
- name: Write the aliases of nb, its tunnel on the first free port from 8888
  ec2lab.notebook.ssh_alias_file:
    name: nb
    tunnel_alias: nb-jupyter
    path: ~/.ssh/config.d/ec2lab
    known_hosts_path: ~/.ssh/ec2lab_known_hosts
    block: |
      Host nb nb-jupyter
          HostName 203.0.113.7
          User ubuntu
      Host nb-jupyter
          LocalForward 127.0.0.1:@LOCAL_PORT@ 127.0.0.1:8888
    host_keys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ"]
  register: alias

- name: Say where the tunnel listens
  ansible.builtin.debug:
    msg: "ssh -N -f nb-jupyter, then http://127.0.0.1:{{ alias.local_port }}/lab"
"""

RETURN = r"""
local_port:
  description: The tunnel's local port (O(state=present)); also set as the fact C(ssh_alias_jupyter_local_port).
  returned: when state is present
  type: int
  sample: 8888
file_removed:
  description: Whether O(path) went with its last block.
  returned: always
  type: bool
"""

import contextlib
import errno
import fcntl
import os
import socket
import subprocess
import tempfile
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ec2lab.notebook.plugins.module_utils.ssh_config import (
    known_hosts_update,
    pick_local_port,
    ssh_alias_block_port,
    ssh_alias_block_set,
    ssh_alias_names,
    ssh_alias_ports,
    ssh_tunnel_running,
)

PORT_PLACEHOLDER = "@LOCAL_PORT@"


def local_port_is_free(port: int, address: str = "127.0.0.1") -> bool:
    """Whether ssh could listen on address:port now (the same SO_REUSEADDR bind ssh does)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((address, int(port)))
        except OSError as error:
            if error.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def running_commands() -> list[str]:
    """The command lines of the user's processes, as `ps -A -ww -o args=` prints them."""
    return subprocess.run(["ps", "-A", "-ww", "-o", "args="], capture_output=True, text=True, check=True).stdout.splitlines()


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            return handle.read()
    except FileNotFoundError:
        return ""


class Lock:
    """An exclusive flock on a directory, waited for up to `timeout` seconds."""

    def __init__(self, directory: str, timeout: int):
        self.directory, self.timeout, self.fd = directory, timeout, None

    def __enter__(self):
        self.fd = os.open(self.directory, os.O_RDONLY)
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(self.fd)
                    raise TimeoutError(f"another ec2lab run held the lock on {self.directory} for {self.timeout} s") from None
                time.sleep(0.1)

    def __exit__(self, *exc):
        os.close(self.fd)  # closing the descriptor releases the flock


def plan(params: dict, alias_text: str, known_hosts_text: str, is_free, commands) -> dict:
    """The new texts of both files and the port, from their current texts (no I/O but the two
    callables: `is_free(port)` and `commands()`, the running command lines)."""
    name = params["name"]
    port = None
    if params["state"] == "present":
        current = ssh_alias_block_port(alias_text, name)
        ours = current is not None and ssh_tunnel_running(commands(), params["tunnel_alias"] or f"{name}-jupyter")
        port = pick_local_port(params["preferred_port"], is_free, current=current, current_is_ours=ours,
                               avoid=ssh_alias_ports(alias_text, name), tries=params["port_tries"])
        new_alias = ssh_alias_block_set(alias_text, name, params["block"].replace(PORT_PLACEHOLDER, str(port)))
    else:
        new_alias = ssh_alias_block_set(alias_text, name, None)
    keys = params["host_keys"] if params["state"] == "present" else []
    return {"port": port, "alias": new_alias, "known_hosts": known_hosts_update(known_hosts_text, name, keys)}


def _check(command: list[str], path: str, text: str, what: str) -> None:
    """Run `command` (with %s for a file holding `text`); raise ValueError with its output if it fails."""
    with tempfile.NamedTemporaryFile("w", dir=os.path.dirname(path), prefix=".ec2lab-check-", delete=False) as handle:
        handle.write(text)
    try:
        result = subprocess.run([word.replace("%s", handle.name) for word in command], capture_output=True, text=True, check=False)
        if result.returncode:
            raise ValueError(f"{what} would be invalid ({' '.join(command[:2])}): {(result.stderr or result.stdout).strip()}")
    finally:
        os.unlink(handle.name)


def _replace(path: str, text: str) -> None:
    """Write `text` to `path` (its real path, when it is a symlink) atomically, mode 0600."""
    target = os.path.realpath(path)
    descriptor, temporary = tempfile.mkstemp(dir=os.path.dirname(target), prefix=".ec2lab-")
    with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)
    os.chmod(temporary, 0o600)
    os.replace(temporary, target)


def apply(params: dict, check_mode: bool, is_free=local_port_is_free, commands=running_commands) -> dict:
    """Under the lock: read both files, plan, check and write what changes. The module's result."""
    path, known_hosts = params["path"], params["known_hosts_path"]
    directory = os.path.dirname(path)
    result = {"changed": False, "file_removed": False, "diff": []}
    exists = os.path.isdir(directory)
    if not exists and (params["state"] == "absent" or not check_mode):
        if params["state"] == "present":
            raise ValueError(f"{directory} does not exist")
        return result
    # A check run on a fresh home has no directory to lock (nor files to read).
    with Lock(directory, params["lock_timeout"]) if exists else contextlib.nullcontext():
        alias_text, known_hosts_text = _read(path), _read(known_hosts)
        new = plan(params, alias_text, known_hosts_text, is_free, commands)
        remove_alias_file = not ssh_alias_names(new["alias"]) and os.path.exists(path)
        for file, before, after in ((path, alias_text, new["alias"]), (known_hosts, known_hosts_text, new["known_hosts"])):
            if before != after:
                result["changed"] = True
                result["diff"].append({"before_header": file, "after_header": file, "before": before, "after": after})
        if params["state"] == "present":
            result["local_port"] = new["port"]
            result["ansible_facts"] = {"ssh_alias_jupyter_local_port": new["port"]}
            if exists and new["alias"] != alias_text:
                _check(["ssh", "-G", "-F", "%s", params["name"]], path, new["alias"], path)
        if exists and new["known_hosts"] != known_hosts_text and new["known_hosts"]:
            _check(["ssh-keygen", "-l", "-f", "%s"], known_hosts, new["known_hosts"], known_hosts)
        if check_mode:
            result["file_removed"] = remove_alias_file
            return result
        if remove_alias_file:
            os.unlink(path)
            result["file_removed"] = True
        elif new["alias"] != alias_text:
            _replace(path, new["alias"])
        if new["known_hosts"] != known_hosts_text:
            if new["known_hosts"]:
                _replace(known_hosts, new["known_hosts"])
            elif os.path.exists(known_hosts):
                os.unlink(known_hosts)
    return result


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            path=dict(type="path", required=True),
            known_hosts_path=dict(type="path", required=True),
            block=dict(type="str"),
            tunnel_alias=dict(type="str"),
            preferred_port=dict(type="int", default=8888),
            port_tries=dict(type="int", default=100),
            host_keys=dict(type="list", elements="str", no_log=False),
            lock_timeout=dict(type="int", default=60),
        ),
        required_if=[("state", "present", ("block",))],
        supports_check_mode=True,
    )
    try:
        result = apply(module.params, module.check_mode)
    except (ValueError, TimeoutError) as error:
        module.fail_json(msg=str(error))
    if not module._diff:
        result.pop("diff")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
