#!/usr/bin/env python3
"""The "Role Variables" table of every role's README, generated from its meta/argument_specs.yml.

The spec is what Ansible validates and ansible-doc shows; the README table is a rendering of it,
between two markers, so an option is described once. `make docs` rewrites the tables;
tests/unit/test_role_options.py fails while a README's table differs from what this prints.

Usage: docs/role_tables.py [--check]   (from the repository root)
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BEGIN = "<!-- BEGIN options: generated from meta/argument_specs.yml by `make docs`; edit the spec, not this table -->"
END = "<!-- END options -->"
# Ansible's documentation markup (C(), V(), O(), ...) as Markdown.
_MARKUP = [
    (re.compile(r"L\(([^,()]+),\s*([^()]+)\)"), r"[\1](\2)"),
    (re.compile(r"\b(?:C|V|O|M|E|RV)\(([^()]*(?:\([^()]*\)[^()]*)*)\)"), r"`\1`"),
    (re.compile(r"\bI\(([^()]+)\)"), r"*\1*"),
    (re.compile(r"\bB\(([^()]+)\)"), r"**\1**"),
    (re.compile(r"\bU\(([^()]+)\)"), r"\1"),
]
_ENV_LOOKUP = re.compile(r"^lookup\('ansible\.builtin\.env', '([A-Z0-9_]+)'\)$")
_LITERAL = re.compile(r"^'([^']*)'$")


def markdown(text) -> str:
    """A spec description (a string or a list of paragraphs) as one Markdown table cell."""
    text = " ".join(text) if isinstance(text, list) else str(text or "")
    for pattern, replacement in _MARKUP:
        text = pattern.sub(replacement, text)
    return " ".join(text.split()).replace("|", "\\|")


def default_cell(option: dict) -> str:
    """The default as a reader wants it: `$EC2LAB_OWNER` or `$USER` or `ec2lab` for an expression
    of environment look-ups, the YAML value otherwise."""
    if option.get("required"):
        return "required"
    if "default" not in option:
        return "none"
    value = option["default"]
    if isinstance(value, str) and value.startswith("{{") and value.endswith("}}"):
        terms = [term.strip() for term in value[2:-2].split(" or ")]
        readable = []
        for term in terms:
            env, literal = _ENV_LOOKUP.match(term), _LITERAL.match(term)
            readable.append(f"`${env[1]}`" if env else f"`{literal[1]}`" if literal else None)
        if None not in readable:
            return " or ".join(readable)
        return f"`{value}`".replace("|", "\\|")
    if isinstance(value, str):
        return f"`{value}`".replace("|", "\\|") if value else '`""`'
    dumped = yaml.safe_dump(value, default_flow_style=True, width=10**6).strip()
    dumped = dumped.removesuffix("\n...").removesuffix("...").strip()
    if len(dumped) > 80:  # a table of installers or checksums: a cell cannot show it
        return "see `defaults/main.yml`"
    return f"`{dumped}`".replace("|", "\\|")


def table(specs: dict) -> str:
    """The Markdown table of every option of every entry point (main first), with an entry point
    column when the role has more than one."""
    rows, seen = {}, {}
    order = sorted(specs, key=lambda name: (name != "main", list(specs).index(name)))
    for entry in order:
        for name, option in (specs[entry].get("options") or {}).items():
            if name.startswith("__"):
                continue
            rows.setdefault(name, option)
            seen.setdefault(name, []).append(entry)
    several = len(specs) > 1
    lines = ["| Variable | Default | " + ("Entry points | " if several else "") + "Meaning |",
             "|---|---|" + ("---|" if several else "") + "---|"]
    for name, option in rows.items():
        entries = ", ".join(f"`{entry}`" for entry in seen[name])
        lines.append(f"| `{name}` | {default_cell(option)} | " + (f"{entries} | " if several else "")
                     + f"{markdown(option.get('description'))} |")
    return "\n".join(lines)


def render(readme: str, specs: dict, role: str) -> str:
    """`readme` with the text between the markers replaced by the table of `specs`."""
    if BEGIN not in readme or END not in readme:
        raise ValueError(f"roles/{role}/README.md: no {BEGIN!r} ... {END!r} markers under '## Role Variables'")
    before, rest = readme.split(BEGIN, 1)
    _, after = rest.split(END, 1)
    return f"{before}{BEGIN}\n{table(specs)}\n{END}{after}"


def roles() -> list[str]:
    return sorted(path.parent.parent.name for path in ROOT.glob("roles/*/meta/argument_specs.yml"))


def expected(role: str) -> tuple[Path, str]:
    readme = ROOT / "roles" / role / "README.md"
    specs = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    return readme, render(readme.read_text(encoding="utf-8"), specs, role)


def main(argv: list[str]) -> int:
    stale = []
    for role in roles():
        readme, text = expected(role)
        if text != readme.read_text(encoding="utf-8"):
            stale.append(str(readme.relative_to(ROOT)))
            if "--check" not in argv:
                readme.write_text(text, encoding="utf-8")
    if stale and "--check" in argv:
        print("stale option tables (run `make docs`): " + ", ".join(stale), file=sys.stderr)
        return 1
    print(("rewrote " + ", ".join(stale)) if stale else "every role README's option table is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
