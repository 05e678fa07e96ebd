"""launch.yml -e ec2lab_key_pair_public_key=...: the key pair comes from the caller's public key,
as on AWX, where the job's home is thrown away and the Machine credential holds the private key.
(That a generated key pair is never replaced by an imported one is tested on test_launch.py's
shared launch.)"""

import pytest
from testlib import key_pair_option, new_public_key


@pytest.fixture
def public_key(tmp_path):
    return new_public_key(tmp_path / "awx_machine_credential")


def test_imported_key_pair_writes_no_private_key_and_refuses_another_key(playbook, aws, key_dir, public_key, tmp_path):
    run = playbook("launch.yml", *key_pair_option(public_key))
    assert run.rc == 0, run
    [pair] = aws.ec2.describe_key_pairs(KeyNames=["ec2lab-nb"], IncludePublicKey=True)["KeyPairs"]
    assert pair["PublicKey"].split()[:2] == public_key.split()[:2]
    assert not key_dir.exists() or not any(key_dir.iterdir())
    [instance] = aws.instances()
    assert {t["Key"]: t["Value"] for t in instance["Tags"]}["ec2lab:key"] == "imported"
    assert "Key pair: imported from ec2lab_key_pair_public_key" in run.output
    # The alias names no key file: ssh offers the agent's keys.
    aliases = (key_dir.parent / "home/.ssh/config.d/ec2lab").read_text()
    assert "Host nb nb-jupyter" in aliases and "IdentityFile" not in aliases

    again = playbook("launch.yml", *key_pair_option(public_key))
    assert again.rc == 0 and again.recap()["changed"] == 0, again

    # Another key for the same name is refused, and nothing changes.
    other = new_public_key(tmp_path / "someone_else")
    run = playbook("launch.yml", *key_pair_option(other))
    assert run.rc != 0
    assert "exists in AWS with another public key than ec2lab_key_pair_public_key (imported from another key)" in run.output
    [pair] = aws.ec2.describe_key_pairs(KeyNames=["ec2lab-nb"], IncludePublicKey=True)["KeyPairs"]
    assert pair["PublicKey"].split()[:2] == public_key.split()[:2]

    # Forgetting the option later says how to launch again, rather than asking for a key file.
    forgot = playbook("launch.yml")
    assert forgot.rc != 0
    assert "was imported from a public key; ec2lab holds no private key" in forgot.output
    assert len(aws.instances()) == 1


@pytest.mark.parametrize("key, message", [
    ("ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTY= me", "of type ssh-ed25519 or ssh-rsa"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----", "never a private key"),
])
def test_a_key_ec2_cannot_import_is_refused_before_anything_is_made(playbook, aws, key, message):
    run = playbook("launch.yml", *key_pair_option(key))
    assert run.rc != 0
    assert message in run.output
    assert aws.nothing_for("nb")
