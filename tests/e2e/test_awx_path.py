"""The path AWX / Automation Platform and ansible-navigator take, offline: the plays run inside
the execution environment `make ee` builds (ee/build; a Debian base from the machine's mirror
instead of UBI, nothing else differs), by FQCN from an empty project directory, through
ansible-navigator with the repository's ansible-navigator.yml. Launch imports the key pair from
the Machine credential's public half (the job's home is thrown away, so no private key may be
written there); setup_notebook converges the container standing in for the instance with the
private half offered by an ssh-agent, as AWX offers a Machine credential; a backup job flushes
the running workstation over SSH before its snapshot; terminate with purge empties the account;
a cohort launched through navigator leaves its key and bundle in the caller's home, and no
container of any of it is left.

Only the addresses differ from real use: AWS_ENDPOINT_URL passed in, host networking for the
execution environment's container (moto and the test bed listen on the host's loopback), and an
inventory overlay, as in test_user_path.py.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import tarfile

import pytest
import yaml
from jupyter_client import Jupyter, tunnel_answers
from ssh_user import User
from testlib import CALLER_CIDR, ROOT, pins

# Takes ~330 s with the image build, ~170 s without: marked so that it starts after the longest
# suites, by when `make test` has built the image beside them (tests/bin/run-tests).
pytestmark = pytest.mark.slow(seconds=140)

VERSION = yaml.safe_load((ROOT / "galaxy.yml").read_text())["version"]
IMAGE = f"localhost/ec2lab-ee:{VERSION}"


@pytest.fixture(scope="module")
def execution_environment():
    """`make ee EE_BASE=debian`: the image, built or found up to date by its recipe; the collection
    tarball it installed."""
    subprocess.run(["ee/build"], cwd=ROOT, env=dict(os.environ, EE_BASE="debian"), check=True)
    [tarball] = (ROOT / "build" / "ee").glob("ec2lab-notebook-*.tar.gz")
    return tarball


def in_image(*argv: str) -> str:
    return subprocess.run(["podman", "run", "--rm", IMAGE, *argv], check=True, capture_output=True, text=True).stdout


def test_the_tarball_holds_the_collection_and_none_of_the_tests(execution_environment):
    with tarfile.open(execution_environment) as archive:
        tops = {name.split("/")[0] for name in archive.getnames()}
    assert {"roles", "plugins", "playbooks", "inventory", "examples", "meta"} <= tops
    assert not tops & {"tests", "extensions", "bench", "collections", ".venv", ".ci", "ee", "build"}, tops


def test_the_image_is_what_the_definition_and_the_pins_say(execution_environment):
    assert f"ansible [core {pins((ROOT / 'requirements.txt').read_text())['ansible-core']}]" in in_image("ansible", "--version")
    frozen = pins(in_image("python3", "-m", "pip", "freeze"))
    locked = pins((ROOT / "requirements.txt").read_text())
    for name in ("ansible", "ansible-core", "ansible-runner", "boto3", "botocore"):
        assert frozen[name] == locked[name], name
    listed = json.loads(in_image("ansible-galaxy", "collection", "list", "--format", "json"))
    installed = {name: info["version"] for path in listed.values() for name, info in path.items()}
    wanted = {c["name"]: c["version"] for c in yaml.safe_load((ROOT / "requirements.yml").read_text())["collections"]}
    assert {name: installed.get(name) for name in wanted} == wanted
    assert installed["ec2lab.notebook"] == VERSION
    assert in_image("bash", "-c", "command -v ssh ssh-keygen ps").split() == ["/usr/bin/ssh", "/usr/bin/ssh-keygen", "/usr/bin/ps"]


@pytest.fixture
def home(tmp_path):
    """A caller's home with what the settings mount: ~/.ssh (ansible-runner), ~/.aws and
    ~/ec2lab-cohorts (README: mkdir -p them once)."""
    for mounted in (".ssh", ".aws", "ec2lab-cohorts"):
        (tmp_path / "home" / mounted).mkdir(parents=True, mode=0o700)
    return tmp_path / "home"


def test_ansible_navigator_accepts_its_settings(home):
    settings = subprocess.run(["ansible-navigator", "settings", "--effective", "--mode", "stdout", "--pp", "never",
                               "--lf", "/dev/null"], cwd=home, env=navigator_env(dict(os.environ, HOME=str(home))),
                              capture_output=True, text=True)
    assert "Issues were found" not in settings.stdout + settings.stderr, settings.stdout + settings.stderr
    assert settings.returncode == 0


def navigator_env(env):
    """`env` as a user of ansible-navigator has it: the repository's settings, and none of the
    checkout's ANSIBLE_* settings (the test bed's collections path would reach the plays)."""
    env = {key: value for key, value in env.items() if not key.startswith("ANSIBLE_")}
    return dict(env, ANSIBLE_NAVIGATOR_CONFIG=str(ROOT / "ansible-navigator.yml"))


def with_agent(key, *argv):
    """`argv` run with an ssh-agent holding only `key`, as AWX runs a job with a Machine credential."""
    return ["ssh-agent", "sh", "-c", 'ssh-add -q "$0" && exec "$@"', str(key), *argv]


def navigator(playbook, *args):
    """ansible-navigator run, as a user types it, plus the test bed's addresses (--penv replaces
    the settings' list of variables passed, so it is given whole)."""
    settings = yaml.safe_load((ROOT / "ansible-navigator.yml").read_text())["ansible-navigator"]
    passed = [*settings["execution-environment"]["environment-variables"]["pass"], "AWS_ENDPOINT_URL", "NO_PROXY", "no_proxy"]
    return ["ansible-navigator", "run", playbook, "--pp", "never", "--lf", "/dev/null",
            *(arg for name in passed for arg in ("--penv", name)), "--container-options=--net=host", *args]


def output(run) -> str:
    """A run's stdout without the job events ansible-runner writes into it between terminal
    escapes (a terminal shows nothing of them)."""
    return re.sub(r"\x1b\[K[A-Za-z0-9+/=]*\x1b\[\d+D(\x1b\[K)?", "", run.stdout)


def test_awx_path(execution_environment, moto_endpoint, instance, aws, home, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    ssh_dir = home / ".ssh"
    job = User(ssh_dir, moto_endpoint)
    job.env = navigator_env(dict(job.env, HOME=str(home)))
    credential = tmp_path / "machine_credential"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "awx-machine-credential", "-f", str(credential)],
                   check=True)
    public_key = credential.with_suffix(".pub").read_text().strip()

    # 1. Launch job template: the survey's name, the credential's public key; no key file written.
    launch = job.run(*navigator("ec2lab.notebook.launch", "-e", f"ec2lab_ssh_cidrs={CALLER_CIDR}",
                                "-e", "ec2lab_wait_for_ssh=false", "-e", json.dumps({"ec2lab_key_pair_public_key": public_key})),
                     cwd=project)
    assert "Key pair: imported from ec2lab_key_pair_public_key" in output(launch), output(launch)[-3000:]
    assert not list(ssh_dir.glob("*.pem"))
    status = job.run(*navigator("ec2lab.notebook.status", "-e", "ec2lab_pricing_api=false"), cwd=project)
    assert '"nb ' in output(status)
    [described] = aws.instances()
    data_volume_id = next(m["Ebs"]["VolumeId"] for m in described["BlockDeviceMappings"] if m["DeviceName"] == "/dev/sdf")
    instance.boot_as(public_key + "\n", data_volume_id)

    # 2. The inventory source: the one file the collection ships (an AWX source's variables), and
    # no group_vars: setup-notebook reads login, key and data volume from the instance itself.
    (project / "inventory").mkdir()
    with tarfile.open(execution_environment) as archive:
        source = archive.extractfile("inventory/ec2lab.aws_ec2.yml").read()
    (project / "inventory" / "ec2lab.aws_ec2.yml").write_bytes(source)
    overlay = instance.inventory_overlay("nb", project / "overlay.yml")
    inventories = ["-i", "inventory", "-i", overlay.name]

    # 3. Setup job template: the Machine credential in an agent; nothing else knows the key. The
    # aliases land in the caller's ~/.ssh and hold there, outside the execution environment.
    setup = job.run(*with_agent(credential, *navigator("ec2lab.notebook.setup_notebook", *inventories)), cwd=project)
    assert re.search(r"nb\s+:\s+ok=\d+\s+changed=\d+\s+unreachable=0\s+failed=0", output(setup)), output(setup)[-3000:]
    token = re.search(r"Token \(.*?\): ([0-9a-f]{32,})", output(setup)).group(1)
    local_port = int(re.search(r"ssh -N -f nb-jupyter\S*.*?http://127\.0\.0\.1:(\d+)/lab", output(setup), re.S).group(1))
    aliases = (ssh_dir / "config.d" / "ec2lab").read_text()
    assert "IdentityFile" not in aliases and "UserKnownHostsFile ~/.ssh/ec2lab_known_hosts" in aliases, aliases
    who = job.run(*with_agent(credential, "ssh", "-o", "BatchMode=yes", "nb", "id -un"))
    assert who.stdout.split() == ["ubuntu"], who.stdout
    tunnel = ["ssh", "-o", "BatchMode=yes", "-N", "-f", "nb-jupyter"]
    job.run(*with_agent(credential, *tunnel))
    try:
        jupyter = Jupyter(f"http://127.0.0.1:{local_port}", token)
        assert tunnel_answers(jupyter) == 403
        assert jupyter.status_code() == 200
    finally:
        job.run("pkill", "-f", " ".join(tunnel), check=False)

    # 4. A scheduled backup job template: the running workstation is flushed over SSH first.
    backup = job.run(*with_agent(credential, *navigator("ec2lab.notebook.backup", *inventories)), cwd=project)
    assert "right after a sync over SSH" in output(backup), output(backup)[-3000:]
    [snapshot] = aws.backups()
    assert {t["Key"]: t["Value"] for t in snapshot["Tags"]}["ec2lab:consistency"] == "flushed"

    # 5. Terminate job template, with purge: nothing of the workstation is left but its backup.
    job.run(*navigator("ec2lab.notebook.terminate", "-e", "ec2lab_purge=true"), cwd=project)
    assert aws.nothing_for("nb") and aws.backups()
    assert not (ssh_dir / "config.d" / "ec2lab").exists() or "Host nb" not in (ssh_dir / "config.d" / "ec2lab").read_text()

    # 6. A cohort launched from the execution environment (navigator on an instructor's machine):
    # the generated key and the student's bundle land in the caller's home, as without navigator.
    (project / "ds1.yml").write_text(yaml.safe_dump({"ec2lab_cohort": {"name": "ds1", "ssh_cidrs": [CALLER_CIDR],
                                                                       "students": [{"name": "grace"}]}}))
    cohort = job.run(*navigator("ec2lab.notebook.launch", "-e", "@ds1.yml", "-e", "ec2lab_wait_for_ssh=false"), cwd=project)
    assert "Cohort ds1: 1 of 1 ready" in output(cohort), output(cohort)[-3000:]
    key = ssh_dir / "ec2lab-ds1" / "ec2lab-ds1-grace.pem"
    bundle = home / "ec2lab-cohorts" / "ds1" / "grace"
    assert stat.S_IMODE(key.stat().st_mode) == 0o400
    assert (bundle / "ds1-grace.pem").read_text() == key.read_text()
    assert "HostName " in (bundle / "ssh_config").read_text()
    job.run(*navigator("ec2lab.notebook.terminate", "-e", "@ds1.yml", "-e", "ec2lab_purge=true"), cwd=project)
    assert aws.nothing_for("ds1-grace")
    left = subprocess.run(["podman", "ps", "--all", "--filter", f"ancestor={IMAGE}", "--format", "{{.Names}}"],
                          check=True, capture_output=True, text=True).stdout
    assert left == ""
