"""Witness environments: what each vendor tool needs to run, declared once (the *what*; installing
is :mod:`nrf_deploy.witness.install`, running is :mod:`nrf_deploy.witness.run`).

nrf-deploy's core never imports a vendor simulator. Every tool that gives an independent answer —
a vendor simulator that runs an export (Lava, sinabs, xylosim) or a field tool that gives a
second opinion (SANA-FE, PyNN + NEST, sPyNNaker, NeuroBench) — runs in a virtual environment of
its own, with the Python, numpy and pins it needs, called through a subprocess with ``.npz``
files in and out (:mod:`nrf_deploy.witness.launch`).

A target declares the environments its backends and second opinions need
(``Target.witness_envs``); the core declares those it uses itself (:data:`CORE_ENVS`).
:func:`environments` gathers them by name.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class InstallStep:
    """One installer call: `requirements` (pip requirement strings, pinned) installed together."""

    requirements: tuple[str, ...]
    no_deps: bool = False
    """Install exactly these distributions, not their declared dependencies (used to leave out a
    dependency that must never be installed, e.g. sinabs' ``samna``, or a wrong pin)."""
    ignore_requires_python: bool = False
    """Install although the distribution declares another Python (pip's flag; uv has none, so
    such a step always runs with the environment's own pip)."""
    build_isolation: bool = True
    """False: build source distributions against what earlier steps installed (e.g. pybind11)."""
    tools: tuple[str, ...] = ()
    """Programs the step needs on PATH, e.g. ``("g++",)`` to build a C++ extension from source;
    the installer checks them before it creates anything and names the package to install."""


@dataclass(frozen=True)
class WitnessEnv:
    """A vendor tool's environment: interpreter, pinned packages, and how to check it."""

    name: str
    """Short name used on the command line: ``nrf-deploy witnesses install NAME``."""
    summary: str
    python: str
    """Wanted interpreter as ``MAJOR.MINOR`` (the installer looks for exactly this one)."""
    steps: tuple[InstallStep, ...]
    imports: tuple[str, ...] = ()
    """Modules that must import in the environment once installed (checked by the installer)."""
    versions_of: tuple[str, ...] = ()
    """Distributions whose installed versions are recorded and shown (default: every pinned
    name in `steps`)."""
    prepare: str = ""
    """``"module:function"`` run by the installer in the core after the steps:
    ``fn(env: InstalledEnv) -> dict`` (notes recorded in the environment's manifest), e.g. a
    documented compatibility patch. Empty: nothing."""
    check: tuple[str, str] | None = None
    """``(runner file, function)`` the installer runs in the environment once prepared; it must
    return ``{"ok": True, ...}`` (a smoke test of the tool on a tiny known input)."""
    serves: tuple[str, ...] = ()
    """What it witnesses, for the listing: e.g. ``("loihi: lava backend",)``."""
    notes: tuple[str, ...] = field(default_factory=tuple)
    """Facts the listing and the docs should show (why this Python, what is patched)."""

    def pinned_names(self) -> tuple[str, ...]:
        """Distribution names of every requirement in `steps`, in order."""
        names = []
        for step in self.steps:
            for req in step.requirements:
                name = _requirement_name(req)
                if name not in names:
                    names.append(name)
        return tuple(names)

    def recorded_names(self) -> tuple[str, ...]:
        return self.versions_of or self.pinned_names()

    def fingerprint(self) -> str:
        """Hash of everything that decides the environment's contents: a changed pin, step or
        patch makes an installed environment stale; the words shown about it (summary, serves,
        notes) do not. The check's runner counts by file name, not by its absolute path, so two
        checkouts of nrf-deploy share one installed environment."""
        declared = asdict(self)
        for words in ("summary", "serves", "notes"):
            declared.pop(words)
        if self.check is not None:
            declared["check"] = [Path(self.check[0]).name, self.check[1]]
        text = json.dumps(declared, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _requirement_name(requirement: str) -> str:
    """``"sPyNNaker==1!7.4.1"`` -> ``"sPyNNaker"``; ``"numpy<2"`` -> ``"numpy"``."""
    for i, ch in enumerate(requirement):
        if ch in "<>=!~;[ @":
            return requirement[:i].strip()
    return requirement.strip()


NEUROBENCH_ENV = WitnessEnv(
    "neurobench",
    "NeuroBench 2.3.0: synaptic operations, activation sparsity, footprint (report counts)",
    "3.12",
    (
        # torch 2.15.0: the core's own, so uv links it from its cache (no second download)
        InstallStep(("torch==2.15.0", "numpy==2.5.5", "snntorch==1.0.0", "tqdm==4.70.1")),
        InstallStep(("neurobench==2.3.0",), no_deps=True),
    ),
    imports=("neurobench.metrics.workload", "neurobench.models", "torch"),
    versions_of=("neurobench", "torch", "snntorch", "numpy"),
    check=(str(Path(__file__).resolve().parents[1] / "report" / "neurobench_runner.py"), "check"),
    serves=("every target: NeuroBench counts of the float model (report)",),
    notes=(
        (
            "neurobench is installed without its declared dependencies: the metric code the "
            "report uses imports torch, snntorch, numpy and tqdm only; tonic, numba, llvmlite "
            "and torchaudio (whose registry builds stop at torch 2.11) serve its datasets"
        ),
    ),
)
"""NeuroBench's environment: the report counts every target's float model with it
(:mod:`nrf_deploy.report.neurobench`, runner ``nrf_deploy/report/neurobench_runner.py``)."""

CORE_ENVS: tuple[WitnessEnv, ...] = (NEUROBENCH_ENV,)
"""Environments the core itself uses (not tied to one target)."""


def environments() -> dict[str, WitnessEnv]:
    """Every declared environment by name: the core's, then each registered target's (a name
    declared twice must be the same declaration)."""
    from nrf_deploy.targets import REGISTRY, get_target

    found: dict[str, WitnessEnv] = {}
    declared = list(CORE_ENVS)
    for name in REGISTRY:
        declared += list(getattr(get_target(name), "witness_envs", ()))
    for env in declared:
        if env.name in found and found[env.name] != env:
            raise ValueError(f"witness environment '{env.name}' is declared twice, differently")
        found[env.name] = env
    return found


def get_env(name: str) -> WitnessEnv:
    """The environment called `name` (NrfError naming the choices otherwise)."""
    from nrf_deploy.errors import NrfError

    envs = environments()
    if name not in envs:
        raise NrfError(
            f"unknown witness environment '{name}'",
            "nrf-deploy witnesses",
            f"choose one of: {', '.join(envs)} (or 'all')",
        )
    return envs[name]
