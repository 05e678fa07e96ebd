"""Password mode: the right password logs in, a wrong one does not, only a hash is stored;
tools on the host read the API with a local token."""

import pytest

testinfra_hosts = ["ec2lab-jupyter-password"]

PORT = 8890
HASH_FILE = "/home/ubuntu/.jupyter/ec2lab-password-hash"


@pytest.fixture(scope="module")
def password(host_vars):
    return host_vars["jupyter_password"]


def test_right_password_logs_in(ssh, password):
    assert ssh.probe(PORT, "login", stdin=password) == {"login": 200, "status": 200}


def test_wrong_password_is_refused(ssh, password):
    assert ssh.probe(PORT, "login", stdin=password + "x") == {"login": 401, "status": 403}


def test_only_an_argon2_hash_is_stored(host, password):
    hash_file = host.file(HASH_FILE)
    assert hash_file.mode == 0o600
    assert hash_file.user == "ubuntu"
    assert hash_file.content_string.startswith("argon2:")
    with host.sudo():
        found = host.run("grep -rlF -e %s /home/ubuntu/.jupyter /etc/systemd/system", password)
    assert found.rc == 1


def test_tools_on_the_host_read_the_api_with_the_local_token(ssh):
    """idle_stop sees kernels without knowing the password; the token never leaves the host."""
    assert ssh.probe(PORT, "status", "--auth", "token") == {"status": 200}
    assert ssh.run("stat -c '%a %U' /home/ubuntu/.jupyter/ec2lab-token").stdout.split() == ["600", "ubuntu"]
