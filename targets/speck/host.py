"""Read-outs on the host (``--speck-host-readout``): what no Speck core can do, next to the chip.

Speck cores only send spikes; a non-spiking read-out (an LI or Integrator membrane that the graph
outputs, like the RF-SNN's heat maps) cannot be read off the chip. With ``--speck-host-readout``
such a terminal read-out, together with the stateless path into it (pooling, convolution), runs on
the host in float64 from the spikes of the monitored core that feeds it: a small NIR graph
(``host_<i>.nir`` in the export) run by nrf-deploy's float executor (docs/semantics.md). It is the
model's own arithmetic, not an approximation; every backend feeds it its own spikes, so the
comparison of backends stays exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from nrf_deploy.targets.speck.format import Violation

from nrf_deploy.ir.graph import Graph
from nrf_deploy.ir.nodes import Input, NIRGraph, Output
from nrf_deploy.lowering import Lowered
from nrf_deploy.trace import Trace

READOUT_KINDS = ("LI", "I")


@dataclass
class HostReadout:
    """One read-out node computed on the host from the spikes of chip layer `source`."""

    name: str
    source: str
    nir_graph: NIRGraph  # Input (the source's spikes) -> stateless ops -> read-out -> Output
    _graph: Graph | None = field(default=None, repr=False)

    @property
    def graph(self) -> Graph:
        if self._graph is None:
            from nrf_deploy.ir import load_graph

            self._graph = load_graph(self.nir_graph)
        return self._graph


def find_host_readouts(graph: Graph, lowered: Lowered) -> tuple[list[HostReadout], list[Violation]]:
    """Terminal LI/Integrator read-outs (feeding only Output nodes) fed by one spiking
    population."""
    readouts, problems = [], []
    for node in lowered.populations:
        if node.kind not in READOUT_KINDS:
            continue
        outgoing = lowered.out_of(node.name)
        if not outgoing or any(graph.nodes[p.target].kind != "Output" or p.ops for p in outgoing):
            continue  # not terminal: the quantiser refuses it as a neuron
        incoming = lowered.into(node.name)
        sources = {p.source for p in incoming}
        if len(incoming) != 1 or graph.nodes[incoming[0].source].kind in (*READOUT_KINDS, "Input"):
            problems.append(
                Violation(
                    node.name,
                    "host read-out input",
                    "one path from one chip layer",
                    ", ".join(sorted(sources)) or "none",
                    "feed the read-out from a single spiking layer",
                    "unsupported",
                )
            )
            continue
        readouts.append(_subgraph(graph, node.name, incoming[0]))
    return readouts, problems


def _subgraph(graph: Graph, name: str, proj) -> HostReadout:
    src = graph.nodes[proj.source]
    nodes = {"input": Input({"input": np.array(src.out_shape)})}
    chain = ["input"] + [op.name for op in proj.ops] + [name]
    for op in proj.ops:
        nodes[op.name] = op.nir_node
    nodes[name] = graph.nodes[name].nir_node
    nodes["output"] = Output({"output": np.array(graph.nodes[name].out_shape)})
    edges = list(zip(chain, chain[1:] + ["output"]))
    # a NIR file cannot store dt=None; the export's dt is in deploy.json either way
    meta = {} if graph.dt is None else {"dt": float(graph.dt)}
    return HostReadout(name, proj.source, NIRGraph(nodes=nodes, edges=edges, metadata=meta))


def run_host(readout: HostReadout, spikes: np.ndarray, dt: float, record_states: bool) -> Trace:
    """The read-out's output (and state) from the source's spikes ``[T, B, *source_shape]``."""
    import torch  # on use only: `nrf-deploy targets` must not load torch

    from nrf_deploy.ir import run_float

    return run_float(
        readout.graph,
        spikes.astype(np.float64),
        dt=dt,
        record_states=record_states,
        dtype=torch.float64,
    )
