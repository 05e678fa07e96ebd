"""What the login user notices about conda after the role ran (with the FIXTURE installer), and
what side_effect.yml left behind: refused input did no damage, interrupted installs were completed.
testinfra logs in over ssh as ubuntu; `host.run` runs as ubuntu."""

import pytest

PREFIX = "/opt/conda"
FIXTURE_VERSION = "conda 0.0.0-fixture"


def login_shell(host, command):
    """Run `command` in a bash login shell of the login user, as after `ssh host`."""
    return host.run("bash -lc %s", command)


def test_conda_runs_in_a_login_shell(host):
    result = login_shell(host, "conda --version")
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == FIXTURE_VERSION


def test_conda_comes_from_the_prefix(host):
    result = login_shell(host, "command -v conda")
    assert result.stdout.strip() == f"{PREFIX}/condabin/conda"


def test_login_user_can_use_the_prefix_pip(host):
    """The jupyter role pip-installs into PREFIX; the user can too."""
    result = host.run(f"{PREFIX}/bin/pip --version")
    assert result.rc == 0, result.stderr
    assert f"{PREFIX}/lib/" in result.stdout


def test_prefix_belongs_to_the_login_user_and_nobody_else_can_write(host):
    prefix = host.file(PREFIX)
    assert prefix.user == "ubuntu"
    assert prefix.group == "ubuntu"
    assert prefix.mode == 0o755
    world_writable = host.run(f"find {PREFIX} -perm -o+w ! -type l")
    assert world_writable.rc == 0
    assert world_writable.stdout == ""
    assert host.run(f"touch {PREFIX}/written-by-ubuntu && rm {PREFIX}/written-by-ubuntu").rc == 0


def test_installer_is_not_left_in_the_cache(host):
    with host.sudo():
        listing = host.run("ls -A /var/cache/ec2lab/conda")
    assert listing.rc == 0
    assert listing.stdout == ""


def test_environment_was_created_once_then_updated_once(host):
    """The fixture conda records env commands: one create on converge, none on the idempotence
    run, one update when side_effect changed the definition."""
    calls = host.file(f"{PREFIX}/conda-meta/fixture-calls.log").content_string.splitlines()
    definition = f"--file {PREFIX}/etc/ec2lab-environments/analysis.yml --prefix {PREFIX}/envs/analysis"
    assert calls == [f"env create {definition}", f"env update {definition}"]
    assert "- numpy" in host.file(f"{PREFIX}/etc/ec2lab-environments/analysis.yml").content_string


def test_wrong_checksum_left_no_prefix(host):
    assert not host.file("/opt/conda-wrong-sum").exists


def test_refused_prefix_is_untouched(host):
    data = host.file("/srv/notebooks/results.csv")
    assert data.content_string == "run,score\n1,0.93\n"
    assert data.user == "ubuntu"
    assert host.run("ls -A /srv/notebooks").stdout.split() == ["results.csv"]


@pytest.mark.parametrize("prefix", ["/opt/conda-unpacking", "/opt/conda-linking"])
def test_interrupted_install_was_completed(host, prefix):
    result = host.run(f"{prefix}/bin/conda --version")
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == FIXTURE_VERSION
    assert not host.file(f"{prefix}/.ec2lab-conda-install-incomplete").exists
