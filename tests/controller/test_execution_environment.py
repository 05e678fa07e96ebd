"""execution-environment.yml: the build context ansible-builder makes from it carries exactly the
pins of requirements.txt and the controller's tools, checked in a second without building the
image (tests/e2e/test_awx_path.py builds it and checks what is inside)."""

import re
import subprocess

import pytest
from testlib import ROOT, pins


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    path = tmp_path_factory.mktemp("ee") / "context"
    # `create` validates the definition against the builder's schema before writing anything.
    subprocess.run(["ansible-builder", "create", "--file", str(ROOT / "execution-environment.yml"),
                    "--context", str(path)], cwd=ROOT, check=True, capture_output=True, text=True)
    return path


def test_every_python_pin_of_the_image_is_the_one_this_venv_runs(context):
    locked = pins((ROOT / "requirements.txt").read_text())
    image = pins((context / "_build" / "requirements.txt").read_text())
    image.update(pins(re.search(r'ANSIBLE_INSTALL_REFS="([^"]*)"', (context / "Containerfile").read_text())
                      .group(1).replace(" ", "\n")))
    assert {"ansible-core", "ansible-runner", "ansible", "boto3", "botocore"} <= set(image)
    assert {name: version for name, version in image.items() if locked.get(name) != version} == {}


def test_nothing_comes_from_galaxy_and_the_system_packages_are_named_for_both_bases(context):
    # The pip bundle carries the collections: a Galaxy stage would need Galaxy (offline: none).
    assert "ansible-galaxy collection install $ANSIBLE_GALAXY_CLI_COLLECTION_OPTS -r" not in (context / "Containerfile").read_text()
    bindep = (context / "_build" / "bindep.txt").read_text()
    for rpm, dpkg in (("openssh-clients", "openssh-client"), ("procps-ng", "procps")):
        assert f"{rpm} [platform:rpm]" in bindep and f"{dpkg} [platform:dpkg]" in bindep
