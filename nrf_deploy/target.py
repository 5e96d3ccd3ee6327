"""What a hardware target is (the *process*), separate from how each chip does it (its package).

Every target package under ``targets/<chip>/`` provides one :class:`Target` subclass with the
number format and quantiser, an integer PyTorch reference, an independent emulator in the chip's
execution order, optionally a vendor-simulator witness, a resource mapper and a hardware profile.
The CLI, :mod:`nrf_deploy.verify` and :mod:`nrf_deploy.report` only talk to this interface.
"""

from __future__ import annotations

import abc
import argparse
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from nrf_deploy.ir.graph import Graph
from nrf_deploy.opinions import SecondOpinion
from nrf_deploy.trace import Trace

if TYPE_CHECKING:
    from nrf_deploy.deployment import DeploymentRecord
    from nrf_deploy.witness.envs import WitnessEnv


@dataclass
class Deployment:
    """A graph lowered to one target: the sidecar (``deploy.json`` content, plain JSON types) and
    the target's own in-memory form of the quantised network (``program``)."""

    target: str
    sidecar: dict[str, Any]
    program: Any = None
    out_dir: Path | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    chip_files: dict[str, bytes] | None = None
    """Contents of the chip-facing files (:attr:`Target.chip_file_names`): read from the export
    after ``load``; made from `program` on first use after ``build`` (the bytes ``write``
    writes)."""
    chip_program: Any = None
    """`chip_files` parsed back (:meth:`Target.read_chip_files`): what chip-file backends run."""

    @property
    def record(self) -> DeploymentRecord:
        """The typed record the core reads (read from the sidecar on each access: the same after
        ``build`` and after ``load``)."""
        from nrf_deploy.deployment import DeploymentRecord

        return DeploymentRecord.from_json(self.sidecar)

    @property
    def graph(self) -> Graph | None:
        """The float source graph: the one `build` was given, or the export's ``source.nir``
        (read once, on first use)."""
        if "graph" not in self.extras and self.out_dir is not None:
            path = Path(self.out_dir) / "source.nir"
            if path.is_file():
                from nrf_deploy.ir import load_graph

                self.extras["graph"] = load_graph(path)
        return self.extras.get("graph")

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.sidecar["input_shape"])

    @property
    def timesteps(self) -> int:
        """Default number of timesteps for generated verification inputs."""
        return int(self.sidecar.get("timesteps", 20))


Role = Literal["reference", "emulator", "vendor", "float", "runtime"]
Reads = Literal["program", "chip_files"]
ROLES: tuple[str, ...] = ("reference", "emulator", "vendor", "float", "runtime")
"""reference: the batched integer statement of the number format (every other backend is compared
with it); emulator: an independent implementation in the chip's execution order; vendor: the
vendor's
simulator (slow: verify runs it on fewer samples); float: the float executor; runtime: a deployment
runtime such as onnxruntime."""


@dataclass(frozen=True)
class Backend:
    """One implementation that runs a deployment (Lava's process *model*: how, not what).

    `runner` is ``"module:function"``, imported only when the backend runs, with the signature
    ``fn(program, x, record_states) -> Trace`` (``x``: ``[T, B, *input_shape]``, timesteps
    first)."""

    name: str
    role: Role
    runner: str
    summary: str = ""
    reads: Reads = "program"
    """What it runs: ``program`` (the quantised program, program.npz) or ``chip_files`` (the
    files loaded onto the chip, parsed back by :meth:`Target.read_chip_files`). With the reference
    on one and the emulator on the other, an edit to either side is a mismatch."""
    env: str = ""
    """The witness environment it runs in (:mod:`nrf_deploy.witness`, e.g. ``"lava"``); empty: the
    core's own interpreter. Such a backend's runner sends its request to a runner file in that
    environment; ``verify`` skips it, saying how to install it, when the environment is not
    installed, and records the environment's versions when it ran."""

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"backend '{self.name}': unknown role '{self.role}' (one of {ROLES})")
        if self.reads not in ("program", "chip_files"):
            raise ValueError(f"backend '{self.name}': reads must be 'program' or 'chip_files'")

    def load(self) -> Callable[..., Trace]:
        module, function = self.runner.split(":")
        return getattr(importlib.import_module(module), function)


@dataclass(frozen=True)
class Capabilities:
    """What a target can represent, declared so the core never names a chip."""

    neuron_kinds: frozenset[str]
    """Stateful NIR kinds it runs (the graph's ``Node.kind``: IF, LIF, CubaLIF, LI, I, ...)."""
    recurrence: bool = False
    """Whether a graph with cycles (delayed edges) deploys."""
    reset_rules: frozenset[str] = frozenset({"subtract", "zero"})
    """Reset rules it reproduces exactly (others are approximated, recorded, or refused)."""
    cpu_baseline: bool = False
    """True for a conventional-hardware target the report uses as the baseline of its ratios."""


class Target(abc.ABC):
    """A hardware family. Subclasses set the class variables and implement the abstract methods."""

    name: ClassVar[str]
    summary: ClassVar[str]
    backend_table: ClassVar[tuple[Backend, ...]]
    """Every backend; the first has role ``reference`` (or ``float`` for a float target) and is
    the one every other backend is compared against."""
    capabilities: ClassVar[Capabilities] = Capabilities(frozenset())
    second_opinions: ClassVar[tuple[SecondOpinion, ...]] = ()
    """The field's own tools that recompute this target's figures (energy, latency, placement,
    spikes) independently; the report shows them beside nrf-deploy's
    (:mod:`nrf_deploy.opinions`)."""
    demo_options: ClassVar[tuple[dict[str, Any], ...]] = ({},)
    """Export options the demo tries in order until one is accepted (least approximate first)."""
    tolerance: ClassVar[float] = 0.0
    """Allowed absolute difference between backends (0: bit-exact)."""
    rel_tolerance: ClassVar[float] = 0.0
    """Allowed difference relative to the variable's range: a value mismatches when
    ``|a - b| > tolerance + rel_tolerance * S``, S the largest magnitude of that variable in
    either trace (:func:`nrf_deploy.verify.compare`; spikes are always exact)."""
    packages: ClassVar[tuple[str, ...]] = ()
    """Distributions (PyPI names) its export and backends depend on: their versions are recorded
    in every ``deploy.json`` (:func:`nrf_deploy.deployment.package_versions`) and in reports."""
    witness_envs: ClassVar[tuple[WitnessEnv, ...]] = ()
    """Environments its vendor backends and second opinions run in (:mod:`nrf_deploy.witness`):
    ``nrf-deploy witnesses`` lists them, ``witnesses install`` creates them."""
    chip_file_names: ClassVar[tuple[str, ...]] = ()
    """Files of an export that the chip (or its vendor toolchain) loads; backends with
    ``reads="chip_files"`` run what these files say."""

    @property
    def backends(self) -> tuple[str, ...]:
        """Names of :attr:`backend_table`; ``backends[0]`` is the reference."""
        return tuple(b.name for b in self.backend_table)

    @property
    def witness(self) -> str | None:
        """The vendor-simulator backend, if the target has one."""
        return next((b.name for b in self.backend_table if b.role == "vendor"), None)

    def backends_for(self, deployment: Deployment) -> tuple[Backend, ...]:
        """The backends that can run `deployment` (default: the whole table)."""
        return self.backend_table

    def backend_names(self, deployment: Deployment) -> tuple[str, ...]:
        """Names of :meth:`backends_for`; the first is the reference."""
        return tuple(b.name for b in self.backends_for(deployment))

    def witness_for(self, deployment: Deployment) -> str | None:
        """The vendor-simulator backend that can run `deployment`, if any."""
        return next((b.name for b in self.backends_for(deployment) if b.role == "vendor"), None)

    def backend(self, deployment: Deployment, name: str) -> Backend:
        """The backend called `name` for `deployment` (NrfError naming the choices otherwise)."""
        table = self.backends_for(deployment)
        for spec in table:
            if spec.name == name:
                return spec
        from nrf_deploy.errors import NrfError

        raise NrfError(
            f"unknown backend '{name}' for this {self.name} export",
            "--backend",
            f"choose one of: {', '.join(b.name for b in table)}",
        )

    def add_export_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Target-specific ``nrf-deploy export`` flags (the parsed values arrive in ``options``)."""

    @abc.abstractmethod
    def build(self, graph: Graph, options: dict[str, Any]) -> Deployment:
        """Quantise and map `graph`; raise :class:`nrf_deploy.errors.NrfError` if it cannot
        deploy."""

    @abc.abstractmethod
    def write(self, deployment: Deployment, out_dir: Path) -> None:
        """Write every artefact into `out_dir` (an empty temporary directory; the caller makes it
        appear atomically). Must be deterministic: the same deployment gives identical bytes."""

    @abc.abstractmethod
    def load(self, out_dir: Path) -> Deployment:
        """Read back what :meth:`write` wrote (raises NrfError on missing/corrupt files)."""

    def run(
        self, deployment: Deployment, backend: str, x: np.ndarray, record_states: bool = True
    ) -> Trace:
        """Run `backend` on input `x` shaped ``[T, B, *input_shape]`` (event counts, integers).

        Returns a :class:`Trace` over every node; integer backends report chip units (int64)."""
        from nrf_deploy.threads import apply_threads

        spec = self.backend(deployment, backend)
        if spec.env:
            from nrf_deploy.witness.run import ready

            ready(spec.env)  # WitnessNotInstalled (exit 2, with the install command) before work
        program = self.program_for(deployment, spec)
        runner = spec.load()
        apply_threads(int(np.shape(x)[1]) if np.ndim(x) > 1 else 1)  # docs/performance.md
        trace = runner(program, self.check_input(deployment, x), record_states)
        return self.finish_trace(deployment, trace, record_states)

    def program_for(self, deployment: Deployment, spec: Backend) -> Any:
        """What backend `spec` runs: the quantised program, or the chip files parsed back (once per
        deployment, from the files on disk after ``load`` or their in-memory bytes after
        ``build``)."""
        if spec.reads == "program":
            return deployment.program
        if deployment.chip_program is None:
            deployment.chip_program = self.read_chip_files(
                self.chip_files_of(deployment), deployment
            )
        return deployment.chip_program

    def chip_files(self, deployment: Deployment) -> dict[str, bytes]:
        """Contents of :attr:`chip_file_names` for `deployment` (deterministic bytes)."""
        return {}

    def read_chip_files(self, files: Mapping[str, bytes], deployment: Deployment) -> Any:
        """Parse chip-file contents back into the program the chip-file backends run; raise
        NrfError naming the file on anything the chip could not load."""
        raise NotImplementedError(f"{self.name} declares no chip files")

    def chip_files_of(self, deployment: Deployment) -> dict[str, bytes]:
        """`deployment.chip_files`, made from its program (and kept) if not yet there."""
        if deployment.chip_files is None:
            deployment.chip_files = self.chip_files(deployment)
        return deployment.chip_files

    def write_chip_files(self, deployment: Deployment, out_dir: Path) -> None:
        """Write :meth:`chip_files_of` into `out_dir` (the bytes chip-file backends parse)."""
        for name, data in self.chip_files_of(deployment).items():
            (Path(out_dir) / name).write_bytes(data)

    def load_chip_files(self, out_dir: Path) -> dict[str, bytes]:
        """The bytes of :attr:`chip_file_names` in `out_dir` (NrfError if one is missing)."""
        from nrf_deploy.errors import NrfError

        files = {}
        for name in self.chip_file_names:
            path = Path(out_dir) / name
            try:
                files[name] = path.read_bytes()
            except OSError as exc:
                raise NrfError(
                    f"chip file {name} is missing or unreadable ({exc.strerror})",
                    str(path),
                    "re-run nrf-deploy export",
                ) from None
        return files

    def check_input(self, deployment: Deployment, x: np.ndarray) -> np.ndarray:
        """Refuse input the chip cannot take (NrfError); default: accept `x` as it is."""
        return x

    def finish_trace(self, deployment: Deployment, trace: Trace, record_states: bool) -> Trace:
        """What every backend's trace gets after the run; default: :meth:`alias_outputs`."""
        return self.alias_outputs(trace, deployment.sidecar)

    def compared_variables(self, deployment: Deployment) -> dict[str, tuple[str, ...]] | None:
        """State variables per node that must agree between backends (None: all recorded)."""
        return None

    program_file: ClassVar[str] = "program.npz"
    program_type: ClassVar[Any] = None
    """The program's class: ``to_arrays()`` and ``from_arrays(sidecar, arrays)`` (None: the target
    writes no program.npz and does not use :meth:`write_program` / :meth:`read_program`)."""

    def write_program(self, deployment: Deployment, out_dir: Path) -> None:
        """``deploy.json`` (the sidecar) and ``program.npz`` (``program.to_arrays()``), both
        deterministic: sorted keys, fixed zip timestamps."""
        from nrf_deploy.deployment import SIDECAR
        from nrf_deploy.fileio import dumps_json, npz_bytes

        (Path(out_dir) / SIDECAR).write_text(dumps_json(deployment.sidecar))
        (Path(out_dir) / self.program_file).write_bytes(npz_bytes(deployment.program.to_arrays()))

    def read_program(self, out_dir: Path) -> tuple[dict[str, Any], Any]:
        """(sidecar, program) of an export written by :meth:`write_program` (NrfError naming the
        file when it is missing or does not match deploy.json)."""
        import zipfile

        from nrf_deploy.errors import NrfError
        from nrf_deploy.fileio import read_npz_bytes

        sidecar = self.read_own_sidecar(out_dir)
        path = Path(out_dir) / self.program_file
        try:
            program = self.program_type.from_arrays(sidecar, read_npz_bytes(path.read_bytes()))
        except (OSError, KeyError, ValueError, TypeError, IndexError, zipfile.BadZipFile) as exc:
            raise NrfError(
                f"{self.program_file} is missing or corrupt, or does not match deploy.json "
                f"({type(exc).__name__}: {exc})",
                str(path),
                "re-run nrf-deploy export",
            ) from None
        return sidecar, program

    def read_own_sidecar(self, out_dir: Path) -> dict[str, Any]:
        """``deploy.json`` of `out_dir`, refusing an export made for another target."""
        from nrf_deploy.deployment import read_sidecar
        from nrf_deploy.errors import NrfError

        sidecar = read_sidecar(out_dir)
        if sidecar["target"] != self.name:
            raise NrfError(
                f"'{out_dir}' is a {sidecar['target']} export, not {self.name}",
                str(out_dir),
                f"use the export made with --target {self.name}",
            )
        return sidecar

    @staticmethod
    def alias_outputs(trace: Trace, sidecar: dict[str, Any]) -> Trace:
        """Give each Output node the recording of the population feeding it (the latest node before
        it in the schedule that the backend recorded), and set ``trace.output_names``."""
        trace.output_names = tuple(sidecar["output_names"])
        schedule = sidecar["schedule"]
        for out in trace.output_names:
            before = schedule[: schedule.index(out)]
            source = next((n for n in reversed(before) if n in trace.outputs), None)
            if source is not None:
                trace.outputs[out] = trace.outputs[source]
        return trace

    def resources(self, deployment: Deployment) -> dict[str, Any]:
        """Resource usage (cores, memory used vs available); default: the sidecar's record."""
        return dict(deployment.sidecar.get("resources", {}))
