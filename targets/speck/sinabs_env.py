"""The ``sinabs`` witness environment: sinabs 3.1.3 with its own nir 1.0.4, without samna.

sinabs 3.1.3 pins ``nir<=1.0.4`` (nrf-deploy's users write newer NIR files with newer ``nir``) and
depends on ``samna>=0.33``, whose registry release is a stub that tries to install the real
package from an outside index when imported. The environment installs sinabs with ``--no-deps``
after its real needs, pinned: torch (the same release as nrf-deploy's core, so that uv links it
from its cache instead of a second multi-gigabyte download), numpy, nir 1.0.4, a nirtorch that
accepts nir 1.0.4, pbr (sinabs reads its version with it) and matplotlib (``sinabs.utils`` imports
pylab). samna is never installed; the runner never imports it nor ``sinabs.backend.dynapcnn``.
"""

from __future__ import annotations

from pathlib import Path

from nrf_deploy.witness.envs import InstallStep, WitnessEnv

RUNNER = str(Path(__file__).with_name("sinabs_runner.py"))
TORCH = "2.15.0"
"""The core's torch release (one copy in uv's cache serves both)."""

SINABS_ENV = WitnessEnv(
    "sinabs",
    "sinabs 3.1.3 (SynSense's PyTorch SNN library): the layers Speck runs, without samna",
    "3.12",
    steps=(
        InstallStep(
            (
                f"torch=={TORCH}",
                "numpy==2.5.5",
                "nir==1.0.4",
                "nirtorch==2.0.2",
                "pbr==7.1.3",
                "matplotlib==3.11.2",
                "h5py==3.16.0",
            )
        ),
        # --no-deps: sinabs declares samna>=0.33, a stub that must never be installed
        InstallStep(("sinabs==3.1.3",), no_deps=True),
    ),
    imports=("sinabs", "sinabs.layers", "sinabs.activation"),
    versions_of=("sinabs", "torch", "numpy", "nir", "nirtorch", "samna"),
    check=(RUNNER, "check"),
    serves=(
        "speck: sinabs backend (verify, run --backend sinabs)",
        "tests: sinabs.from_nir cross-check of the float executor",
    ),
    notes=(
        (
            "sinabs installed with --no-deps: its samna>=0.33 is a registry stub that reaches "
            "the network at import (listed as 'samna not installed')"
        ),
        f"torch {TORCH} as in the core: uv links it from its cache (no second download)",
        "nir 1.0.4 here (sinabs pins nir<=1.0.4), whatever nir the core has",
    ),
)
