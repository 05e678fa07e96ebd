"""The real installers: what the user gets with the roles' defaults."""

import re


def login(host, command):
    return host.run(f"bash -lc {command!r}")


def test_real_anaconda_is_on_the_path(host):
    version = login(host, "conda --version").stdout
    assert re.match(r"conda \d+\.\d+", version) and "fixture" not in version


def test_real_aws_cli_v2(host):
    assert re.search(r"aws-cli/2\.\d+\.\d+ ", login(host, "aws --version").stdout)


def test_jupyter_answers_on_loopback(host):
    assert host.service("jupyterlab").is_running
    status = host.run("curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8888/api/status")
    assert status.stdout == "403"


def test_server_venv_is_consistent_and_anaconda_base_is_untouched(host):
    assert host.run("/opt/jupyter/venv/bin/pip check").rc == 0
    # The pinned JupyterLab is not pip-installed over Anaconda's own copy any more.
    assert "Version: 4.6.6" not in host.run("/opt/conda/bin/pip show jupyterlab").stdout


def test_default_kernel_is_anaconda_with_its_packages(host):
    specs = host.run("/opt/jupyter/venv/bin/jupyter kernelspec list").stdout
    assert re.search(r"^\s*conda\s", specs, re.M), specs
    imported = host.run("/opt/conda/bin/python -c 'import ipykernel, numpy, pandas; print(\"ok\")'")
    assert imported.stdout.strip() == "ok", imported.stderr
