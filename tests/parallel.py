"""pytest plugin for running the suites side by side: `pytest -n N --dist loadgroup
--no-loadscope-reorder` (pytest-xdist), as tests/bin/run-tests does. Loaded by tests/conftest.py.

- A test that uses a module-scoped fixture (the shared `launched` workstation, an e2e container)
  joins an xdist group named after its module: the module's tests then run on one worker, in
  order, and the fixture is made once. A parametrized module-scoped fixture is one fixture per
  parameter, so each parameter is a group of its own (test_user_path:instance=trixie) and
  the suites of one module run side by side. Every other test is scheduled on its own.
- Tests marked `slow(seconds=N)` are collected first, longest first, so that the long ones start
  at once instead of becoming the tail of the run. N is a rough figure, for ordering only.
- The terminal summary adds the time each suite took: the sum of its tests' durations (with -n the
  suites overlap, so these add up to more than the wall time pytest prints last).
"""

from __future__ import annotations

from collections import defaultdict

import pytest


def pytest_configure(config):
    config.addinivalue_line("markers", "slow(seconds): takes minutes; scheduled before the rest")
    config.pluginmanager.register(SuiteTimes(), "ec2lab-suite-times")


def _estimated_seconds(item) -> float:
    marker = item.get_closest_marker("slow")
    return marker.kwargs.get("seconds", 60) if marker else 0


def _module_group(item) -> str | None:
    """The xdist group of a test that uses a module-scoped fixture: its module, plus the
    parameter of each parametrized one; None for a test that uses none."""
    fixture_defs = item._fixtureinfo.name2fixturedefs  # pytest offers no public accessor
    module_scoped = sorted(name for name, defs in fixture_defs.items() if defs[-1].scope == "module")
    if not module_scoped:
        return None
    params = item.callspec.params if hasattr(item, "callspec") else {}
    # No "]" in a group name: xdist takes the "@group" it appends to a node id for part of a
    # parameter id when a "]" follows it, and would then schedule each test on its own.
    return ":".join([item.module.__name__] + [f"{name}={params[name]}" for name in module_scoped if name in params])


# First: xdist's own hook reads the xdist_group marks added here.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    # A stable sort: within a module (and so within a group) the order stays the file's.
    items.sort(key=_estimated_seconds, reverse=True)
    for item in items:
        group = _module_group(item)
        if group:
            item.add_marker(pytest.mark.xdist_group(group))


class SuiteTimes:
    """Seconds per suite (tests/<suite>/) and per molecule scenario, for the terminal summary."""

    def __init__(self):
        self.times: dict[str, list] = defaultdict(lambda: [0, 0.0])

    @staticmethod
    def _suite(nodeid: str) -> str:
        path, _, rest = nodeid.partition("::")
        if path == "tests/roles/test_molecule.py" and "[" in rest:
            return "molecule " + rest.split("[", 1)[1].split("]", 1)[0]
        parts = path.split("/")
        return parts[1] if len(parts) > 2 and parts[0] == "tests" else path

    def pytest_runtest_logreport(self, report):
        entry = self.times[self._suite(report.nodeid)]
        entry[1] += report.duration
        entry[0] += report.when == "call"

    def pytest_terminal_summary(self, terminalreporter):
        if not self.times:
            return
        terminalreporter.section("time by suite (sum of test durations)")
        for suite, (count, seconds) in sorted(self.times.items(), key=lambda kv: -kv[1][1]):
            terminalreporter.write_line(f"{suite:<26} {count:>4} tests {seconds:>8.1f} s")
