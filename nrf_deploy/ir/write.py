"""Write a graph of :mod:`nrf_deploy.ir.nodes` to a ``.nir`` (HDF5) file, byte for byte as nir
1.0.4's ``nir.write`` wrote the same graph.

Why 1.0.4's layout: sinabs 3.1.3 (the Speck witness) pins nir 1.0.4, whose reader builds each
node with ``cls(**fields)``, so a file must carry exactly the fields of nir 1.0.4's class (no
``metadata`` for Input, Output, Linear, Scale, Conv2d and AvgPool2d; no ``v_reset``), and it
declares ``version = "1.0.4"``. Exports written before nrf-deploy had its own node classes keep
their bytes (``verify --rebuild`` and sealed exports compare bytes).

The HDF5 objects are created in the order of nir 1.0.4's ``to_dict`` (its dataclass fields, then
``type``; Input/Output then ``shape``, Flatten then ``input_type``): h5py places objects in
creation order, so the order is part of the bytes. Values are written as nir wrote them: text as
UTF-8 variable-length strings, arrays with their own dtype, dicts as groups, an empty metadata
dict not at all, anything else through ``h5py.create_dataset(data=...)``.
"""

from __future__ import annotations

import dataclasses
import io
import os
import tempfile
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from nrf_deploy.ir import nodes as n

FILE_VERSION = "1.0.4"
"""The nir version the files declare (their layout is nir 1.0.4's; see the module docstring)."""

_TYPE, _SHAPE, _INPUT_TYPE = "type", "shape", "input_type"
LAYOUT: dict[type, tuple[str, ...]] = {
    n.NIRGraph: ("nodes", "edges", "metadata", _TYPE),
    n.Input: (_TYPE, _SHAPE),
    n.Output: (_TYPE, _SHAPE),
    n.Affine: ("weight", "bias", "metadata", _TYPE),
    n.Linear: ("weight", _TYPE),
    n.Scale: ("scale", _TYPE),
    n.Conv1d: (
        *("input_shape", "weight", "stride", "padding", "dilation", "groups", "bias"),
        *("metadata", _TYPE),
    ),
    n.Conv2d: ("input_shape", "weight", "stride", "padding", "dilation", "groups", "bias", _TYPE),
    n.Flatten: ("start_dim", "end_dim", "metadata", _TYPE, _INPUT_TYPE),
    n.SumPool2d: ("kernel_size", "stride", "padding", "metadata", _TYPE),
    n.AvgPool2d: ("kernel_size", "stride", "padding", _TYPE),
    n.I: ("r", "metadata", _TYPE),
    n.IF: ("r", "v_threshold", "metadata", _TYPE),
    n.LI: ("tau", "r", "v_leak", "metadata", _TYPE),
    n.LIF: ("tau", "r", "v_leak", "v_threshold", "metadata", _TYPE),
    n.CubaLIF: ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "w_in", "metadata", _TYPE),
    n.CubaLI: ("tau_syn", "tau_mem", "r", "v_leak", "w_in", "metadata", _TYPE),
    n.Threshold: ("threshold", "metadata", _TYPE),
}
"""Per node class, the file's entries in nir 1.0.4's order (``type`` = the class name,
``shape`` = the Input's/Output's shape, ``input_type`` = the Flatten's input shape)."""


def write_nir(target: str | os.PathLike | io.IOBase, graph: n.NIRGraph) -> None:
    """Write `graph` to `target` (a path, or a binary file object such as ``io.BytesIO``).

    Not atomic: callers that replace files use :func:`nrf_deploy.fileio.atomic_path`."""
    with h5py.File(target, "w") as fh:
        fh.create_dataset("version", data=FILE_VERSION)
        _write_group(fh.create_group("node"), node_record(graph))


def nir_bytes(graph: n.NIRGraph) -> bytes:
    """The bytes :func:`write_nir` writes for `graph` into a file (HDF5 lays out a file held in
    memory, ``io.BytesIO``, differently: valid, but other bytes)."""
    with tempfile.TemporaryDirectory(prefix="nrf-nir-") as tmp:
        path = Path(tmp) / "graph.nir"
        write_nir(path, graph)
        return path.read_bytes()


def node_record(node: n.NIRNode) -> dict[str, Any]:
    """The entries of `node` in file order (subgraphs recursed; arrays not copied)."""
    order = LAYOUT.get(type(node)) or _generic_order(node)
    record: dict[str, Any] = {}
    for key in order:
        value = _entry(node, key)
        if value is not None:
            record[key] = value
    return record


def _generic_order(node: n.NIRNode) -> tuple[str, ...]:
    """A node class not in LAYOUT (a primitive registered later): its dataclass fields in
    declaration order, then ``type`` (nir's generic ``to_dict``)."""
    skip = ("input_type", "output_type")
    return (*(f.name for f in dataclasses.fields(node) if f.name not in skip), _TYPE)


def _entry(node: n.NIRNode, key: str) -> Any:
    if key == _TYPE:
        return type(node).__name__
    if key == _SHAPE:
        return node.shape
    if key == _INPUT_TYPE:
        return node.input_type.get("input")
    value = getattr(node, key)
    if key == "nodes" and isinstance(node, n.NIRGraph):
        return {str(name): node_record(child) for name, child in value.items()}
    if key == "edges":
        return [(str(a), str(b)) for a, b in value]
    return value


def _write_group(group: h5py.Group, entries: dict[str, Any]) -> None:
    """nir 1.0.4's ``write_recursive``: how each kind of value becomes an HDF5 object."""
    for key, value in entries.items():
        if key == "metadata":
            if value != {}:
                _write_group(group.create_group(key), value)
        elif isinstance(value, str):
            group.create_dataset(key, data=value, dtype=h5py.string_dtype())
        elif isinstance(value, np.ndarray):
            group.create_dataset(key, data=value, dtype=value.dtype)
        elif isinstance(value, dict):
            _write_group(group.create_group(str(key)), value)
        else:
            group.create_dataset(key, data=value)
