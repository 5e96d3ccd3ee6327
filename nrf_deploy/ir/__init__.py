"""NIR core: read, validate and normalise graphs, and run them in floating point."""
from __future__ import annotations

import os

import nir

from nrf_deploy.ir.executor import DEFAULT_DT, Semantics, run_float
from nrf_deploy.ir.graph import Graph, Node
from nrf_deploy.ir.load import SUPPORTED_KINDS, read_nir_file
from nrf_deploy.ir.normalise import normalise

__all__ = ["DEFAULT_DT", "Graph", "Node", "SUPPORTED_KINDS", "Semantics", "load_graph", "run_float"]


def load_graph(model: str | os.PathLike | nir.NIRGraph) -> Graph:
    """Load a ``.nir`` file (or take an in-memory ``nir.NIRGraph``), validate and normalise it."""
    if isinstance(model, nir.NIRGraph):
        return normalise(model, "graph")
    return normalise(read_nir_file(model), str(model))
