"""Graph objects of the ``nir`` package (what snnTorch, norse, SpikingJelly hand their users),
taken without importing nir: such an object is recognised by its class, written by the user's
own ``nir.write`` (whatever nir version is installed) to a temporary file and read back by
nrf-deploy's reader (load.py) from memory, exactly as a file of that version would be."""

from __future__ import annotations

import importlib
import tempfile
from pathlib import Path
from typing import Any

from nrf_deploy.errors import GraphError
from nrf_deploy.ir.nodes import NIRGraph

PACKAGE_GRAPH = "nir.NIRGraph"
"""How a nir package graph is named in messages (it has no file name)."""


def is_nir_package_graph(obj: Any) -> bool:
    """True for a ``NIRGraph`` of the nir package (any version); nir is not imported."""
    return any(
        cls.__name__ == "NIRGraph" and cls.__module__.partition(".")[0] == "nir"
        for cls in type(obj).__mro__
    )


def nir_package_bytes(graph: Any) -> bytes:
    """The bytes of the ``.nir`` file the user's ``nir.write`` makes of `graph` (written to a
    temporary file: the same bytes as a file the user writes and passes by path)."""
    nir = importlib.import_module(type(graph).__module__.partition(".")[0])
    version = getattr(nir, "version", "?")
    try:
        with tempfile.TemporaryDirectory(prefix="nrf-nir-") as tmp:
            path = Path(tmp) / "graph.nir"
            nir.write(path, graph)
            return path.read_bytes()
    except Exception as exc:  # noqa: BLE001 - any failure of the user's nir is one message
        raise GraphError(
            f"nir {version} could not write the graph ({type(exc).__name__}: {exc})"[:300],
            PACKAGE_GRAPH,
            "check the graph with nir.write(path, graph), fix what it reports, "
            "or pass the written .nir file",
        ) from None


def graph_file_bytes(model: NIRGraph | Any) -> bytes:
    """The ``.nir`` bytes of an in-memory graph: nrf-deploy's writer for its own
    :class:`~nrf_deploy.ir.nodes.NIRGraph`, the user's ``nir.write`` for a nir package graph."""
    if isinstance(model, NIRGraph):
        from nrf_deploy.ir.write import nir_bytes

        return nir_bytes(model)
    return nir_package_bytes(model)
