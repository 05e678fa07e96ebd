"""setup-notebook.yml: a bad option is refused with one message before any role changes the host.

The host is this machine over a local connection, in --check mode, so even a check that wrongly
passed could not change it; the login user is `nobody`, which exists and is unprivileged.
"""

import subprocess
import sys

import pytest
from testlib import ROOT

BAD_SETUP = [
    ({"conda_distribution": "anakonda"}, "conda_distribution must be one of: anaconda, miniconda, miniforge"),
    ({"awscli_install_method": "brew"}, "awscli_install_method must be one of"),
    ({"jupyter_auth": "pasword"}, "jupyter_auth must be one of: token, password"),
    ({"jupyter_private_devices": "maybe"}, "The value 'maybe' is not a valid boolean"),
    ({"jupyter_port": "80"}, "unprivileged TCP port"),
    ({"jupyter_bind_address": "0.0.0.0"}, "loopback"),
    ({"jupyter_auth": "password", "jupyter_password": "Sh0rt!"}, "at least 8 characters"),
    ({"jupyter_extra_packages": '["pandas"]'}, "must pin one exact version, like 'name==1.2.3'. Not pinned: pandas."),
    ({"conda_installer_url": "http://127.0.0.1:9/x.sh"}, "conda_installer_sha256"),
    ({"jupyter_pip_index_url": "pypi.example.edu/simple"}, 'Not a URL: "pypi.example.edu/simple".'),
    ({"conda_channels": '["conda-forge", "https://conda.example.edu/my channel"]'},
     'Not valid: "https://conda.example.edu/my channel".'),
    ({"tmux_history_limit": "-5"}, "tmux_history_limit must be a positive number"),
    ({"data_volume_mount_path": "/"}, "must be an absolute path other than /"),
    ({"awscli_region": "mars"}, "awscli_region must be an AWS region name such as us-west-2 (got 'mars')"),
]


def run_setup(tmp_path, extra: dict[str, str]) -> subprocess.CompletedProcess:
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        "ec2lab:\n  hosts:\n    nb:\n"
        "      ansible_connection: local\n"
        f"      ansible_python_interpreter: {sys.executable}\n"
        "      ansible_user: nobody\n"
        "      ec2lab_data_volume_id: vol-0123456789abcdef0\n"
    )
    cmd = ["ansible-playbook", "setup-notebook.yml", "-i", str(inventory), "--check", "--diff"]
    for key, value in extra.items():
        cmd += ["-e", f"{key}={value}" if not value.startswith("[") else f'{{"{key}": {value}}}']
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {"PATH": f"{ROOT / '.venv/bin'}:/usr/bin:/bin", "HOME": str(home),
           "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1", "LANG": "C.UTF-8"}
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(("extra", "message"), BAD_SETUP, ids=lambda v: str(v)[:40])
def test_bad_setup_option_is_refused_before_any_role_runs(tmp_path, extra, message):
    run = run_setup(tmp_path, extra)
    output = run.stdout + run.stderr
    assert run.returncode != 0, output
    assert message in output, output
    assert output.count("fatal:") == 1, output
    # Validation comes first in the play: nothing after it (cloud-init wait, the roles) started.
    assert "Wait until cloud-init" not in output and "Find the data volume" not in output, output
    assert "Sh0rt!" not in output  # a refused password is not echoed either
    assert "argument_spec_data" not in output  # the message is not buried under five roles' specs


def test_valid_options_pass_the_checks(tmp_path):
    """Control: with the defaults the same run gets past validation into the first role, which
    then cannot find a data volume on this machine (so the cases above fail on their option)."""
    run = run_setup(tmp_path, {"data_volume_device_timeout": "0"})
    output = run.stdout + run.stderr
    assert run.returncode != 0 and "The data volume was not found" in output, output


def test_without_credentials_setup_says_why_the_inventory_found_nothing(tmp_path):
    """A new user who forgot `export AWS_PROFILE=...`: the inventory can only warn, so the play
    says first that AWS could not be asked, and how to fix it, not merely that nothing runs."""
    home = tmp_path / "home"
    home.mkdir()
    env = {"PATH": f"{ROOT / '.venv/bin'}:/usr/bin:/bin", "HOME": str(home), "ANSIBLE_NOCOLOR": "1",
           "LANG": "C.UTF-8", "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
           "AWS_EC2_METADATA_DISABLED": "true", "AWS_REGION": "us-west-2"}
    run = subprocess.run(["ansible-playbook", "setup-notebook.yml"], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode != 0
    assert "AWS did not accept the credentials: Failed to retrieve caller identity: Unable to locate credentials" in run.stdout
    assert "with AWS_PROFILE=NAME and AWS_REGION exported (the inventory reads the environment, not -e)" in run.stdout
    assert "No running ec2lab instance" not in run.stdout
