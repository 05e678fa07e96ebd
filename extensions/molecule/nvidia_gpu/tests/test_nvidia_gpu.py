"""A GPU host as setup-notebook.yml sees it: the GPU in the summary, or one clear error."""

import subprocess

HOST = "ec2lab-nvidia-gpu"


def test_the_summary_names_the_gpu_its_memory_and_driver(apply_role):
    run = apply_role()
    assert run.returncode == 0, run.stdout[-3000:]
    assert "GPU: NVIDIA A10G, 23028 MiB, driver 570.172.08" in run.stdout


def test_a_driver_that_does_not_answer_is_one_clear_error(apply_role):
    subprocess.run(["podman", "exec", HOST, "touch", "/etc/ec2lab-fixture/nvidia-broken"], check=True)
    try:
        run = apply_role()
    finally:
        subprocess.run(["podman", "exec", HOST, "rm", "/etc/ec2lab-fixture/nvidia-broken"], check=True)
    output = run.stdout + run.stderr
    assert run.returncode != 0
    assert output.count("fatal:") == 1, output[-3000:]
    assert "This is a GPU host, but the NVIDIA driver does not answer" in output
    assert "couldn't communicate with the NVIDIA driver" in output
    assert "(exit 9)" in output
