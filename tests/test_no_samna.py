"""The registry's samna is a stub that reaches the network at import: nothing may import it. The
core imports no vendor simulator at all (they run in witness environments of their own), and each
witness runner imports only the standard library, numpy and its own vendor tool."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
VENDOR = ("lava", "sinabs", "xylosim", "samna", "rockpool")
"""Top-level names of the vendor simulators the core must never import."""

SCRIPT = r"""
import importlib, pkgutil, sys
import numpy as np
import nrf_deploy, nrf_deploy.targets, nrf_deploy.exporters
for pkg in (nrf_deploy, nrf_deploy.targets, nrf_deploy.exporters):
    for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
        if not info.name.endswith("__main__"):
            importlib.import_module(info.name)
from nrf_deploy.ir import load_graph, run_float, Semantics
from nrf_deploy.witness.envs import environments
path = sys.argv[1]
run_float(load_graph(path), np.zeros((2, 1, 2, 34, 34)), semantics=Semantics.named("sinabs"))
environments()
vendor = set(sys.argv[2].split(","))
bad = sorted(m for m in sys.modules if m.split(".")[0] in vendor)
print("IMPORTED:", bad)
sys.exit(1 if bad else 0)
"""


def test_importing_every_nrf_deploy_module_imports_no_vendor_simulator(fixture_path):
    """Every module of nrf_deploy, its targets (runner files included) and exporters, imported in
    a fresh interpreter, plus a float run with sinabs semantics: no lava, sinabs, xylosim, samna,
    rockpool in sys.modules."""
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(fixture_path), ",".join(VENDOR)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "IMPORTED: []" in proc.stdout


def test_the_sinabs_witness_never_imports_samna(sinabs_env, fixture_path):
    """In the sinabs witness process: sinabs.from_nir on the fixture and the witness's own layers,
    and neither samna nor sinabs.backend.dynapcnn entered its sys.modules (the runner reports it;
    sinabs_witness refuses an answer where one did)."""
    from nrf_deploy.targets.speck import sinabs_witness

    from nrf_deploy.witness import call

    x = np.zeros((2, 1, 2, 34, 34), np.float32)
    answer = call("sinabs", sinabs_witness.RUNNER, "from_nir", {"path": str(fixture_path), "x": x})
    assert answer["forbidden_modules"] == []
    answer = call("sinabs", sinabs_witness.RUNNER, "check", {})
    assert answer["ok"] and answer["forbidden_modules"] == []


def test_a_witness_answer_that_imported_samna_is_refused():
    import pytest
    from nrf_deploy.targets.speck.sinabs_witness import refuse_forbidden

    from nrf_deploy.errors import NrfError

    with pytest.raises(NrfError, match="imported samna"):
        refuse_forbidden({"forbidden_modules": ["samna"]})


def test_no_source_file_imports_samna():
    import re

    pattern = re.compile(
        r"^\s*(import samna|from samna|(from|import) sinabs\.backend\.dynapcnn)", re.MULTILINE
    )
    offenders = [
        str(p)
        for folder in ("nrf_deploy", "targets", "exporters", "examples", "benchmarks")
        for p in (REPO / folder).rglob("*.py")
        if pattern.search(p.read_text())
    ]
    assert offenders == []


# --- witness runner files: the standard library, numpy, and their own vendor tool ---------------

RUNNER_VENDOR = {
    "lava_runner.py": {"lava", "scipy"},  # scipy: Lava's own dependency (sparse weights)
    "sinabs_runner.py": {"sinabs", "torch", "nir"},  # torch, nir: sinabs' own dependencies
    "xylosim_runner.py": {"xylosim"},
    "sanafe_runner.py": {"sanafe"},
    "pynn_runner.py": {"pyNN", "spynnaker", "spinn_front_end_common"},
    "neurobench_runner.py": {"neurobench", "torch"},
}
"""Each known runner's vendor stack (imported inside its functions only)."""
ALWAYS = set(sys.stdlib_module_names) | {"numpy", "__future__"}


def _imports(tree: ast.AST) -> list[tuple[str, bool]]:
    """(top-level module name, imported at module level) for every import in `tree`."""
    top_level = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name.split(".")[0], id(node) in top_level) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module.split(".")[0], id(node) in top_level))
    return found


def _runner_files() -> list[Path]:
    return sorted((REPO / "targets").glob("*/*_runner.py")) + [
        REPO / "nrf_deploy" / "report" / "neurobench_runner.py",
        REPO / "nrf_deploy" / "witness" / "launch.py",
    ]


def test_runner_files_import_only_stdlib_numpy_and_their_vendor_tool():
    """AST check: at module level only the standard library and numpy (importing a runner in the
    core is harmless); inside functions also the runner's own vendor stack; never nrf_deploy (a
    runner runs where nrf-deploy is not installed) nor samna."""
    files = _runner_files()
    assert {p.name for p in files} >= set(RUNNER_VENDOR), "a known runner file is missing"
    problems = []
    for path in files:
        vendor = RUNNER_VENDOR.get(path.name, set())
        for name, at_module_level in _imports(ast.parse(path.read_text())):
            allowed = ALWAYS if at_module_level else ALWAYS | vendor
            if name not in allowed or name in ("nrf_deploy", "samna"):
                where = "module level" if at_module_level else "a function"
                problems.append(f"{path.relative_to(REPO)}: imports {name} in {where}")
    assert problems == []


def test_every_declared_environment_checks_itself_with_a_runner_file():
    from nrf_deploy.witness.envs import environments

    envs = {e.name: e for e in environments().values()}
    assert {"lava", "sinabs", "xylosim", "sanafe", "pynn", "neurobench"} <= set(envs)
    for name, env in envs.items():
        runner, function = env.check
        assert Path(runner).is_file() and Path(runner) in _runner_files(), name
        assert f"def {function}(" in Path(runner).read_text(), name
        # every requirement pinned: an environment is reproducible
        assert all("==" in req for step in env.steps for req in step.requirements), name
