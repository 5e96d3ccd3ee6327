"""The ``xylosim`` witness environment: SynSense's xylosim 0.1.3 on Python 3.12, built from source.

xylosim 0.1.3 ships binary wheels up to CPython 3.10 only. Its source distribution (C++ with
pybind11 bindings) builds on 3.11-3.13 with pybind11 and a C++ compiler, and gives spikes and
membranes bit-identical to the cp310 wheel (docs/witnesses.md). The build runs against the pinned
pybind11, setuptools and wheel that the first step installs (no build isolation), so the same
toolchain builds it every time; uv keeps the built wheel in its cache, so a reinstall does not
compile again. The C++ layer keeps raw pointers to its ``XyloSynapse`` objects: the runner keeps
their Python lists referenced until the layer is gone.
"""

from __future__ import annotations

from pathlib import Path

from nrf_deploy.witness.envs import InstallStep, WitnessEnv

RUNNER = str(Path(__file__).with_name("xylosim_runner.py"))

XYLOSIM_ENV = WitnessEnv(
    "xylosim",
    "xylosim 0.1.3, SynSense's bit-exact C++ simulator of Xylo Audio 2 (built from source)",
    "3.12",
    steps=(
        InstallStep(("numpy==2.5.5", "pybind11==3.1.0", "setuptools==84.2.1", "wheel==0.48.0")),
        # no cp312 wheel: built from the sdist with the pybind11 above and the system's g++
        InstallStep(("xylosim==0.1.3",), no_deps=True, build_isolation=False, tools=("g++",)),
    ),
    imports=("xylosim.v2",),
    versions_of=("xylosim", "numpy", "pybind11"),
    check=(RUNNER, "check"),
    serves=("xylo: xylosim backend (verify, run --backend xylosim)",),
    notes=(
        (
            "xylosim 0.1.3 has wheels up to cp310: built here from its source distribution "
            "(pybind11 + g++); bit-identical to the cp310 wheel on the xylo tests' networks"
        ),
    ),
)
