"""What a hardware target is (the *process*), separate from how each chip does it (its package).

Every target package under ``targets/<chip>/`` provides one :class:`Target` subclass with the
number format and quantiser, an integer PyTorch reference, an independent emulator in the chip's
execution order, optionally a vendor-simulator witness, a resource mapper and a hardware profile.
The CLI, :mod:`nrf_deploy.verify` and :mod:`nrf_deploy.report` only talk to this interface.
"""
from __future__ import annotations

import abc
import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from nrf_deploy.ir.graph import Graph
from nrf_deploy.trace import Trace


@dataclass
class Deployment:
    """A graph lowered to one target: the sidecar (``deploy.json`` content, plain JSON types) and
    the target's own in-memory form of the quantised network (``program``)."""

    target: str
    sidecar: dict[str, Any]
    program: Any = None
    out_dir: Path | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.sidecar["input_shape"])

    @property
    def timesteps(self) -> int:
        """Default number of timesteps for generated verification inputs."""
        return int(self.sidecar.get("timesteps", 20))


class Target(abc.ABC):
    """A hardware family. Subclasses set the class variables and implement the abstract methods."""

    name: ClassVar[str]
    summary: ClassVar[str]
    backends: ClassVar[tuple[str, ...]]
    """Backend names; ``backends[0]`` is the reference every other backend is compared against."""
    witness: ClassVar[str | None] = None
    """The vendor simulator backend (slow; verify runs it on fewer samples)."""
    tolerance: ClassVar[float] = 0.0
    """Allowed absolute difference between backends (0: bit-exact)."""

    def add_export_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Target-specific ``nrf-deploy export`` flags (the parsed values arrive in ``options``)."""

    @abc.abstractmethod
    def build(self, graph: Graph, options: dict[str, Any]) -> Deployment:
        """Quantise and map `graph`; raise :class:`nrf_deploy.errors.NrfError` if it cannot deploy."""

    @abc.abstractmethod
    def write(self, deployment: Deployment, out_dir: Path) -> None:
        """Write every artefact into `out_dir` (an empty temporary directory; the caller makes it
        appear atomically). Must be deterministic: the same deployment gives identical bytes."""

    @abc.abstractmethod
    def load(self, out_dir: Path) -> Deployment:
        """Read back what :meth:`write` wrote (raises NrfError on missing/corrupt files)."""

    @abc.abstractmethod
    def run(self, deployment: Deployment, backend: str, x: np.ndarray,
            record_states: bool = True) -> Trace:
        """Run `backend` on input `x` shaped ``[T, B, *input_shape]`` (event counts, integers).

        Returns a :class:`Trace` over every node; integer backends report chip units (int64)."""

    def compared_variables(self, deployment: Deployment) -> dict[str, tuple[str, ...]] | None:
        """State variables per node that must agree between backends (None: all recorded)."""
        return None

    def read_own_sidecar(self, out_dir: Path) -> dict[str, Any]:
        """``deploy.json`` of `out_dir`, refusing an export made for another target."""
        from nrf_deploy.deployment import read_sidecar
        from nrf_deploy.errors import NrfError

        sidecar = read_sidecar(out_dir)
        if sidecar["target"] != self.name:
            raise NrfError(f"'{out_dir}' is a {sidecar['target']} export, not {self.name}", str(out_dir),
                           f"use the export made with --target {self.name}")
        return sidecar

    @staticmethod
    def alias_outputs(trace: Trace, sidecar: dict[str, Any]) -> Trace:
        """Give each Output node the recording of the population feeding it (the latest node before
        it in the schedule that the backend recorded), and set ``trace.output_names``."""
        trace.output_names = tuple(sidecar["output_names"])
        schedule = sidecar["schedule"]
        for out in trace.output_names:
            before = schedule[:schedule.index(out)]
            source = next((n for n in reversed(before) if n in trace.outputs), None)
            if source is not None:
                trace.outputs[out] = trace.outputs[source]
        return trace

    def resources(self, deployment: Deployment) -> dict[str, Any]:
        """Resource usage (cores, memory used vs available); default: the sidecar's record."""
        return dict(deployment.sidecar.get("resources", {}))
