"""The jupyter role's install check: pip runs only when the check says there is work for it."""

import importlib.metadata
import importlib.util
import pathlib

_SPEC = importlib.util.spec_from_file_location(
    "find_broken_install", pathlib.Path(__file__).parents[2] / "roles/jupyter/files/find_broken_install.py"
)
check = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(check)

PYTEST = importlib.metadata.version("pytest")


def test_pins_this_environment_meets_leave_nothing_to_do():
    assert check.broken([f"pytest=={PYTEST}"]) == {"broken": [], "unsatisfied": []}


def test_a_changed_pin_is_work_for_pip():
    assert check.broken(["pytest==1.0"])["unsatisfied"] == [f"pytest: {PYTEST} installed, ==1.0 wanted"]


def test_a_package_not_installed_is_work_for_pip_but_not_broken():
    result = check.broken(["ec2lab-no-such-package==1.0"])
    assert result == {"broken": [], "unsatisfied": ["ec2lab-no-such-package: not installed"]}
