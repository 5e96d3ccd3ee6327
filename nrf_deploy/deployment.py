"""The sidecar (``deploy.json``): every decision an export made, shared by all targets."""
from __future__ import annotations

import hashlib
import json
from importlib import metadata
from pathlib import Path
from typing import Any

from nrf_deploy import __version__
from nrf_deploy.errors import NrfError
from nrf_deploy.ir.graph import Graph

SIDECAR = "deploy.json"
FORMAT = "nrf-deploy/1"
RECORDED_PACKAGES = ("torch", "numpy", "nir", "norse", "sinabs", "lava-nc", "onnx", "onnxruntime")


def package_versions() -> dict[str, str]:
    """Versions of the packages that shape an export (recorded for reproducibility)."""
    versions = {}
    for name in RECORDED_PACKAGES:
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
            if hasattr(value, "tobytes"):
                h.update(field_name.encode() + value.tobytes())
    for edge in sorted(graph.edges):
        h.update(repr(edge).encode())
    return h.hexdigest()


def base_sidecar(target: str, graph: Graph, dt: float, timesteps: int,
                 options: dict[str, Any]) -> dict[str, Any]:
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
        raise NrfError(f"export directory '{out_dir}' does not exist", str(out_dir),
                       "run 'nrf-deploy export MODEL.nir --target T -o DIR' first")
    if not path.is_file():
        raise NrfError(f"'{out_dir}' is not an nrf-deploy export: {SIDECAR} is missing", str(path),
                       "point at the directory written by 'nrf-deploy export'")
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise NrfError(f"{SIDECAR} is unreadable or corrupt ({exc})", str(path),
                       "re-run 'nrf-deploy export' to regenerate it") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or "target" not in data:
        raise NrfError(f"{SIDECAR} has an unknown format '{data.get('format')}'", str(path),
                       f"expected {FORMAT}; re-export with this nrf-deploy version")
    return data


def is_previous_export(path: Path) -> bool:
    """Whether `path` holds an export of this tool (its sidecar parses and names our format):
    the only kind of non-empty directory ``export -o`` replaces."""
    try:
        data = json.loads((Path(path) / SIDECAR).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("format") == FORMAT and "target" in data
