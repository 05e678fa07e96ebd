"""The text rules behind the ssh_alias role: where the Include goes, which bytes stay."""

import base64
import struct

import pytest

from ansible_collections.ec2lab.notebook.plugins.module_utils import ssh_config

INCLUDE = "Include config.d/ec2lab"
COMMENT = "# Added by ec2lab"


def add(text):
    return ssh_config.ssh_config_include(text, INCLUDE, COMMENT, True)


def remove(text):
    return ssh_config.ssh_config_include(text, INCLUDE, COMMENT, False)


def fake_key(key_type="ssh-ed25519"):
    name = key_type.encode()
    return f"{key_type} " + base64.b64encode(struct.pack(">I", len(name)) + name + b"\0" * 36).decode()


@pytest.mark.parametrize(
    "original",
    [
        "",
        "Host *\n    User bob\n",
        "# mine\r\nHost *\r\n    User bob  \r\nMatch host x\r\n    Port 2\r\n# no newline",
        "Include ~/.ssh/other/*\nServerAliveInterval 5\n\nHost a\n  HostName b",
    ],
)
def test_include_goes_on_top_and_comes_off_byte_for_byte(original):
    added = add(original)
    newline = "\r\n" if "\r\n" in original else "\n"
    assert added == COMMENT + newline + INCLUDE + newline + original
    assert add(added) == added
    assert remove(added) == original


def test_include_already_above_the_first_host_block_stays_where_it_is():
    text = "User x\n" + COMMENT + "\n" + INCLUDE + "\nHost *\n  User y\n"
    assert add(text) == text


def test_include_below_a_host_block_moves_to_the_top():
    text = "Host *\n  User y\n" + COMMENT + "\n" + INCLUDE + "\n"
    assert add(text) == COMMENT + "\n" + INCLUDE + "\nHost *\n  User y\n"


def test_duplicate_includes_collapse_to_one():
    text = COMMENT + "\n" + INCLUDE + "\n" + INCLUDE + "\nHost a\n"
    assert add(text) == COMMENT + "\n" + INCLUDE + "\nHost a\n"


def test_a_users_other_include_is_not_ours():
    text = "Include config.d/ec2lab-extra\nInclude config.d/*\n"
    assert remove(text) == text


def test_known_hosts_lines_of_the_alias_are_replaced_in_place():
    old, new, other = fake_key(), fake_key("ecdsa-sha2-nistp256"), fake_key("ssh-rsa")
    text = f"gpu {other}\nnb {old}\n|1|hashed= {other}\nlast {other}"
    updated = ssh_config.known_hosts_update(text, "nb", [new + " root@ip-10-0-0-1"])
    assert updated == f"gpu {other}\nnb {new}\n|1|hashed= {other}\nlast {other}"
    assert ssh_config.known_hosts_update(updated, "nb", [new]) == updated


def test_known_hosts_without_new_keys_keeps_what_was_learned():
    text = f"nb {fake_key()}\n"
    assert ssh_config.known_hosts_update(text, "nb", None) == text
    assert ssh_config.known_hosts_update(text, "nb", []) == ""


def test_known_hosts_appends_a_new_alias_after_a_line_without_newline():
    key = fake_key()
    assert ssh_config.known_hosts_update(f"gpu {key}", "nb", [key]) == f"gpu {key}\nnb {key}\n"
    assert ssh_config.known_hosts_entries(f"gpu {key}\nnb {key}\n", "nb") == [f"nb {key}"]


@pytest.mark.parametrize(
    ("keys", "problem"),
    [
        ("ssh-ed25519 AAAA", "must be a list"),
        (["ssh-dss AAAAB3NzaC1kc3MAAACBAP"], "is not '<type> <base64>'"),
        (["ssh-ed25519"], "is not '<type> <base64>'"),
        (["ssh-ed25519 not*base64"], "not valid base64"),
        ([fake_key("ssh-rsa").replace("ssh-rsa", "ssh-ed25519")], "is not a ssh-ed25519 key"),
    ],
)
def test_bad_host_keys_say_why(keys, problem):
    assert any(problem in p for p in ssh_config.host_key_problems(keys))


def test_good_host_keys_pass():
    assert ssh_config.host_key_problems([fake_key(), fake_key("ecdsa-sha2-nistp256") + " comment"]) == []


EC2LAB_FILE = (
    "# BEGIN ec2lab nb\nHost nb nb-jupyter\n  HostName 1.2.3.4\nHost nb-jupyter\n"
    "    LocalForward 127.0.0.1:8890 127.0.0.1:8888\n# END ec2lab nb\n"
    "# BEGIN ec2lab gpu\r\nHost gpu-jupyter\r\n  LocalForward 8891 localhost:8888\r\n# END ec2lab gpu\r\n"
)


def test_block_ports_and_names_are_read_back():
    assert ssh_config.ssh_alias_names(EC2LAB_FILE) == ["nb", "gpu"]
    assert ssh_config.ssh_alias_block_port(EC2LAB_FILE, "nb") == 8890
    assert ssh_config.ssh_alias_block_port(EC2LAB_FILE, "gpu") == 8891
    assert ssh_config.ssh_alias_block_port(EC2LAB_FILE, "cpu") is None
    assert ssh_config.ssh_alias_ports(EC2LAB_FILE, "nb") == [8891]
    assert ssh_config.ssh_alias_block_remote_port(EC2LAB_FILE, "nb") == 8888
    assert ssh_config.ssh_alias_block_remote_port(EC2LAB_FILE, "cpu") is None


def test_tunnel_process_is_recognised_by_its_alias():
    ps = ["/usr/bin/ssh -N -f nb-jupyter", "vim nb-jupyter", "ssh nb"]
    assert ssh_config.ssh_tunnel_running(ps, "nb-jupyter")
    assert not ssh_config.ssh_tunnel_running(ps[1:], "nb-jupyter")


@pytest.mark.parametrize(
    ("taken", "current", "ours", "avoid", "chosen"),
    [
        (set(), None, False, [], 8888),
        ({8888}, None, False, [], 8889),
        ({8888}, None, False, [8889], 8890),  # another ec2lab alias claims 8889
        (set(), 8889, False, [], 8889),  # stable on re-runs
        ({8889}, 8889, True, [], 8889),  # held by the alias's own tunnel
        ({8889}, 8889, False, [], 8888),  # taken by something else now
        (set(), 9999, False, [], 8888),  # the preferred port moved away from it
    ],
)
def test_local_port_choice(taken, current, ours, avoid, chosen):
    port = ssh_config.pick_local_port(8888, current=current, current_is_ours=ours, avoid=avoid,
                                      is_free=lambda p: p not in taken)
    assert port == chosen


def test_no_free_port_is_an_error_with_the_range():
    with pytest.raises(ValueError, match="8888-8890"):
        ssh_config.pick_local_port(8888, tries=3, is_free=lambda p: False)


def test_hashed_known_hosts_lines_of_the_alias_are_found():
    import hashlib
    import hmac

    salt = b"0123456789abcdefghij"
    hashed = "|1|{}|{}".format(base64.b64encode(salt).decode(),
                               base64.b64encode(hmac.new(salt, b"nb", hashlib.sha1).digest()).decode())
    text = f"{hashed} {fake_key()}\ngpu {fake_key()}\n"
    assert ssh_config.known_hosts_entries(text, "nb") == [f"{hashed} {fake_key()}"]
    assert ssh_config.known_hosts_entries(text, "gpu2") == []
    assert ssh_config.known_hosts_update(text, "nb", []) == f"gpu {fake_key()}\n"


def test_the_instance_id_is_read_from_its_own_block_only():
    text = ("# BEGIN ec2lab nb\nHost nb nb-jupyter\n    # Instance: i-0aaa (note)\n# END ec2lab nb\n"
            "# BEGIN ec2lab gpu\nHost gpu gpu-jupyter\n    HostName 203.0.113.9\n# END ec2lab gpu\n")
    assert ssh_config.ssh_alias_block_host_id(text, "nb") == "i-0aaa"
    assert ssh_config.ssh_alias_block_host_id(text, "gpu") == ""
    assert ssh_config.ssh_alias_block_host_id("", "nb") == ""


def test_a_block_is_added_at_the_end_replaced_in_place_and_removed_byte_for_byte():
    text = "# BEGIN ec2lab a\nHost a\n# END ec2lab a\n# BEGIN ec2lab b\nHost b\n# END ec2lab b\n"
    assert ssh_config.ssh_alias_block_set(text, "a", "Host a\n    Port 2222\n") == (
        "# BEGIN ec2lab a\nHost a\n    Port 2222\n# END ec2lab a\n# BEGIN ec2lab b\nHost b\n# END ec2lab b\n")
    assert ssh_config.ssh_alias_block_set(text, "c", "Host c") == text + "# BEGIN ec2lab c\nHost c\n# END ec2lab c\n"
    assert ssh_config.ssh_alias_block_set(text, "a", None) == "# BEGIN ec2lab b\nHost b\n# END ec2lab b\n"
    assert ssh_config.ssh_alias_block_set(text, "c", None) == text
    # What Ansible's blockinfile wrote reads back unchanged when the block is the same.
    assert ssh_config.ssh_alias_block_set(text, "b", "Host b\n") == text
    assert ssh_config.ssh_alias_block_set("Host x", "a", "Host a") == "Host x\n# BEGIN ec2lab a\nHost a\n# END ec2lab a\n"
