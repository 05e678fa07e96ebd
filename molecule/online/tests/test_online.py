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
