"""The core (nrf_deploy, nrf_deploy.targets, nrf_deploy.exporters) imports no vendor package and
no nir: vendor simulators run as witnesses in their own environments, and nrf-deploy reads and
writes NIR itself. Checked in a fresh interpreter: every core module imported, then a load,
export and verify (reference vs emulator) of the fixture, and ``sys.modules`` inspected."""

from __future__ import annotations

import subprocess
import sys

VENDOR = (
    "lava",
    "sinabs",
    "xylosim",
    "sanafe",
    "pyNN",
    "nest",
    "spynnaker",
    "neurobench",
    "nir",
    "nirtorch",
    "rockpool",
    "samna",
)
SCRIPT = r"""
import importlib, pkgutil, sys, tempfile
import nrf_deploy, nrf_deploy.targets, nrf_deploy.exporters
for pkg in (nrf_deploy, nrf_deploy.targets, nrf_deploy.exporters):
    for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
        if not info.name.endswith("__main__"):
            importlib.import_module(info.name)
import nrf_deploy as nd
out = tempfile.mkdtemp()
for target in ("loihi", "speck", "spinnaker", "onnx"):
    nd.export(sys.argv[1], target, f"{out}/{target}")
    result = nd.verify_export(f"{out}/{target}", samples=1, witness_samples=0, timesteps=3)
    assert result.ok, result.to_dict()
vendor = set(sys.argv[2:])
print("IMPORTED:", sorted(m for m in sys.modules if m.split(".")[0] in vendor))
"""


def test_core_modules_import_no_vendor_package(fixture_path):
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(fixture_path), *VENDOR],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "IMPORTED: []" in proc.stdout, proc.stdout


def test_no_core_source_imports_nir():
    """No ``import nir`` (nor nirtorch, nor samna) anywhere in the core's source, lazy imports
    included: the in-memory interop (nrf_deploy/ir/interop.py) reaches the user's nir through the
    graph object's own module. (Vendor simulators are imported only by witness code, which runs
    in the witnesses' environments.)"""
    import re
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    pattern = re.compile(r"^\s*(import|from)\s+(nir|nirtorch|samna)(\.|\s|$)", re.MULTILINE)
    offenders = [
        str(p.relative_to(repo))
        for folder in ("nrf_deploy", "targets", "exporters")
        for p in (repo / folder).rglob("*.py")
        if not p.name.endswith("_runner.py")  # runs in a witness environment (its own nir)
        and pattern.search(p.read_text())
    ]
    assert offenders == []
