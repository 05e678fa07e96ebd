"""Filters ec2lab needs to decide things before it calls AWS.

Pure functions, so the rules are unit-tested without an AWS endpoint.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from urllib.parse import urlsplit

# S3 general purpose bucket naming rules (AWS documentation, 2026) plus the lecture's stricter
# "at least four characters" so a name that works for the course works everywhere.
_BUCKET_MIN, _BUCKET_MAX = 4, 63
_BUCKET_CHARS = re.compile(r"^[a-z0-9.-]+$")
_BUCKET_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_BUCKET_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")

# Canonical's AMI names: ubuntu/images/<virt-type>/ubuntu-<codename>-<YY.MM>-<arch>-server-<serial>
_UBUNTU_AMI_NAME = re.compile(
    r"^ubuntu/images/[^/]+/ubuntu-(?P<codename>[a-z]+)-(?P<year>\d\d)\.(?P<month>\d\d)"
    r"-(?P<arch>amd64|arm64)-server-(?P<serial>[0-9.]+)$"
)

# Addresses a caller can never appear from on the internet (RFC 1918, CGNAT, link-local, ...).
_NON_PUBLIC_V4 = tuple(
    ipaddress.ip_network(net)
    for net in ("0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "169.254.0.0/16", "172.16.0.0/12",
                "192.168.0.0/16", "224.0.0.0/3")
)

# One workstation name names the instance, the key pair, the bucket and the SSH alias, so it must
# suit the strictest of them: 1-32 of a-z, 0-9 and '-', starting with a letter.
_WORKSTATION_NAME = re.compile(r"^[a-z]([a-z0-9-]{0,30}[a-z0-9])?$")
# us-west-2, eu-central-1, us-gov-west-1, us-isob-east-1, ap-southeast-7, ...
_AWS_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]$")
_INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")
# One OpenSSH public key line ("type base64 [comment]"). sshd takes every type below; EC2 imports
# only RSA and ED25519 keys as a key pair.
_PUBLIC_KEY = re.compile(r"^(?P<type>[a-z0-9@.-]+) [A-Za-z0-9+/]+=*( [^\n]*)?$")
_SSHD_KEY_TYPES = frozenset({"ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
                             "ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com"})
_KEY_PAIR_TYPES = frozenset({"ssh-ed25519", "ssh-rsa"})
# No whitespace or quotes: the URL goes onto pip's command line and into a systemd unit.
_URL_CHARS = re.compile(r"^[^\s'\"`]+$")

# Graviton families carry a "g" right after the generation digit (t4g, m7g, c7gn, r8gd, ...).
_GRAVITON_TYPE = re.compile(r"^[a-z]+\d+g[a-z]*\.")
# Instance families with NVIDIA GPUs that AWS's "Deep Learning Base OSS Nvidia Driver GPU AMI"
# supports (x86_64), and g5g (Graviton2 with NVIDIA T4G) for its ARM64 twin.
NVIDIA_GPU_FAMILIES = frozenset({"g4dn", "g5", "g5g", "g6", "g6e", "gr6", "p4d", "p4de", "p5", "p5e", "p5en"})


def workstation_name(name) -> bool:
    """Whether `name` can name a workstation (and its key pair, bucket and SSH alias)."""
    return isinstance(name, str) and bool(_WORKSTATION_NAME.match(name))


def aws_region(name) -> bool:
    """Whether `name` is spelled like an AWS region (not whether the account has it enabled)."""
    return isinstance(name, str) and bool(_AWS_REGION.match(name))


def ec2_instance_type(name) -> bool:
    """Whether `name` is spelled like an EC2 instance type such as t3.medium."""
    return isinstance(name, str) and bool(_INSTANCE_TYPE.match(name))


def openssh_public_key(key, key_pair: bool = False) -> bool:
    """Whether `key` is one OpenSSH public key line; with `key_pair`, one EC2 can import."""
    found = isinstance(key, str) and _PUBLIC_KEY.match(key.strip())
    return bool(found) and found["type"] in (_KEY_PAIR_TYPES if key_pair else _SSHD_KEY_TYPES)


def download_url(url) -> bool:
    """Whether `url` is an http(s) URL with a host, or a file:// URL with an absolute path: what
    pip, conda and the installers' downloads take."""
    if not isinstance(url, str) or not _URL_CHARS.match(url):
        return False
    parts = urlsplit(url)
    if parts.scheme in ("http", "https"):
        return bool(parts.hostname)
    return parts.scheme == "file" and parts.netloc in ("", "localhost") and parts.path.startswith("/")


def pip_index_options(index_url: str = "", extra_index_urls=()) -> dict:
    """pip's options for a package index mirror: every index URL (`urls`, for the option check
    with `download_url`), command-line arguments (`args`, for the pip module's extra_args) and the
    PIP_* environment (`env`, for what runs pip later). "" and [] leave pip's own setting. A
    plain-http index is named a trusted host: naming an http mirror is trusting it, and pip
    refuses one otherwise."""
    urls = ([index_url] if index_url else []) + list(extra_index_urls or [])
    trusted = list(dict.fromkeys(urlsplit(url).hostname for url in urls if url.startswith("http://")))
    args = (["--index-url", index_url] if index_url else [])
    args += [arg for url in extra_index_urls or [] for arg in ("--extra-index-url", url)]
    args += [arg for host in trusted for arg in ("--trusted-host", host)]
    env = {"PIP_INDEX_URL": index_url} if index_url else {}
    if extra_index_urls:
        env["PIP_EXTRA_INDEX_URL"] = " ".join(extra_index_urls)
    if trusted:
        env["PIP_TRUSTED_HOST"] = " ".join(trusted)
    return {"urls": urls, "args": args, "env": env}


def s3_bucket_name_problems(name: str) -> list[str]:
    """Every naming rule `name` breaks, as sentences; an empty list means the name is valid."""
    problems = []
    if not isinstance(name, str):
        return ["the bucket name must be a string"]
    if not _BUCKET_MIN <= len(name) <= _BUCKET_MAX:
        problems.append(
            f"must be {_BUCKET_MIN} to {_BUCKET_MAX} characters long (it has {len(name)})"
        )
    if not _BUCKET_CHARS.match(name):
        problems.append("may contain only lowercase letters, digits, '.' and '-'")
    if name[:1] in (".", "-") or name[-1:] in (".", "-"):
        problems.append("must begin and end with a lowercase letter or a digit")
    if ".." in name:
        problems.append("must not contain two adjacent periods")
    if _looks_like_ipv4(name):
        problems.append("must not be formatted as an IP address")
    for prefix in _BUCKET_RESERVED_PREFIXES:
        if name.startswith(prefix):
            problems.append(f"must not start with the reserved prefix '{prefix}'")
    for suffix in _BUCKET_RESERVED_SUFFIXES:
        if name.endswith(suffix):
            problems.append(f"must not end with the reserved suffix '{suffix}'")
    return problems


def _looks_like_ipv4(name: str) -> bool:
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        return False
    return True


def ec2_architecture(instance_type: str) -> str:
    """The AMI architecture (x86_64 or arm64) an instance type needs."""
    return "arm64" if _GRAVITON_TYPE.match(instance_type or "") else "x86_64"


def ec2_nvidia_gpu(instance_type: str) -> bool:
    """Whether the instance type has NVIDIA GPUs (g5.xlarge: yes; t3.medium, g4ad.xlarge: no)."""
    return (instance_type or "").split(".", 1)[0] in NVIDIA_GPU_FAMILIES


def nvidia_gpu_summary(lines: list[str]) -> str:
    """One line from `nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader,nounits`.

    ['NVIDIA A10G, 23028, 570.172.08'] -> 'NVIDIA A10G, 23028 MiB, driver 570.172.08';
    eight alike -> '8 x NVIDIA H100 80GB HBM3, 81559 MiB each, driver ...'.
    """
    gpus = [tuple(part.strip() for part in line.rsplit(",", 2)) for line in lines if line.strip()]
    kinds: dict[tuple[str, str], int] = {}
    for name, memory, _driver in gpus:
        kinds[(name, memory)] = kinds.get((name, memory), 0) + 1
    drivers = sorted({driver for _name, _memory, driver in gpus})
    described = [f"{name}, {memory} MiB" if count == 1 else f"{count} x {name}, {memory} MiB each"
                 for (name, memory), count in kinds.items()]
    return "; ".join(described) + f", driver {', '.join(drivers)}" if gpus else ""


def newest_image(images: list[dict], architecture: str = "x86_64") -> dict:
    """The newest available image of `architecture` among `images` (ec2_ami_info results), {} if none."""
    candidates = [image for image in images or []
                  if image.get("architecture") == architecture and image.get("state", "available") == "available"]
    return max(candidates, key=lambda image: (image.get("creation_date", ""), image.get("name", "")), default={})


def image_root_size(image: dict) -> int:
    """GiB of the image's root snapshot (0 when the image does not say): a root volume's minimum."""
    for mapping in image.get("block_device_mappings") or []:
        if mapping.get("device_name") == image.get("root_device_name"):
            return int((mapping.get("ebs") or {}).get("volume_size") or 0)
    return 0


def latest_ubuntu_lts(images: list[dict], architecture: str = "x86_64") -> dict:
    """The newest Ubuntu LTS server image among `images` (ec2_ami_info results).

    LTS releases are the April releases of even years. Among them the newest release wins,
    then the newest build serial, then the newest creation date.
    """
    wanted_arch = {"x86_64": "amd64", "arm64": "arm64"}.get(architecture, architecture)
    candidates = []
    for image in images or []:
        match = _UBUNTU_AMI_NAME.match(image.get("name", ""))
        if not match or match["arch"] != wanted_arch:
            continue
        year, month = int(match["year"]), int(match["month"])
        if month != 4 or year % 2:
            continue
        if image.get("architecture", architecture) != architecture:
            continue
        if image.get("state", "available") != "available":
            continue
        serial = tuple(int(part) for part in match["serial"].split(".") if part)
        candidates.append(((year, serial, image.get("creation_date", "")), image))
    if not candidates:
        return {}
    return max(candidates, key=lambda pair: pair[0])[1]


def cidr_problems(cidr: str, private_instance: bool = False, wide: bool = False) -> list[str]:
    """Why `cidr` may not be opened to SSH: a single public IPv4 host (/32), or, for an
    instance without a public IP (reached through a VPN or bastion), a private range of at
    least /16. `wide` (a cohort's ssh_cidrs) also accepts a public range of at least /16, the
    address block a campus or company network connects from."""
    if "/" not in str(cidr):
        return [f"'{cidr}' has no prefix length: write a single host as {cidr}/32"]
    try:
        network = ipaddress.ip_network(str(cidr), strict=True)
    except ValueError:
        return [f"'{cidr}' is not a valid CIDR (expected a single host such as 203.0.113.7/32)"]
    address = network.network_address
    if private_instance:
        if network.version == 4 and network.prefixlen >= 16 and any(address in net for net in _NON_PUBLIC_V4):
            return []
        return [f"'{cidr}' is not a private IPv4 range of /16 or narrower: an instance without a public IP "
                "is reached from your VPN or bastion, not from the internet"]
    if network.version != 4 or network.prefixlen < (16 if wide else 32):
        return [f"'{cidr}' is not a public IPv4 range of /16 or narrower" if wide else
                f"'{cidr}' is not a single IPv4 host: SSH is opened to /32 addresses only"]
    if any(address in net for net in _NON_PUBLIC_V4) or address.is_loopback:
        return [f"'{cidr}' is a private address: AWS sees your public IP, not this one"]
    return []


_OWNER_TAG = "ec2lab:owner"


def _resource_label(resource: dict) -> str:
    kind, tags = resource.get("kind", "resource"), resource.get("tags") or {}
    if kind == "instance":
        return f"instance {resource['id']}" + (f" ({resource['state']})" if resource.get("state") else "")
    if kind == "volume":
        return ("data volume " if tags.get("ec2lab:role") == "data" else "volume ") + resource["id"]
    if kind == "snapshot":
        return ("backup " if tags.get("ec2lab:role") == "backup" else "snapshot ") + resource["id"]
    if kind == "security group":
        return f"security group {resource.get('name', '')} ({resource['id']})"
    return f"{kind} {resource.get('name') or resource['id']}"


def other_owners(resources: list[dict], owner: str) -> list[dict]:
    """Who else holds a workstation name: for each ec2lab:owner other than `owner` among
    `resources` (workstation_resources_info's answer), that owner and labels of what they hold,
    owners sorted. A resource without an ec2lab:owner tag belongs to nobody and is not counted:
    launch has always set the tag, so only something made or re-tagged by hand lacks it."""
    held: dict[str, list[str]] = {}
    for resource in resources or []:
        holder = (resource.get("tags") or {}).get(_OWNER_TAG)
        if holder is not None and holder != owner:
            held.setdefault(holder, []).append(_resource_label(resource))
    return [{"owner": holder, "resources": labels} for holder, labels in sorted(held.items())]


def resources_of(resources: list[dict], kind: str, tags: dict | None = None, states: list[str] | None = None) -> list[dict]:
    """The details (their whole description) of the resources of `kind` among `resources`
    (workstation_resources_info's answer) that carry every tag of `tags` and, when `states` is
    given, are in one of them; in the order found."""
    wanted = {key: str(value) for key, value in (tags or {}).items()}
    return [resource["details"] for resource in resources or []
            if resource.get("kind") == kind and "details" in resource
            and all((resource.get("tags") or {}).get(key) == value for key, value in wanted.items())
            and (not states or resource.get("state") in states)]


def name_for_owner(name: str, owner: str) -> str:
    """A workstation name for `owner` beside the taken `name`: `<name>-<owner>` (nb-bob), spelled
    as workstation_name requires (a-z0-9-, at most 32, the owner part at most 16), and never
    `name` itself."""
    suffix = re.sub(r"-+", "-", re.sub(r"[^a-z0-9]", "-", str(owner).lower()))[:16].strip("-") or "2"
    for tail in (suffix, f"{suffix}-2"[-16:].lstrip("-")):
        candidate = f"{name[:31 - len(tail)].rstrip('-')}-{tail}"
        if candidate != name and workstation_name(candidate):
            return candidate
    return f"{name[:29].rstrip('-')}-x2"


def workstation_key_file(name: str, key_dir: str = "", cohort: str = "", imported: bool = False) -> str:
    """Where the private key of workstation `name` is kept on the controller: ec2lab-<name>.pem in
    `key_dir`, else in ~/.ssh (a cohort's in ~/.ssh/ec2lab-<cohort>); '' for a key pair imported
    from the caller's public key, which has no key file (ssh offers the agent's keys)."""
    if imported:
        return ""
    directory = key_dir or (f"~/.ssh/ec2lab-{cohort}" if cohort else "~/.ssh")
    return f"{directory.rstrip('/')}/ec2lab-{name}.pem"


def workstation_host_vars(instance: Mapping, key_dir: str = "") -> dict:
    """What setup-notebook needs of one workstation the aws_ec2 inventory found, read from what
    launch recorded on its instance (the host's `tags`, `placement`, `block_device_mappings`,
    `root_device_name`, `instance_type`): how to log in, its name and region, its data volume,
    whether it has NVIDIA GPUs and, when launch or setup-notebook recorded them, its auto-stop
    minutes. The known_hosts file and HostKeyAlias are the ssh alias's, so Ansible checks the host
    key exactly as `ssh <name>` does."""
    tags = instance.get("tags") or {}
    name = tags["ec2lab:name"]
    root = instance.get("root_device_name")
    data = [m for m in instance.get("block_device_mappings") or [] if m.get("device_name") != root]
    host = {
        "ansible_user": "ubuntu",
        "ansible_ssh_private_key_file": workstation_key_file(
            name, key_dir, tags.get("ec2lab:cohort", ""), tags.get("ec2lab:key") == "imported"),
        "ansible_ssh_common_args": (f"-o HostKeyAlias={name} -o UserKnownHostsFile=~/.ssh/ec2lab_known_hosts"
                                    " -o StrictHostKeyChecking=accept-new -o HashKnownHosts=no -o CheckHostIP=no"),
        "ec2lab_name": name,
        "ec2lab_region": (instance.get("placement") or {}).get("region", ""),
        "ec2lab_data_volume_id": data[0]["ebs"]["volume_id"] if data else "",
        # The name it was attached under (/dev/sdf): Xen types (t2, m4, ...) show it as /dev/xvdf.
        "ec2lab_data_volume_attachment_name": data[0]["device_name"] if data else "",
        "ec2lab_gpu": ec2_nvidia_gpu(instance.get("instance_type", "")),
    }
    if str(tags.get("ec2lab:idle-stop-minutes", "")).isdigit():
        host["idle_stop_minutes"] = int(tags["ec2lab:idle-stop-minutes"])
    return host


def security_group_rules_except(ip_permissions: list[dict], descriptions: list[str]) -> list[dict]:
    """The ingress rules of a security group (its ip_permissions, as amazon.aws's info modules and
    workstation_resources_info describe them) other than those whose description is in
    `descriptions` (ec2lab's own), as amazon.aws.ec2_security_group's `rules`: what launch and start
    keep when they replace ec2lab's SSH rules (a rule someone added by hand, say)."""
    kept = []
    for permission in ip_permissions or []:
        proto = permission.get("ip_protocol", "tcp")
        base = {"proto": "all" if proto == "-1" else proto}
        if proto != "-1" and permission.get("from_port") is not None:
            base.update(from_port=permission["from_port"], to_port=permission["to_port"])
        targets = ([("cidr_ip", r["cidr_ip"], r.get("description")) for r in permission.get("ip_ranges", [])]
                   + [("cidr_ipv6", r["cidr_ipv6"], r.get("description")) for r in permission.get("ipv6_ranges", [])]
                   + [("ip_prefix", r["prefix_list_id"], r.get("description")) for r in permission.get("prefix_list_ids", [])]
                   + [("group_id", r["group_id"], r.get("description")) for r in permission.get("user_id_group_pairs", [])])
        for key, target, description in targets:
            if description in descriptions:
                continue
            rule = dict(base, **{key: [target]})
            if description:
                rule["rule_desc"] = description
            kept.append(rule)
    return kept


def security_group_cidrs(ip_permissions: list[dict], descriptions: list[str]) -> list[str]:
    """The IPv4 ranges of the rules whose description is in `descriptions`, sorted."""
    return sorted({r["cidr_ip"] for permission in ip_permissions or [] for r in permission.get("ip_ranges", [])
                   if r.get("description") in descriptions})


def instance_rule_cidrs(instances: list[dict], groups: list[dict], descriptions: list[str]) -> dict[str, list[str]]:
    """Per instance (by its ec2lab:name tag), the IPv4 ranges that the rules whose description is in
    `descriptions` allow in the security groups it is in, sorted; `instances` and `groups` as
    amazon.aws's info modules (and workstation_resources_info) describe them. An instance none of
    whose groups has such a rule is left out: status's caller rules."""
    by_id = {group.get("group_id"): group for group in groups or []}
    found = {}
    for instance in instances or []:
        cidrs = sorted({cidr for member in instance.get("security_groups") or []
                        for cidr in security_group_cidrs(by_id.get(member.get("group_id"), {}).get("ip_permissions"),
                                                         descriptions)})
        if cidrs:
            found[(instance.get("tags") or {}).get("ec2lab:name", instance.get("instance_id", ""))] = cidrs
    return found


def vcpu_quota_problems(short: list[dict], region: str) -> list[str]:
    """What a user reads when the vCPU quotas leave no room (ec2_vcpu_quota_info's `short`): per
    quota what is needed, allowed and in use, and how to ask AWS for more."""
    lines = []
    for entry in short:
        names = entry["workstations"]
        whom = names[0] if len(names) == 1 else f"{len(names)} workstations ({', '.join(names[:5])}{', ...' if len(names) > 5 else ''})"
        lines += [
            f"{entry['name']}: {whom} need{'s' if len(names) == 1 else ''} {entry['needed']} vCPUs; the account allows {entry['quota']} in {region} "
            f"and {entry['in_use']} are in use.",
            f"  Ask AWS for more (Service Quotas in the console, or aws service-quotas "
            f"request-service-quota-increase --region {region} --service-code ec2 --quota-code {entry['code']} "
            f"--desired-value {entry['in_use'] + entry['needed']}); a request can take a day or more. Or stop "
            f"instances of that class, or choose a smaller instance type.",
        ]
    return lines


class FilterModule:
    """ec2lab filters."""

    def filters(self):
        return {
            "workstation_name": workstation_name,
            "aws_region": aws_region,
            "ec2_instance_type": ec2_instance_type,
            "s3_bucket_name_problems": s3_bucket_name_problems,
            "ec2_architecture": ec2_architecture,
            "latest_ubuntu_lts": latest_ubuntu_lts,
            "ec2_nvidia_gpu": ec2_nvidia_gpu,
            "newest_image": newest_image,
            "nvidia_gpu_summary": nvidia_gpu_summary,
            "image_root_size": image_root_size,
            "cidr_problems": cidr_problems,
            "openssh_public_key": openssh_public_key,
            "download_url": download_url,
            "pip_index_options": pip_index_options,
            "other_owners": other_owners,
            "resources_of": resources_of,
            "name_for_owner": name_for_owner,
            "workstation_key_file": workstation_key_file,
            "workstation_host_vars": workstation_host_vars,
            "vcpu_quota_problems": vcpu_quota_problems,
            "security_group_rules_except": security_group_rules_except,
            "security_group_cidrs": security_group_cidrs,
            "instance_rule_cidrs": instance_rule_cidrs,
        }
