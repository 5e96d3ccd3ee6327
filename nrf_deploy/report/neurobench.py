"""NeuroBench's own counts on the float model (witness environment ``neurobench``: neurobench
2.3.0 on torch, ``nrf-deploy witnesses install neurobench``).

The graph becomes a torch module whose synaptic layers are ``nn.Conv2d`` / ``nn.Linear`` (the
layers NeuroBench's ``SynapticOperations`` hooks count: ``neurobench.blocks.layer.STATELESS_LAYERS``
in neurobench 2.3.0) and whose neuron layers are small activation modules running the float
executor's update (:mod:`nrf_deploy.ir.executor`). Pooling and Flatten stay plain torch ops:
NeuroBench counts no operation for them. The module runs here, in the core, recording what
enters each synaptic layer and what leaves each neuron layer at every step; NeuroBench runs in
its own environment (``neurobench_runner.py``), where the same module is rebuilt from those
arrays — synaptic layers with their weights, neuron layers that give back their recorded outputs
and hold their constants — and its metrics run on it: ``SynapticOperations`` (effective ACs/MACs,
dense), ``ActivationSparsity``, ``Footprint``, ``ParameterCount``. Its hooks see exactly the
tensors they would see in-process. docs/report.md states where its definitions differ from
:mod:`nrf_deploy.report.metrics`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from nrf_deploy.ir.executor import (
    DEFAULT_DT,
    Semantics,
    _Runner,
    _tensor_fields,
    float_update,
)
from nrf_deploy.ir.graph import Graph, Node
from nrf_deploy.witness import call
from nrf_deploy.witness.envs import NEUROBENCH_ENV

VERSION = "2.3.0"
"""The neurobench release these definitions were read from (its environment pins it)."""
RUNNER = Path(__file__).with_name("neurobench_runner.py")
MAX_SAMPLES = 8
"""Samples of the report's input NeuroBench measures (the report's default is 8)."""
NIR_SEMANTICS = Semantics()


class NeuronLayer(nn.Module):
    """One population's per-step update (the executor's), as an activation module; its constants
    are float32 buffers, so NeuroBench's footprint counts them."""

    def __init__(self, runner: _Runner, node: Node):
        super().__init__()
        self.runner, self.node = runner, node
        for key, value in _tensor_fields(node).items():
            if not hasattr(node.nir_node, key):  # derived by the executor (v_reset), not stored
                continue
            self.register_buffer(key, torch.as_tensor(value, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return float_update(self.node.kind)(self.runner, self.node, x)


class GraphNet(nn.Module):
    """The float model as a torch module: ``forward(x [B, T, *input_shape])`` -> outputs of the
    graph's read-out node ``[B, T, ...]``. Connection layers carry the graph's float32 weights."""

    def __init__(
        self,
        graph: Graph,
        batch: int,
        dt: float | None = None,
        semantics: Semantics = NIR_SEMANTICS,
        fold_pooling: bool = False,
    ):
        super().__init__()
        self.graph = graph
        self.folded = {
            p.name: c
            for c in graph.compute_nodes
            if fold_pooling and (p := _pool_before(graph, c)) is not None
        }
        step_dt = float(dt if dt is not None else graph.dt or DEFAULT_DT)
        self.runner = _Runner(graph, step_dt, semantics, torch.float32, batch)
        self.synapses = nn.ModuleDict()
        self.neurons = nn.ModuleDict()
        for node in graph.compute_nodes:
            if node.kind in ("Conv2d", "Affine", "Linear"):
                pool = next((p for p, c in self.folded.items() if c is node), None)
                self.synapses[node.name] = _connection(node, graph.nodes[pool] if pool else None)
            elif node.stateful or node.spiking:  # neurons and Threshold
                self.neurons[node.name] = NeuronLayer(self.runner, node)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs = [self.step(x[:, t]) for t in range(x.shape[1])]
        return torch.stack(outputs, dim=1)

    def step(self, x_t: torch.Tensor) -> torch.Tensor:
        out: dict[str, torch.Tensor] = {}
        graph = self.graph
        for name in graph.schedule:
            node = graph.nodes[name]
            if name == graph.input_name:
                out[name] = x_t
                continue
            preds = graph.predecessors(name)
            inp = sum(
                self.runner.previous[u] if (u, name) in graph.delayed_edges else out[u]
                for u in preds
            )
            if name in self.synapses:
                layer = self.synapses[name]
                flat = node.kind != "Conv2d"
                out[name] = layer(inp.reshape(inp.shape[0], -1) if flat else inp)
            elif name in self.neurons:
                out[name] = self.neurons[name](inp)
            elif name in self.folded:
                out[name] = inp  # applied by the next layer's weights
            elif node.kind == "Flatten" and self.folded:
                out[name] = inp.reshape(inp.shape[0], -1)
            else:
                out[name] = float_update(node.kind)(self.runner, node, inp)
        self.runner.previous = out
        return out[graph.output_names[0]]


def _pool_before(graph: Graph, node: Node) -> Node | None:
    """The pooling node feeding the connection layer `node` alone (directly, or through a
    Flatten), if it can be folded into the layer's weights: kernel == stride, no padding."""
    if node.kind not in ("Conv2d", "Affine", "Linear"):
        return None
    preds = graph.predecessors(node.name)
    if len(preds) == 1 and graph.nodes[preds[0]].kind == "Flatten" and node.kind != "Conv2d":
        preds = graph.predecessors(preds[0])
    if len(preds) != 1 or graph.nodes[preds[0]].kind not in ("SumPool2d", "AvgPool2d"):
        return None
    pool = graph.nodes[preds[0]]
    k, s, pad = (
        tuple(int(i) for i in a)
        for a in (pool.nir_node.kernel_size, pool.nir_node.stride, pool.nir_node.padding)
    )
    folds = k == s and not any(pad) and len(graph.successors(pool.name)) == 1
    return pool if folds else None


def _unpooled(weight: torch.Tensor, node: Node, pool: Node) -> torch.Tensor:
    """`weight` acting on the pooling's input: each weight repeated over its pooling window
    (divided by the window's size for AvgPool2d). Conv weights ``[o, i, kh, kw]``; Affine/Linear
    weights over the flattened pooled map ``[o, C*h*w]``."""
    k = tuple(int(i) for i in pool.nir_node.kernel_size)
    scale = 1.0 / (k[0] * k[1]) if pool.kind == "AvgPool2d" else 1.0
    w = weight if node.kind == "Conv2d" else weight.reshape(weight.shape[0], *pool.out_shape)
    w = w.repeat_interleave(k[0], dim=2).repeat_interleave(k[1], dim=3) * scale
    return w if node.kind == "Conv2d" else w.reshape(weight.shape[0], -1)


def _connection(node: Node, pool: Node | None = None) -> nn.Module:
    """``nn.Conv2d`` / ``nn.Linear`` holding the node's weights (float32); with `pool`, the
    composition of that pooling and this layer (stride and padding scaled by the window)."""
    n = node.nir_node
    weight = torch.as_tensor(np.asarray(n.weight), dtype=torch.float32)
    bias = getattr(n, "bias", None)
    window = tuple(int(i) for i in pool.nir_node.kernel_size) if pool is not None else (1, 1)
    if pool is not None:
        weight = _unpooled(weight, node, pool)
    if node.kind == "Conv2d":
        if pool is not None and any(int(d) != 1 for d in n.dilation):
            raise ValueError(f"cannot fold pooling into dilated conv '{node.name}'")
        layer: nn.Module = nn.Conv2d(
            weight.shape[1] * int(n.groups),
            weight.shape[0],
            tuple(weight.shape[2:]),
            stride=tuple(int(s) * w for s, w in zip(n.stride, window)),
            padding=tuple(int(p) * w for p, w in zip(n.padding, window)),
            dilation=tuple(int(d) for d in n.dilation),
            groups=int(n.groups),
            bias=bias is not None,
        )
    else:
        layer = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
    with torch.no_grad():
        layer.weight.copy_(weight)
        if bias is not None:
            layer.bias.copy_(torch.as_tensor(np.asarray(bias), dtype=torch.float32))
    return layer


def neurobench_counts(
    graph: Graph,
    x: np.ndarray,
    dt: float | None = None,
    semantics: Semantics = NIR_SEMANTICS,
    fold_pooling: bool = False,
) -> dict[str, Any]:
    """NeuroBench's figures for the float model on ``x [T, B, *input_shape]`` (event counts),
    per sample: ``effective_acs``, ``effective_macs``, ``dense_sops`` (over all T steps),
    ``per_layer`` (``{connection node: {"effective", "dense", "op": "AC"|"MAC"}}``),
    ``activation_sparsity``, ``footprint_bytes``, ``parameters``, ``version``, ``seconds``, and
    ``readout`` (the module's read-out ``[T, B, ...]``, which must equal the float executor's).
    With `fold_pooling`, a pooling layer is folded into the next connection layer's weights
    (nrf-deploy's composed matrix), so NeuroBench counts its ops per presynaptic spike as
    nrf-deploy does. Raises WitnessNotInstalled without the ``neurobench`` environment."""
    from nrf_deploy.witness import ready

    ready(NEUROBENCH_ENV.name)
    request, readout = describe(graph, x, dt, semantics, fold_pooling)
    started = time.perf_counter()
    answer = call(NEUROBENCH_ENV.name, RUNNER, "counts", request, what="NeuroBench")
    return {**answer, "seconds": time.perf_counter() - started, "readout": readout}


def describe(
    graph: Graph,
    x: np.ndarray,
    dt: float | None = None,
    semantics: Semantics = NIR_SEMANTICS,
    fold_pooling: bool = False,
) -> tuple[dict[str, Any], np.ndarray]:
    """The request ``neurobench_runner.counts`` rebuilds the measured module from (its module
    docstring), and the module's read-out ``[T, B, ...]``: the float model run here as
    :class:`GraphNet`, with every synaptic layer's input and every neuron layer's output
    recorded at each step."""
    xt = torch.as_tensor(np.asarray(x), dtype=torch.float32).transpose(0, 1)  # [B, T, ...]
    net = GraphNet(graph, int(xt.shape[0]), dt, semantics, fold_pooling)
    seen: dict[str, list[torch.Tensor]] = {}
    calls: list[str] = []
    hooks = [
        m.register_forward_pre_hook(_recorder(name, seen, calls, lambda i, o: i[0]))
        for name, m in net.synapses.items()
    ] + [
        m.register_forward_hook(_recorder(name, seen, calls, lambda i, o: o))
        for name, m in net.neurons.items()
    ]
    with torch.no_grad():
        readout = net(xt).transpose(0, 1).numpy()
    for hook in hooks:
        hook.remove()
    steps = int(xt.shape[1])
    request: dict[str, Any] = {
        "layers": [],
        "calls": calls[: len(calls) // steps] if steps else [],
        "samples": int(xt.shape[0]),
        "steps": steps,
    }
    for name, layer in net.synapses.items():
        request["layers"].append(_synapse_spec(name, layer))
        request[f"w/{name}"] = layer.weight.detach().numpy()
        if layer.bias is not None:
            request[f"b/{name}"] = layer.bias.detach().numpy()
        request[f"in/{name}"] = _compact(torch.stack(seen[name]).numpy())
    for name, layer in net.neurons.items():
        buffers = dict(layer.named_buffers())
        request["layers"].append({"name": name, "kind": "neurons", "buffers": list(buffers)})
        request.update({f"buf/{name}/{k}": v.numpy() for k, v in buffers.items()})
        request[f"out/{name}"] = _compact(torch.stack(seen[name]).numpy())
    return request, readout


def _recorder(name: str, seen: dict, calls: list, pick):
    def hook(module, inputs, outputs=None):
        seen.setdefault(name, []).append(pick(inputs, outputs).detach().clone())
        calls.append(name)

    return hook


def _synapse_spec(name: str, layer: nn.Module) -> dict[str, Any]:
    if isinstance(layer, nn.Conv2d):
        return {
            "name": name,
            "kind": "Conv2d",
            "stride": list(layer.stride),
            "padding": list(layer.padding),
            "dilation": list(layer.dilation),
            "groups": int(layer.groups),
        }
    return {"name": name, "kind": "Linear"}


def _compact(values: np.ndarray) -> np.ndarray:
    """`values` as int8 when every one is a small integer (spikes, pooled counts), else float32:
    exact either way, a quarter of the bytes for spikes."""
    small = values.astype(np.int8)
    return small if np.array_equal(small, values) else values.astype(np.float32)


def report_figures(
    graph: Graph, x: np.ndarray, dt: float | None, semantics: Semantics
) -> dict[str, Any] | str:
    """NeuroBench's figures for the report (JSON-ready) on at most :data:`MAX_SAMPLES` samples
    of `x`, or why there are none (``"not installed: nrf-deploy witnesses install
    neurobench"``)."""
    from nrf_deploy.witness import WitnessNotInstalled

    used = np.asarray(x)[:, :MAX_SAMPLES]
    try:
        counts = neurobench_counts(graph, used, dt, semantics)
    except WitnessNotInstalled as exc:
        return exc.short
    counts.pop("readout")
    counts["seconds"] = round(float(counts["seconds"]), 3)
    counts |= {"samples": int(used.shape[1]), "of_samples": int(x.shape[1])}
    counts["timesteps"] = int(x.shape[0])
    return counts
