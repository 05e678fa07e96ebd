"""The container standing in for the EC2 instance (tests/testbed/instance.py)."""

import pytest
from testbed.instance import Instance


@pytest.fixture(scope="module")
def instance(request, tmp_path_factory):
    """A fresh container for the module. Modules run side by side, so the name is the module's:
    ec2lab-e2e-user-path, ec2lab-e2e-awx-path."""
    name = "ec2lab-e2e-" + request.path.stem.removeprefix("test_").replace("_", "-")
    created = Instance(name, tmp_path_factory.mktemp(name)).create()
    try:
        yield created
    finally:
        created.destroy()
