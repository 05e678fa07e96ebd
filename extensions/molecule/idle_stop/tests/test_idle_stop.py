"""Auto-stop as a user meets it: each kind of use keeps the host up, work included (a job in a
detached tmux, a nohup job, a kernel's child, a disk copy, a busy GPU); nobody using it powers it
off, whatever the OS's own services do.

The window is 10 s and the check runs every 2 s (molecule.yml). Every look goes through
`podman exec`, never ssh: an ssh connection is itself a use the check counts. Jobs are started
over ssh, as a user starts them, so they run in the user's login session (user.slice). The tests
run in file order and share one host; the power-off cases start it again (tests/testbed/start).
"""

import io
import json
import os
import re
import signal
import socket
import subprocess
import tarfile
import tempfile
import time

import pytest
import yaml

HOST = "ec2lab-idle-stop"
WINDOW, INTERVAL = 10, 2
# Longer than the window: an idle host would have powered off within it.
HOLD = WINDOW + 2 * INTERVAL
OLD = "2026-01-01T00:00:00.000000Z"
TERM = {"TERM": "xterm-256color"}
START = os.path.join(os.environ["EC2LAB_ROOT"], "tests/testbed/start")
IDLE_KERNEL = {"kernels": [{"id": "k1", "name": "python3", "execution_state": "idle", "connections": 0,
                            "last_activity": OLD}], "terminals": [], "last_activity": OLD}
BURN = r"work: \d+ % CPU, top python3 /usr/local/bin/fixture-burn \(pid \d+\)"


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


def over_ssh(ssh_argv, command):
    """Run `command` in an ssh login that then ends, as a user who starts a job and logs out."""
    subprocess.run([*ssh_argv, command], capture_output=True, text=True, timeout=60, check=True)
    close_ssh_connections()


def wait_for_power_off():
    """Wait until the host has powered itself off; the check's lines seen until then."""
    deadline, seen = time.time() + WINDOW + 3 * INTERVAL + 30, []
    while running() and not said_powering_off():
        assert time.time() < deadline, verdicts()[-5:]
        try:
            seen = verdicts()
        except AssertionError:  # it went down between the two looks
            break
        time.sleep(1)
    # Then systemd shuts the container down; on a loaded machine a unit may take its stop timeout.
    deadline = time.time() + 120
    while running():
        assert time.time() < deadline, "the check said powering off, but the host kept running"
        time.sleep(1)
    return seen


def boot_again(kept_up=True):
    """What start.yml does after an auto-stop; returns once the first check has run. kept_up:
    with a keep-alive written while it was off, so that the next case, not the 10 s window
    running out during the boot, decides when it powers off again."""
    if kept_up:
        with tempfile.NamedTemporaryFile("w", suffix=".keepalive") as keep:
            keep.write("4102444800\n")
            keep.flush()
            subprocess.run(["podman", "cp", keep.name, f"{HOST}:/var/lib/ec2lab-idle-stop/keepalive"],
                           capture_output=True, check=True)
    subprocess.run([START, HOST], capture_output=True, check=True)
    # The boot mounts the data volume from fstab (UUID=) where udev names its device. A container
    # has no udev and blkid's cache in /run is gone, so mount(8) would find nothing and, with
    # nofail, say nothing: name the device to blkid (a scan finds nothing here), then check.
    podman_exec("sh", "-c", "findmnt /data >/dev/null || { blkid /dev/loop* >/dev/null; mount /data; findmnt /data >/dev/null; }")
    deadline = time.time() + 30
    while not verdicts():
        assert time.time() < deadline, "no check ran after the start"
        time.sleep(1)


@pytest.fixture(scope="module", autouse=True)
def nobody_connected():
    close_ssh_connections()


@pytest.fixture(autouse=True)
def no_job_left_behind():
    """Each case's jobs end with it, passed or failed, so the next case sees only its own."""
    yield
    if running():
        podman_exec("pkill", "--full", "/usr/local/bin/fixture-", check=False)
        podman_exec("rm", "-f", "/etc/ec2lab-fixture/nvidia-utilization", check=False)


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
    assert all("keep-alive until 2100-01-01 00:00 UTC" in line for line in lines), lines

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
    assert all("ssh without a terminal, e.g. a tunnel (1)" in line for line in lines), lines


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
    assert all("tmux attached (1)" in line for line in lines), lines


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
    assert all("kernel busy (1)" in line for line in lines), lines


def test_a_failing_jupyter_api_keeps_the_host_up_and_says_so():
    lines = held_by(lambda: answer({"fail": 500}))
    assert all("uncertain, jupyter: HTTP Error 500" in line for line in lines), lines


def test_the_check_never_counts_as_jupyter_activity_itself():
    requests = podman_exec("cat", "/run/fixture-jupyter-api/requests.log").stdout.split()
    asked = [path for path in requests if not path.startswith("/api/status")]
    assert asked and all(path.endswith("?no_track_activity=1") for path in asked), sorted(set(requests))


def test_status_says_what_counts_now():
    told = podman_exec("ec2lab-idle-stop", "status", user="ubuntu")
    assert told.stdout.splitlines()[0] == "Auto-stop: powers off after 10 s without use."
    assert "Now: active: uncertain, jupyter: HTTP Error 500" in told.stdout


def test_a_cpu_job_in_a_detached_tmux_session_keeps_the_host_up(ssh_argv):
    """What the lecture teaches for long jobs: start it in tmux, detach, log out."""
    answer(IDLE_KERNEL)
    podman_exec("tmux", "kill-server", user="ubuntu", check=False)  # 'held' was not started over ssh
    over_ssh(ssh_argv, "tmux new-session -d -s train fixture-burn")
    seen = len(verdicts())
    time.sleep(3 * WINDOW)
    assert running(), "the host powered off under a job in a detached tmux session"
    lines = verdicts()[seen + 1:]
    assert len(lines) >= 3 * WINDOW // (2 * INTERVAL), lines  # checks ran all along (slower on a busy machine)
    assert all(re.search(BURN + " in tmux", line) for line in lines), lines
    told = podman_exec("ec2lab-idle-stop", "status", user="ubuntu").stdout
    assert re.search(BURN + " in tmux", told), told  # Now:, or the last check when it ran this second
    assert "Work counts at 10 % CPU of one core, 0.524288 MB/s of disk or 10 % GPU" in told
    podman_exec("tmux", "kill-server", user="ubuntu", check=False)


def test_a_nohup_job_whose_ssh_login_closed_keeps_the_host_up(ssh_argv):
    lines = held_by(lambda: over_ssh(ssh_argv, "nohup fixture-burn >/dev/null 2>&1 &"))
    assert all(re.search(BURN + " in a login session", line) for line in lines), lines


def test_a_kernels_child_computing_keeps_the_host_up_while_the_kernel_is_idle():
    token = podman_exec("cat", "/home/ubuntu/.fixture-jupyter-token").stdout.strip()
    child = []
    lines = held_by(lambda: child.append(json.loads(podman_exec(
        "curl", "--silent", "--fail", "--header", f"Authorization: token {token}",
        "http://127.0.0.1:8899/fixture/child").stdout)["pid"]))
    assert all(re.search(BURN + " in Jupyter", line) and f"(pid {child[0]})" in line for line in lines), lines
    assert all("kernel busy" not in line for line in lines), lines


def test_a_low_cpu_job_writing_to_the_data_volume_keeps_the_host_up(ssh_argv):
    """A copy or a download that waits on the network: little CPU, steady bytes."""
    lines = held_by(lambda: over_ssh(ssh_argv, "nohup fixture-write /data/download.bin 2048 >/dev/null 2>&1 &"))
    assert all(re.search(r"work: disk \d+\.\d MB/s, top python3 /usr/local/bin/fixture-write", line)
               for line in lines), lines
    assert all("% CPU" not in line for line in lines), lines


def test_a_busy_gpu_keeps_the_host_up():
    lines = held_by(lambda: podman_exec("sh", "-c", "echo 90 > /etc/ec2lab-fixture/nvidia-utilization"))
    assert all("work: GPU 90 %" in line for line in lines), lines


def test_a_detached_tmux_session_running_sleep_lets_the_host_power_off(ssh_argv):
    over_ssh(ssh_argv, "tmux new-session -d -s nap 'sleep 600'")
    wait_for_power_off()
    boot_again()


def test_a_cpu_burning_system_service_lets_the_host_power_off():
    """The OS's own work (unattended-upgrades, apt-daily, snapd) never keeps a host up."""
    podman_exec("ec2lab-keepalive", "off")
    podman_exec("systemd-run", "--unit=fixture-unattended-upgrades", "/usr/local/bin/fixture-burn")
    lines = [line for line in wait_for_power_off() if line.startswith("idle ")]
    cpu = [int(match[1]) for line in lines if (match := re.search(r"CPU (\d+) %", line))]
    assert cpu and max(cpu) < 10, lines  # the service burns half a core; users' work is nil
    boot_again()


def test_nobody_using_the_host_powers_it_off():
    """An idle kernel, nobody connected, a GPU at 0 % without processes; the command before
    power-off writes its file, then hangs and is cut off."""
    podman_exec("ec2lab-keepalive", "off")
    answer(IDLE_KERNEL)
    wait_for_power_off()
    state = subprocess.run(["podman", "cp", f"{HOST}:/var/lib/ec2lab-idle-stop/state.json", "-"],
                           capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(state)) as archive:
        last = json.load(archive.extractfile("state.json"))
    assert last["line"].startswith("idle ") and last["line"].endswith(": powering off"), last
    assert "GPU 0 %" in last["line"], last
    assert last["before_poweroff"].startswith("the command before power-off cut off after 3 s (it hung)"), last


def test_started_again_it_counts_idle_time_from_the_new_boot():
    """What start.yml does after an auto-stop: the old idle time must not power it off at once."""
    boot_again(kept_up=False)
    first = verdicts()[0]
    podman_exec("ec2lab-keepalive", "1d")  # for the look at the data volume below
    assert first.startswith("idle ") and not first.endswith("powering off"), first


def test_the_command_before_power_off_left_its_file_on_the_data_volume_and_status_says_how_it_ended():
    written = podman_exec("cat", "/data/before-poweroff.txt").stdout
    assert re.match(r"\w{3} \w{3} +\d+ ", written), written  # date's output
    owner = podman_exec("stat", "--format=%U", "/data/before-poweroff.txt").stdout.strip()
    assert owner == "ubuntu"  # run as the login user
    told = podman_exec("ec2lab-idle-stop", "status", user="ubuntu").stdout
    assert "Before the last power-off: the command before power-off cut off after 3 s (it hung)" in told, told
