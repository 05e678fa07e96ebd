#!/usr/bin/env python3
"""The deepest include chain from a root playbook: how many hops (import_playbook, import_role,
include_role, import_tasks, include_tasks) a reader follows from `setup-notebook.yml` to the task
that does the work.   target: <= 4 hops

A templated file name (install_{{ awscli_install_method }}.yml) stands for every file it can name.
Static: reads the YAML, runs nothing.  Usage: bench/include_depth.py
"""

from __future__ import annotations

import re
import sys
from functools import cache
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
TARGET = 4
INCLUDES = ("import_tasks", "include_tasks")
ROLE_INCLUDES = ("import_role", "include_role")


def _key(task: dict, short: str):
    return task.get(f"ansible.builtin.{short}", task.get(short))


def _tasks(data) -> list[dict]:
    """Every task of a task list, blocks and rescue/always opened up."""
    found = []
    for task in data or []:
        if not isinstance(task, dict):
            continue
        found.append(task)
        for section in ("block", "rescue", "always"):
            found += _tasks(task.get(section))
    return found


def _candidates(base: Path, name: str) -> list[Path]:
    name = str(name)
    if "{{" in name:
        return sorted(base.glob(re.sub(r"\{\{.*?\}\}", "*", name)))
    path = base / name
    return [path if path.suffix else path.with_suffix(".yml")]


def _role_file(spec, default: str = "main") -> list[Path]:
    if isinstance(spec, str):
        spec = {"name": spec}
    role = str(spec.get("name") or spec.get("role")).split(".")[-1]
    tasks_from = str(spec.get("tasks_from", default))
    return _candidates(ROOT / "roles" / role / "tasks", tasks_from)


def children(path: Path) -> list[Path]:
    """The files `path` (a playbook or a task file) includes or imports directly."""
    data = yaml.safe_load(path.read_text()) or []
    found = []
    for item in data if isinstance(data, list) else []:
        if not isinstance(item, dict):
            continue
        playbook = _key(item, "import_playbook")
        if playbook:
            found += _candidates(path.parent, playbook)
            continue
        plays_tasks = []
        if "hosts" in item:  # a play
            found += [f for role in item.get("roles") or [] for f in _role_file(role)]
            for section in ("pre_tasks", "tasks", "post_tasks", "handlers"):
                plays_tasks += _tasks(item.get(section))
        else:
            plays_tasks = _tasks([item])
        for task in plays_tasks:
            for short in INCLUDES:
                target = _key(task, short)
                if target:
                    target = target.get("file") if isinstance(target, dict) else target
                    found += _candidates(path.parent, target)
            for short in ROLE_INCLUDES:
                role = _key(task, short)
                if role:
                    found += _role_file(role)
    return [f for f in found if f.is_file()]


@cache
def deepest(path: Path) -> tuple[Path, ...]:
    """The longest chain of files from `path` down (path first)."""
    best: tuple[Path, ...] = ()
    for child in children(path):
        chain = deepest(child)
        if len(chain) > len(best):
            best = chain
    return (path, *best)


def main() -> int:
    chains = {playbook.name: deepest(playbook) for playbook in sorted(ROOT.glob("*.yml"))
              if playbook.name not in ("galaxy.yml", "requirements.yml", "execution-environment.yml", "ansible-navigator.yml")}
    name, chain = max(chains.items(), key=lambda item: len(item[1]))
    hops = len(chain) - 1
    for playbook, each in sorted(chains.items()):
        print(f"  {playbook:<20} {len(each) - 1} hops")
    print(f"deepest include chain                      {hops} hops from {name} "
          f"(target <= {TARGET}: {'met' if hops <= TARGET else 'MISSED'})")
    print("  " + " -> ".join(str(p.relative_to(ROOT)) for p in chain))
    return 0


if __name__ == "__main__":
    sys.exit(main())
