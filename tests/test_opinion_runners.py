"""The runner files of the second opinions run inside their witness environments, where
nrf-deploy is not installed: at module level they import only the standard library and numpy (the
vendor tool inside their functions) and nothing of nrf-deploy anywhere."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from nrf_deploy.witness.envs import environments

REPO = Path(__file__).resolve().parents[1]
RUNNERS = [
    REPO / "targets" / "loihi" / "sanafe_runner.py",
    REPO / "targets" / "spinnaker" / "pynn_runner.py",
    REPO / "nrf_deploy" / "report" / "neurobench_runner.py",
]
TOOLS = {"sanafe", "pyNN", "spynnaker", "spinn_front_end_common", "torch", "neurobench"}


def _imports(tree: ast.AST) -> list[tuple[str, bool]]:
    """(top-level package, imported at module level) of every import in `tree`."""
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name.split(".")[0], id(node) in top) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.module.split(".")[0], id(node) in top))
    return found


@pytest.mark.parametrize("runner", RUNNERS, ids=lambda p: p.name)
def test_a_runner_imports_stdlib_numpy_and_its_tool_only(runner):
    tree = ast.parse(runner.read_text())
    for package, at_top in _imports(tree):
        assert package != "nrf_deploy", f"{runner.name} imports nrf_deploy"
        allowed = {"numpy", "__future__"} | set(sys.stdlib_module_names)
        assert package in allowed or (package in TOOLS and not at_top), (runner.name, package)


def test_every_opinion_environment_checks_itself_with_a_runner_that_exists():
    envs = environments()
    for name in ("sanafe", "pynn", "neurobench"):
        runner, function = envs[name].check
        source = Path(runner).read_text()
        assert Path(runner) in RUNNERS and f"def {function}(" in source, name
        assert envs[name].python == "3.12"
        assert all("==" in req for step in envs[name].steps for req in step.requirements), name
