"""pytest fixtures shared by tests/aws and tests/e2e (defined in testlib.py)."""

from testlib import (  # noqa: F401
    aws, fixture_prices_file, key_dir, launched, moto_endpoint, playbook, pricing_api,
)
