"""The ssh_alias role, run for real with ansible-playbook against a throw-away HOME.

OpenSSH finds ~/.ssh through the passwd entry, not $HOME, so every `ssh -G` here runs in a
private mount namespace where the throw-away HOME is mounted over the user's home directory:
ssh then reads <HOME>/.ssh/config exactly as the user's ssh would, without -F.
"""

import json
import os
import pathlib
import pwd
import random
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time

import pytest

REPO = pathlib.Path(__file__).parents[2]
PYTHON = REPO / ".venv/bin/python"
PLAYBOOK_BIN = REPO / ".venv/bin/ansible-playbook"
PASSWD_HOME = pwd.getpwuid(os.getuid()).pw_dir
INCLUDE_LINES = (
    "# Added by ec2lab (ssh_alias role): its workstations' aliases. Keep this above every Host/Match block.",
    "Include config.d/ec2lab",
)
TRICKY_CONFIG = (
    b"# my own settings, caf\xe9 in latin-1\r\n"
    b"Include ~/.ssh/work/*\r\n"
    b"ServerAliveInterval 15\r\n"
    b"\r\n"
    b"Host *\r\n"
    b"    User bob   \r\n"
    b"    IdentityFile ~/.ssh/id_bob\r\n"
    b"    ForwardAgent yes\r\n"
    b"\t\r\n"
    b"Match host *.example.com\r\n"
    b"    Port 2222\r\n"
    b"# the end, without a newline"
)

pytestmark = pytest.mark.skipif(
    shutil.which("ssh") is None or shutil.which("unshare") is None or os.getuid() != 0,
    reason="needs the OpenSSH client and root for unshare -m",
)


def _two_free_ports():
    """A port P with P, P+1 and P+2 free on 127.0.0.1, so the tests never race a real Jupyter
    on 8888. Taken below the kernel's ephemeral range, where no outgoing connection, bind(0) or
    podman --publish elsewhere on the machine can take it while the test runs (other tests run
    beside this one), and from a band of its own for each pytest-xdist worker."""
    ephemeral_low = int(pathlib.Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    band = range(10000 + 1000 * worker, min(10000 + 1000 * (worker + 1), ephemeral_low) - 3)
    for port in random.sample(band, 50):
        if all(_free(p) for p in (port, port + 1, port + 2)):
            return port
    raise RuntimeError(f"no three free ports in {band.start}-{band.stop + 2}")


def _free(port):
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class Home:
    """A throw-away HOME and the ways a user would look at it."""

    def __init__(self, path, workdir):
        self.path = path
        self.ssh = path / ".ssh"
        self.workdir = workdir
        self.port = _two_free_ports()
        self.runs = 0

    def run(self, *, check=False, expect_rc=0, **role_vars):
        return self.wait(self.start(check=check, **role_vars), expect_rc)

    def start(self, *, check=False, **role_vars):
        """ansible-playbook with the role, started; wait() collects it (runs may go side by side)."""
        role_vars.setdefault("ssh_alias_jupyter_preferred_port", self.port)
        self.runs += 1
        play = self.workdir / f"play{self.runs}.yml"
        play.write_text(json.dumps([{
            "name": "ssh_alias under test",
            "hosts": "localhost",
            "connection": "local",
            "gather_facts": False,
            "vars": {"ansible_python_interpreter": str(PYTHON)},
            "roles": [{"role": "ec2lab.notebook.ssh_alias", "vars": role_vars}],
            "post_tasks": [{"name": "Show the port", "ansible.builtin.debug": {
                "msg": "PORT={{ ssh_alias_jupyter_local_port | default('none') }}"}}],
        }]))
        env = dict(os.environ, HOME=str(self.path), ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
                   ANSIBLE_NOCOLOR="1", ANSIBLE_LOCAL_TEMP=str(self.workdir / "tmp"))
        command = [str(PLAYBOOK_BIN), "-i", "localhost,", str(play), "--diff"] + (["--check"] if check else [])
        return subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    @staticmethod
    def wait(started, expect_rc=0):
        stdout, stderr = started.communicate(timeout=300)
        done = subprocess.CompletedProcess(started.args, started.returncode, stdout, stderr)
        assert done.returncode == expect_rc, done.stdout[-6000:] + done.stderr[-3000:]
        recap = re.search(r"localhost\s+:\s+ok=\d+\s+changed=(\d+)", done.stdout)
        port = re.search(r"PORT=(\w+)", done.stdout)
        return {"changed": int(recap.group(1)) if recap else None, "out": done.stdout,
                "port": int(port.group(1)) if port and port.group(1).isdigit() else None}

    def ssh_g(self, alias):
        """`ssh -G alias` as the user's own ssh sees it; {option: [values]}."""
        script = 'mount --bind "$1" "$2" && exec ssh -G "$3"'
        done = subprocess.run(["unshare", "-m", "sh", "-c", script, "sh", str(self.path), PASSWD_HOME, alias],
                              capture_output=True, text=True, timeout=30, check=True)
        options = {}
        for line in done.stdout.splitlines():
            key, _, value = line.partition(" ")
            options.setdefault(key, []).append(value)
        return options

    def snapshot(self):
        """Every file under HOME with its bytes, and the modes of ~/.ssh entries."""
        return {str(p.relative_to(self.path)): (p.read_bytes() if p.is_file() and not p.is_symlink() else os.readlink(p) if p.is_symlink() else "dir",
                                                stat.S_IMODE(p.lstat().st_mode))
                for p in sorted(self.path.rglob("*")) if ".ansible" not in p.parts}


@pytest.fixture
def home(tmp_path):
    (tmp_path / "home").mkdir()
    (tmp_path / "work").mkdir()
    return Home(tmp_path / "home", tmp_path / "work")


def _tricky(home):
    home.ssh.mkdir(mode=0o700)
    (home.ssh / "config").write_bytes(TRICKY_CONFIG)
    (home.ssh / "config").chmod(0o644)


def _host_key(home, name="hostkey", key_type="ed25519"):
    path = home.workdir / name
    subprocess.run(["ssh-keygen", "-q", "-t", key_type, "-N", "", "-f", str(path)], check=True)
    return (path.with_suffix(".pub")).read_text().strip()


def test_fresh_home_gets_working_aliases_with_private_modes(home):
    result = home.run(ssh_alias_host_address="203.0.113.10")
    assert result["changed"] > 0
    nb, tunnel = home.ssh_g("nb"), home.ssh_g("nb-jupyter")
    assert nb["hostname"] == ["203.0.113.10"] and nb["user"] == ["ubuntu"] and nb["port"] == ["22"]
    # Written under ~ (ssh -G shows it as written), so that it holds when the alias was written
    # in an execution environment that mounts the same ~/.ssh under another home.
    assert nb["identityfile"][0] == "~/.ssh/ec2lab-nb.pem"
    assert nb["identitiesonly"] == ["yes"] and nb["forwardagent"] == ["no"]
    # ~ is the login's home, over which this test mounts its own.
    assert nb["userknownhostsfile"] == [PASSWD_HOME + "/.ssh/ec2lab_known_hosts"]
    assert nb["hostkeyalias"] == ["nb"] and nb["stricthostkeychecking"] == ["accept-new"]
    assert nb["serveraliveinterval"] == ["60"] and "localforward" not in nb
    assert tunnel["hostname"] == ["203.0.113.10"] and tunnel["exitonforwardfailure"] == ["yes"]
    assert tunnel["localforward"] == [f"[127.0.0.1]:{home.port} [127.0.0.1]:8888"]
    assert result["port"] == home.port
    assert stat.S_IMODE(home.ssh.stat().st_mode) == 0o700
    assert stat.S_IMODE((home.ssh / "config").stat().st_mode) == 0o600
    assert stat.S_IMODE((home.ssh / "config.d").stat().st_mode) == 0o700
    assert stat.S_IMODE((home.ssh / "config.d/ec2lab").stat().st_mode) == 0o600
    assert (home.ssh / "config").read_text().splitlines() == list(INCLUDE_LINES)

    again = home.run(ssh_alias_host_address="203.0.113.10")
    assert again["changed"] == 0, again["out"]
    assert again["port"] == home.port


def test_no_identity_file_lets_ssh_offer_the_agents_keys(home):
    """A key pair imported from the user's public key: no key file exists to name."""
    result = home.run(ssh_alias_host_address="203.0.113.10", ssh_alias_identity_file="")
    assert "with the keys of your ssh-agent" in result["out"]
    nb = home.ssh_g("nb")
    assert nb["identitiesonly"] == ["no"]
    assert "~/.ssh/ec2lab-nb.pem" not in nb.get("identityfile", [])


def test_tricky_user_config_keeps_every_byte(home):
    _tricky(home)
    home.run(ssh_alias_host_address="203.0.113.10")
    config = (home.ssh / "config").read_bytes()
    added = "\r\n".join(INCLUDE_LINES).encode() + b"\r\n"
    assert config == added + TRICKY_CONFIG
    assert stat.S_IMODE((home.ssh / "config").stat().st_mode) == 0o644  # the user's mode is kept

    nb = home.ssh_g("nb")  # ours win over the global option and over Host *
    assert nb["user"] == ["ubuntu"] and nb["serveraliveinterval"] == ["60"] and nb["forwardagent"] == ["no"]
    assert nb["identityfile"][0] == "~/.ssh/ec2lab-nb.pem"
    other = home.ssh_g("elsewhere")  # the user's own settings still apply to their hosts
    assert other["user"] == ["bob"] and other["forwardagent"] == ["yes"] and other["serveraliveinterval"] == ["15"]
    assert home.ssh_g("db.example.com")["port"] == ["2222"]

    assert home.run(ssh_alias_host_address="203.0.113.10")["changed"] == 0
    home.run(ssh_alias_state="absent")
    assert (home.ssh / "config").read_bytes() == TRICKY_CONFIG
    assert not (home.ssh / "config.d/ec2lab").exists()
    assert home.ssh_g("nb")["hostname"] == ["nb"]  # the alias is gone
    assert home.run(ssh_alias_state="absent")["changed"] == 0


def test_new_ip_changes_only_the_hostname_line(home):
    _tricky(home)
    home.run(ssh_alias_host_address="203.0.113.10")
    before = home.snapshot()
    result = home.run(ssh_alias_host_address="198.51.100.7")
    assert result["changed"] == 1, result["out"]
    after = home.snapshot()
    assert [name for name in before if before[name] != after[name]] == [".ssh/config.d/ec2lab"]
    old_lines = before[".ssh/config.d/ec2lab"][0].decode().splitlines()
    new_lines = after[".ssh/config.d/ec2lab"][0].decode().splitlines()
    assert [(a, b) for a, b in zip(old_lines, new_lines, strict=True) if a != b] == [
        ("    HostName 203.0.113.10", "    HostName 198.51.100.7")]
    assert home.ssh_g("nb-jupyter")["hostname"] == ["198.51.100.7"]


def test_custom_jupyter_port_survives_a_later_run_that_does_not_name_it(home):
    home.run(ssh_alias_host_address="203.0.113.10", ssh_alias_jupyter_remote_port=9999)
    # start.yml after a stop: a new IP, and no idea which port setup-notebook chose.
    home.run(ssh_alias_host_address="198.51.100.7")
    assert home.ssh_g("nb-jupyter")["localforward"][0].endswith(":9999")


def test_workstations_launched_side_by_side_coexist_and_removing_one_keeps_the_others(home):
    # Three launches in three terminals at once: each alias gets a port of its own, none is lost.
    _tricky(home)
    keys = {name: _host_key(home, name) for name in ("nb", "gpu", "cpu")}
    started = {name: home.start(ssh_alias_name=name, ssh_alias_host_address=f"203.0.113.{20 + i}",
                                ssh_alias_host_keys=[keys[name]])
               for i, name in enumerate(("nb", "gpu", "cpu"))}
    ports = {name: home.wait(run)["port"] for name, run in started.items()}
    assert sorted(ports.values()) == [home.port, home.port + 1, home.port + 2], ports
    for i, name in enumerate(("nb", "gpu", "cpu")):
        assert home.ssh_g(name)["hostname"] == [f"203.0.113.{20 + i}"]
        assert home.ssh_g(f"{name}-jupyter")["localforward"] == [f"[127.0.0.1]:{ports[name]} [127.0.0.1]:8888"]
    assert len((home.ssh / "ec2lab_known_hosts").read_text().splitlines()) == 3
    assert (home.ssh / "config").read_bytes().count(b"Include config.d/ec2lab") == 1
    home.run(ssh_alias_name="cpu", ssh_alias_state="absent")

    home.run(ssh_alias_name="nb", ssh_alias_state="absent")
    assert home.ssh_g("nb")["hostname"] == ["nb"]
    assert home.ssh_g("gpu")["hostname"] == ["203.0.113.21"]
    assert (home.ssh / "ec2lab_known_hosts").read_text().split()[0] == "gpu"  # only gpu's key is left

    home.run(ssh_alias_name="gpu", ssh_alias_state="absent")
    assert (home.ssh / "config").read_bytes() == TRICKY_CONFIG
    assert sorted(p.name for p in home.ssh.iterdir()) == ["config"]  # config.d was ec2lab's


def test_removing_the_last_alias_leaves_the_home_as_it_was(home):
    """Where ec2lab made ~/.ssh/config and config.d for its Include, nothing of them is left;
    a config.d that holds something of the user's stays."""
    home.ssh.mkdir(mode=0o700)
    (home.ssh / "known_hosts").write_text("")
    before = home.snapshot()
    home.run(ssh_alias_host_address="203.0.113.10", ssh_alias_host_keys=[_host_key(home)])
    assert home.run(ssh_alias_state="absent")["changed"] > 0
    assert home.snapshot() == before

    home.run(ssh_alias_host_address="203.0.113.10")
    (home.ssh / "config.d" / "work").write_text("Host work\n    User me\n")
    home.run(ssh_alias_state="absent")
    assert sorted(p.name for p in (home.ssh / "config.d").iterdir()) == ["work"]
    assert not (home.ssh / "config").exists()


def test_host_keys_are_pinned_under_the_alias_and_survive_a_new_ip(home):
    ed25519, ecdsa = _host_key(home), _host_key(home, "ecdsa", "ecdsa")
    home.run(ssh_alias_host_address="203.0.113.10", ssh_alias_host_keys=[ed25519, ecdsa])
    known = (home.ssh / "ec2lab_known_hosts").read_text()
    assert known == "".join(f"nb {' '.join(k.split()[:2])}\n" for k in (ed25519, ecdsa))
    assert stat.S_IMODE((home.ssh / "ec2lab_known_hosts").stat().st_mode) == 0o600
    nb = home.ssh_g("nb")
    assert nb["stricthostkeychecking"] == ["true"] and nb["hostkeyalias"] == ["nb"]

    home.run(ssh_alias_host_address="198.51.100.7", ssh_alias_host_keys=[ed25519, ecdsa])
    assert (home.ssh / "ec2lab_known_hosts").read_text() == known  # the IP is not in it

    relaunched = _host_key(home, "relaunched")
    home.run(ssh_alias_host_address="198.51.100.8", ssh_alias_host_keys=[relaunched])
    assert (home.ssh / "ec2lab_known_hosts").read_text() == f"nb {' '.join(relaunched.split()[:2])}\n"
    # Without keys, what was pinned stays pinned.
    assert home.run(ssh_alias_host_address="198.51.100.8")["changed"] == 0


def test_a_new_instance_under_the_name_drops_the_old_instances_keys(home):
    old_key = _host_key(home)
    home.run(ssh_alias_host_address="203.0.113.10", ssh_alias_host_keys=[old_key],
             ssh_alias_host_id="i-0aaaaaaaaaaaaaaaa")
    # start.yml after stop: same instance, new IP, no keys passed: the pinned key stays.
    home.run(ssh_alias_host_address="198.51.100.7", ssh_alias_host_id="i-0aaaaaaaaaaaaaaaa")
    # A run that does not know the id (an older caller) keeps the recorded one.
    assert home.run(ssh_alias_host_address="198.51.100.7")["changed"] == 0
    assert old_key.split()[1] in (home.ssh / "ec2lab_known_hosts").read_text()
    assert home.ssh_g("nb")["stricthostkeychecking"] == ["true"]

    # Terminated in the console, relaunched: another instance id under the same name.
    home.run(ssh_alias_host_address="198.51.100.8", ssh_alias_host_id="i-0bbbbbbbbbbbbbbbb")
    assert not (home.ssh / "ec2lab_known_hosts").exists()  # the old keys were its only lines
    nb = home.ssh_g("nb")
    assert nb["stricthostkeychecking"] == ["accept-new"] and nb["hostname"] == ["198.51.100.8"]
    assert "# Instance: i-0bbbbbbbbbbbbbbbb" in (home.ssh / "config.d/ec2lab").read_text()
    assert home.run(ssh_alias_host_address="198.51.100.8", ssh_alias_host_id="i-0bbbbbbbbbbbbbbbb")["changed"] == 0


def test_taken_port_moves_the_tunnel_to_the_next_one(home):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", home.port))
        squatter.listen()
        result = home.run(ssh_alias_host_address="203.0.113.10")
    assert result["port"] == home.port + 1
    assert home.ssh_g("nb-jupyter")["localforward"] == [f"[127.0.0.1]:{home.port + 1} [127.0.0.1]:8888"]
    # Free again: the alias keeps its port, so a bookmark of the notebook URL keeps working.
    assert home.run(ssh_alias_host_address="203.0.113.10")["port"] == home.port + 1


def test_port_held_by_the_aliases_own_tunnel_is_kept(home):
    home.run(ssh_alias_host_address="203.0.113.10")
    # Stands in for `ssh -N -f nb-jupyter`: a process called ssh, holding the port. A link named
    # ssh (not `exec -a ssh`: Python finds its own files through argv[0]).
    fake_ssh = home.workdir / "ssh"
    fake_ssh.symlink_to(sys.executable)
    code = f"import socket,time; s=socket.socket(); s.bind(('127.0.0.1',{home.port})); s.listen(); time.sleep(300)"
    tunnel = subprocess.Popen([str(fake_ssh), "-c", code, "-N", "nb-jupyter"])
    try:
        # Beside the other suites the stand-in can take seconds to start; the role must only run
        # once it holds the port, or it would see a free port (or another process) instead.
        deadline = time.monotonic() + 60
        while _free(home.port):
            assert tunnel.poll() is None and time.monotonic() < deadline, "the stand-in tunnel never held its port"
            time.sleep(0.1)
        result = home.run(ssh_alias_host_address="203.0.113.10")
        processes = subprocess.run(["ps", "-A", "-ww", "-o", "pid=,args="], capture_output=True, text=True).stdout
        assert result["port"] == home.port and result["changed"] == 0, result["out"] + processes
    finally:
        tunnel.send_signal(signal.SIGTERM)
        tunnel.wait()

    with socket.socket() as squatter:  # now something else holds it
        squatter.bind(("127.0.0.1", home.port))
        squatter.listen()
        moved = home.run(ssh_alias_host_address="203.0.113.10")
    assert moved["port"] == home.port + 1 and moved["changed"] == 1


def test_symlinked_config_is_edited_at_its_target(home):
    dotfiles = home.path / "dotfiles"
    dotfiles.mkdir()
    (dotfiles / "ssh_config").write_bytes(TRICKY_CONFIG)
    home.ssh.mkdir(mode=0o700)
    (home.ssh / "config").symlink_to("../dotfiles/ssh_config")

    result = home.run(ssh_alias_host_address="203.0.113.10")
    assert "is a symlink: editing its target" in result["out"]
    assert os.readlink(home.ssh / "config") == "../dotfiles/ssh_config"
    assert (dotfiles / "ssh_config").read_bytes().endswith(TRICKY_CONFIG)
    assert home.ssh_g("nb")["hostname"] == ["203.0.113.10"]

    home.run(ssh_alias_state="absent")
    assert os.readlink(home.ssh / "config") == "../dotfiles/ssh_config"
    assert (dotfiles / "ssh_config").read_bytes() == TRICKY_CONFIG


def test_symlink_to_nowhere_is_refused(home):
    home.ssh.mkdir(mode=0o700)
    (home.ssh / "config").symlink_to("../dotfiles/gone")
    result = home.run(ssh_alias_host_address="203.0.113.10", expect_rc=2)
    assert "is a symlink to ../dotfiles/gone, which does not exist" in result["out"]
    assert sorted(p.name for p in home.ssh.iterdir()) == ["config"]


def test_read_only_config_is_refused_before_anything_is_written(home):
    _tricky(home)
    (home.ssh / "config").chmod(0o444)
    before = home.snapshot()
    result = home.run(ssh_alias_host_address="203.0.113.10", expect_rc=2)
    assert "is read-only (mode 0444), so ec2lab left it alone and wrote nothing" in result["out"]
    assert "Include config.d/ec2lab" in result["out"]
    assert home.snapshot() == before

    # The way out the message offers: the user adds the Include, the role leaves the file alone.
    home.run(ssh_alias_host_address="203.0.113.10", ssh_alias_manage_include=False)
    assert home.snapshot()[".ssh/config"] == before[".ssh/config"]
    assert home.ssh_g("nb")["user"] == ["bob"]  # not included yet: the user's Host * answers


def test_check_mode_writes_nothing(home):
    result = home.run(ssh_alias_host_address="203.0.113.10", ssh_alias_host_keys=[_host_key(home)], check=True)
    assert result["changed"] > 0 and "+Include config.d/ec2lab" in result["out"]
    assert "+    StrictHostKeyChecking yes" in result["out"]
    assert not home.ssh.exists()

    _tricky(home)
    home.run(ssh_alias_host_address="203.0.113.10")
    before = home.snapshot()
    moved = home.run(ssh_alias_host_address="198.51.100.7", check=True)
    assert moved["changed"] == 1 and "+    HostName 198.51.100.7" in moved["out"]
    gone = home.run(ssh_alias_state="absent", check=True)
    assert gone["changed"] > 0 and "-Include config.d/ec2lab" in gone["out"]
    assert home.snapshot() == before


@pytest.mark.parametrize(
    ("role_vars", "message"),
    [
        ({}, "ssh_alias needs ssh_alias_host_address"),
        ({"ssh_alias_host_address": "1.2.3.4", "ssh_alias_name": "My Box"}, "is not valid"),
        ({"ssh_alias_host_address": "1.2.3.4", "ssh_alias_host_keys": ["ssh-ed25519 nope!"]}, "not valid base64"),
    ],
)
def test_bad_input_fails_early_and_writes_nothing(home, role_vars, message):
    result = home.run(expect_rc=2, **role_vars)
    assert message in result["out"]
    assert not home.ssh.exists()
