"""The normalised graph every other part of nrf-deploy works on.

A :class:`Graph` is a validated NIR graph: every node is a node dataclass (nodes.py) whose
parameters are float64 numpy arrays broadcast to the node's shape, with input/output shapes
inferred, a topological ``schedule`` and the set of ``delayed_edges`` that close recurrent loops.

Time-step semantics (see docs/semantics.md): at step ``t`` nodes run in ``schedule`` order; a
node's input is the sum of its predecessors' outputs at step ``t``, except over a delayed edge,
which delivers the predecessor's output of step ``t - 1`` (zeros at ``t = 0``). An edge ``u -> v``
is delayed exactly when ``v`` is stateful and ``u`` is reachable from ``v`` (they share a cycle).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nrf_deploy.ir.nodes import NIRGraph, NIRNode
from nrf_deploy.ir.spec import SPECS

DEFAULT_DT = 1e-3
"""Timestep in seconds when neither the caller nor the graph's metadata gives one."""

RESET_MODES = ("subtract", "zero", "value")
"""Reset after a spike: ``subtract`` (v -= v_threshold, nir 1.0.4's definition), ``zero`` (v = 0,
norse/Loihi, and nir >= 1.0.6 files with v_reset = 0) or ``value`` (v = v_reset, nir >= 1.0.6).
Recorded per node in ``node.metadata["reset"]`` (and ``["v_reset"]``); subtraction by default."""


@dataclass(frozen=True)
class Node:
    """One normalised node: the node dataclass plus its inferred shapes (batch and time
    excluded)."""

    name: str
    nir_node: NIRNode
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]

    @property
    def kind(self) -> str:
        """NIR class name, e.g. ``"Conv2d"`` or ``"LIF"``."""
        return type(self.nir_node).__name__

    @property
    def stateful(self) -> bool:
        return SPECS[self.kind].stateful

    @property
    def spiking(self) -> bool:
        return SPECS[self.kind].spiking

    @property
    def neurons(self) -> int:
        """Neurons (stateful units) in this node; 0 for synapses and shape operations."""
        return int(np.prod(self.out_shape)) if self.stateful else 0

    @property
    def synapses(self) -> int:
        """Dense synaptic connections (weights applied per timestep, NeuroBench's dense count)."""
        n = self.nir_node
        if self.kind in ("Affine", "Linear"):
            return int(n.weight.size)
        if self.kind in ("Conv1d", "Conv2d"):
            per_output = int(np.prod(n.weight.shape[1:]))
            return per_output * int(np.prod(self.out_shape))
        return 0

    @property
    def reset(self) -> str:
        """Reset rule of a spiking neuron node (``subtract``, ``zero`` or ``value``), else
        ``none``."""
        return (
            str(self.nir_node.metadata.get("reset", "subtract"))
            if SPECS[self.kind].resets
            else "none"
        )

    @property
    def v_reset(self) -> np.ndarray:
        """Value v is set to after a spike (float64, neuron shape): 0 for ``zero``; only
        meaningful for the ``zero`` and ``value`` rules."""
        if self.reset == "value":
            return np.asarray(self.nir_node.metadata["v_reset"], dtype=np.float64)
        return np.zeros(self.out_shape)

    @property
    def reset_text(self) -> str:
        """The reset rule in words, e.g. ``to value -0.25`` (what ``inspect`` shows)."""
        if self.reset != "value":
            return {"zero": "to value 0", "subtract": "subtract threshold"}.get(
                self.reset, self.reset
            )
        values = np.unique(self.v_reset)
        return (
            f"to value {values[0]:g}"
            if values.size == 1
            else f"to value (per neuron, {values.min():g}..{values.max():g})"
        )

    def param(self, name: str) -> np.ndarray:
        """A parameter as a float64 array (already broadcast by normalisation)."""
        return np.asarray(getattr(self.nir_node, name), dtype=np.float64)


@dataclass(frozen=True)
class Graph:
    """A validated, normalised NIR graph with a schedule. Build it with
    :func:`nrf_deploy.ir.load_graph`."""

    nodes: dict[str, Node]
    edges: tuple[tuple[str, str], ...]
    schedule: tuple[str, ...]
    delayed_edges: frozenset[tuple[str, str]]
    input_name: str
    output_names: tuple[str, ...]
    metadata: dict[str, Any] = field(default_factory=dict)
    derived: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """Helpers built from the graph once and reused (e.g. lowering's float64 runner)."""

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.nodes[self.input_name].out_shape

    @property
    def dt(self) -> float | None:
        """Timestep in seconds recorded in the graph metadata, if any."""
        value = self.metadata.get("dt")
        return None if value is None else float(np.asarray(value))

    def predecessors(self, name: str) -> list[str]:
        return [u for (u, v) in self.edges if v == name]

    def successors(self, name: str) -> list[str]:
        return [v for (u, v) in self.edges if u == name]

    def is_delayed(self, edge: tuple[str, str]) -> bool:
        return edge in self.delayed_edges

    @property
    def compute_nodes(self) -> list[Node]:
        """Nodes in schedule order, without Input/Output markers."""
        return [
            self.nodes[n] for n in self.schedule if self.nodes[n].kind not in ("Input", "Output")
        ]

    def to_nir(self) -> NIRGraph:
        """The normalised graph as a plain :class:`~nrf_deploy.ir.nodes.NIRGraph` (metadata
        kept)."""
        return NIRGraph(
            nodes={name: node.nir_node for name, node in self.nodes.items()},
            edges=list(self.edges),
            metadata=dict(self.metadata),
        )
