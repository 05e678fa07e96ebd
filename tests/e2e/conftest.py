"""The container standing in for the EC2 instance (tests/testbed/instance.py)."""

import pytest
from testbed.instance import Instance


@pytest.fixture(scope="module")
def instance(tmp_path_factory):
    created = Instance("ec2lab-e2e", tmp_path_factory.mktemp("e2e-instance")).create()
    try:
        yield created
    finally:
        created.destroy()
