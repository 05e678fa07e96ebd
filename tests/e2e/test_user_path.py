"""The whole path a user walks, offline: launch.yml against moto, the aws_ec2 inventory finds
the instance, setup-notebook.yml converges the container standing in for it, then `ssh nb`,
`ssh -N -f nb-jupyter`, a notebook cell through the tunnel, a real browser, terminate.yml.

Only the address differs from real use: an inventory overlay points host `nb` at the
container's sshd on 127.0.0.1 and the installers at the fixtures on its own loopback.

Once on each test bed image: Debian 12, and Debian 13 for the generation of Ubuntu 24.04/26.04
(Python 3.13 under PEP 668, deb822 apt sources, OpenSSH 10).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from jupyter_client import Jupyter, tunnel_answers
from ssh_user import User
from testbed.instance import SUITES, Instance
from testlib import CALLER_CIDR, ROOT

ARTIFACTS = ROOT / "tests" / "output" / "e2e"

pytestmark = [pytest.mark.slow(seconds=340), pytest.mark.parametrize("instance", SUITES, indirect=True)]

# The suites run side by side on one machine, each user with a ~/.ssh of their own but the same
# loopback: each tunnel's port search starts at a port of its own, or both would take the first
# free one before either tunnel holds it.
TUNNEL_PORTS = {"bookworm": 8888, "trixie": 9888}
BAKED_TUNNEL_PORT = 8988

# What setup-notebook.yml changes on a workstation launched from a baked image: only what belongs
# to that workstation (its new data volume, its own token, auto-stop's state, its instance's tag);
# nothing is installed.
HOST_SPECIFIC_CHANGES = {
    "data_volume : Make a file system on the blank device, type ext4",
    "data_volume : Mount the data volume by UUID, listed in /etc/fstab",
    "data_volume : Hand the volume's top directory to its owner",
    "jupyter : Generate the access token on the host",
    "jupyter : Create the notebook directory owned by the login user",
    "jupyter : Restart the JupyterLab service",
    "idle_stop : Create the keep-alive file, writable by the login user",
    "ec2lab : Record the workstation's settings on its instance",
}
# The template's own files, which must be back after the bake and in no image (nor auto-stop's
# state, which its check rewrites every minute).
OWN_FILES = ("/etc/ssh/ssh_host_ed25519_key", "/home/ubuntu/.ssh/authorized_keys", "/home/ubuntu/.bash_history",
             "/home/ubuntu/.jupyter/ec2lab-token")


# One per suite: a fresh ~/.ssh, so no alias or known host of the other suite's run is left.
@pytest.fixture
def user(moto_endpoint, tmp_path_factory):
    ssh_dir = tmp_path_factory.mktemp("home") / ".ssh"
    ssh_dir.mkdir(mode=0o700)
    return User(ssh_dir, moto_endpoint)


def test_user_path(user, instance, aws, fixture_files, tmp_path_factory):
    # 1. launch.yml against moto: key pair, SG, bucket, role, data volume, instance.
    port = f"ssh_alias_jupyter_preferred_port={TUNNEL_PORTS[instance.suite]}"
    user.run("ansible-playbook", "launch.yml", "-e", f"ec2lab_ssh_cidrs={CALLER_CIDR}",
             "-e", "ec2lab_wait_for_ssh=false", "-e", port)
    key = user.ssh_dir / "ec2lab-nb.pem"
    assert key.stat().st_mode & 0o777 == 0o400
    [described] = aws.instances()
    data_volume_id = next(m["Ebs"]["VolumeId"] for m in described["BlockDeviceMappings"] if m["DeviceName"] == "/dev/sdf")

    # 2. The container boots as that instance would: the key pair's public half authorised
    #    for ubuntu (cloud-init's job), the EBS volume under its Nitro NVMe name (udev's job).
    instance.boot_as(user.run("ssh-keygen", "-y", "-f", str(key)).stdout, data_volume_id)

    # 3. The aws_ec2 inventory finds it; the overlay only changes where `nb` is reached.
    graph = user.run("ansible-inventory", "--graph", "ec2lab").stdout
    assert "nb" in graph
    overlay = instance.inventory_overlay("nb", user.ssh_dir.parent / "overlay.yml")

    # 4. setup-notebook.yml converges it and prints how to reach JupyterLab.
    setup = user.run("ansible-playbook", "-i", "inventory/", "-i", str(overlay), "-e", port, "setup-notebook.yml")
    token = re.search(r"Token \(.*?\): ([0-9a-f]{32,})", setup.stdout).group(1)
    local_port = int(re.search(r"ssh -N -f nb-jupyter\S*.*?http://127\.0\.0\.1:(\d+)/lab", setup.stdout, re.S).group(1))

    # Auto-stop is on, says so, and status.yml can tell from the instance's tag.
    assert "Auto-stop: powers off after 60 min without use" in setup.stdout
    assert {t["Key"]: t["Value"] for t in aws.instances()[0]["Tags"]}["ec2lab:idle-stop-minutes"] == "60"

    # The token is shown once, in the first summary, and nowhere else — a re-run, even with
    # -vvv, says how to read it instead.
    verbose = user.run("ansible-playbook", "-vvv", "-i", "inventory/", "-i", str(overlay), "-e", port,
                       "setup-notebook.yml")
    assert verbose.stdout.count(token) + verbose.stderr.count(token) == 0
    assert "Token: unchanged; print it with: ssh nb cat /home/ubuntu/.jupyter/" in verbose.stdout
    assert re.search(r"nb\s+:\s+ok=\d+\s+changed=0\s", verbose.stdout), "re-run is not idempotent"

    # 5. `ssh nb` works with nothing but the alias.
    who = user.run("ssh", "-o", "BatchMode=yes", "nb", "id -un; findmnt -n -o TARGET --target /data/notebooks")
    assert who.stdout.split() == ["ubuntu", "/data"]
    hint = re.search(r"print it with: ssh nb cat (/[\w./-]+)", verbose.stdout).group(1)
    assert user.run("ssh", "-o", "BatchMode=yes", "nb", "cat", hint).stdout.strip() == token
    # The idle check sees this very connection, and reads the real JupyterLab without doubt.
    idle = user.run("ssh", "-o", "BatchMode=yes", "nb", "ec2lab-idle-stop", "status").stdout
    now = next(line for line in idle.splitlines() if line.startswith("Now: "))
    assert now.startswith("Now: active: ") and "ssh without a terminal" in now and "uncertain" not in now, idle
    # What an idle workstation's users' cgroups use (JupyterLab, sshd, this login): far below
    # auto-stop's thresholds (10 % CPU, 0.5 MB/s), so a machine nobody uses still stops.
    work = re.search(r"^Work in the last second: CPU (\d+) %, disk (\d+\.\d) MB/s", idle, re.M)
    assert work and int(work[1]) < 10 and float(work[2]) < 0.5, idle
    # The lecture's habit for a long job: start it in tmux, detach, log out. It is work the
    # idle check counts, so auto-stop will not power the workstation off under it.
    user.run("ssh", "-o", "BatchMode=yes", "nb", "tmux new-session -d -s train \"python3 -c 'while True: pass'\"")
    try:
        idle = user.run("ssh", "-o", "BatchMode=yes", "nb", "ec2lab-idle-stop", "status").stdout
        assert re.search(r"^Now: active: .*work: \d+ % CPU, top python3 -c while True: pass \(pid \d+\) in tmux",
                         idle, re.M), idle
    finally:
        user.run("ssh", "-o", "BatchMode=yes", "nb", "tmux kill-session -t train", check=False)
    config = (user.ssh_dir / "config").read_text()
    assert config.count("Include") == 1

    # 6. The tunnel alias opens the tunnel the lecture builds by hand.
    # Its own log file tells this tunnel from the other suite's, for the pkill below.
    tunnel_log = user.ssh_dir.parent / "tunnel.log"
    tunnel = ["ssh", "-o", "BatchMode=yes", "-E", str(tunnel_log), "-N", "-f", "nb-jupyter"]
    opened = user.run(*tunnel, check=False)
    assert opened.returncode == 0, tunnel_log.read_text() if tunnel_log.exists() else opened.stderr
    try:
        jupyter = Jupyter(f"http://127.0.0.1:{local_port}", token)
        assert tunnel_answers(jupyter) == 403
        assert jupyter.status_code() == 200
        assert jupyter.run_cell("print(6 * 7)").strip() == "42"
        # New notebooks and saved ones (kernel name python3) run the conda env's python, not the
        # server's venv.
        for kernel_name in (None, "python3"):
            assert jupyter.run_cell("import sys; print(sys.prefix)", kernel_name=kernel_name).strip() == "/opt/conda"

        # 7. A real browser opens JupyterLab through the tunnel and runs a cell.
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        if os.path.exists("/usr/bin/chromium"):
            browser = user.run(sys.executable, str(ROOT / "tests/e2e/browser.py"), "--url",
                               f"http://127.0.0.1:{local_port}", "--token", token,
                               "--screenshot", str(ARTIFACTS / f"jupyterlab-{instance.suite}.png"), timeout=300)
            assert re.search(r"3\.\d+\.\d+", browser.stdout), browser.stdout
        else:
            pytest.fail("Debian's chromium is not installed (.ci/run installs it)")
    finally:
        user.run("pkill", "-f", " ".join(tunnel), check=False)

    # 8. On bookworm: an image baked from this workstation, and two more launched from it.
    if instance.suite == "bookworm":
        ami = bake_and_launch_from_the_image(user, instance, aws, token, overlay, fixture_files["EC2LAB_FIXTURE_CONTAINERS"],
                                             tmp_path_factory.mktemp("baked"))

    # 9. terminate.yml removes the aliases and the AWS resources; the data volume stays.
    user.run("ansible-playbook", "terminate.yml")
    aliases = user.ssh_dir / "config.d" / "ec2lab"
    assert not aliases.exists() or "Host nb" not in aliases.read_text()
    assert user.run("ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "nb", "true", check=False).returncode != 0
    left = aws.ec2lab_resources()
    assert left["instances"] == [] and left["volumes"] == [data_volume_id]
    if instance.suite == "bookworm":  # terminate never deletes an image
        assert aws.ec2.describe_images(ImageIds=[ami])["Images"][0]["State"] == "available"
        aws.ec2.deregister_image(ImageId=ami)  # and its test bed image (FIXTURE)


def changed_tasks(output: str, host: str) -> set[str]:
    """The tasks (role : name) that reported a change on `host` in a default-callback log."""
    changed, task = set(), None
    for line in output.splitlines():
        header = re.match(r"(?:TASK|RUNNING HANDLER) \[(?:ec2lab\.notebook\.)?(.*?)\] \*", line)
        if header:
            task = header.group(1)
        elif line.startswith((f"changed: [{host}]", f"changed: [{host} -> ")):
            changed.add(task)
    return changed


def bake_and_launch_from_the_image(user, template, aws, token, overlay, containers_file, workdir) -> str:
    """bake.yml from the stopped workstation; then nb2 and nb3, launched from the image, get host
    keys, a machine id and a token of their own, setup-notebook.yml changes only what belongs to
    each, and nb2's JupyterLab answers through its tunnel. Returns the image id."""
    [nb] = aws.instances()
    tags = {t["Key"]: t["Value"] for t in nb["Tags"]}

    def image_tags(owner):
        return [{"ResourceType": "image", "Tags": [{"Key": "ec2lab:role", "Value": "image"},
                                                   {"Key": "ec2lab:owner", "Value": owner},
                                                   {"Key": "ec2lab:source", "Value": "nb"}]}]
    # An image of nb from last term (retention deregisters it), another owner's of the same name
    # and one ec2lab did not make (both kept).
    older = aws.ec2.create_image(InstanceId=nb["InstanceId"], Name="ec2lab-nb-last-term",
                                 TagSpecifications=image_tags(tags["ec2lab:owner"]))["ImageId"]
    [older_snapshot] = [m["Ebs"]["SnapshotId"] for m in aws.ec2.describe_images(ImageIds=[older])["Images"][0]["BlockDeviceMappings"]]
    others = aws.ec2.create_image(InstanceId=nb["InstanceId"], Name="someone-else", TagSpecifications=image_tags("someone-else"))["ImageId"]
    foreign = aws.ec2.create_image(InstanceId=nb["InstanceId"], Name="hand-made")["ImageId"]

    template.exec("sh", "-ec", "echo 'export SECRET_OF_NB=1' > ~ubuntu/.bash_history && chown ubuntu: ~ubuntu/.bash_history")
    own = template.exec("cat", *OWN_FILES)
    # The test bed's stand-in for EBS: CreateImage of nb commits its container (FIXTURE).
    containers_file.write_text(json.dumps({nb["InstanceId"]: template.name}))
    user.run("ansible-playbook", "stop.yml")
    bake = user.run("ansible-playbook", "-i", "inventory/", "-i", str(overlay), "bake.yml", "-e", "ec2lab_image_keep=1",
                    "-e", "ec2lab_wait_for_ssh=false")
    ami = re.search(r"Image (ami-[0-9a-f]+) \(ec2lab-nb-\d{8}-\d{6}\) from nb: tmux .*JupyterLab \d", bake.stdout).group(1)
    assert "nb is back as it was, and stopped again." in bake.stdout, bake.stdout
    assert aws.instances()[0]["State"]["Name"] == "stopped"
    # The workstation has its own files back, byte for byte; none of them is in the image, nor
    # its journal or machine id.
    assert template.exec("cat", *OWN_FILES) == own
    image = f"localhost/ec2lab-baked:{ami}"
    inside = subprocess.run(["podman", "run", "--rm", "--entrypoint", "/bin/sh", image, "-c",
                             f"ls -d {' '.join(OWN_FILES)} /etc/ssh/ssh_host_* /var/log/journal/* /var/lib/dbus/machine-id "
                             "/var/lib/ec2lab-idle-stop/* 2>/dev/null; cat /etc/machine-id"], capture_output=True, text=True, timeout=120)
    assert inside.stdout == "", inside.stdout
    # Retention: the newest 1 of nb's images; the older one went with its snapshot, the others stay.
    images = {i["ImageId"] for i in aws.ec2.describe_images(Owners=["self"])["Images"]}
    assert ami in images and older not in images and {others, foreign} <= images
    assert older_snapshot not in {s["SnapshotId"] for s in aws.ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]}

    # nb2 and nb3 from the newest baked image, on containers booted from the committed one.
    port = f"ssh_alias_jupyter_preferred_port={BAKED_TUNNEL_PORT}"
    hosts, overlays = {}, []
    try:
        for name in ("nb2", "nb3"):
            user.run("ansible-playbook", "launch.yml", "-e", f"ec2lab_name={name}", "-e", "ec2lab_ami_id=baked",
                     "-e", f"ec2lab_ssh_cidrs={CALLER_CIDR}", "-e", "ec2lab_wait_for_ssh=false", "-e", port)
            [described] = aws.instances(name)
            assert described["ImageId"] == ami
            volume = next(m["Ebs"]["VolumeId"] for m in described["BlockDeviceMappings"] if m["DeviceName"] == "/dev/sdf")
            hosts[name] = Instance(f"ec2lab-e2e-user-path-{name}", workdir / name, image=image).create()
            hosts[name].boot_as(user.run("ssh-keygen", "-y", "-f", str(user.ssh_dir / f"ec2lab-{name}.pem")).stdout, volume)
            overlays += ["-i", str(hosts[name].inventory_overlay(name, workdir / f"{name}.yml"))]
        setup = user.run("ansible-playbook", "-i", "inventory/", *overlays, "-e", port, "setup-notebook.yml")
        for name in hosts:
            assert changed_tasks(setup.stdout, name) == HOST_SPECIFIC_CHANGES, setup.stdout
        # Each has a token, host keys and a machine id of its own, and none is the template's.
        tokens = dict(re.findall(r"Token \(new; kept in \S+ on (nb\d), mode 0600\): ([0-9a-f]{32,})", setup.stdout))
        assert len({token, *tokens.values()}) == 3, setup.stdout
        for path in ("/etc/ssh/ssh_host_ed25519_key.pub", "/etc/machine-id"):
            assert len({template.exec("cat", path), *(host.exec("cat", path) for host in hosts.values())}) == 3, path
        tunnel = ["ssh", "-o", "BatchMode=yes", "-N", "-f", "nb2-jupyter"]
        user.run(*tunnel)
        try:
            jupyter = Jupyter(f"http://127.0.0.1:{BAKED_TUNNEL_PORT}", tokens["nb2"])
            assert tunnel_answers(jupyter) == 403
            assert jupyter.status_code() == 200
            assert jupyter.run_cell("import sys; print(sys.prefix)").strip() == "/opt/conda"
        finally:
            user.run("pkill", "-f", " ".join(tunnel), check=False)
    finally:
        for host in hosts.values():
            host.destroy()
    for name in ("nb2", "nb3"):
        user.run("ansible-playbook", "terminate.yml", "-e", f"ec2lab_name={name}", "-e", "ec2lab_purge=true")
    return ami
