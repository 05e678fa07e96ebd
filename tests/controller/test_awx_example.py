"""examples/awx/ec2lab-on-awx.yml: no AWX is reachable here, and ansible-lint cannot load the
awx.awx modules to check their arguments, so each task's arguments are checked against the
module's documented options (names, aliases, choices, required) as ansible-doc gives them."""

import json
import subprocess

import yaml
from testlib import ROOT

EXAMPLE = ROOT / "examples" / "awx" / "ec2lab-on-awx.yml"


def tasks():
    [play] = yaml.safe_load(EXAMPLE.read_text())
    return [(task["name"], module, args) for task in play["tasks"]
            for module, args in task.items() if module.startswith("awx.awx.")]


def test_every_argument_is_one_the_module_documents():
    modules = sorted({module for _, module, _ in tasks()})
    docs = json.loads(subprocess.run(["ansible-doc", "--json", *modules], check=True, capture_output=True, text=True).stdout)
    wrong = []
    for name, module, args in tasks():
        options = docs[module]["doc"]["options"]
        known = {alias: spec for option, spec in options.items() for alias in [option, *spec.get("aliases", [])]}
        wrong += [f"{name}: {module} has no option {arg}" for arg in args if arg not in known]
        wrong += [f"{name}: {module} needs {option}" for option, spec in options.items()
                  if spec.get("required") and not {option, *spec.get("aliases", [])} & set(args)]
        wrong += [f"{name}: {arg}={value} is not one of {known[arg]['choices']}" for arg, value in args.items()
                  if arg in known and known[arg].get("choices") and "{{" not in str(value) and value not in known[arg]["choices"]]
    assert wrong == []


def test_the_job_templates_run_the_playbooks_the_readme_names():
    [play] = yaml.safe_load(EXAMPLE.read_text())
    playbooks = [item["playbook"] for task in play["tasks"] if "awx.awx.job_template" in task for item in task["loop"]]
    assert sorted(playbooks) == sorted(["launch.yml", "status.yml", "stop.yml", "start.yml", "terminate.yml",
                                        "setup-notebook.yml", "backup.yml"])
    assert all((ROOT / playbook).is_file() for playbook in playbooks)
