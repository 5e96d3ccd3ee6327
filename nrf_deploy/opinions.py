"""Second opinions: the field's own tools checking a deployment's figures independently.

nrf-deploy computes every energy, latency, placement and activity figure itself. A target may
declare :class:`SecondOpinion` tools (an architecture simulator, a reference simulator, the
vendor's mapper) that compute the same quantities their own way; the report runs each one and shows
its figures beside nrf-deploy's (:class:`Comparison` rows: a ratio for costs and placements, an
agreement share for spikes). A tool that is not installed is reported as "not available (install
nrf-deploy[witness])"; a tool that fails is reported with its reason; neither stops the report.

A declaration names its runner as ``"module:function"`` (imported only when it runs) with the
signature ``fn(deployment, context: OpinionContext) -> Opinion``.
"""

from __future__ import annotations

import importlib
import importlib.util
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    from nrf_deploy.target import Deployment
    from nrf_deploy.trace import Trace

INSTALL_HINT = "install nrf-deploy[witness]"


@dataclass(frozen=True)
class SecondOpinion:
    """One tool a target offers as a second opinion (what, not how)."""

    name: str
    """Shown in the report, e.g. ``"SANA-FE"``."""
    runner: str
    """``"module:function"``: ``fn(deployment, context) -> Opinion``."""
    requires: tuple[str, ...] = ()
    """Import names the runner needs; any missing -> "not available (install ...)"."""
    summary: str = ""

    def missing(self) -> list[str]:
        """The required modules that cannot be imported here."""
        return [m for m in self.requires if importlib.util.find_spec(m) is None]

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

    entries = []
    for tool in declared:
        missing = tool.missing()
        if missing:
            entries.append(
                unavailable(tool.name, f"not available ({INSTALL_HINT}: {', '.join(missing)})")
            )
            continue
        try:
            entries.append(tool.load()(deployment, context).to_json())
        except NrfError as exc:
            entries.append(unavailable(tool.name, exc.format().splitlines()[0]))
        except Exception as exc:  # noqa: BLE001 — a failing tool must not stop the report
            entries.append(unavailable(tool.name, f"failed: {type(exc).__name__}: {exc}"))
    return entries
