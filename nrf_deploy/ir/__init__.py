"""NIR core: read, validate and normalise graphs, and run them in floating point.

Importing this package does not import torch: ``run_float`` (the float executor, ``executor.py``)
loads on first use, so ``nrf-deploy --help``, ``targets`` and ``inspect`` start fast.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from nrf_deploy.ir.graph import DEFAULT_DT, Graph, Node
from nrf_deploy.ir.interop import PACKAGE_GRAPH, is_nir_package_graph, nir_package_bytes
from nrf_deploy.ir.load import SUPPORTED_KINDS, read_nir_bytes, read_nir_file
from nrf_deploy.ir.nodes import NIRGraph
from nrf_deploy.ir.normalise import normalise
from nrf_deploy.ir.semantics import Semantics

if TYPE_CHECKING:
    from nrf_deploy.ir.executor import run_float

__all__ = [
    "DEFAULT_DT",
    "SUPPORTED_KINDS",
    "Graph",
    "NIRGraph",
    "Node",
    "Semantics",
    "load_graph",
    "run_float",
]
_LAZY = {"run_float"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from nrf_deploy.ir import executor

        return getattr(executor, name)
    raise AttributeError(f"module 'nrf_deploy.ir' has no attribute {name!r}")


def load_graph(model: str | os.PathLike | NIRGraph | Any) -> Graph:
    """Load a ``.nir`` file, or take an in-memory graph (nrf-deploy's
    :class:`~nrf_deploy.ir.nodes.NIRGraph`, or a ``nir.NIRGraph`` of any installed nir version,
    read as the file its ``nir.write`` makes), validate and normalise it."""
    if isinstance(model, NIRGraph):
        return normalise(model, "graph")
    if is_nir_package_graph(model):
        graph = read_nir_bytes(nir_package_bytes(model), PACKAGE_GRAPH)
        return normalise(graph, PACKAGE_GRAPH)
    return normalise(read_nir_file(model), str(model))
