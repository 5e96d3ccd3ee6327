"""The sidecar (``deploy.json``): every decision an export made, shared by all targets."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from nrf_deploy import __version__
from nrf_deploy.errors import NrfError
from nrf_deploy.ir.graph import Graph

SIDECAR = "deploy.json"
FORMAT = "nrf-deploy/1"
CORE_PACKAGES = ("torch", "numpy", "h5py", "norse")
"""Distributions the core's own results depend on (h5py writes the ``.nir`` files; the core reads
and writes NIR itself, so no ``nir``); each target adds its ``Target.packages``."""


def target_packages() -> tuple[str, ...]:
    """Every registered target's ``packages``, in registry order, each once (a target that cannot
    be imported here adds none)."""
    from nrf_deploy.targets import available_targets

    found: list[str] = []
    for target in available_targets():
        found += [p for p in target.packages if p not in found]
    return tuple(found)


def recorded_packages() -> tuple[str, ...]:
    """The distributions whose versions every ``deploy.json`` records."""
    return CORE_PACKAGES + tuple(p for p in target_packages() if p not in CORE_PACKAGES)


def package_versions() -> dict[str, str]:
    """Versions of the packages that shape an export (recorded for reproducibility)."""
    versions = {}
    for name in recorded_packages():
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def graph_fingerprint(graph: Graph) -> str:
    """SHA-256 over the normalised graph's structure and parameters (independent of file bytes)."""
    h = hashlib.sha256()
    for name in sorted(graph.nodes):
        node = graph.nodes[name]
        h.update(f"{name}:{node.kind}:{node.in_shape}:{node.out_shape}".encode())
        for field_name in sorted(getattr(node.nir_node, "__dataclass_fields__", {})):
            value = getattr(node.nir_node, field_name)
            if isinstance(value, np.ndarray) and value.dtype != object:
                h.update(field_name.encode())  # same digest as name + bytes, without copies
                h.update(memoryview(np.ascontiguousarray(value)).cast("B"))
            elif hasattr(value, "tobytes"):
                h.update(field_name.encode() + value.tobytes())
    for edge in sorted(graph.edges):
        h.update(repr(edge).encode())
    return h.hexdigest()


def base_sidecar(
    target: str, graph: Graph, dt: float, timesteps: int, options: dict[str, Any]
) -> dict[str, Any]:
    """The fields every target's sidecar starts with. No timestamps: artefacts are reproducible."""
    return {
        "format": FORMAT,
        "target": target,
        "nrf_deploy_version": __version__,
        "packages": package_versions(),
        "source": {"fingerprint": graph_fingerprint(graph), "name": graph.metadata.get("name", "")},
        "dt": float(dt),
        "timesteps": int(timesteps),
        "input_name": graph.input_name,
        "input_shape": list(graph.input_shape),
        "output_names": list(graph.output_names),
        "schedule": list(graph.schedule),
        "spiking_nodes": sorted(n.name for n in graph.nodes.values() if n.spiking),
        "options": {k: v for k, v in sorted(options.items()) if _is_plain(v)},
    }


def _is_plain(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool, type(None), list, tuple))


def read_sidecar(out_dir: Path) -> dict[str, Any]:
    """Load ``deploy.json`` from an export directory, with clear errors."""
    path = Path(out_dir) / SIDECAR
    if not Path(out_dir).is_dir():
        raise NrfError(
            f"export directory '{out_dir}' does not exist",
            str(out_dir),
            "run 'nrf-deploy export MODEL.nir --target T -o DIR' first",
        )
    if not path.is_file():
        raise NrfError(
            f"'{out_dir}' is not an nrf-deploy export: {SIDECAR} is missing",
            str(path),
            "point at the directory written by 'nrf-deploy export'",
        )
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise NrfError(
            f"{SIDECAR} is unreadable or corrupt ({exc})",
            str(path),
            "re-run 'nrf-deploy export' to regenerate it",
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or "target" not in data:
        raise NrfError(
            f"{SIDECAR} has an unknown format '{data.get('format')}'",
            str(path),
            f"expected {FORMAT}; re-export with this nrf-deploy version",
        )
    return data


def is_previous_export(path: Path) -> bool:
    """Whether `path` holds an export of this tool (its sidecar parses and names our format):
    the only kind of non-empty directory ``export -o`` replaces."""
    try:
        data = json.loads((Path(path) / SIDECAR).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("format") == FORMAT and "target" in data


@dataclass(frozen=True)
class CoreSlice:
    """Neurons ``[first, stop)`` of `population` (flat indices) placed on core `core`."""

    population: str
    core: int
    first: int
    stop: int


@dataclass(frozen=True)
class DeploymentRecord:
    """What the core (verify, report) reads about an export, typed: the same after ``build`` and
    after ``load`` (both read the sidecar written to ``deploy.json``).

    Times in timesteps except `dt` (seconds). `delays`: steps by which each population lags the
    float model; `output_scale`: chip units per model unit of each read-out population;
    `core_slices`: where each population's neurons sit (empty if the export has no mapping)."""

    target: str
    dt: float
    timesteps: int
    input_name: str
    input_shape: tuple[int, ...]
    output_names: tuple[str, ...]
    schedule: tuple[str, ...]
    spiking_nodes: frozenset[str]
    delays: dict[str, int] = field(default_factory=dict)
    output_scale: dict[str, float] = field(default_factory=dict)
    core_slices: tuple[CoreSlice, ...] = ()
    core_mapping: str = ""
    """How `core_slices` were recorded: ``neuron slices`` (populations split over cores),
    ``core map`` (one population per core) or ``""`` (no mapping)."""
    resources: dict[str, Any] = field(default_factory=dict)
    approximations: tuple[str, ...] = ()
    number_format: str = "not recorded"
    quantisation: dict[str, Any] = field(default_factory=dict)
    source_fingerprint: str | None = None

    @classmethod
    def from_json(cls, sidecar: dict[str, Any]) -> DeploymentRecord:
        """The record of a ``deploy.json`` (missing optional fields: empty)."""
        slices, mapping = _core_slices(sidecar)
        return cls(
            target=str(sidecar.get("target", "")),
            dt=float(sidecar.get("dt") or 0.0),
            timesteps=int(sidecar.get("timesteps", 20)),
            input_name=str(sidecar.get("input_name", "")),
            input_shape=tuple(int(s) for s in sidecar.get("input_shape", ())),
            output_names=tuple(sidecar.get("output_names", ())),
            schedule=tuple(sidecar.get("schedule", ())),
            spiking_nodes=frozenset(sidecar.get("spiking_nodes", ())),
            delays={str(k): int(v) for k, v in (sidecar.get("delays") or {}).items()},
            output_scale={str(k): float(v) for k, v in (sidecar.get("output_scale") or {}).items()},
            core_slices=slices,
            core_mapping=mapping,
            resources=dict(sidecar.get("resources") or {}),
            approximations=tuple(str(a) for a in sidecar.get("approximations") or ()),
            number_format=str(sidecar.get("number_format", "not recorded")),
            quantisation=dict(sidecar.get("quantisation") or {}),
            source_fingerprint=(sidecar.get("source") or {}).get("fingerprint"),
        )

    def to_json(self) -> dict[str, Any]:
        """The record's fields in ``deploy.json`` form (core slices as ``[population, core,
        first, stop]`` rows)."""
        return {
            "target": self.target,
            "dt": self.dt,
            "timesteps": self.timesteps,
            "input_name": self.input_name,
            "input_shape": list(self.input_shape),
            "output_names": list(self.output_names),
            "schedule": list(self.schedule),
            "spiking_nodes": sorted(self.spiking_nodes),
            "delays": dict(self.delays),
            "output_scale": dict(self.output_scale),
            "core_slices": [[s.population, s.core, s.first, s.stop] for s in self.core_slices],
            "core_mapping": self.core_mapping,
            "resources": dict(self.resources),
            "approximations": list(self.approximations),
            "number_format": self.number_format,
            "quantisation": dict(self.quantisation),
            "source": {"fingerprint": self.source_fingerprint},
        }

    def slices_of(self, population: str) -> list[CoreSlice]:
        return [s for s in self.core_slices if s.population == population]


def _core_slices(sidecar: dict[str, Any]) -> tuple[tuple[CoreSlice, ...], str]:
    """Neuron -> core placement as targets record it, and how: ``core_slices`` rows
    ``[population, core, first, stop]`` (with ``core_mapping``), else ``populations[p].cores`` rows
    ``[core, first, stop]`` (neuron slices), else ``core_map`` entries naming one
    ``layer``/``population`` per core (whole population; its size from ``layers[*].out_shape``)."""
    if "core_slices" in sidecar:
        return (
            tuple(
                CoreSlice(str(p), int(c), int(a), int(b)) for p, c, a, b in sidecar["core_slices"]
            ),
            str(sidecar.get("core_mapping", "neuron slices")),
        )
    pops = sidecar.get("populations")
    if (
        isinstance(pops, dict)
        and pops
        and all(isinstance(d, dict) and isinstance(d.get("cores"), list) for d in pops.values())
    ):
        return (
            tuple(
                CoreSlice(name, int(c[0]), int(c[1]), int(c[2]))
                for name, d in pops.items()
                for c in d["cores"]
            ),
            "neuron slices",
        )
    sizes = {
        d["name"]: int(np.prod(d["out_shape"]))
        for d in sidecar.get("layers") or []
        if isinstance(d, dict) and "name" in d and "out_shape" in d
    }
    slices = []
    for entry in sidecar.get("core_map") or []:
        name = entry.get("layer", entry.get("population")) if isinstance(entry, dict) else None
        if name is not None and name in sizes:
            slices.append(CoreSlice(str(name), int(entry["core"]), 0, sizes[name]))
    return tuple(slices), ("core map" if slices else "")
