"""What a user of the notebook host notices about tmux: it runs, and work started in it outlives
the SSH connection that started it."""

import os
import signal
import subprocess
import time

import pytest
import yaml

SESSION_SLEEP = "sleep 600"


@pytest.fixture(scope="module")
def ssh():
    """Run a command over a NEW ssh connection as the login user (no connection sharing), the way
    a user logs in again after losing the previous connection."""
    with open(os.environ["MOLECULE_INSTANCE_CONFIG"], encoding="utf-8") as handle:
        instance = yaml.safe_load(handle)[0]
    base = [
        "ssh", "-i", instance["identity_file"], "-p", str(instance["port"]),
        "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
        "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
        "-o", "ControlMaster=no", "-o", "ControlPath=none",
        f"{instance['user']}@{instance['address']}",
    ]

    # A user's terminal has a TERM that tmux can draw on, which ssh -tt passes on; CI runs
    # without one, or with TERM=dumb, on which tmux refuses to attach.
    term = os.environ.get("TERM", "")
    env = dict(os.environ, TERM=term if term not in ("", "dumb") else "xterm-256color")

    def run(command, tty=False, background=False):
        argv = base[:-1] + (["-tt"] if tty else []) + base[-1:] + [command]
        if background:
            return subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, env=env)
        return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False, env=env)

    run.base = base
    run.env = env
    yield run
    run("tmux kill-server")


def wait_for_session(ssh, name):
    for _ in range(50):
        if ssh(f"tmux has-session -t {name}").returncode == 0:
            return
        time.sleep(0.2)
    pytest.fail(f"tmux session {name} never appeared")


def test_tmux_runs_for_the_login_user(host):
    result = host.run("tmux -V")
    assert result.rc == 0
    assert result.stdout.startswith("tmux ")


def test_detached_session_survives_the_connection_that_started_it(ssh):
    started = ssh(f"tmux new-session -d -s work '{SESSION_SLEEP}'")
    assert started.returncode == 0, started.stderr
    # That ssh connection has ended; a new login still finds the session and its program.
    listed = ssh("tmux list-sessions -F '#{session_name}'")
    assert "work" in listed.stdout.split()
    panes = ssh("tmux list-panes -t work -F '#{pane_dead} #{pane_current_command}'")
    assert panes.stdout.strip() == "0 sleep"


def test_attached_session_survives_a_dropped_connection(ssh):
    client = ssh(f"tmux new-session -s dropped '{SESSION_SLEEP}'", tty=True, background=True)
    try:
        wait_for_session(ssh, "dropped")
        # The network goes away: the client dies without detaching or logging out.
        client.send_signal(signal.SIGKILL)
        client.wait(timeout=10)
        time.sleep(1)
        panes = ssh("tmux list-panes -t dropped -F '#{pane_dead} #{pane_current_command}'")
        assert panes.returncode == 0, panes.stderr
        assert panes.stdout.strip() == "0 sleep"
    finally:
        if client.poll() is None:
            client.kill()


def test_configured_history_limit_is_in_effect(ssh):
    ssh(f"tmux new-session -d -s history '{SESSION_SLEEP}'")
    shown = ssh("tmux show-options -g history-limit")
    assert shown.stdout.strip() == "history-limit 12345"


def test_mouse_is_on(ssh):
    ssh(f"tmux new-session -d -s mouse '{SESSION_SLEEP}'")
    assert ssh("tmux show-options -g mouse").stdout.strip() == "mouse on"


def test_auto_attach_puts_an_interactive_login_into_tmux(ssh, apply_role):
    assert apply_role(tmux_history_limit=12345, tmux_auto_attach=True).returncode == 0
    try:
        ssh("tmux kill-server")
        # An interactive login (a terminal, no command), like `ssh notebook`.
        login = subprocess.Popen(ssh.base[:1] + ["-tt"] + ssh.base[1:],
                                 stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, env=ssh.env)
        try:
            wait_for_session(ssh, "main")
            listed = ssh("tmux list-sessions -F '#{session_name} #{session_attached}'")
            assert listed.stdout.split() == ["main", "1"]
        finally:
            login.kill()
            login.wait(timeout=10)
    finally:
        assert apply_role(tmux_history_limit=12345, tmux_auto_attach=False).returncode == 0


def test_logins_stay_plain_by_default(ssh):
    ssh("tmux kill-server")
    login = subprocess.Popen(ssh.base[:1] + ["-tt"] + ssh.base[1:],
                             stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, env=ssh.env)
    try:
        time.sleep(3)
        assert ssh("tmux has-session -t main").returncode != 0
    finally:
        login.kill()
        login.wait(timeout=10)
