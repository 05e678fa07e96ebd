"""Print, as JSON, what is broken and what is not yet as pinned in this environment's JupyterLab.

Run with the environment's own Python: find_broken_install.py NAME [NAME ...]
An interrupted `pip install` (say, an SSH session that dropped) can leave a distribution whose
metadata is in place while files, its RECORD or one of its dependencies are missing. pip then
believes the pins are satisfied and never repairs them, and the server fails to start. This walks
the named distributions and everything they require (markers and extras evaluated) and reports:
a required distribution that is missing, a .dist-info without RECORD, a file in RECORD that is
gone. Names that are not installed at all are left to a normal `pip install`; distributions
installed by another tool (INSTALLER says conda, say) are left to that tool.
It also lists what a plain `pip install` would change (a name not installed, a version outside
its specifier), so that when both lists are empty the role can skip pip, which takes seconds
to come to the same conclusion.
"""

import importlib.metadata as metadata
import json
import sys

try:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
except ImportError:  # packaging itself broken: pip's vendored copy still parses
    from pip._vendor.packaging.requirements import Requirement
    from pip._vendor.packaging.utils import canonicalize_name


def record_problem(dist):
    if not str(getattr(dist, "_path", "")).endswith(".dist-info"):
        return None
    if (dist.read_text("INSTALLER") or "pip").strip() != "pip":
        return None
    if dist.files is None:
        return "no RECORD"
    missing = [str(path) for path in dist.files
               if "__pycache__" not in path.parts and not path.locate().exists()]
    return f"{len(missing)} files missing, e.g. {missing[0]}" if missing else None


def broken(names):
    problems, unsatisfied = [], []
    todo = [(Requirement(name), None) for name in names]
    seen = set()
    while todo:
        requirement, needed_by = todo.pop()
        key = canonicalize_name(requirement.name)
        if (key, frozenset(requirement.extras)) in seen:
            continue
        seen.add((key, frozenset(requirement.extras)))
        try:
            dist = metadata.distribution(requirement.name)
        except metadata.PackageNotFoundError:
            if needed_by:
                problems.append(f"{requirement.name}: missing, required by {needed_by}")
            else:
                unsatisfied.append(f"{requirement.name}: not installed")
            continue
        if not requirement.specifier.contains(dist.version, prereleases=True):
            unsatisfied.append(f"{requirement.name}: {dist.version} installed, {requirement.specifier} wanted")
        problem = record_problem(dist)
        if problem:
            problems.append(f"{dist.metadata['Name']}: {problem}")
        for spec in dist.requires or []:
            child = Requirement(spec)
            extras = list(requirement.extras) or [""]
            if child.marker is None or any(child.marker.evaluate({"extra": e}) for e in extras):
                todo.append((child, dist.metadata["Name"]))
    return {"broken": sorted(set(problems)), "unsatisfied": sorted(set(unsatisfied))}


if __name__ == "__main__":
    print(json.dumps(broken(sys.argv[1:])))
