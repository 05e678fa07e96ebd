"""Auto-stop as a user meets it: each kind of use keeps the host up; nobody using it powers it off.

The window is 10 s and the check runs every 2 s (molecule.yml). Every look goes through
`podman exec`, never ssh: an ssh connection is itself a use the check counts. The tests run in
file order and share one host; the last one powers it off.
"""

import io
import json
import os
import signal
import socket
import subprocess
import tarfile
import time

import pytest
import yaml

HOST = "ec2lab-idle-stop"
WINDOW, INTERVAL = 10, 2
# Longer than the window: an idle host would have powered off within it.
HOLD = WINDOW + 2 * INTERVAL
OLD = "2026-01-01T00:00:00.000000Z"
TERM = {"TERM": "xterm-256color"}


def podman_exec(*argv, user="root", env=None, check=True):
    env_args = [f"--env={key}={value}" for key, value in (env or {}).items()]
    result = subprocess.run(["podman", "exec", f"--user={user}", *env_args, HOST, *argv],
                            capture_output=True, text=True, timeout=60, check=False)
    assert not check or result.returncode == 0, result.stderr
    return result


def running():
    state = subprocess.run(["podman", "inspect", "--format", "{{.State.Running}}", HOST],
                           capture_output=True, text=True, check=True)
    return state.stdout.strip() == "true"


def verdicts():
    """The check's journal lines, oldest first."""
    journal = podman_exec("journalctl", "--unit", "ec2lab-idle-stop", "--output", "cat", "--no-pager")
    return [line for line in journal.stdout.splitlines() if line.startswith(("active:", "idle "))]


def said_powering_off():
    """Whether the check decided to power off; a host already going down cannot be asked."""
    journal = podman_exec("journalctl", "--unit", "ec2lab-idle-stop", "--output", "cat", "--no-pager", check=False)
    said = [line for line in journal.stdout.splitlines() if line.startswith(("active:", "idle "))]
    return journal.returncode != 0 or bool(said) and said[-1].endswith(": powering off")


def held_by(start):
    """Hold whatever the caller started for longer than the window; return the lines seen."""
    start()
    # Counted once the use is in place (starting it can take longer than a tick on a loaded
    # machine); the first line after that may come from a check already under way before it.
    seen = len(verdicts())
    time.sleep(HOLD)
    assert running(), "the host powered off while in use"
    lines = verdicts()[seen + 1:]
    assert len(lines) >= 3, lines  # several checks saw the use, none powered off
    return lines


def sessions():
    return podman_exec("ps", "-o", "pid,user,args", "-C", "sshd,tmux", check=False).stdout


def answer(body):
    """What the FIXTURE Jupyter API answers from now on."""
    podman_exec("sh", "-c", "mkdir -p /run/fixture-jupyter-api && cat > /run/fixture-jupyter-api/answer.json "
                f"<<'EOF'\n{json.dumps(body)}\nEOF")


@pytest.fixture(scope="module")
def ssh_argv():
    with open(os.environ["MOLECULE_INSTANCE_CONFIG"], encoding="utf-8") as handle:
        instance = next(i for i in yaml.safe_load(handle) if i["instance"] == HOST)
    return ["ssh", "-i", instance["identity_file"], "-p", str(instance["port"]),
            "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR", "-o", "ControlMaster=no", "-o", "ControlPath=none",
            f"{instance['user']}@{instance['address']}"]


def close_ssh_connections():
    """Ansible leaves persistent ssh connections (ControlPersist): uses like any other."""
    podman_exec("pkill", "--uid", "ubuntu", "--exact", "sshd", check=False)
    deadline = time.time() + 10
    while podman_exec("pgrep", "--uid", "ubuntu", "--exact", "sshd", check=False).returncode == 0:
        assert time.time() < deadline, "Ansible's ssh connections did not close"
        time.sleep(0.5)


@pytest.fixture(scope="module", autouse=True)
def nobody_connected():
    close_ssh_connections()


def test_settings_the_check_cannot_see_with_are_refused_and_not_installed(apply_role):
    """A check that is always uncertain would keep the host up for ever, silently."""
    settings = podman_exec("cat", "/etc/ec2lab/idle-stop.json").stdout
    run = apply_role(idle_stop_jupyter_token_file="/home/ubuntu/no-such-token")
    close_ssh_connections()
    output = run.stdout + run.stderr
    assert run.returncode != 0
    assert output.count("fatal:") == 1, output[-3000:]
    assert "Auto-stop cannot tell whether this host is in use, so it would never stop it" in output
    assert "uncertain, jupyter: [Errno 2] No such file or directory: '/home/ubuntu/no-such-token'" in output
    assert podman_exec("cat", "/etc/ec2lab/idle-stop.json").stdout == settings


def test_the_keepalive_command_keeps_the_host_up_until_turned_off(ssh_argv):
    # converge.yml set a keep-alive far in the future, so the steps before this one cannot race.
    lines = held_by(lambda: None)
    assert all(line == "active: keep-alive until 2100-01-01 00:00 UTC" for line in lines), lines

    told = subprocess.run([*ssh_argv, "ec2lab-keepalive", "2h"], capture_output=True, text=True, check=True)
    assert told.stdout.startswith("Counted as in use until ")
    off = subprocess.run([*ssh_argv, "ec2lab-keepalive", "off"], capture_output=True, text=True, check=True)
    assert off.stdout.startswith("Keep-alive off")


def test_a_bad_keepalive_duration_is_refused_with_an_example(ssh_argv):
    told = subprocess.run([*ssh_argv, "ec2lab-keepalive", "4hours"], capture_output=True, text=True, check=False)
    assert told.returncode == 2
    assert "'4hours' is not a duration like 90m, 4h or 2d" in told.stderr


def test_an_ssh_login_with_a_terminal_keeps_the_host_up(ssh_argv):
    login = []
    lines = held_by(lambda: login.append(subprocess.Popen(
        [*ssh_argv[:-1], "-tt", ssh_argv[-1], "sleep 600"], stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ, **TERM))))
    login[0].terminate()
    assert all("ssh login with a terminal (1)" in line for line in lines), lines


def test_an_ssh_tunnel_keeps_the_host_up(ssh_argv):
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    tunnel = []
    lines = held_by(lambda: tunnel.append(subprocess.Popen(
        [*ssh_argv[:-1], "-N", "-L", f"127.0.0.1:{port}:127.0.0.1:8899", ssh_argv[-1]],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)))
    tunnel[0].terminate()
    assert all(line == "active: ssh without a terminal, e.g. a tunnel (1)" for line in lines), lines


def test_the_tunnel_of_a_laptop_gone_to_sleep_is_dropped(ssh_argv):
    """sshd's client-alive probes (2 s x 2 here) end a connection whose client stopped answering."""
    tunnel = subprocess.Popen([*ssh_argv[:-1], "-N", ssh_argv[-1]], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while podman_exec("pgrep", "--uid", "ubuntu", "--exact", "sshd", check=False).returncode:
        assert time.time() < deadline, "the tunnel never logged in"
        time.sleep(0.3)
    tunnel.send_signal(signal.SIGSTOP)  # the laptop's lid closes
    try:
        deadline = time.time() + 15
        while podman_exec("pgrep", "--uid", "ubuntu", "--exact", "sshd", check=False).returncode == 0:
            assert time.time() < deadline, f"sshd kept the silent client's connection:\n{sessions()}"
            time.sleep(0.5)
    finally:
        tunnel.kill()
        tunnel.wait()


def test_an_attached_tmux_client_keeps_the_host_up():
    client = []
    lines = held_by(lambda: client.append(subprocess.Popen(
        ["podman", "exec", "--user=ubuntu", "--env=TERM=xterm-256color", HOST,
         "script", "--quiet", "--command", "tmux new-session -s held", "/dev/null"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)))
    podman_exec("tmux", "detach-client", "-s", "held", user="ubuntu")
    client[0].wait(timeout=10)
    assert all(line == "active: tmux attached (1)" for line in lines), lines


def test_a_detached_tmux_session_does_not_count():
    """The session 'held' from the previous test lives on with nothing attached."""
    assert podman_exec("tmux", "has-session", "-t", "held", user="ubuntu", check=False).returncode == 0
    deadline = time.time() + 2 * INTERVAL + 5
    while not verdicts()[-1].startswith("idle "):
        assert time.time() < deadline, f"{verdicts()[-3:]}\n{sessions()}"
        time.sleep(1)


def test_a_busy_kernel_keeps_the_host_up():
    busy = {"id": "k1", "name": "python3", "execution_state": "busy", "connections": 1, "last_activity": OLD}
    lines = held_by(lambda: answer({"kernels": [busy], "terminals": [], "last_activity": OLD}))
    assert all(line == "active: kernel busy (1)" for line in lines), lines


def test_a_failing_jupyter_api_keeps_the_host_up_and_says_so():
    lines = held_by(lambda: answer({"fail": 500}))
    assert all(line.startswith("active: uncertain, jupyter: HTTP Error 500") for line in lines), lines


def test_the_check_never_counts_as_jupyter_activity_itself():
    requests = podman_exec("cat", "/run/fixture-jupyter-api/requests.log").stdout.split()
    asked = [path for path in requests if not path.startswith("/api/status")]
    assert asked and all(path.endswith("?no_track_activity=1") for path in asked), sorted(set(requests))


def test_status_says_what_counts_now():
    told = podman_exec("ec2lab-idle-stop", "status", user="ubuntu")
    assert told.stdout.splitlines()[0] == "Auto-stop: powers off after 10 s without use."
    assert "Now: active: uncertain, jupyter: HTTP Error 500" in told.stdout


def test_nobody_using_the_host_powers_it_off():
    answer({"kernels": [{"id": "k1", "name": "python3", "execution_state": "idle", "connections": 0,
                         "last_activity": OLD}], "terminals": [], "last_activity": OLD})
    deadline = time.time() + WINDOW + 3 * INTERVAL + 30
    while running() and not said_powering_off():
        assert time.time() < deadline, verdicts()[-5:]
        time.sleep(1)
    # Then systemd shuts the container down; on a loaded machine a unit may take its stop timeout.
    deadline = time.time() + 120
    while running():
        assert time.time() < deadline, "the check said powering off, but the host kept running"
        time.sleep(1)
    state = subprocess.run(["podman", "cp", f"{HOST}:/var/lib/ec2lab-idle-stop/state.json", "-"],
                           capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(state)) as archive:
        last = json.load(archive.extractfile("state.json"))
    assert last["line"].startswith("idle ") and last["line"].endswith(": powering off"), last


def test_started_again_it_counts_idle_time_from_the_new_boot():
    """What start.yml does after an auto-stop: the old idle time must not power it off at once."""
    subprocess.run(["podman", "start", HOST], capture_output=True, check=True)
    deadline = time.time() + 30
    while not verdicts():
        assert time.time() < deadline, "no check ran after the start"
        time.sleep(1)
    first = verdicts()[0]
    assert first.startswith("idle ") and not first.endswith("powering off"), first
