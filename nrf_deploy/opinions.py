"""Second opinions: the field's own tools checking a deployment's figures independently.

nrf-deploy computes every energy, latency, placement and activity figure itself. A target may
declare :class:`SecondOpinion` tools (an architecture simulator, a reference simulator, the
vendor's mapper) that compute the same quantities their own way; the report runs each one and shows
its figures beside nrf-deploy's (:class:`Comparison` rows: a ratio for costs and placements, an
agreement share for spikes). Every tool runs in a witness environment of its own
(:mod:`nrf_deploy.witness`), never in the core's: a tool whose environment is not installed is
reported as "not installed: nrf-deploy witnesses install ENV"; a tool that refuses or fails is
reported with its reason; neither stops the report.

A declaration names its runner as ``"module:function"`` (imported only when it runs, in the core)
with the signature ``fn(deployment, context: OpinionContext) -> Opinion``: it prepares a
declarative request (arrays, JSON) from the deployment, asks the environment
(:func:`nrf_deploy.witness.call`) and turns the answer into :class:`Comparison` rows.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    from nrf_deploy.target import Deployment
    from nrf_deploy.trace import Trace

WITNESS_MEMORY_BYTES = 1.2e9
"""The memory a second opinion's process may use by default (``report --witness-memory GB``):
each tool bounds what it is given by it (SANA-FE simulates a sample of a larger network's cores,
NEST does not run a network it would need more for). The report itself holds about 2.8 GB on the
demo's RF-SNN; 1.2 GB beside it keeps the demo under 4 GB."""


class NotRun(Exception):
    """A tool that does not run on this deployment, and why (e.g. beyond its memory bound); the
    report shows the reason as it is."""


@dataclass(frozen=True)
class SecondOpinion:
    """One tool a target offers as a second opinion (what, not how)."""

    name: str
    """Shown in the report, e.g. ``"SANA-FE"``."""
    runner: str
    """``"module:function"``: ``fn(deployment, context) -> Opinion`` (runs in the core)."""
    env: str = ""
    """The witness environment the tool runs in (``nrf-deploy witnesses install ENV``); empty:
    none (the runner needs nothing beyond the core)."""
    summary: str = ""

    def missing(self) -> str | None:
        """Why the tool cannot run here — ``"not installed: nrf-deploy witnesses install ENV"``
        (or ``"stale: ... --force"``) — or None when its environment is ready."""
        if not self.env:
            return None
        from nrf_deploy.errors import NrfError
        from nrf_deploy.witness import WitnessNotInstalled, ready

        try:
            ready(self.env)
        except WitnessNotInstalled as exc:
            return exc.short
        except NrfError as exc:  # an environment no target declares
            return exc.format().splitlines()[0]
        return None

    def load(self) -> Callable[..., Opinion]:
        module, function = self.runner.split(":")
        return getattr(importlib.import_module(module), function)


@dataclass
class OpinionContext:
    """What the report already has when it asks for second opinions (same inputs for all)."""

    x: np.ndarray
    """The report's input, ``[T, B, *input_shape]`` (timesteps first)."""
    dt: float | None
    """Seconds per timestep of the float model (None: not recorded)."""
    hardware: list[dict[str, Any]]
    """nrf-deploy's cost-model figures, one dict per chip profile (the report's
    ``targets[].hardware``: ``chip``, ``energy_j`` and ``latency_s`` per inference, ``terms``,
    ``constants``, ...)."""
    resources: dict[str, Any]
    """``target.resources(deployment)``: cores, chips, memory as nrf-deploy maps them."""
    reference: Trace
    """The reference backend's run on `x`."""
    floating: Trace
    """The float model's run on `x`."""
    export_dir: Path
    memory_bytes: float = WITNESS_MEMORY_BYTES
    """What a tool's process may use (bytes); each tool bounds what it is given by it."""


@dataclass
class Comparison:
    """One quantity both nrf-deploy and the tool give. ``kind="ratio"``: the report shows
    ``theirs / ours``; ``kind="agreement"``: `theirs` is an agreement figure in [0, 1] (e.g. the
    share of equal spikes) and `ours` its reference value (1.0 for identical)."""

    quantity: str
    unit: str
    ours: float | None
    theirs: float | None
    kind: Literal["ratio", "agreement"] = "ratio"
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.kind != "ratio" or self.ours in (None, 0) or self.theirs is None:
            return None
        return float(self.theirs) / float(self.ours)


@dataclass
class Opinion:
    """A tool's answer: its version, the compared quantities, and notes on what differs."""

    tool: str
    version: str
    rows: list[Comparison] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    """Tool-specific figures kept in report.json (plain JSON types)."""

    def to_json(self) -> dict[str, Any]:
        rows = [{**asdict(r), "ratio": _finite(r.ratio)} for r in self.rows]
        for row in rows:
            row["ours"], row["theirs"] = _finite(row["ours"]), _finite(row["theirs"])
        return {
            "tool": self.tool,
            "available": True,
            "version": self.version,
            "rows": rows,
            "notes": list(self.notes),
            "details": self.details,
        }


def _finite(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def unavailable(name: str, reason: str) -> dict[str, Any]:
    """The report.json entry of a tool that gave no opinion, with the reason."""
    return {"tool": name, "available": False, "reason": reason, "rows": [], "notes": []}


def gather(
    declared: tuple[SecondOpinion, ...], deployment: Deployment, context: OpinionContext
) -> list[dict[str, Any]]:
    """Run every declared tool on `deployment`; one report.json entry each, never raising."""
    from nrf_deploy.errors import NrfError
    from nrf_deploy.witness import WitnessNotInstalled

    entries = []
    for tool in declared:
        missing = tool.missing()
        if missing:
            entries.append(unavailable(tool.name, missing))
            continue
        try:
            entries.append(tool.load()(deployment, context).to_json())
        except WitnessNotInstalled as exc:
            entries.append(unavailable(tool.name, exc.short))
        except NotRun as exc:
            entries.append(unavailable(tool.name, str(exc)))
        except NrfError as exc:
            entries.append(unavailable(tool.name, exc.format().splitlines()[0]))
        except Exception as exc:  # noqa: BLE001 — a failing tool must not stop the report
            entries.append(unavailable(tool.name, f"failed: {type(exc).__name__}: {exc}"))
    return entries


def spike_agreement(pairs: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    """How far two runs' spikes agree, over `pairs` of equally shaped ``[T, ...]`` spike-count
    arrays (one pair per population, already aligned in time).

    ``equal``: the share of spikes at the same unit and step, ``2 Σ min(a, b) / (Σ a + Σ b)``
    (1.0 for identical runs, also when both are silent); ``correlation``: Pearson's r of the
    per-unit spike counts summed over time (1.0 when both are equal and constant, 0.0 when only
    one is constant); ``theirs`` / ``ours``: spike totals of the first / second array."""
    if not pairs:
        return {"equal": 1.0, "correlation": 1.0, "theirs": 0.0, "ours": 0.0}
    a = np.concatenate([np.asarray(p[0], dtype=np.float64).reshape(-1) for p in pairs])
    b = np.concatenate([np.asarray(p[1], dtype=np.float64).reshape(-1) for p in pairs])
    total = a.sum() + b.sum()
    equal = 1.0 if total == 0 else float(2 * np.minimum(a, b).sum() / total)
    counts_a = np.concatenate([np.asarray(p[0], np.float64).sum(axis=0).ravel() for p in pairs])
    counts_b = np.concatenate([np.asarray(p[1], np.float64).sum(axis=0).ravel() for p in pairs])
    correlation = pearson(counts_a, counts_b)
    return {
        "equal": equal,
        "correlation": correlation,
        "theirs": float(a.sum()),
        "ours": float(b.sum()),
    }


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson's r of two equally long vectors; 1.0 when both are equal and constant, 0.0 when
    only one is constant (r is undefined there)."""
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    if a.std() == 0 or b.std() == 0:
        return float(np.array_equal(a, b))
    return float(np.corrcoef(a, b)[0, 1])
