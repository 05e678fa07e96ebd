"""What the user of the notebook host notices about the data volume: it is
mounted at /data from /etc/fstab by UUID with nofail, they can write to it,
nothing on it is lost when the role runs again, and on a Xen instance type
it is found by the name it was attached under."""

import time

import pytest

EXPECTED = {
    "ec2lab-data-volume": {"fstype": "ext4", "preexisting": None},
    "ec2lab-data-volume-xfs": {
        "fstype": "xfs",
        "preexisting": ("precious.txt", "results of a week of training\n"),
    },
    "ec2lab-data-volume-xen": {"fstype": "ext4", "preexisting": None},
}
NITRO = "ec2lab-data-volume"
XEN = "ec2lab-data-volume-xen"
BY_ID = "/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_"


@pytest.fixture(name="expected")
def fixture_expected(host):
    return EXPECTED[host.backend.get_hostname()]


def fstab_entry(host):
    line = host.check_output("findmnt --fstab --noheadings --raw "
                             "--output SOURCE,TARGET,FSTYPE,OPTIONS /data")
    return line.split()


def test_mounted_from_fstab_by_uuid_with_nofail(host, expected):
    source, target, fstype, options = fstab_entry(host)
    assert target == "/data"
    assert fstype == expected["fstype"]
    assert "nofail" in options.split(",")
    assert source.startswith("UUID=")
    with host.sudo():
        device = host.check_output("findmnt --noheadings --output SOURCE /data")
        uuid = host.check_output(f"blkid --probe --match-tag UUID --output value {device}")
        live_fstype = host.check_output("findmnt --noheadings --output FSTYPE /data")
    assert source == f"UUID={uuid}"
    assert live_fstype == expected["fstype"]


def test_fstab_entry_alone_mounts_the_volume(host):
    with host.sudo():
        host.check_output("umount /data")
        host.check_output("mount /data")
    assert host.mount_point("/data").exists


def test_login_user_can_write_to_the_volume(host):
    host.check_output("echo notebook-output > /data/written-by-test.txt")
    assert host.check_output("cat /data/written-by-test.txt") == "notebook-output"
    assert host.check_output("stat -c %U /data/written-by-test.txt") == "ubuntu"


def test_file_written_before_rerun_survives(host):
    assert host.file("/data/before-rerun.txt").content_string == (
        "written before the role ran again\n")


def test_existing_data_is_kept(host, expected):
    if expected["preexisting"] is None:
        pytest.skip("this volume was blank")
    name, content = expected["preexisting"]
    assert host.file(f"/data/{name}").content_string == content


def test_other_file_system_is_an_error_not_a_reformat(host, expected, apply_role):
    other = "xfs" if expected["fstype"] == "ext4" else "ext4"
    result = apply_role(host.backend.get_hostname(), data_volume_fstype=other)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"already holds a file system of type {expected['fstype']}" in output
    assert "the role never reformats" in output
    assert host.file("/data/before-rerun.txt").exists
    assert host.check_output("findmnt --noheadings --output FSTYPE /data") == expected["fstype"]


def only_on(host, name):
    if host.backend.get_hostname() != name:
        pytest.skip(f"checked on {name}")


def run_without_a_volume(host, apply_role, **role_vars):
    """The role's output when none of the paths it looks at exists."""
    result = apply_role(host.backend.get_hostname(), data_volume_device_timeout=1, **role_vars)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "None of them exists." in output
    return output


def test_missing_volume_says_what_was_looked_for(host, apply_role):
    only_on(host, NITRO)
    output = run_without_a_volume(host, apply_role, data_volume_device="",
                                  data_volume_ebs_volume_id="vol-0aaaaaaaaaaaaaaaa")
    assert (f"Looked for, in this order: {BY_ID}vol0aaaaaaaaaaaaaaaa "
            "(data_volume_device '', data_volume_ebs_volume_id "
            "'vol-0aaaaaaaaaaaaaaaa', data_volume_attachment_name '')") in output
    # The disks that are there, so the user sees what to point the role at.
    assert "nvme-Amazon_Elastic_Block_Store_vol0" in output.split("/dev/disk/by-id:")[1]


def test_xen_volume_is_found_by_its_attachment_name(host):
    only_on(host, XEN)
    # No NVMe name for data_volume_ebs_volume_id here, as on a t2.micro.
    assert not host.file(f"{BY_ID}vol0bbbbbbbbbbbbbbbb").exists
    with host.sudo():
        xvdf = host.check_output("realpath --canonicalize-existing /dev/xvdf")
        mounted = host.check_output("findmnt --noheadings --output SOURCE /data")
    assert mounted == xvdf


def test_xen_volume_present_is_not_waited_for(host, apply_role):
    only_on(host, XEN)
    started = time.monotonic()
    result = apply_role(host.backend.get_hostname(), data_volume_device_timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert time.monotonic() - started < 60
    assert host.file("/data/before-rerun.txt").content_string == (
        "written before the role ran again\n")


def test_missing_volume_lists_every_candidate(host, apply_role):
    only_on(host, XEN)
    output = run_without_a_volume(host, apply_role, data_volume_ebs_volume_id="vol-0aaaaaaaaaaaaaaaa",
                                  data_volume_attachment_name="/dev/sdg")
    assert (f"Looked for, in this order: {BY_ID}vol0aaaaaaaaaaaaaaaa, "
            "/dev/xvdg, /dev/sdg") in output
    assert "data_volume_attachment_name '/dev/sdg'" in output


def test_explicit_device_has_no_fallback(host, apply_role):
    only_on(host, XEN)
    result = apply_role(host.backend.get_hostname(), data_volume_device="/dev/xvdz",
                        data_volume_device_timeout=1)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert ("Looked for, in this order: /dev/xvdz (data_volume_device "
            "'/dev/xvdz'") in output
    assert host.mount_point("/data").exists


def test_device_mounted_elsewhere_is_refused(host, apply_role):
    only_on(host, XEN)
    with host.sudo():
        host.check_output("umount /data")
        host.check_output("mkdir -p /mnt/elsewhere")
        host.check_output("mount /dev/xvdf /mnt/elsewhere")
    try:
        result = apply_role(host.backend.get_hostname())
        output = result.stdout + result.stderr
        assert result.returncode != 0
        assert "(/dev/xvdf) is mounted on /mnt/elsewhere, not on /data" in output
        assert not host.mount_point("/data").exists
    finally:
        with host.sudo():
            host.run("umount /mnt/elsewhere")
            host.run("mount /data")
    assert host.file("/data/before-rerun.txt").exists
