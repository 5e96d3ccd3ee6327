"""Read ``.nir`` files written by nir 1.0.0 through 1.0.8, independent of the installed nir.

The HDF5 layout is read directly with h5py (gzip-compressed or not, with or without the typing
fields ``input_type``/``output_type``, scalar or array parameters, nested subgraphs) and turned
into nrf-deploy's own node classes (:mod:`nrf_deploy.ir.nodes`; nir 1.0.4's fields, plus nir
1.0.5's CubaLI). Fields newer than 1.0.4 are mapped explicitly: ``v_reset`` (nir 1.0.6) becomes
the node's reset record ``metadata["reset"]`` (``"zero"`` or ``"value"`` with
``metadata["v_reset"]``). A field or node nrf-deploy does not know is refused naming the node, the
field and the nir version, never passed on to a constructor.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from nrf_deploy.errors import GraphError, NrfError
from nrf_deploy.ir.nodes import NIRGraph, NIRNode
from nrf_deploy.ir.spec import KNOWN_UNSUPPORTED, NEWEST_NIR, SPECS, Primitive, resolve

SUPPORTED_KINDS = tuple(SPECS)
"""NIR node classes nrf-deploy executes (``I`` is NIR's Integrator, ``CubaLI`` nir 1.0.5's)."""

RESET_KEY, V_RESET_KEY = "reset", "v_reset"


@dataclass(frozen=True)
class _File:
    path: Path
    version: str

    def where(self, node: str) -> str:
        return f"{self.path}: node '{node}'"


def read_nir_file(path: str | os.PathLike) -> NIRGraph:
    """Read a NIR file into a :class:`~nrf_deploy.ir.nodes.NIRGraph` (raises
    GraphError/NrfError)."""
    path = Path(path)
    if not path.exists():
        raise NrfError(f"model file '{path}' does not exist", str(path), "check the path")
    if path.is_dir():
        raise NrfError(
            f"'{path}' is a directory, not a .nir file",
            str(path),
            "pass the .nir file (for export directories use verify/run on the directory)",
        )
    return read_nir(path, path)


def read_nir_bytes(data: bytes, name: str) -> NIRGraph:
    """Read a NIR file held in memory (`name` says where it came from, for messages)."""
    return read_nir(io.BytesIO(data), Path(name))


def read_nir(source: Path | io.IOBase, path: Path) -> NIRGraph:
    """Read the NIR file at (or in) `source`; `path` names it in messages."""
    try:
        with h5py.File(source, "r") as f:
            if "node" not in f:
                raise GraphError(
                    f"'{path.name}' is HDF5 but not a NIR file (no 'node' group)",
                    str(path),
                    "export the model with nir.write()",
                )
            _check_declared_size(f, path)
            version = _text(f["version"][()]) if "version" in f else "unknown"
            graph = _read_graph(f["node"], "graph", _File(path, version))
    except OSError as exc:
        raise GraphError(
            f"'{path.name}' is not a readable NIR (HDF5) file: it is truncated, "
            f"corrupt or another format ({_short(exc)})",
            str(path),
            "re-export the model with nir.write() and copy it again",
        ) from None
    graph.metadata = {**graph.metadata, "nir_version": version}
    return graph


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
    check_allocation(
        sum(sizes.values()) * 8.0 * PARAMETER_COPIES,
        f"'{path.name}' (largest array {largest}, {sizes[largest]} values)",
        str(path),
        "use a smaller model, or a machine with more memory",
    )


def _read_graph(group: h5py.Group, where: str, file: _File) -> NIRGraph:
    if "nodes" not in group or "edges" not in group:
        raise GraphError(
            f"graph '{where}' lacks 'nodes' or 'edges'",
            file.where(where),
            "the file is not a valid NIR graph",
        )
    nodes = {}
    for name, child in group["nodes"].items():
        nodes[name] = _read_any(child, name if where == "graph" else f"{where}/{name}", file)
    edges = [(_text(a), _text(b)) for a, b in np.asarray(group["edges"][()]).reshape(-1, 2)]
    return NIRGraph(nodes=nodes, edges=edges, metadata=_metadata(group))


def _read_any(group: Any, where: str, file: _File) -> NIRNode:
    if not isinstance(group, h5py.Group) or "type" not in group:
        raise GraphError(
            f"node '{where}' has no 'type' field",
            file.where(where),
            "the file is not a valid NIR graph",
        )
    kind = _text(group["type"][()])
    if kind == "NIRGraph":
        return _read_graph(group, where, file)
    if kind in KNOWN_UNSUPPORTED:
        raise GraphError(
            f"node '{where}' has type {kind}, which nrf-deploy does not support",
            file.where(where),
            KNOWN_UNSUPPORTED[kind],
        )
    if kind not in SPECS:
        raise GraphError(
            f"node '{where}' has unknown type '{kind}' (nir 1.0.0-{NEWEST_NIR} do "
            f"not define it; file written by nir {file.version})",
            file.where(where),
            f"re-export with nir <= {NEWEST_NIR} using only the node types "
            f"{', '.join(SUPPORTED_KINDS)}",
        )
    values = {k: v[()] for k, v in group.items() if isinstance(v, h5py.Dataset) and k != "type"}
    unknown = sorted(set(values) - SPECS[kind].known_fields())
    if unknown:
        raise GraphError(
            f"node '{where}' ({kind}) has field '{unknown[0]}', which nir "
            f"1.0.0-{NEWEST_NIR} do not define for {kind} (file written by nir "
            f"{file.version})",
            f"{file.where(where)}, field '{unknown[0]}'",
            f"re-export with nir <= {NEWEST_NIR}, or drop '{unknown[0]}' "
            "if the model does not depend on it",
        )
    spec = SPECS[kind]
    missing = [p for p in spec.params if p not in values and p not in spec.optional]
    if missing:
        raise GraphError(
            f"node '{where}' ({kind}) lacks field '{missing[0]}'",
            f"{file.where(where)}, field '{missing[0]}'",
            "the file is not a valid NIR graph; re-export it",
        )
    return _build(spec, values, _metadata(group), where, file)


def _build(
    spec: Primitive, values: dict[str, Any], meta: dict[str, Any], where: str, file: _File
) -> NIRNode:
    """The node object for one node (nodes.py), newer fields mapped into metadata:
    the spec's reader, or the node class called with the file's fields."""
    if spec.resets:
        meta = {**meta, **_reset_record(values.pop("v_reset", None), meta)}
    if not spec.reader:
        values = {k: v for k, v in values.items() if k not in ("input_type", "output_type")}
    if spec.elementwise:
        values = _same_shape(values, spec.params, file.where(where))
    try:
        cls = spec.cls()
        node = resolve(spec.reader)(cls, values) if spec.reader else cls(**values)
        return _with_meta(node, meta)
    except Exception as exc:  # noqa: BLE001 - a malformed value a node constructor rejects
        raise GraphError(
            f"node '{where}' ({spec.kind}) could not be built ({type(exc).__name__}: "
            f"{_short(exc)})",
            file.where(where),
            "check the node's parameters have consistent shapes",
        ) from None


# --- readers (``Primitive.reader``): kinds whose file fields are not their class's arguments ---


def read_input(cls: type, values: dict[str, Any]) -> NIRNode:
    shape = values.get("shape", values.get("input_type"))
    return cls(input_type={"input": np.asarray(shape).reshape(-1)})


def read_output(cls: type, values: dict[str, Any]) -> NIRNode:
    shape = values.get("shape", values.get("output_type"))
    return cls(output_type={"output": np.asarray(shape).reshape(-1) if shape is not None else None})


def read_flatten(cls: type, values: dict[str, Any]) -> NIRNode:
    given = values.get("input_type")
    return cls(
        input_type={"input": None if given is None else np.asarray(given)},
        start_dim=int(values.get("start_dim", 1)),
        end_dim=int(values.get("end_dim", -1)),
    )


def read_affine(cls: type, values: dict[str, Any]) -> NIRNode:
    """Affine; a missing bias is zeros."""
    args = {k: v for k, v in values.items() if k not in ("input_type", "output_type")}
    args.setdefault("bias", np.zeros(np.asarray(args["weight"]).shape[0]))
    return cls(**args)


def read_conv(cls: type, values: dict[str, Any]) -> NIRNode:
    """Conv1d/Conv2d; padding given as text ("same"/"valid") stays text."""
    args = {k: v for k, v in values.items() if k not in ("input_type", "output_type")}
    args.setdefault("input_shape", None)
    pad = args.get("padding")
    if isinstance(pad, bytes) or (isinstance(pad, np.ndarray) and pad.dtype.kind in "SO"):
        args["padding"] = _text(pad)
    return cls(**args)


def _with_meta(node: NIRNode, meta: dict[str, Any]) -> NIRNode:
    """Attach the file's metadata to the node."""
    node.metadata = meta
    return node


def _reset_record(v_reset: Any, meta: dict[str, Any]) -> dict[str, Any]:
    """nir >= 1.0.6 resets to ``v_reset``; without the field keep the writer's metadata (or the
    default subtraction, docs/semantics.md)."""
    if v_reset is None:
        return {}
    value = np.asarray(v_reset, dtype=np.float64)
    if not np.any(value):
        return {RESET_KEY: "zero"}
    return {RESET_KEY: "value", V_RESET_KEY: value}


def _same_shape(args: dict[str, Any], params: tuple[str, ...], where: str) -> dict[str, Any]:
    """Broadcast scalar and array parameters to one shape (nir's classes assert equal
    shapes)."""
    present = [p for p in params if p in args]
    try:
        arrays = np.broadcast_arrays(*(np.asarray(args[p], dtype=np.float64) for p in present))
    except ValueError:
        shapes = ", ".join(f"{p} {np.shape(args[p])}" for p in present)
        raise GraphError(
            f"parameters of different shapes: {shapes}",
            where,
            "give every parameter the layer's shape or a scalar",
        ) from None
    return {**args, **{p: np.array(a) for p, a in zip(present, arrays)}}


def _metadata(group: h5py.Group) -> dict[str, Any]:
    """A node's ``metadata`` group as a dict (nested groups as nested dicts)."""
    if "metadata" not in group or not isinstance(group["metadata"], h5py.Group):
        return {}
    return _values(group["metadata"])


def _values(group: h5py.Group) -> dict[str, Any]:
    """Datasets as values (text decoded, as nir's reader does), subgroups as dicts."""
    out: dict[str, Any] = {}
    for key, item in group.items():
        value = _values(item) if isinstance(item, h5py.Group) else item[()]
        out[key] = value.decode("utf8") if isinstance(value, bytes) else value
    return out


def _text(value: Any) -> str:
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    return value.decode() if isinstance(value, bytes) else str(value)


def _short(exc: BaseException, limit: int = 160) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:limit]
