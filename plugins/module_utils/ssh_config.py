"""What the ssh_alias role knows about the user's OpenSSH files, as pure text functions.

The filters of plugins/filter/ssh_config.py and the module ssh_alias_file share them; both are
unit-tested in tests/unit/plugins/. Nothing here reads a file, binds a socket or runs a process.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re

# Key types OpenSSH 8.x/9.x accepts as host keys.
_HOST_KEY_TYPES = (
    "ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
)
# A keyword line that opens a new block: everything after it is conditional.
_BLOCK_START = re.compile(r"^[ \t]*(host|match)([ \t=]|$)", re.IGNORECASE)
_LINE = re.compile(r"[^\n]*\n|[^\n]+$")


def _lines(text: str) -> list[str]:
    """The lines of `text` with their own endings, so ''.join() gives the same bytes back."""
    return _LINE.findall(text or "")


def _newline(text: str) -> str:
    return "\r\n" if "\r\n" in (text or "") else "\n"


def _words(line: str) -> list[str]:
    return line.replace("=", " ", 1).split()


def _is_directive(line: str, directive: str) -> bool:
    """True when `line` is `directive` (e.g. 'Include config.d/ec2lab'), keyword case ignored."""
    want, have = directive.split(), _words(line)
    return len(have) == len(want) and have[0].lower() == want[0].lower() and have[1:] == want[1:]


def ssh_config_include(text: str, directive: str, comment: str, present: bool = True) -> str:
    """`text` (an ssh_config) with exactly one `comment` + `directive` pair, or none.

    A pair that already sits before the first Host/Match line is left where it is. Otherwise
    every copy of it is removed and one pair goes on top of the file, where no Host or Match
    block and no global option of the user can take precedence over the included file. Every
    other byte (CRLF endings, whitespace, a missing final newline) stays as it was.
    """
    lines = _lines(text)
    first_block = next((i for i, line in enumerate(lines) if _BLOCK_START.match(line)), len(lines))
    ours = [i for i, line in enumerate(lines) if _is_directive(line, directive)]
    comments = [i for i, line in enumerate(lines) if line.rstrip("\r\n") == comment]
    if present and len(ours) == 1 and ours[0] < first_block and comments == [ours[0] - 1]:
        return text
    kept = [line for i, line in enumerate(lines) if i not in ours and i not in comments]
    if present:
        newline = _newline(text)
        kept[:0] = [comment + newline, directive + newline]
    return "".join(kept)


def _names_alias(line: str, alias: str) -> bool:
    """True when the known_hosts `line` is for host name `alias`, plain or hashed (|1|salt|hmac)."""
    words = line.split()
    if not words or words[0].startswith(("#", "@")):
        return False  # comments and @cert-authority/@revoked lines are never ours
    if words[0].startswith("|1|"):
        try:
            salt, digest = (base64.b64decode(part) for part in words[0][3:].split("|"))
        except (binascii.Error, ValueError):
            return False
        return hmac.compare_digest(hmac.new(salt, alias.encode(), hashlib.sha1).digest(), digest)
    return alias in words[0].split(",")


def known_hosts_entries(text: str, alias: str) -> list[str]:
    """The known_hosts lines (without line ending) for `alias`, plain or hashed."""
    return [line.rstrip("\r\n") for line in _lines(text) if _names_alias(line, alias)]


def known_hosts_update(text: str, alias: str, keys: list[str] | None) -> str:
    """`text` with the lines of `alias` replaced by `alias <type> <base64>` for each key.

    keys=None keeps the alias's lines as they are (nothing supplied, e.g. learned on the first
    connection); an empty list removes them. Unchanged keys leave the text unchanged, and new
    lines take the place of the old ones so other hosts' lines never move.
    """
    if keys is None:
        return text
    wanted = [f"{alias} {key}" for key in host_key_entries(keys)]
    lines = _lines(text)
    old = [i for i, line in enumerate(lines) if _names_alias(line, alias)]
    if sorted(lines[i].rstrip("\r\n") for i in old) == sorted(wanted):
        return text
    newline = _newline(text)
    if not old and lines and not lines[-1].endswith("\n"):
        lines[-1] += newline
    replacement = [entry + newline for entry in wanted]
    result = []
    for i, line in enumerate(lines):
        if i not in old:
            result.append(line)
        elif i == old[0]:
            result.extend(replacement)
    if not old:
        result.extend(replacement)
    return "".join(result)


def host_key_entries(keys: list[str]) -> list[str]:
    """Each host key as `type base64`, dropping a trailing comment such as root@ip-10-0-0-1."""
    return [" ".join(str(key).split()[:2]) for key in keys]


def host_key_problems(keys) -> list[str]:
    """Why `keys` is not a list of "type base64" host keys; an empty list means it is."""
    if not isinstance(keys, (list, tuple)):
        return ["must be a list of 'type base64' strings"]
    problems = []
    for key in keys:
        words = str(key).split()
        if len(words) < 2 or words[0] not in _HOST_KEY_TYPES:
            problems.append(f"'{str(key)[:40]}' is not '<type> <base64>' with a type in {', '.join(_HOST_KEY_TYPES)}")
            continue
        try:
            blob = base64.b64decode(words[1], validate=True)
        except (binascii.Error, ValueError):
            problems.append(f"the {words[0]} key is not valid base64")
            continue
        # The blob starts with the key type as an SSH string: uint32 length + name.
        if blob[4:4 + len(words[0])] != words[0].encode():
            problems.append(f"the {words[0]} key's data is not a {words[0]} key")
    return problems


def _block_lines(text: str, name: str):
    """The stripped lines inside the `# BEGIN ec2lab <name>` block."""
    inside = False
    for line in _lines(text):
        stripped = line.strip()
        if stripped == f"# BEGIN ec2lab {name}":
            inside = True
        elif stripped == f"# END ec2lab {name}":
            inside = False
        elif inside:
            yield stripped


def _block_local_forward(text: str, name: str):
    """The words of the LocalForward line inside the `# BEGIN ec2lab <name>` block, or None."""
    for stripped in _block_lines(text, name):
        words = _words(stripped)
        if len(words) >= 2 and words[0].lower() == "localforward":
            return words
    return None


def ssh_alias_block_host_id(text: str, name: str) -> str:
    """The instance id the `# Instance: <id>` comment of that block records, or ""."""
    for stripped in _block_lines(text, name):
        if stripped.startswith("# Instance: "):
            return stripped.split()[2]
    return ""


def ssh_alias_block_port(text: str, name: str):
    """The local port of the LocalForward inside the `# BEGIN ec2lab <name>` block, or None."""
    words = _block_local_forward(text, name)
    return int(words[1].rsplit(":", 1)[-1]) if words else None


def ssh_alias_block_remote_port(text: str, name: str):
    """The instance-side port of that LocalForward, or None."""
    words = _block_local_forward(text, name)
    return int(words[2].rsplit(":", 1)[-1]) if words and len(words) >= 3 else None


def ssh_alias_names(text: str) -> list[str]:
    """The workstation names that have a block in the ec2lab ssh config file."""
    return re.findall(r"(?m)^# BEGIN ec2lab (\S+)\r?$", text or "")


def ssh_alias_ports(text: str, except_name: str = "") -> list[int]:
    """The local tunnel ports the other workstations' aliases in the ec2lab file use."""
    ports = (ssh_alias_block_port(text, name) for name in ssh_alias_names(text) if name != except_name)
    return [port for port in ports if port is not None]


def ssh_tunnel_running(ps_lines: list[str], alias: str) -> bool:
    """True when `ps -A -o args=` shows an ssh client started for `alias` (e.g. ssh -N -f nb-jupyter).

    The alias sets ExitOnForwardFailure, so such a process only keeps running while it holds
    its forwarded port.
    """
    for line in ps_lines:
        words = line.split()
        if words and os.path.basename(words[0]) == "ssh" and alias in words[1:]:
            return True
    return False


def pick_local_port(preferred: int, is_free, current=None, current_is_ours: bool = False, avoid=(),
                    tries: int = 100) -> int:
    """The local port for a tunnel alias.

    Keeps `current` (the port the alias already has) while it is free or held by the alias's
    own tunnel, unless a new `preferred` puts it out of range; otherwise the first free port
    from `preferred` up that no other ec2lab alias claims. `is_free(port)` says whether a port
    can be listened on now (the module that calls this probes; this function only chooses).
    """
    in_range = current is not None and int(preferred) <= int(current) < int(preferred) + int(tries)
    if in_range and (current_is_ours or is_free(int(current))):
        return int(current)
    claimed = {int(port) for port in avoid if port is not None}
    for port in range(int(preferred), min(int(preferred) + int(tries), 65536)):
        if port not in claimed and is_free(port):
            return port
    raise ValueError(f"no free local port in {preferred}-{int(preferred) + int(tries) - 1} on 127.0.0.1")


def _marker(name: str, mark: str) -> str:
    return f"# {mark} ec2lab {name}"


def ssh_alias_block_set(text: str, name: str, block: str | None) -> str:
    """`text` (the ec2lab ssh config file) with the block of `name` replaced by `block`, added at
    the end when it has none, or removed when `block` is None; every other byte kept.

    The markers are those Ansible's blockinfile wrote (`# BEGIN ec2lab <name>`, `# END ...`),
    so a file written by an earlier version reads back unchanged.
    """
    lines = _lines(text)
    stripped = [line.rstrip("\r\n") for line in lines]
    begin, end = _marker(name, "BEGIN"), _marker(name, "END")
    first = stripped.index(begin) if begin in stripped else None
    last = stripped.index(end, first) if first is not None and end in stripped[first:] else None
    newline = _newline(text)
    new = [] if block is None else [begin + newline] + [line.rstrip("\r\n") + newline for line in _lines(block)] + [end + newline]
    if first is not None and last is not None:
        return "".join(lines[:first] + new + lines[last + 1:])
    if block is None:
        return text
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += newline
    return "".join(lines + new)
