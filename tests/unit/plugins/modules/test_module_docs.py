"""Every module's DOCUMENTATION, EXAMPLES and RETURN are YAML that ansible-doc can read: a stray
': ' in a description makes `ansible-doc` and the collection's docs fail while the module still runs."""

import ast
from pathlib import Path

import pytest
import yaml

MODULES = sorted((Path(__file__).parents[4] / "plugins" / "modules").glob("*.py"))


def _doc_strings(path: Path) -> dict[str, str]:
    tree = ast.parse(path.read_text())
    return {target.id: node.value.value for node in tree.body if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name) and target.id in ("DOCUMENTATION", "EXAMPLES", "RETURN")}


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.stem)
def test_module_documentation_is_yaml_ansible_doc_can_read(path):
    docs = _doc_strings(path)
    assert set(docs) == {"DOCUMENTATION", "EXAMPLES", "RETURN"}
    documentation = yaml.safe_load(docs["DOCUMENTATION"])
    assert documentation["module"] == path.stem and documentation["short_description"]
    assert isinstance(yaml.safe_load(docs["EXAMPLES"]), list)
    assert isinstance(yaml.safe_load(docs["RETURN"]), dict)
