"""``model.q.nir``: the source graph annotated with a target's chip values, for people and tools
that read NIR. Each population's node carries the target's numbers in its metadata (keys prefixed
with the target's name); the exact integers stay in ``program.npz``. A target supplies only its
annotations and graph-level notes."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nrf_deploy.ir.graph import Graph
from nrf_deploy.ir.nodes import NIRGraph
from nrf_deploy.ir.write import write_nir

QNIR_FILE = "model.q.nir"


def annotated_nir(
    graph: Graph, annotations: Mapping[str, Mapping[str, Any]], metadata: Mapping[str, Any]
) -> NIRGraph:
    """`graph` with ``annotations[node]`` added to each node's metadata and `metadata` to the
    graph's (nodes are copied; `graph` is not changed)."""
    nodes = {}
    for name, node in graph.nodes.items():
        copy = dataclasses.replace(node.nir_node)
        copy.metadata = {**(getattr(copy, "metadata", {}) or {}), **annotations.get(name, {})}
        nodes[name] = copy
    return NIRGraph(nodes=nodes, edges=list(graph.edges), metadata={**graph.metadata, **metadata})


def write_annotated_nir(
    out_dir: Path,
    graph: Graph | None,
    annotations: Mapping[str, Mapping[str, Any]],
    metadata: Mapping[str, Any],
) -> None:
    """Write :data:`QNIR_FILE` into `out_dir` (nothing when the source graph is unknown)."""
    if graph is not None:
        write_nir(Path(out_dir) / QNIR_FILE, annotated_nir(graph, annotations, metadata))
