"""The naming, CIDR and AMI rules a user hits before any AWS resource is made."""

import pathlib

import pytest

from ansible_collections.ec2lab.notebook.plugins.filter import ec2lab as filters


@pytest.mark.parametrize(
    "name",
    ["ec2lab-nb-123456789012", "data.science.bucket", "abcd", "a" * 63, "my-bucket-2026"],
)
def test_valid_bucket_names_pass(name):
    assert filters.s3_bucket_name_problems(name) == []


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("abc", "4 to 63 characters"),  # the lecture's minimum of four
        ("a" * 64, "4 to 63 characters"),
        ("My-Bucket", "lowercase"),
        ("under_score", "lowercase"),
        (".leading", "begin and end"),
        ("trailing.", "begin and end"),
        ("-dash", "begin and end"),
        ("two..dots", "adjacent periods"),
        ("192.168.10.20", "IP address"),
        ("xn--bucket", "reserved prefix"),
        ("sthree-data", "reserved prefix"),
        ("amzn-s3-demo-bucket", "reserved prefix"),
        ("data-s3alias", "reserved suffix"),
        ("data--ol-s3", "reserved suffix"),
        ("data--x-s3", "reserved suffix"),
    ],
)
def test_invalid_bucket_names_say_which_rule(name, rule):
    problems = filters.s3_bucket_name_problems(name)
    assert any(rule in problem for problem in problems), problems


@pytest.mark.parametrize(
    ("instance_type", "arch"),
    [("t3.medium", "x86_64"), ("m5.large", "x86_64"), ("t4g.medium", "arm64"),
     ("c7gn.xlarge", "arm64"), ("r8gd.large", "arm64"), ("g5.xlarge", "x86_64"),
     ("p4d.24xlarge", "x86_64")],
)
def test_architecture_follows_instance_family(instance_type, arch):
    assert filters.ec2_architecture(instance_type) == arch


def _ami(name, arch="x86_64", created="2026-01-01T00:00:00.000Z", state="available"):
    return {"name": name, "architecture": arch, "creation_date": created, "state": state,
            "image_id": "ami-" + str(abs(hash((name, arch))))[:8]}


IMAGES = [
    _ami("ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-amd64-server-20260101"),
    _ami("ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20260310"),
    _ami("ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20260105"),
    _ami("ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-arm64-server-20260401", arch="arm64"),
    _ami("ubuntu/images/hvm-ssd-gp3/ubuntu-plucky-25.04-amd64-server-20260401"),  # odd year
    _ami("ubuntu/images/hvm-ssd-gp3/ubuntu-questing-25.10-amd64-server-20261001"),  # interim
    _ami("ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-server-20261201", state="pending"),
    _ami("ubuntu-pro-server/images/hvm-ssd-gp3/ubuntu-noble-24.04-amd64-pro-server-20261101"),
]


def test_latest_lts_skips_interim_releases_and_takes_newest_build():
    best = filters.latest_ubuntu_lts(IMAGES, "x86_64")
    assert best["name"].endswith("ubuntu-noble-24.04-amd64-server-20260310")


def test_latest_lts_matches_architecture():
    best = filters.latest_ubuntu_lts(IMAGES, "arm64")
    assert best["name"].endswith("ubuntu-noble-24.04-arm64-server-20260401")


def test_no_lts_image_gives_empty_result():
    assert filters.latest_ubuntu_lts(IMAGES[4:6], "x86_64") == {}


@pytest.mark.parametrize("cidr", ["203.0.113.10/32", "54.214.14.247/32"])
def test_public_host_cidrs_pass(cidr):
    assert filters.cidr_problems(cidr) == []


@pytest.mark.parametrize(
    ("cidr", "why"),
    [("0.0.0.0/0", "single IPv4 host"), ("203.0.113.0/24", "single IPv4 host"),
     ("192.168.1.20/32", "private"), ("10.0.0.5/32", "private"), ("127.0.0.1/32", "private"),
     ("2001:db8::1/128", "single IPv4 host"), ("not-an-ip/32", "not a valid CIDR"),
     ("203.0.113.10", "/32")],
)
def test_cidrs_that_are_not_one_public_host_are_refused(cidr, why):
    problems = filters.cidr_problems(cidr)
    assert problems and why in problems[0]


@pytest.mark.parametrize("cidr", ["10.20.0.0/16", "192.168.7.0/24", "172.16.4.9/32"])
def test_private_instance_accepts_private_ranges(cidr):
    assert filters.cidr_problems(cidr, True) == []


@pytest.mark.parametrize("cidr", ["10.0.0.0/8", "203.0.113.10/32", "0.0.0.0/0"])
def test_private_instance_refuses_public_or_huge_ranges(cidr):
    assert "private IPv4 range" in filters.cidr_problems(cidr, True)[0]


@pytest.mark.parametrize("instance_type, gpu", [
    ("g4dn.xlarge", True), ("g5.2xlarge", True), ("g5g.xlarge", True), ("g6e.xlarge", True), ("gr6.4xlarge", True),
    ("p4d.24xlarge", True), ("p5.48xlarge", True),
    ("t3.medium", False), ("t4g.large", False), ("g4ad.xlarge", False), ("m5.large", False), ("", False),
])
def test_nvidia_gpu_types_are_told_apart_from_the_rest(instance_type, gpu):
    assert filters.ec2_nvidia_gpu(instance_type) is gpu


DLAMIS = [
    {"name": "Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 24.04) 20261009", "architecture": "x86_64",
     "creation_date": "2026-10-09T10:00:00.000Z", "image_id": "old"},
    {"name": "Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 24.04) 20261106", "architecture": "x86_64",
     "creation_date": "2026-11-06T10:00:00.000Z", "image_id": "new"},
    {"name": "Deep Learning ARM64 Base OSS Nvidia Driver GPU AMI (Ubuntu 24.04) 20261120", "architecture": "arm64",
     "creation_date": "2026-11-20T10:00:00.000Z", "image_id": "arm"},
    {"name": "Deep Learning Base OSS Nvidia Driver GPU AMI (Ubuntu 24.04) 20261125", "architecture": "x86_64",
     "creation_date": "2026-11-25T10:00:00.000Z", "image_id": "pending", "state": "pending"},
]


def test_the_newest_available_image_of_the_architecture_is_chosen():
    assert filters.newest_image(DLAMIS, "x86_64")["image_id"] == "new"
    assert filters.newest_image(DLAMIS, "arm64")["image_id"] == "arm"
    assert filters.newest_image([], "x86_64") == {}


def test_the_image_root_size_is_its_root_devices_snapshot():
    image = {"root_device_name": "/dev/sda1", "block_device_mappings": [
        {"device_name": "/dev/sdb", "ebs": {"volume_size": 500}},
        {"device_name": "/dev/sda1", "ebs": {"volume_size": 75}}]}
    assert filters.image_root_size(image) == 75
    assert filters.image_root_size({"root_device_name": "/dev/sda1"}) == 0


@pytest.mark.parametrize("lines, summary", [
    (["NVIDIA A10G, 23028, 570.172.08"], "NVIDIA A10G, 23028 MiB, driver 570.172.08"),
    (["NVIDIA H100 80GB HBM3, 81559, 570.172.08"] * 8, "8 x NVIDIA H100 80GB HBM3, 81559 MiB each, driver 570.172.08"),
    ([], ""),
])
def test_nvidia_smi_answers_read_as_one_line(lines, summary):
    assert filters.nvidia_gpu_summary(lines) == summary


def test_the_price_table_covers_every_gpu_family_launch_offers():
    import yaml

    table = yaml.safe_load((pathlib.Path(__file__).parents[4] / "roles/ec2lab/vars/prices.yml").read_text())
    priced = {instance_type.split(".")[0] for instance_type in table["__ec2lab_prices_per_hour"]}
    assert {"g4dn", "g5", "g5g", "g6", "g6e", "gr6", "p4d", "p5"} <= priced


@pytest.mark.parametrize("name, ok", [
    ("nb", True), ("a", True), ("course-2026", True), ("x" * 32, True),
    ("x" * 33, False), ("Nb", False), ("2nb", False), ("nb-", False), ("n_b", False), ("", False), (7, False),
])
def test_workstation_names_suit_every_resource_they_name(name, ok):
    assert filters.workstation_name(name) is ok


@pytest.mark.parametrize("name, ok", [
    ("us-west-2", True), ("eu-central-1", True), ("us-gov-west-1", True), ("us-isob-east-1", True),
    ("ap-southeast-7", True), ("eu-mars", False), ("US-WEST-2", False), ("us-west-2a", False), ("", False),
])
def test_region_names_are_spelled_like_aws_regions(name, ok):
    assert filters.aws_region(name) is ok


@pytest.mark.parametrize("name, ok", [
    ("t3.medium", True), ("g5.xlarge", True), ("u-6tb1.metal", True), ("huge", False), ("T3.medium", False),
])
def test_instance_types_are_spelled_like_ec2_types(name, ok):
    assert filters.ec2_instance_type(name) is ok


ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGm1Yw0jx9dS5tZ1V0mGQ9p3Q0s1k8wR7c2nV2bq3yZf ada@laptop"
ECDSA = "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTY="


@pytest.mark.parametrize("key, for_sshd, for_key_pair", [
    (ED25519, True, True),
    (ED25519.rsplit(" ", 1)[0], True, True),  # no comment
    (f"  {ED25519}\n", True, True),  # as read from a .pub file
    ("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 me", True, True),
    (ECDSA, True, False),  # sshd takes it, EC2 does not import it as a key pair
    ("sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29t", True, False),
    ("-----BEGIN OPENSSH PRIVATE KEY-----", False, False),
    ("ssh-dss AAAAB3NzaC1kc3MAAACBAP", False, False),
    (f"{ED25519}\n{ED25519}", False, False),  # two keys
    ("", False, False),
    (None, False, False),
])
def test_public_keys_are_one_line_of_a_type_sshd_or_ec2_accepts(key, for_sshd, for_key_pair):
    assert filters.openssh_public_key(key) is for_sshd
    assert filters.openssh_public_key(key, key_pair=True) is for_key_pair



@pytest.mark.parametrize("url, ok", [
    ("https://pypi.example.edu/simple/", True),
    ("http://127.0.0.1:8000/pypi/simple", True),
    ("https://user@artifactory.example.com:8443/api/pypi/pypi-remote/simple", True),
    ("file:///srv/mirror/conda-forge", True),
    ("pypi.example.edu/simple", False),  # no scheme: pip would take it for a local path
    ("ftp://mirror.example.edu/pypi", False),
    ("https:///simple", False),  # no host
    ("file://relative/path", False),
    ("https://mirror.example.edu/simple --trusted-host evil", False),  # would become two options
    ("https://mirror.example.edu/'quoted'", False),
    ("", False),
    (None, False),
])
def test_download_urls_are_http_https_or_file_urls_with_no_spaces(url, ok):
    assert filters.download_url(url) is ok


def test_pip_index_options_are_empty_without_a_mirror():
    assert filters.pip_index_options("", []) == {"urls": [], "args": [], "env": {}}


def test_pip_index_options_name_every_index_and_trust_plain_http_ones_once():
    options = filters.pip_index_options(
        "http://127.0.0.1:8000/pypi/simple/",
        ["https://pypi.example.edu/simple", "http://127.0.0.1:8000/other/simple"])
    assert options["urls"] == ["http://127.0.0.1:8000/pypi/simple/", "https://pypi.example.edu/simple",
                               "http://127.0.0.1:8000/other/simple"]
    assert options["args"] == [
        "--index-url", "http://127.0.0.1:8000/pypi/simple/",
        "--extra-index-url", "https://pypi.example.edu/simple",
        "--extra-index-url", "http://127.0.0.1:8000/other/simple",
        "--trusted-host", "127.0.0.1"]
    assert options["env"] == {
        "PIP_INDEX_URL": "http://127.0.0.1:8000/pypi/simple/",
        "PIP_EXTRA_INDEX_URL": "https://pypi.example.edu/simple http://127.0.0.1:8000/other/simple",
        "PIP_TRUSTED_HOST": "127.0.0.1"}


def test_an_https_mirror_alone_is_not_a_trusted_host():
    assert filters.pip_index_options("https://pypi.example.edu/simple/") == {
        "urls": ["https://pypi.example.edu/simple/"], "args": ["--index-url", "https://pypi.example.edu/simple/"],
        "env": {"PIP_INDEX_URL": "https://pypi.example.edu/simple/"}}


ALICES = [
    {"kind": "instance", "id": "i-0a", "name": "nb", "state": "running",
     "tags": {"ec2lab:name": "nb", "ec2lab:owner": "alice"}},
    {"kind": "volume", "id": "vol-0d", "name": "ec2lab-nb-data", "state": "in-use",
     "tags": {"ec2lab:name": "nb", "ec2lab:owner": "alice", "ec2lab:role": "data"}},
    {"kind": "snapshot", "id": "snap-0b", "name": "", "state": "completed",
     "tags": {"ec2lab:name": "nb", "ec2lab:owner": "alice", "ec2lab:role": "backup"}},
    {"kind": "key pair", "id": "key-0k", "name": "ec2lab-nb", "state": "", "tags": {"ec2lab:owner": "alice"}},
    {"kind": "security group", "id": "sg-0s", "name": "ec2lab-nb", "state": "", "tags": {"ec2lab:owner": "alice"}},
]


def test_another_owners_resources_are_named_by_owner():
    assert filters.other_owners(ALICES, "bob") == [{"owner": "alice", "resources": [
        "instance i-0a (running)", "data volume vol-0d", "backup snap-0b", "key pair ec2lab-nb",
        "security group ec2lab-nb (sg-0s)"]}]


def test_resources_of_picks_the_details_by_kind_tags_and_state():
    mine = {"kind": "volume", "id": "vol-1", "state": "available", "details": {"id": "vol-1"},
            "tags": {"ec2lab:name": "nb", "ec2lab:owner": "bob", "ec2lab:role": "data"}}
    deleting = dict(mine, id="vol-2", state="deleting", details={"id": "vol-2"})
    resources = [dict(r, details={"id": r["id"]}) for r in ALICES] + [mine, deleting]
    assert filters.resources_of(resources, "volume", {"ec2lab:role": "data", "ec2lab:owner": "bob"},
                                ["available", "in-use"]) == [{"id": "vol-1"}]
    assert filters.resources_of(resources, "volume", {"ec2lab:role": "data"}, ["available", "in-use"]) == [
        {"id": "vol-0d"}, {"id": "vol-1"}]
    assert filters.resources_of(resources, "key pair") == [{"id": "key-0k"}]
    assert filters.resources_of(ALICES, "instance") == []  # no details: nothing to act on
    assert filters.resources_of(None, "instance", {"ec2lab:name": "nb"}) == []


def test_ones_own_and_untagged_resources_hold_no_name_against_one():
    untagged = {"kind": "bucket", "id": "ec2lab-nb-1", "name": "ec2lab-nb-1", "state": "", "tags": {}}
    assert filters.other_owners(ALICES + [untagged], "alice") == []
    assert filters.other_owners([untagged], "bob") == []
    assert filters.other_owners([], "bob") == []


def test_several_other_owners_are_each_named_once_in_order():
    carol = {"kind": "IAM role", "id": "ec2lab-nb", "name": "ec2lab-nb", "state": "", "tags": {"ec2lab:owner": "carol"}}
    assert [o["owner"] for o in filters.other_owners([carol] + ALICES, "bob")] == ["alice", "carol"]


@pytest.mark.parametrize(("name", "owner", "suggestion"), [
    ("nb", "bob", "nb-bob"),
    ("nb", "Bob.Smith@example.com", "nb-bob-smith-exampl"),
    ("nb", "---", "nb-2"),
    ("nb-bob", "bob", "nb-bob-bob"),  # bob is refused nb-bob: never suggest it back
    ("a" * 32, "bob", "a" * 28 + "-bob"),
])
def test_the_suggested_name_is_a_valid_workstation_name_and_not_the_taken_one(name, owner, suggestion):
    assert filters.name_for_owner(name, owner) == suggestion
    assert filters.workstation_name(suggestion) and suggestion != name


@pytest.mark.parametrize(("args", "path"), [
    (("nb",), "~/.ssh/ec2lab-nb.pem"),
    (("alice", "", "ds101"), "~/.ssh/ec2lab-ds101/ec2lab-alice.pem"),  # a cohort's keys
    (("nb", "/keys/", "ds101"), "/keys/ec2lab-nb.pem"),  # -e ec2lab_key_dir wins
    (("nb", "/keys", "", True), ""),  # an imported key pair: ssh offers the agent's keys
])
def test_the_key_file_is_named_after_the_workstation_in_one_place(args, path):
    assert filters.workstation_key_file(*args) == path


def _instance(**tags):
    return {
        "tags": {"ec2lab:name": "nb", **tags},
        "placement": {"region": "eu-west-1"},
        "instance_type": "g5.xlarge",
        "root_device_name": "/dev/sda1",
        "block_device_mappings": [
            {"device_name": "/dev/sda1", "ebs": {"volume_id": "vol-root"}},
            {"device_name": "/dev/xvdf", "ebs": {"volume_id": "vol-data"}},
        ],
    }


def test_a_workstation_is_reached_and_set_up_as_launch_recorded_it():
    host = filters.workstation_host_vars(_instance(**{"ec2lab:idle-stop-minutes": "30"}))
    assert host == {
        "ansible_user": "ubuntu",
        "ansible_ssh_private_key_file": "~/.ssh/ec2lab-nb.pem",
        "ansible_ssh_common_args": "-o HostKeyAlias=nb -o UserKnownHostsFile=~/.ssh/ec2lab_known_hosts"
                                   " -o StrictHostKeyChecking=accept-new -o HashKnownHosts=no -o CheckHostIP=no",
        "ec2lab_name": "nb",
        "ec2lab_region": "eu-west-1",
        "ec2lab_data_volume_id": "vol-data",
        "ec2lab_data_volume_attachment_name": "/dev/xvdf",
        "ec2lab_gpu": True,
        "idle_stop_minutes": 30,
    }


def test_what_launch_did_not_record_is_left_to_the_roles_defaults():
    instance = _instance(**{"ec2lab:key": "imported", "ec2lab:cohort": "ds101"})
    instance["block_device_mappings"] = instance["block_device_mappings"][:1]
    host = filters.workstation_host_vars(instance, "/keys")
    assert "idle_stop_minutes" not in host  # idle_stop's own default, 60
    assert host["ansible_ssh_private_key_file"] == ""
    assert (host["ec2lab_data_volume_id"], host["ec2lab_data_volume_attachment_name"]) == ("", "")
    assert filters.workstation_host_vars(_instance(**{"ec2lab:cohort": "ds101"}), "")["ansible_ssh_private_key_file"] \
        == "~/.ssh/ec2lab-ds101/ec2lab-nb.pem"


def test_a_short_quota_says_what_is_needed_allowed_and_in_use_and_the_request_to_send():
    short = [{"code": "L-1216C47A", "name": "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances",
              "quota": 32, "in_use": 4, "needed": 60, "workstations": [f"ds-s{i}" for i in range(30)]}]
    first, advice = filters.vcpu_quota_problems(short, "us-west-2")
    assert first == ("Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances: 30 workstations "
                     "(ds-s0, ds-s1, ds-s2, ds-s3, ds-s4, ...) need 60 vCPUs; the account allows 32 in us-west-2 "
                     "and 4 are in use.")
    assert "--region us-west-2 --service-code ec2 --quota-code L-1216C47A --desired-value 64" in advice
    [one, _] = filters.vcpu_quota_problems([dict(short[0], workstations=["nb"], needed=2)], "us-west-2")
    assert one.startswith("Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances: nb needs 2 vCPUs;")


def test_the_rules_kept_are_every_rule_but_ec2labs_own_in_the_shape_ec2_security_group_takes():
    ours = ["ec2lab: SSH from the caller (start.yml follows it)", "SSH from the ec2lab caller"]
    permissions = [
        {"ip_protocol": "tcp", "from_port": 22, "to_port": 22,
         "ip_ranges": [{"cidr_ip": "198.51.100.23/32", "description": ours[0]},
                       {"cidr_ip": "10.8.0.0/16", "description": "office VPN"}],
         "ipv6_ranges": [{"cidr_ipv6": "2001:db8::/64"}]},
        {"ip_protocol": "-1", "ip_ranges": [{"cidr_ip": "192.0.2.0/24", "description": ours[1]}],
         "user_id_group_pairs": [{"group_id": "sg-123", "user_id": "123456789012"}]},
    ]
    assert filters.security_group_rules_except(permissions, ours) == [
        {"proto": "tcp", "from_port": 22, "to_port": 22, "cidr_ip": ["10.8.0.0/16"], "rule_desc": "office VPN"},
        {"proto": "tcp", "from_port": 22, "to_port": 22, "cidr_ipv6": ["2001:db8::/64"]},
        {"proto": "all", "group_id": ["sg-123"]},
    ]
    assert filters.security_group_cidrs(permissions, ours[:1]) == ["198.51.100.23/32"]
    assert filters.security_group_rules_except([], ours) == [] and filters.security_group_cidrs(None, ours) == []


def test_status_reads_each_instances_caller_rule_from_the_groups_it_is_in():
    caller = "ec2lab: SSH from the caller (start.yml follows it)"
    groups = [
        {"group_id": "sg-nb", "ip_permissions": [{"ip_protocol": "tcp", "from_port": 22, "to_port": 22, "ip_ranges": [
            {"cidr_ip": "198.51.100.23/32", "description": caller}, {"cidr_ip": "10.8.0.0/16", "description": "office VPN"}]}]},
        {"group_id": "sg-class", "ip_permissions": [{"ip_protocol": "tcp", "from_port": 22, "to_port": 22, "ip_ranges": [
            {"cidr_ip": "198.51.100.0/24", "description": "ec2lab: SSH from ec2lab_ssh_cidrs"}]}]},
    ]
    instances = [
        {"instance_id": "i-1", "tags": {"ec2lab:name": "nb"}, "security_groups": [{"group_id": "sg-nb"}]},
        {"instance_id": "i-2", "tags": {"ec2lab:name": "ds101-ada"}, "security_groups": [{"group_id": "sg-class"}]},
        {"instance_id": "i-3", "tags": {"ec2lab:name": "gone"}, "security_groups": [{"group_id": "sg-not-described"}]},
        {"instance_id": "i-4", "tags": {"ec2lab:name": "bare"}},
    ]
    assert filters.instance_rule_cidrs(instances, groups, [caller]) == {"nb": ["198.51.100.23/32"]}
    assert filters.instance_rule_cidrs(instances, [], [caller]) == {} and filters.instance_rule_cidrs(None, None, []) == {}
