"""Float NIR graph -> Speck layers: structure checks, one scale per conv + IAF pair."""
from __future__ import annotations

import numpy as np

from nrf_deploy.errors import GraphError, RangeError
from nrf_deploy.ir.graph import Graph
from nrf_deploy.lowering import Projection, lower
from nrf_deploy.quant import relative_error, round_half_away
from nrf_deploy.targets.speck.format import STATE_MAX, SpeckLayer, SpeckProgram

WEIGHT_MAX = 127


def quantise(graph: Graph, lif_as_if: bool = False, threshold_low: int | None = None) -> tuple[SpeckProgram, dict]:
    """Lower `graph` onto Speck layers; refuse what the chip cannot run (one message, all nodes)."""
    lowered = lower(graph)
    _refuse_neurons(graph, lowered, lif_as_if)
    layers: list[SpeckLayer] = []
    report = {}
    for node in lowered.populations:
        if node.kind == "Input":
            continue
        incoming = lowered.into(node.name)
        if len(incoming) != 1:
            raise GraphError(f"layer '{node.name}' has {len(incoming)} inputs; a Speck core takes one",
                             f"node '{node.name}'", "merge the inputs into one convolution before the neuron")
        layer = _layer(node, incoming[0], graph, threshold_low)
        layers.append(layer)
        report[node.name] = {"scale": layer.scale, "weight_error": layer.weight_error,
                             "threshold_high": layer.threshold_high, "threshold_low": layer.threshold_low}
    by_name = {layer.name: layer for layer in layers}
    for layer in layers:
        if layer.source in by_name:
            src = by_name[layer.source]
            if src.pool not in (1, layer.input_pool) and layer.input_pool != 1:
                raise GraphError(f"layer '{src.name}' feeds destinations with different pooling",
                                 f"node '{src.name}'", "use one pooling size after each layer")
            src.pool = max(src.pool, layer.input_pool)
            src.destinations.append(layer.name)
    return SpeckProgram(graph.input_name, graph.input_shape, layers), report


def _refuse_neurons(graph: Graph, lowered, lif_as_if: bool) -> None:
    problems = []
    for node in lowered.populations:
        if node.kind in ("Input", "IF"):
            continue
        if node.kind == "LIF" and lif_as_if:
            continue
        reason = {"LIF": "leaky neurons are not representable (IAF only; opt in with --speck-lif-as-if)",
                  "CubaLIF": "current-based synapses are not representable (IAF only)",
                  "LI": "a leaky read-out membrane is not representable (Speck only emits spikes)",
                  "I": "a read-out integrator is not representable (Speck only emits spikes)",
                  "Threshold": "stateless thresholds are not representable"}[node.kind]
        problems.append(f"node '{node.name}' ({node.kind}): {reason}")
    if problems:
        raise GraphError("the graph uses neurons Speck cannot run:\n    - " + "\n    - ".join(problems),
                         "speck quantiser", "use IF neurons (e.g. train an IF variant) or another target")
    for out in graph.output_names:
        src = graph.predecessors(out)[0]
        if graph.nodes[src].kind not in ("IF", "LIF"):
            raise GraphError(f"Output '{out}' is not fed by a neuron layer", f"node '{out}'",
                             "end the graph with an IF layer")


def _layer(node, proj: Projection, graph: Graph, threshold_low: int | None) -> SpeckLayer:
    where = f"node '{node.name}'"
    ops = list(proj.ops)
    src_shape = graph.nodes[proj.source].out_shape
    input_pool, factor = 1, 1.0
    if ops and ops[0].kind in ("SumPool2d", "AvgPool2d"):
        pool = ops.pop(0)
        k, s, p = (tuple(int(v) for v in np.asarray(a).reshape(-1)) for a in
                   (pool.nir_node.kernel_size, pool.nir_node.stride, pool.nir_node.padding))
        if k[0] != k[1] or k != s or any(p) or k[0] not in (1, 2, 4):
            raise GraphError(f"pooling {k} stride {s} padding {p} before '{node.name}'; Speck sums over 1, 2 or 4",
                             f"node '{pool.name}'", "use square sum pooling 1/2/4 with stride = kernel, no padding")
        input_pool = k[0]
        factor = 1.0 / (k[0] * k[1]) if pool.kind == "AvgPool2d" else 1.0
        src_shape = pool.out_shape
    flattened = bool(ops) and ops[0].kind == "Flatten"
    if flattened:
        ops.pop(0)
    if len(ops) != 1 or ops[0].kind not in ("Conv2d", "Affine", "Linear"):
        raise GraphError(f"the path into '{node.name}' is {' -> '.join(proj.kinds) or 'direct'}; a Speck "
                         "layer is [sum pooling] -> convolution/linear -> IAF", where,
                         "restructure the graph into conv -> neuron -> pooling blocks")
    op = ops[0]
    r = node.param("r").reshape(-1)
    if op.kind == "Conv2d":
        n = op.nir_node
        weight, bias = np.asarray(n.weight, float), np.asarray(n.bias, float)
        stride, padding, dilation = tuple(n.stride), tuple(n.padding), tuple(n.dilation)
        if weight.shape[2] != weight.shape[3] or stride[0] != stride[1] or padding[0] != padding[1] \
                or dilation != (1, 1) or int(n.groups) != 1:
            raise GraphError("Speck convolutions need square kernels, equal strides and padding, "
                             "no dilation or groups", f"node '{op.name}'", "change the convolution")
        in_shape = src_shape if len(src_shape) == 3 else (src_shape[0], 1, 1)
        r_ch = r.reshape(node.out_shape)[:, 0, 0] if len(node.out_shape) == 3 else r
        stride, padding = stride[0], padding[0]
    else:
        w = np.asarray(op.nir_node.weight, float)
        bias = np.asarray(getattr(op.nir_node, "bias", np.zeros(w.shape[0])), float)
        in_shape = tuple(src_shape) if len(src_shape) == 3 else (int(np.prod(src_shape)), 1, 1)
        if in_shape[1] != in_shape[2]:
            raise GraphError(f"linear layer over a non-square {in_shape} input", f"node '{op.name}'",
                             "pool to a square map before flattening")
        weight = w.reshape(w.shape[0], *in_shape)
        stride, padding, r_ch = 1, 0, r
    eff = weight * (r_ch * factor)[:, None, None, None]
    theta = float(np.max(node.param("v_threshold")))
    if np.any(node.param("v_threshold") != theta):
        raise GraphError("Speck holds one threshold per layer; this layer's thresholds differ",
                         f"{where}, field 'v_threshold'", "use one threshold per layer")
    limits = [WEIGHT_MAX / np.abs(eff).max()] if np.any(eff) else []
    limits.append(STATE_MAX / (2 * theta))
    if np.any(bias):
        limits.append(STATE_MAX / (4 * np.abs(bias * r_ch).max()))
    scale = float(min(limits))
    w_int = round_half_away(eff * scale)
    theta_int = int(round_half_away(np.array(theta * scale)))
    if theta_int < 1:
        raise RangeError(f"threshold rounds to 0 at scale {scale:g}", f"{where}, field 'v_threshold'",
                         "the weights are too large relative to the threshold")
    low = -theta_int if threshold_low is None else int(threshold_low)
    return SpeckLayer(node.name, proj.source, tuple(int(i) for i in in_shape), w_int,
                      round_half_away(bias * r_ch * scale), int(stride), int(padding), theta_int, low,
                      node.reset == "zero", scale=scale, weight_error=relative_error(eff * scale, w_int),
                      input_pool=input_pool)
