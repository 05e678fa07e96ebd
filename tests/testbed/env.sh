# shellcheck shell=bash
# Source this before podman or molecule: `source tests/testbed/env.sh` (from any directory).
# It writes a containers.conf into a runtime directory (never /etc or ~/.config) and exports
# CONTAINERS_CONF plus what molecule needs to find this checkout's roles and collections.
# Why the containers.conf: root here lacks CAP_SYS_RESOURCE, so podman's default rlimits
# (nofile=1048576) cannot be set — nofile is capped at the shell's hard limit and nproc at what
# conmon itself runs with; and the host's cgroup v1 hybrid layout needs runc (crun rejects it).

__ec2lab_testbed_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
__ec2lab_testbed_run=${EC2LAB_TESTBED_RUNTIME_DIR:-${XDG_RUNTIME_DIR:-/tmp}/ec2lab-testbed-$(id -u)}
install -d -m 0700 "$__ec2lab_testbed_run"
__ec2lab_testbed_nofile=$(ulimit -Hn)
if [ "$__ec2lab_testbed_nofile" = unlimited ]; then __ec2lab_testbed_nofile=1048576; fi
cat >"$__ec2lab_testbed_run/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=${__ec2lab_testbed_nofile}:${__ec2lab_testbed_nofile}", "nproc=32768:32768"]

[engine]
runtime = "runc"
CONF

export CONTAINERS_CONF="$__ec2lab_testbed_run/containers.conf"
export EC2LAB_TESTBED_IMAGE=${EC2LAB_TESTBED_IMAGE:-localhost/ec2lab-testbed:bookworm}
export ANSIBLE_CONFIG="$__ec2lab_testbed_root/ansible.cfg"
# molecule exports its own ANSIBLE_ROLES_PATH/COLLECTIONS_PATH and so hides ansible.cfg's relative
# ones; these absolute paths are appended by molecule to its own.
export ANSIBLE_ROLES_PATH="$__ec2lab_testbed_root/roles"
export ANSIBLE_COLLECTIONS_PATH="$__ec2lab_testbed_root/collections"
export EC2LAB_ROOT="$__ec2lab_testbed_root"
unset __ec2lab_testbed_root __ec2lab_testbed_run __ec2lab_testbed_nofile
