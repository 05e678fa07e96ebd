"""Both hosts: the server runs as a service of the login user, on loopback only, behind auth."""

import time

import pytest


@pytest.fixture(scope="module")
def port(host_vars):
    return int(host_vars.get("jupyter_port", 8888))


def test_service_is_running_and_starts_at_boot(host):
    service = host.service("jupyterlab")
    assert service.is_running
    assert service.is_enabled


def test_server_runs_as_the_login_user(host):
    with host.sudo():
        user = host.check_output("systemctl show --property=MainPID --value jupyterlab "
                                 "| xargs ps -o user= -p")
    assert user.strip() == "ubuntu"


def test_listens_on_loopback_only(host, port):
    with host.sudo():
        listeners = host.check_output(
            f"ss --no-header --listening --tcp --numeric 'sport = :{port}'")
    local_addresses = {line.split()[3] for line in listeners.splitlines()}
    assert local_addresses == {f"127.0.0.1:{port}"}


def test_unauthenticated_api_request_is_refused(ssh, port):
    assert ssh.probe(port, "status", "--auth", "none") == {"status": 403}


def test_notebook_dir_belongs_to_the_user(host):
    notebooks = host.file("/data/notebooks")
    assert notebooks.is_directory
    assert notebooks.user == "ubuntu"


def test_unit_is_sandboxed_and_restarts_on_failure(host):
    with host.sudo():
        shown = host.check_output("systemctl show jupyterlab --property=NoNewPrivileges,PrivateTmp,"
                                  "ProtectSystem,Restart,User")
    properties = dict(line.split("=", 1) for line in shown.splitlines())
    assert properties == {"NoNewPrivileges": "yes", "PrivateTmp": "yes", "ProtectSystem": "full",
                          "Restart": "on-failure", "User": "ubuntu"}


def test_server_comes_back_after_a_crash(host, ssh, port):
    with host.sudo():
        before = host.check_output("systemctl show --property=MainPID --value jupyterlab")
        host.check_output("systemctl kill --signal=KILL jupyterlab")
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        with host.sudo():
            after = host.check_output("systemctl show --property=MainPID --value jupyterlab")
        restarted = after not in ("0", before)
        if restarted and ssh.probe(port, "status", "--auth", "none") == {"status": 403}:
            break
        time.sleep(2)
    else:
        pytest.fail("jupyterlab did not come back within 90 s after SIGKILL")
