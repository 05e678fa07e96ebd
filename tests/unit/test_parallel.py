"""tests/parallel.py, the scheduling that lets `make test` run its suites on every core: checked
on a throw-away test tree run by a real `pytest -n 2`, as tests/bin/run-tests runs the real ones."""

import re
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]

SHARED_FIXTURE_MODULE = '''
import os
import pytest

@pytest.fixture(scope="module")
def machine():
    return os.getpid()

@pytest.fixture
def user(machine):
    return machine
''' + "".join(f"\ndef test_shared_{n}(user):\n    print(user)\n" for n in range(6))

# Two fixtures in one, one per parameter (an e2e container per test bed image).
PARAMETRIZED_FIXTURE_MODULE = '''
import pytest

@pytest.fixture(scope="module")
def machine(request):
    return request.param

pytestmark = pytest.mark.parametrize("machine", ["bookworm", "trixie"], indirect=True)
''' + "".join(f"\ndef test_step_{n}(machine):\n    pass\n" for n in range(3))

GROUPS_PLUGIN = '''
def pytest_collection_finish(session):
    for item in session.items:
        print("GROUP", item.name, item.get_closest_marker("xdist_group").args[0])
'''

INDEPENDENT_MODULE = "".join(f"\ndef test_alone_{n}():\n    pass\n" for n in range(6))

SLOW_MODULE = '''
import pytest

@pytest.mark.slow(seconds=10)
def test_short_slow():
    pass

@pytest.mark.slow(seconds=300)
def test_long_slow():
    pass
'''


def run_parallel(tree: Path) -> list[tuple[str, str]]:
    """(worker, test name) in the order the workers reported them."""
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "parallel", "-p", "no:cacheprovider", "-n", "2",
         "--dist", "loadgroup", "--no-loadscope-reorder", "-v", "--rootdir", str(tree), str(tree)],
        cwd=tree, env={"PYTHONPATH": str(TESTS), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return re.findall(r"\[(gw\d)\] \[ *\d+%\] PASSED \S+::(\w+(?:\[[^\]]*\])?)", proc.stdout)


def test_tests_sharing_a_module_fixture_run_on_one_worker_in_file_order(tmp_path):
    (tmp_path / "test_a_shared.py").write_text(SHARED_FIXTURE_MODULE)
    (tmp_path / "test_b_independent.py").write_text(INDEPENDENT_MODULE)
    ran = run_parallel(tmp_path)

    shared = [(worker, name) for worker, name in ran if name.startswith("test_shared_")]
    assert len({worker for worker, _ in shared}) == 1, ran
    assert [name for _, name in shared] == [f"test_shared_{n}" for n in range(6)]
    assert len(ran) == 12


def test_slow_tests_start_first_longest_first(tmp_path):
    (tmp_path / "test_a_quick.py").write_text(INDEPENDENT_MODULE)
    (tmp_path / "test_b_slow.py").write_text(SLOW_MODULE)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "parallel", "-p", "no:cacheprovider", "--collect-only", "-q",
         "--rootdir", str(tmp_path), str(tmp_path)],
        cwd=tmp_path, env={"PYTHONPATH": str(TESTS), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=60)
    order = [line.split("::")[-1] for line in proc.stdout.splitlines() if "::" in line]
    assert order[:2] == ["test_long_slow", "test_short_slow"], proc.stdout


def test_each_parameter_of_a_module_fixture_is_a_group_of_its_own(tmp_path):
    (tmp_path / "test_a_suites.py").write_text(PARAMETRIZED_FIXTURE_MODULE)
    (tmp_path / "conftest.py").write_text(GROUPS_PLUGIN)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "parallel", "-p", "no:cacheprovider", "--collect-only", "-q", "-s",
         "--rootdir", str(tmp_path), str(tmp_path)],
        cwd=tmp_path, env={"PYTHONPATH": str(TESTS), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=60)
    groups = dict(line.split()[1:] for line in proc.stdout.splitlines() if line.startswith("GROUP "))
    assert len(groups) == 6, proc.stdout + proc.stderr
    assert {groups[f"test_step_{n}[bookworm]"] for n in range(3)} == {"test_a_suites:machine=bookworm"}
    assert {groups[f"test_step_{n}[trixie]"] for n in range(3)} == {"test_a_suites:machine=trixie"}

    ran = run_parallel(tmp_path)
    for suite in ("bookworm", "trixie"):
        steps = [(worker, name) for worker, name in ran if name.endswith(f"[{suite}]")]
        assert len({worker for worker, _ in steps}) == 1, ran
        assert [name for _, name in steps] == [f"test_step_{n}[{suite}]" for n in range(3)]
