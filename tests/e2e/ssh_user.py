"""A user (or an instructor) at the repository root, with a private ~/.ssh, for the e2e tests."""

from __future__ import annotations

import os
import pwd
import subprocess
from pathlib import Path

from testlib import ROOT, aws_test_env


class User:
    """A user at the repository root whose ~/.ssh is a fresh directory of the test's.

    ssh finds ~/.ssh through the password database, not $HOME, so every command runs in a
    private mount namespace with that directory mounted over the real ~/.ssh: the user's own
    ssh, Ansible and the aliases all see it, and the real ~/.ssh is never touched.
    """

    def __init__(self, ssh_dir: Path, endpoint: str):
        self.ssh_dir = ssh_dir
        self.env = aws_test_env(endpoint)
        self.real_ssh_dir = Path(pwd.getpwuid(os.getuid()).pw_dir) / ".ssh"
        self.real_ssh_dir.mkdir(mode=0o700, exist_ok=True)

    def run(self, *argv: str, timeout: int = 900, check: bool = True, cwd: Path = ROOT) -> subprocess.CompletedProcess:
        namespaced = ["unshare", "-m", "sh", "-c", 'mount --bind "$1" "$2" && shift 2 && exec "$@"', "sh",
                      str(self.ssh_dir), str(self.real_ssh_dir), *argv]
        proc = subprocess.run(namespaced, cwd=cwd, env=self.env, capture_output=True, text=True, timeout=timeout)
        if check:
            assert proc.returncode == 0, f"{' '.join(argv)}\n{proc.stdout[-5000:]}\n{proc.stderr[-3000:]}"
        return proc
