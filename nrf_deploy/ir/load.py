"""Read ``.nir`` files with errors a user can act on (instead of h5py/nir tracebacks)."""
from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import nir

from nrf_deploy.errors import GraphError, NrfError

SUPPORTED_KINDS = ("Input", "Output", "Affine", "Linear", "Scale", "Conv1d", "Conv2d", "Flatten",
                   "SumPool2d", "AvgPool2d", "IF", "LIF", "LI", "CubaLIF", "I", "Threshold")
"""NIR node classes nrf-deploy executes (``I`` is NIR's Integrator). CubaLI is not part of nir
1.0.4 (the version sinabs 3.1.3 pins) and is refused with a clear message."""

KNOWN_UNSUPPORTED = {
    "Delay": "synaptic delays are not executed yet; fold them into the model or remove the node",
    "CubaLI": "nir 1.0.4 (pinned by sinabs 3.1.3) has no CubaLI; use CubaLIF with a threshold that "
              "is never reached, or LI",
}


def read_nir_file(path: str | os.PathLike) -> nir.NIRGraph:
    """Read a NIR file, checking it is HDF5 with a NIR graph of known node types first."""
    path = Path(path)
    if not path.exists():
        raise NrfError(f"model file '{path}' does not exist", str(path), "check the path")
    if path.is_dir():
        raise NrfError(f"'{path}' is a directory, not a .nir file", str(path),
                       "pass the .nir file (for export directories use verify/run on the directory)")
    try:
        with h5py.File(path, "r") as f:
            if "node" not in f:
                raise GraphError(f"'{path.name}' is HDF5 but not a NIR file (no 'node' group)",
                                 str(path), "export the model with nir.write()")
            _check_types(f["node"], "graph", path)
            _check_declared_size(f, path)
    except OSError as exc:
        raise GraphError(f"'{path.name}' is not a readable NIR (HDF5) file: it is truncated, "
                         f"corrupt or another format ({_short(exc)})", str(path),
                         "re-export the model with nir.write() and copy it again") from None
    try:
        return nir.read(path)
    except NrfError:
        raise
    except Exception as exc:  # nir raises assorted errors for malformed nodes
        raise GraphError(f"'{path.name}' could not be parsed as NIR ({type(exc).__name__}: "
                         f"{_short(exc)})", str(path),
                         "check the file was written by nir.write() with nir 1.0.x") from None


PARAMETER_COPIES = 4
"""Float64 copies of each parameter array a load and export hold at once (read, normalised,
scaled, quantised): the memory estimate refused up front is ``elements x 8 bytes x this``."""


def _check_declared_size(f: h5py.File, path: Path) -> None:
    """Refuse, before reading any array, a file whose declared arrays cannot fit in memory."""
    from nrf_deploy.inputs import check_allocation

    sizes: dict[str, int] = {}

    def visit(name: str, obj) -> None:
        if isinstance(obj, h5py.Dataset) and obj.shape:
            sizes[name] = int(np.prod(obj.shape, dtype=np.float64))

    f.visititems(visit)
    if not sizes:
        return
    largest = max(sizes, key=sizes.get)
    check_allocation(sum(sizes.values()) * 8.0 * PARAMETER_COPIES,
                     f"'{path.name}' (largest array {largest}, {sizes[largest]} values)", str(path),
                     "use a smaller model, or a machine with more memory")


def _check_types(group: h5py.Group, where: str, path: Path) -> None:
    """Refuse unknown node types before nir.read trips over them; recurse into subgraphs."""
    if "type" not in group:
        raise GraphError(f"node '{where}' has no 'type' field", f"{path}: {where}",
                         "the file is not a valid NIR graph")
    kind = group["type"][()]
    kind = kind.decode() if isinstance(kind, bytes) else str(kind)
    if kind == "NIRGraph":
        if "nodes" not in group or "edges" not in group:
            raise GraphError(f"graph '{where}' lacks 'nodes' or 'edges'", f"{path}: {where}",
                             "the file is not a valid NIR graph")
        for name, child in group["nodes"].items():
            _check_types(child, name if where == "graph" else f"{where}/{name}", path)
        return
    if kind in KNOWN_UNSUPPORTED:
        raise GraphError(f"node '{where}' has type {kind}, which nrf-deploy does not support",
                         f"{path}: node '{where}'", KNOWN_UNSUPPORTED[kind])
    if kind not in SUPPORTED_KINDS:
        raise GraphError(f"node '{where}' has unknown type '{kind}'", f"{path}: node '{where}'",
                         f"supported types: {', '.join(SUPPORTED_KINDS)}")


def _short(exc: BaseException, limit: int = 160) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:limit]
