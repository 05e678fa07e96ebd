"""pytest configuration shared by every suite under tests/: the fixtures of tests/aws and
tests/e2e (defined in testlib.py) and the scheduling hooks for `pytest -n` (parallel.py)."""

from parallel import (  # noqa: F401
    pytest_collection_modifyitems,
    pytest_configure,
)
from testlib import (  # noqa: F401
    aws,
    ec2_throttling,
    fixture_files,
    key_dir,
    launched,
    moto_endpoint,
    playbook,
    pricing_api,
    spot_prices,
    vcpu_quotas,
)
