"""The registry's samna is a stub that reaches the network at import: nothing may import it. The
core is checked on its own (every module, the fixture run with sinabs' conventions, exported to
Speck and run on the Speck emulator); sinabs' own path (``sinabs.from_nir``) is added where sinabs
is installed here (it runs in the Speck witness's environment otherwise)."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = r"""
import importlib, importlib.util, pkgutil, sys, tempfile
import numpy as np
import nrf_deploy, nrf_deploy.targets, nrf_deploy.exporters
for pkg in (nrf_deploy, nrf_deploy.targets, nrf_deploy.exporters):
    for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
        if not info.name.endswith("__main__"):
            importlib.import_module(info.name)
from nrf_deploy.ir import load_graph, run_float, Semantics
from nrf_deploy.exporting import export
path = sys.argv[1]
x = np.zeros((2, 1, 2, 34, 34))
run_float(load_graph(path), x, semantics=Semantics.named("sinabs"))
deployment = export(path, "speck", tempfile.mkdtemp() + "/speck")
from nrf_deploy.targets import get_target
get_target("speck").run(deployment, "emulator", x, record_states=False)
if importlib.util.find_spec("sinabs") is not None:
    import nir, sinabs, sinabs.synopcounter
    sinabs.from_nir(nir.read(path), batch_size=1)
    print("with sinabs")
bad = sorted(m for m in sys.modules if m == "samna" or m.startswith("samna.")
             or m.startswith("sinabs.backend.dynapcnn"))
print("IMPORTED:", bad)
sys.exit(1 if bad else 0)
"""


def test_samna_never_enters_sys_modules(fixture_path):
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(fixture_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "IMPORTED: []" in proc.stdout


def test_no_source_file_imports_samna():
    import re
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    pattern = re.compile(
        r"^\s*(import samna|from samna|(from|import) sinabs\.backend\.dynapcnn)", re.MULTILINE
    )
    offenders = [
        str(p)
        for folder in ("nrf_deploy", "targets", "exporters", "examples", "benchmarks")
        for p in (repo / folder).rglob("*.py")
        if pattern.search(p.read_text())
    ]
    assert offenders == []
