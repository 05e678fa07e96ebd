"""pytest fixtures shared by tests/aws and tests/e2e (defined in testlib.py)."""

from testlib import aws, key_dir, launched, moto_endpoint, playbook  # noqa: F401
