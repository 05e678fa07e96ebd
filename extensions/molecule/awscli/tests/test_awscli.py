"""What a user on each test host sees after converge and side_effect."""

import configparser

import pytest

REGION = "eu-central-1"
CREDENTIAL_KEYS = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token")


def hostname(host):
    return host.backend.get_hostname()


def aws(host, *args):
    """Run aws as the login user (ubuntu) with the PATH a login shell gets."""
    return host.run("bash -lc 'aws \"$@\"' aws " + " ".join(args))


def version_line(host):
    result = aws(host, "--version")
    assert result.rc == 0, result.stderr
    # AWS CLI v1 printed its version on stderr in older releases.
    return (result.stdout + result.stderr).strip()


def test_runs_as_ubuntu(host):
    assert host.user().name == "ubuntu"


@pytest.mark.parametrize("key,expected", [("region", REGION), ("output", "json")])
def test_cli_reads_its_settings_from_user_config(host, key, expected):
    result = aws(host, "configure", "get", key)
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == expected


def test_user_config_holds_no_credentials(host):
    config = host.file("/home/ubuntu/.aws/config")
    assert config.user == "ubuntu"
    assert config.mode == 0o600
    assert host.file("/home/ubuntu/.aws").mode == 0o700
    parser = configparser.ConfigParser()
    parser.read_string(config.content_string)
    assert dict(parser["default"]) == {"region": REGION, "output": "json"}
    for key in CREDENTIAL_KEYS:
        assert key not in config.content_string
    assert not host.file("/home/ubuntu/.aws/credentials").exists


def test_bundle_host_runs_the_upgraded_fixture(host):
    if hostname(host) != "ec2lab-awscli-bundle":
        pytest.skip("FIXTURE bundle host only")
    assert version_line(host).startswith("aws-cli/2.99.1-fixture ")


def test_bundle_upgrade_went_through_update(host):
    if hostname(host) != "ec2lab-awscli-bundle":
        pytest.skip("FIXTURE bundle host only")
    runs = host.file("/usr/local/aws-cli/fixture-install.log").content_string.splitlines()
    # One install, one upgrade: idempotence and the refused installs ran nothing.
    assert runs == [
        "install -i /usr/local/aws-cli -b /usr/local/bin -> 2.99.0-fixture",
        "install -i /usr/local/aws-cli -b /usr/local/bin --update -> 2.99.1-fixture",
    ]
    assert host.file("/usr/local/aws-cli/v2/current").linked_to == "/usr/local/aws-cli/v2/2.99.1-fixture"


def test_apt_host_runs_debian_package(host):
    if hostname(host) != "ec2lab-awscli-apt":
        pytest.skip("apt host only")
    assert host.package("awscli").is_installed
    line = version_line(host)
    assert line.startswith("aws-cli/" + host.package("awscli").version.split("-")[0] + " ")


def test_pip_host_runs_cli_v1_from_its_venv(host):
    if hostname(host) != "ec2lab-awscli-pip":
        pytest.skip("pip host only")
    assert version_line(host).startswith("aws-cli/1.46.3 ")
    assert host.file("/usr/local/bin/aws").linked_to == "/opt/awscli-venv/bin/aws"


def test_pip_host_installed_from_the_site_mirror(host):
    """PyPI resolves to nowhere on this host (the leak guard), so the install came from the mirror."""
    if hostname(host) != "ec2lab-awscli-pip":
        pytest.skip("pip host only")
    assert host.run("getent ahostsv4 pypi.org").stdout.split()[:1] == ["0.0.0.0"]
    assert host.run("curl -sS --max-time 5 -o /dev/null https://pypi.org/simple/").rc != 0
