"""What the role scenarios' testinfra tests share; pytest loads it for every extensions/molecule/*/tests."""

import json
import os
import subprocess
from pathlib import Path

import pytest


@pytest.fixture
def apply_role(request):
    """Run the scenario's tests/apply_role.yml with extra vars, as a user runs a playbook.

    Returns the CompletedProcess; a task's message stays on one line of stdout + stderr (JSON
    results, no colour), so a test can look for it whole. check=True runs it as `--check`.
    """
    playbook = Path(str(request.fspath)).with_name("apply_role.yml")

    def run(limit=None, check=False, **extra_vars):
        return subprocess.run(
            ["ansible-playbook", "-i", os.environ["MOLECULE_INVENTORY_FILE"], *(["--limit", limit] if limit else []),
             *(["--check"] if check else []), "-e", json.dumps(extra_vars), str(playbook)],
            capture_output=True, text=True, timeout=300, check=False,
            env={**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_CALLBACK_RESULT_FORMAT": "json"})

    return run
