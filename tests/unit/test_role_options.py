"""Every role option is written twice and described once; these tests keep them in agreement.

- roles/<role>/defaults/main.yml: what the role runs with,
- roles/<role>/meta/argument_specs.yml: what ansible validates and ansible-doc shows,
- roles/<role>/README.md: the "Role Variables" table a user reads, generated from the spec
  (docs/role_tables.py, `make docs`).

defaults/main.yml is what runs, so when they disagree it is the reference.
Internals (names starting with `__`) are not options and are ignored everywhere.
"""

import pathlib
import sys

import pytest
import yaml

sys.path.insert(0, str(pathlib.Path(__file__).parents[2] / "docs"))
import role_tables  # noqa: E402

REPO = pathlib.Path(__file__).parents[2]
ROLES_DIR = REPO / "roles"
ROLES = sorted(p.name for p in ROLES_DIR.iterdir() if (p / "meta" / "argument_specs.yml").is_file())

def _load(path):
    with path.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


def _defaults(role):
    data = _load(ROLES_DIR / role / "defaults" / "main.yml") or {}
    return {k: v for k, v in data.items() if not k.startswith("__")}


def _specs(role):
    return _load(ROLES_DIR / role / "meta" / "argument_specs.yml")["argument_specs"]


def _options(spec):
    return {k: v for k, v in (spec.get("options") or {}).items() if not k.startswith("__")}


def _main_options(role):
    """The options of the `main` entry point; for a role without one (host_support, ec2lab: every
    entry point named for what it does, called with tasks_from), the options of all of them."""
    specs = _specs(role)
    if "main" in specs:
        return _options(specs["main"])
    return {name: opt for spec in specs.values() for name, opt in _options(spec).items()}


def _is_jinja(value):
    return isinstance(value, str) and "{{" in value


def _same(a, b):
    """Equal and of the same YAML type: "0755" is not 0755, 1 is not true, "2.23" is not 2.23."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def _walk_options(options, where):
    """(path, spec) of every option and sub-option."""
    for name, spec in options.items():
        path = f"{where}.{name}"
        yield path, spec
        if isinstance(spec, dict) and spec.get("options"):
            yield from _walk_options(spec["options"], path)


@pytest.mark.parametrize("role", ROLES)
def test_defaults_and_main_spec_name_the_same_variables(role):
    defaults = _defaults(role)
    specs = _specs(role)
    main = _main_options(role)
    problems = []
    for name in sorted(set(defaults) - set(main)):
        problems.append(f"{role}: `{name}` is in defaults/main.yml but no option of "
                        f"{'the `main` entry point' if 'main' in specs else 'any entry point'}")
    for ep, spec in specs.items():
        for name, opt in sorted(_options(spec).items()):
            if name not in defaults and not opt.get("required", False):
                problems.append(
                    f"{role}: `{name}` (entry point `{ep}`) has no value in defaults/main.yml and is not required: true"
                )
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("role", ROLES)
def test_spec_defaults_match_defaults_main(role):
    defaults = _defaults(role)
    problems = []
    for ep, spec in _specs(role).items():
        for name, opt in sorted(_options(spec).items()):
            if name not in defaults:
                continue  # required options; covered by the test above
            value = defaults[name]
            where = f"{role}: `{name}` (entry point `{ep}`)"
            if _is_jinja(value):
                # A templated default is evaluated at run time; the spec may repeat the expression
                # or describe its outcome in words, so no literal comparison is possible. Require
                # only that the spec says something about it.
                if "default" not in opt and not opt.get("description"):
                    problems.append(f"{where} is templated; the spec needs a default or description")
                continue
            if "default" not in opt:
                problems.append(f"{where} has no spec default; defaults/main.yml has {value!r}")
            elif not _same(opt["default"], value):
                problems.append(f"{where}: spec default {opt['default']!r} != defaults/main.yml {value!r}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("role", ROLES)
def test_readme_option_table_is_the_one_the_spec_generates(role):
    readme, text = role_tables.expected(role)
    assert readme.read_text(encoding="utf-8") == text, f"{role}: README.md's option table is stale: run `make docs`"


@pytest.mark.parametrize("role", ROLES)
def test_public_variables_carry_the_role_prefix(role):
    # Short spellings such as aws_profile or idle_stop_minutes inside ec2lab's default expressions
    # are read, not defined, so they are neither defaults keys nor spec options and are not seen here.
    names = set(_defaults(role))
    for spec in _specs(role).values():
        names |= set(_options(spec))
    wrong = sorted(name for name in names if not name.startswith(f"{role}_"))
    assert not wrong, "\n".join(f"{role}: `{name}` does not start with `{role}_`" for name in wrong)


@pytest.mark.parametrize("role", ROLES)
def test_every_option_has_type_and_description(role):
    problems = []
    for ep, spec in _specs(role).items():
        for path, opt in _walk_options(_options(spec), f"{role}:{ep}"):
            if not isinstance(opt, dict):
                problems.append(f"{path}: not a mapping")
                continue
            for key in ("type", "description"):
                if not opt.get(key):
                    problems.append(f"{path}: no {key}")
    assert not problems, "\n".join(problems)


def test_generalise_names_the_files_of_other_roles_as_those_roles_do():
    """The generalise role leaves out files other roles write (the jupyter role's token and password
    hash, idle_stop's state) and pauses idle_stop's timer: a rename there must not let them into an
    image."""
    leave_out = (ROLES_DIR / "generalise" / "vars" / "main.yml").read_text()
    jupyter = _load(ROLES_DIR / "jupyter" / "vars" / "main.yml")
    config_dir = jupyter["__jupyter_config_dir"].split("}}")[-1]  # /.jupyter
    for file in ("__jupyter_token_file", "__jupyter_password_hash_file"):
        assert f"{config_dir}{jupyter[file].split('}}')[-1]}" in leave_out, file
    assert _load(ROLES_DIR / "idle_stop" / "vars" / "main.yml")["__idle_stop_state_dir"] + "/*" in leave_out
    assert (ROLES_DIR / "idle_stop" / "templates" / "ec2lab-idle-stop.timer.j2").is_file()
    assert "ec2lab-idle-stop.timer" in leave_out
