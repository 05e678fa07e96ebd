"""Filters the ssh_alias role uses to read and edit the user's OpenSSH files byte for byte.

Pure text functions, written once in plugins/module_utils/ssh_config.py (the module ssh_alias_file
uses them too). Choosing the tunnel's local port probes sockets, so it happens in that module,
under the lock that also guards the file it writes.
"""

from __future__ import annotations

from ansible_collections.ec2lab.notebook.plugins.module_utils.ssh_config import (
    host_key_problems,
    known_hosts_entries,
    known_hosts_update,
    ssh_alias_block_host_id,
    ssh_alias_block_remote_port,
    ssh_alias_names,
    ssh_config_include,
)


class FilterModule:
    """ssh_config filters."""

    def filters(self):
        return {
            "ssh_config_include": ssh_config_include,
            "known_hosts_entries": known_hosts_entries,
            "ssh_alias_block_host_id": ssh_alias_block_host_id,
            "known_hosts_update": known_hosts_update,
            "host_key_problems": host_key_problems,
            "ssh_alias_block_remote_port": ssh_alias_block_remote_port,
            "ssh_alias_names": ssh_alias_names,
        }
