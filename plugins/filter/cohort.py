"""Filters that turn an instructor's roster into one workstation per student.

Pure functions of the roster, so a bad roster is reported whole, before any AWS call, and the
rules are unit-tested. The per-workstation rules (instance type, market, minutes, ...) stay in
the ec2lab role's validation, which the launch play runs for every student before launching any.
"""

from __future__ import annotations

from ansible_collections.ec2lab.notebook.plugins.filter.ec2lab import cidr_problems, openssh_public_key, workstation_name

# A student's options that override the cohort's, and the ec2lab role variable each one sets.
STUDENT_OPTIONS = {
    "instance_type": "ec2lab_instance_type",
    "market": "ec2lab_market",
    "spot_max_price": "ec2lab_spot_max_price",
    "idle_stop_minutes": "ec2lab_idle_stop_minutes",
    "data_volume_size": "ec2lab_data_volume_size",
    "image": "ec2lab_ami_id",
}
COHORT_KEYS = {"name", "students", "ssh_cidrs", *STUDENT_OPTIONS}
STUDENT_KEYS = {"name", "public_key", *STUDENT_OPTIONS}
# Roster names stay short enough that "<cohort>-<student>" is still a workstation name (32).
_MAX_COHORT, _MAX_STUDENT = 12, 19


def cohort_problems(roster) -> list[str]:
    """Everything wrong with `roster` (the ec2lab_cohort mapping), one sentence each."""
    if not isinstance(roster, dict):
        return ["ec2lab_cohort must be a mapping with name, ssh_cidrs and students (see examples/cohort.yml)"]
    problems = [f"unknown key '{key}' in ec2lab_cohort (known: {', '.join(sorted(COHORT_KEYS))})"
                for key in sorted(set(roster) - COHORT_KEYS)]
    name = roster.get("name")
    if not (workstation_name(name) and len(name) <= _MAX_COHORT):
        problems.append(f"cohort name {name!r} must be 1 to {_MAX_COHORT} lowercase letters, digits and '-', "
                        "starting with a letter")
    cidrs = roster.get("ssh_cidrs")
    cidrs = cidrs.split(",") if isinstance(cidrs, str) else cidrs
    if not cidrs or not isinstance(cidrs, list):
        problems.append("ssh_cidrs is required: the addresses the class connects from (single /32 hosts, "
                        "or the public range of the campus network, /16 or narrower)")
    else:
        problems += [f"ssh_cidrs: {problem}" for cidr in cidrs for problem in cidr_problems(str(cidr).strip(), wide=True)]
    students = roster.get("students")
    if not students or not isinstance(students, list):
        return [*problems, "students must be a list with at least one student (name, optional public_key)"]
    seen = set()
    for number, student in enumerate(students, 1):
        problems += _student_problems(number, student, seen)
    return problems


def _student_problems(number: int, student, seen: set) -> list[str]:
    if not isinstance(student, dict):
        return [f"student {number} must be a mapping with at least a name"]
    name = student.get("name")
    where = f"student {number} ({name})" if isinstance(name, str) else f"student {number}"
    problems = [f"{where}: unknown key '{key}' (known: {', '.join(sorted(STUDENT_KEYS))})"
                for key in sorted(set(student) - STUDENT_KEYS)]
    if not (workstation_name(name) and len(name) <= _MAX_STUDENT):
        problems.append(f"{where}: the name must be 1 to {_MAX_STUDENT} lowercase letters, digits and '-', "
                        "starting with a letter (it becomes part of the workstation name)")
    elif name in seen:
        problems.append(f"{where}: the name is given twice")
    seen.add(name)
    key = student.get("public_key")
    if key is not None and not openssh_public_key(key):
        problems.append(f"{where}: public_key must be one OpenSSH public key line (ssh-ed25519 AAAA... comment); "
                        "never a private key")
    return problems


def cohort_workstations(roster: dict) -> list[dict]:
    """One entry per student: the workstation name and the ec2lab role variables it runs with.

    Call only on a roster without problems (cohort_problems returned []).
    """
    cohort = roster["name"]
    cidrs = roster["ssh_cidrs"]
    cidrs = [cidr.strip() for cidr in (cidrs.split(",") if isinstance(cidrs, str) else cidrs)]
    workstations = []
    for student in roster["students"]:
        options = {var: student.get(key, roster.get(key)) for key, var in STUDENT_OPTIONS.items()}
        role_vars = {var: value for var, value in options.items() if value is not None}
        role_vars.update({
            "ec2lab_name": f"{cohort}-{student['name']}",
            "ec2lab_ssh_cidrs": cidrs,
            "ec2lab_cohort_name": cohort,
            "ec2lab_student_name": student["name"],
            "ec2lab_student_public_key": (student.get("public_key") or "").strip(),
        })
        # The play host is not named like the workstation: the aws_ec2 inventory already has a
        # host of that name once it runs, with the host-side variables of group ec2lab.
        workstations.append({"name": role_vars["ec2lab_name"], "host": f"{student['name']}.{cohort}",
                             "vars": role_vars})
    return workstations


class FilterModule:
    """ec2lab cohort filters."""

    def filters(self):
        return {
            "cohort_problems": cohort_problems,
            "cohort_workstations": cohort_workstations,
        }
