"""The container standing in for the EC2 instance (tests/testbed/instance.py)."""

import pytest
from testbed.instance import Instance


@pytest.fixture(scope="module")
def instance(request, tmp_path_factory):
    """A fresh container for the module, from the default test bed image (bookworm), or from the
    image of each suite the module asks for with
    `pytest.mark.parametrize("instance", SUITES, indirect=True)`. Modules and suites run side by
    side, so the name is the module's, plus the suite but for bookworm: ec2lab-e2e-awx-path,
    ec2lab-e2e-user-path, ec2lab-e2e-user-path-trixie."""
    suite = getattr(request, "param", None)
    name = "ec2lab-e2e-" + request.path.stem.removeprefix("test_").replace("_", "-")
    if suite not in (None, "bookworm"):
        name += f"-{suite}"
    created = Instance(name, tmp_path_factory.mktemp(name), suite=suite).create()
    try:
        yield created
    finally:
        created.destroy()
