"""A workstation after setup-notebook.yml, checked the way its user would check it."""

import base64
import json
import pathlib
import re
import shlex

import pytest
import yaml

URL = "http://127.0.0.1:8888"
SERVER_PYTHON = "/opt/jupyter/venv/bin/python"
PROBE = pathlib.Path(__file__).parents[2] / "jupyter" / "tests" / "jupyter_probe.py"


def login(host, command):
    return host.run(f"bash -lc {command!r}")


def token(host):
    with host.sudo():
        found = host.run("find /home/ubuntu/.jupyter -maxdepth 1 -name '*token*' -type f")
        return host.file(found.stdout.split()[0]).content_string.strip()


def test_tools_are_on_the_users_path(host):
    assert login(host, "tmux -V").stdout.startswith("tmux ")
    assert login(host, "conda --version").stdout.strip() == "conda 0.0.0-fixture"
    assert "aws-cli/2.99.0-fixture" in login(host, "aws --version").stdout


def test_aws_cli_has_a_region_and_no_keys(host):
    assert login(host, "aws configure get region").stdout.strip() == "eu-central-1"
    config = host.file("/home/ubuntu/.aws/config").content_string
    assert "aws_access_key_id" not in config and "aws_secret_access_key" not in config
    assert not host.file("/home/ubuntu/.aws/credentials").exists


def test_data_volume_is_mounted_and_holds_the_notebooks(host):
    mount = host.run("findmnt -n -o SOURCE,TARGET --target /data/notebooks")
    assert mount.rc == 0 and mount.stdout.split()[1] == "/data"
    assert mount.stdout.split()[0].startswith("/dev/loop")
    assert host.file("/data/notebooks").user == "ubuntu"


def test_jupyter_runs_from_its_own_venv_on_loopback_only(host):
    service = host.service("jupyterlab")
    assert service.is_running and service.is_enabled
    with host.sudo():
        unit = host.run("systemctl cat jupyterlab").stdout
    assert "ExecStart=/opt/jupyter/venv/bin/jupyter lab" in unit
    listening = host.run("ss -Htlnp").stdout
    ports = re.findall(r"\s(\S+):8888\s", listening)
    assert ports and set(ports) == {"127.0.0.1"}, listening


@pytest.fixture(scope="module")
def probe(host):
    """jupyter_probe.py (extensions/molecule/jupyter) on the host: talks to the server as the browser does."""
    encoded = base64.b64encode(PROBE.read_bytes()).decode()
    host.run_expect([0], f"echo {encoded} | base64 -d > /tmp/jupyter_probe.py")

    def run(*args):
        result = host.run(shlex.join([SERVER_PYTHON, "/tmp/jupyter_probe.py", "--port", "8888", *args]))
        assert result.rc == 0, result.stderr
        return json.loads(result.stdout)
    return run


def test_notebooks_run_in_the_conda_base_env(probe):
    """New notebooks (no kernel name) and saved ones (kernel name python3) run the conda prefix's Python."""
    for kernel in ("", "python3"):
        result = probe("run-cell", "--kernel", kernel, "import sys; print(sys.prefix)")
        assert (result["name"], result["stdout"], result["error"]) == ("python3", "/opt/conda\n", None)


def test_the_server_stays_out_of_the_conda_env(host):
    server = host.run(f"{SERVER_PYTHON} -m pip check")
    assert server.rc == 0, server.stdout + server.stderr
    assert host.run("/opt/conda/bin/python -c 'import jupyterlab'").rc == 1


def test_jupyter_answers_only_with_the_token(host):
    anonymous = host.run(f"curl -s -o /dev/null -w '%{{http_code}}' {URL}/api/status")
    assert anonymous.stdout == "403"
    authed = host.run(f"curl -s -H 'Authorization: token {token(host)}' {URL}/api/status")
    assert authed.rc == 0 and "started" in json.loads(authed.stdout)


def test_new_notebook_lands_on_the_data_volume(host):
    body = json.dumps({"type": "notebook"})
    created = host.run(
        f"curl -s -X PUT -H 'Authorization: token {token(host)}' -d '{body}' {URL}/api/contents/molecule.ipynb"
    )
    assert created.rc == 0, created.stderr
    assert host.file("/data/notebooks/molecule.ipynb").exists


def test_no_aws_keys_in_the_users_environment_or_home(host):
    environment = login(host, "env").stdout
    assert "AWS_ACCESS_KEY_ID" not in environment and "AWS_SECRET_ACCESS_KEY" not in environment
    with host.sudo():
        found = host.run("grep -rIl -e aws_secret_access_key -e AWS_SECRET_ACCESS_KEY /home/ubuntu /etc/environment")
    assert found.stdout.strip() == ""


def test_auto_stop_is_on_and_reads_the_real_jupyter_without_counting_as_use(host):
    def last_activity():
        answer = host.run(f"curl -s -H 'Authorization: token {token(host)}' {URL}/api/status")
        return json.loads(answer.stdout)["last_activity"]

    assert host.service("ec2lab-idle-stop.timer").is_running
    before = last_activity()
    status = login(host, "ec2lab-idle-stop status")
    assert status.rc == 0, status.stderr
    assert status.stdout.startswith("Auto-stop: powers off after 60 min without use.")
    assert "uncertain" not in status.stdout
    assert last_activity() == before  # the check's own API calls are not use


def test_every_download_came_from_the_site_mirror(host):
    """The leak guard held (PyPI, Anaconda, GitHub and AWS downloads resolve to nowhere on this
    host), so JupyterLab, its dependencies and the conda kernel's ipykernel came from the mirror."""
    for name in ("pypi.org", "files.pythonhosted.org", "conda.anaconda.org", "github.com"):
        assert host.run(f"getent ahostsv4 {name}").stdout.split()[:1] == ["0.0.0.0"], name
    assert host.run("curl -sS --max-time 5 -o /dev/null https://pypi.org/simple/").rc != 0
    assert host.run(f"{SERVER_PYTHON} -c 'import jupyterlab, jupyter_server, ipykernel'").rc == 0
    assert host.run("/opt/conda/bin/python -c 'import ipykernel'").rc == 0


def test_conda_resolves_channel_names_at_the_mirror(host):
    """What conda reads for every user of the prefix: conda-forge means the mirror's conda-forge."""
    config = yaml.safe_load(host.file("/opt/conda/condarc.d/ec2lab.yml").content_string)
    assert config == {"channel_alias": "http://127.0.0.1:8000/conda-channels", "channels": ["conda-forge"]}


def test_pip_in_a_notebook_uses_the_mirror_too(probe):
    """`%pip` in a notebook (the conda kernel's pip) finds packages behind the leak guard."""
    result = probe("run-cell", "--kernel", "python3", "%pip download --no-deps --dest /tmp/from-mirror comm")
    assert result["error"] is None and "Successfully downloaded comm" in result["stdout"], result
