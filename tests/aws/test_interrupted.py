"""Work cut off half-way (Ctrl-C, a closed laptop) converges when the user runs it again."""

import os
import signal
import subprocess
import time

from testlib import ROOT, playbook_command


def kill_when(aws, key_dir, name, condition, timeout=300):
    """Start a playbook and SIGKILL it (and its workers) as soon as `condition()` holds."""
    cmd, env = playbook_command(aws, key_dir, name)
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + timeout
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if condition():
                os.killpg(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.1)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    return proc.returncode


def test_launch_killed_once_the_instance_is_requested_converges_to_one(playbook, aws, key_dir):
    assert kill_when(aws, key_dir, "launch.yml", lambda: bool(aws.instances())) == -signal.SIGKILL
    [instance] = aws.instances()
    again = playbook("launch.yml")
    assert again.rc == 0, again
    [same] = aws.instances()
    assert same["InstanceId"] == instance["InstanceId"] and same["State"]["Name"] == "running"
    attached = aws.volumes(**{"attachment.instance-id": same["InstanceId"]})
    assert len(attached) == 2  # root and the data volume
    assert len(aws.volumes(**{"tag:ec2lab:role": "data"})) == 1


def test_terminate_killed_after_the_instance_went_finishes_on_rerun(playbook, aws, key_dir):
    assert playbook("launch.yml").rc == 0
    killed = kill_when(aws, key_dir, "terminate.yml", lambda: not aws.instances())
    assert killed == -signal.SIGKILL
    again = playbook("terminate.yml")
    assert again.rc == 0, again
    left = aws.ec2lab_resources()
    assert left["instances"] == [] and left["security_groups"] == [] and left["key_pairs"] == []
    assert left["roles"] == [] and left["instance_profiles"] == []
    assert len(left["volumes"]) == 1 and len(left["buckets"]) == 1  # kept on purpose
