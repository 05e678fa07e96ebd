"""Token mode, as a user of the notebook host sees it: tunnel in, open notebooks, run cells."""

import json
import socket
import time

import pytest
import requests

testinfra_hosts = ["ec2lab-jupyter"]

PORT = 8888
TOKEN_FILE = "/home/ubuntu/.jupyter/ec2lab-token"


@pytest.fixture(scope="module")
def token(ssh):
    result = ssh.run(f"cat {TOKEN_FILE}")
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture(scope="module")
def tunnel(ssh):
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        local_port = free.getsockname()[1]
    process = ssh.tunnel(local_port, PORT)
    base = f"http://127.0.0.1:{local_port}"
    for _ in range(50):
        try:
            requests.get(base + "/api/status", timeout=2)
            break
        except requests.ConnectionError:
            assert process.poll() is None, process.stderr.read().decode()
            time.sleep(0.2)
    yield base
    process.terminate()
    process.wait(timeout=10)


def test_token_file_is_private_to_the_user(host):
    token_file = host.file(TOKEN_FILE)
    assert token_file.mode == 0o600
    assert token_file.user == "ubuntu"


def test_token_is_random_hex(token):
    assert len(token) == 64
    int(token, 16)


def test_token_opens_the_api_through_an_ssh_tunnel(tunnel, token):
    with_token = requests.get(tunnel + "/api/status", headers={"Authorization": f"token {token}"},
                              timeout=10)
    without = requests.get(tunnel + "/api/status", timeout=10)
    assert (with_token.status_code, without.status_code) == (200, 403)


def test_lab_page_opens_with_the_token_in_the_url(tunnel, token):
    page = requests.get(f"{tunnel}/lab?token={token}", timeout=10)
    assert page.status_code == 200
    assert "JupyterLab" in page.text


def test_token_is_in_neither_the_unit_nor_the_process_list(host, token):
    with host.sudo():
        unit = host.check_output("systemctl cat jupyterlab")
        processes = host.check_output("ps -eo args")
        journal = host.check_output("journalctl --unit jupyterlab --no-pager")
    leaked = [name for name, text in (("unit", unit), ("ps", processes), ("journal", journal))
              if token in text]
    assert not leaked


def test_new_notebook_lands_in_the_notebook_dir(host, ssh):
    assert ssh.probe(PORT, "put-notebook", "molecule-check.ipynb") == {
        "status": 201, "path": "molecule-check.ipynb"}
    saved = host.file("/data/notebooks/molecule-check.ipynb")
    assert saved.user == "ubuntu"
    assert "".join(json.loads(saved.content_string)["cells"][0]["source"]) == "print(1+1)"


def test_notebook_dir_is_on_the_data_volume(host):
    mount_point = host.check_output(
        "findmnt --noheadings --output TARGET --target /data/notebooks")
    assert mount_point == "/data"


def test_a_cell_runs_in_a_kernel(ssh):
    result = ssh.probe(PORT, "run-cell", "print(1+1)")
    assert (result["stdout"], result["error"], result["state"]) == ("2\n", None, "idle")


def test_kernels_cannot_sudo_although_the_user_can(ssh):
    assert ssh.run("sudo -n true").returncode == 0
    code = "import subprocess; print(subprocess.run(['sudo', '-n', 'true']).returncode)"
    result = ssh.probe(PORT, "run-cell", code)
    assert result["stdout"] == "1\n"
    assert "no new privileges" in result["stderr"]


def test_kernels_run_in_the_sandbox(ssh):
    """ProtectSystem, PrivateTmp and PrivateDevices: what a cell sees differs from an ssh login."""
    code = ("import os, json; print(json.dumps({"
            "'usr_read_only': bool(os.statvfs('/usr').f_flag & os.ST_RDONLY), "
            "'own_tmp': not os.path.exists('/tmp/jupyter_probe.py'), "
            "'block_devices': sorted(d for d in os.listdir('/dev') if d.startswith('loop'))}))")
    result = ssh.probe(PORT, "run-cell", code)
    assert json.loads(result["stdout"]) == {"usr_read_only": True, "own_tmp": True,
                                            "block_devices": []}
    # The same checks from the ssh login: writable /usr mount, shared /tmp, the volume visible.
    assert ssh.run("test -e /tmp/jupyter_probe.py && ls /dev | grep -q '^loop'").returncode == 0


def test_new_kernels_run_in_the_other_environment(ssh):
    """The default kernel is the conda stand-in's python, so notebooks see its packages."""
    result = ssh.probe(PORT, "run-cell", "--kernel", "", "import sys; print(sys.prefix)")
    assert (result["name"], result["stdout"], result["error"]) == (
        "conda", "/opt/conda-standin\n", None)


def test_kernels_pip_installs_into_their_own_environment(ssh):
    """`!pip` in a notebook of that kernel is the environment's pip, not the server's."""
    result = ssh.probe(PORT, "run-cell", "--kernel", "conda", "!pip --version")
    assert "/opt/conda-standin/" in result["stdout"], result


def test_server_environment_has_no_dependency_conflicts(ssh):
    checked = ssh.run("/opt/jupyter/venv/bin/python -m pip check")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_lab_opens_without_asking_about_jupyter_news(ssh):
    """The first screen of a workstation someone else set up has no news question: its default
    is answered (no) in the server's settings overrides, and a user may still turn it on."""
    assert ssh.probe(PORT, "setting-default", "@jupyterlab/apputils-extension:notification", "fetchNews") == {
        "status": 200, "default": "false"}
