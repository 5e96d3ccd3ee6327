"""Float NIR graph -> Speck layers (chip units), collecting every reason it cannot run.

Per neuron population one layer: ``[sum pooling of each source] -> convolution -> IAF``.
Everything linear between the source spikes and the neuron is folded into the integer kernel:
average pooling's 1/k², Scale nodes (per channel), grouped and dilated convolutions (expanded to
a dense kernel), the neuron's input gain ``r`` (and ``dt/tau`` when LIF is approximated as IF).
The folded layer is checked against the graph's own projection (nrf_deploy.lowering) on random
input, so a wrongly recognised structure is refused, not silently mis-deployed.

Scale (chip units per model unit), one per conv + IAF pair as sinabs discretises: the largest
``s`` with ``round(w·s)`` in [-128, 127], ``round(b·s)`` in [-128, 127] and the threshold
``θ·s <= 2**14 - 1`` (half the 16-bit range: headroom for one threshold of input above threshold),
then lowered to ``s = floor(θ·s) / θ`` so the threshold itself is an exact integer and all the
rounding error sits in the weights (reported as ``weight_error``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from nrf_deploy.targets.speck.format import (
    BIAS_MAX,
    BIAS_MIN,
    STATE_MAX,
    STATE_MIN,
    WEIGHT_MAX,
    WEIGHT_MIN,
    Source,
    SpeckLayer,
    SpeckProgram,
    Violation,
)
from nrf_deploy.targets.speck.host import find_host_readouts

from nrf_deploy.ir.graph import Graph, Node
from nrf_deploy.lowering import Lowered, Projection, lower
from nrf_deploy.quant import check_weights_survive, relative_error, round_half_away

THRESHOLD_MAX = (
    STATE_MAX + 1
) // 2 - 1  # 16383: the state holds threshold + one threshold of drive
POOLS = ("SumPool2d", "AvgPool2d")
SYNAPSES = ("Conv2d", "Affine", "Linear")
THRESHOLD_LOW_MODES = ("threshold", "min")


@dataclass(frozen=True)
class QuantOptions:
    """Export choices. `dt` in seconds (used only to approximate LIF as IF)."""

    dt: float
    lif_as_if: bool = False
    threshold_low: str = (
        "threshold"  # "threshold": -threshold_high (sinabs.from_nir); "min": -2**15
    )
    host_readout: bool = False  # terminal LI/Integrator read-outs run on the host (host.py)


@dataclass
class _Neuron:
    """What the chip's IAF must do for one population, in model units per output channel."""

    gain: np.ndarray  # [f] multiplies the synaptic drive (r, or r*dt/tau for LIF-as-IF)
    offset: np.ndarray  # [f] constant input per step (dt/tau*v_leak for LIF-as-IF)
    threshold: float
    return_to_zero: bool


@dataclass
class _Synapse:
    """The folded linear path into one population (model units)."""

    sources: tuple[Source, ...]
    in_shape: tuple[int, int, int]
    weight: np.ndarray  # float [f, c, k, k], includes pooling factors and Scale nodes
    bias: np.ndarray  # float [f]
    stride: tuple[int, int]
    padding: tuple[int, int]


def quantise(
    graph: Graph, options: QuantOptions
) -> tuple[SpeckProgram, dict, list[Violation], list[dict]]:
    """Lower `graph` onto Speck layers. Returns the program, the per-layer quantisation report,
    every violation found (the caller raises them together with the mapper's) and the
    approximations applied (each ``{"kind", "nodes", "detail"}``)."""
    lowered = lower(graph)
    violations = _check_outputs(graph, lowered)
    host, problems = find_host_readouts(graph, lowered) if options.host_readout else ([], [])
    violations += problems
    on_host = {h.name for h in host}
    layers, report = [], {}
    lif_nodes = []
    for node in lowered.populations:
        if node.kind == "Input" or node.name in on_host:
            continue
        neuron, problems = _neuron(node, options)
        violations += problems
        if node.kind == "LIF" and options.lif_as_if:
            lif_nodes.append(node.name)
        synapse, problems = _synapse(node, lowered, neuron)
        violations += problems
        if synapse is None:
            continue
        layer, problems = _discretise(node, synapse, neuron, options)
        violations += problems
        layers.append(layer)
        report[node.name] = {
            "scale": layer.scale,
            "weight_error": layer.weight_error,
            "threshold_high": layer.threshold_high,
            "threshold_low": layer.threshold_low,
            "bias_max_abs": int(np.abs(layer.bias).max(initial=0)),
        }
    names = {L.name for L in layers}
    for layer in layers:
        for s in layer.sources:
            if s.name in names:
                next(L for L in layers if L.name == s.name).destinations.append(layer.name)
    approximations = (
        [
            {
                "kind": "lif-as-if",
                "nodes": lif_nodes,
                "detail": "LIF leak dropped: v += dt/tau*(v_leak + r*I) per step, no decay "
                "(--speck-lif-as-if)",
            }
        ]
        if lif_nodes
        else []
    )
    program = SpeckProgram(graph.input_name, tuple(graph.input_shape), layers, host)
    return program, report, violations, approximations


# --- neurons ----------------------------------------------------------------------------------

_UNSUPPORTED = {
    "LIF": (
        "a membrane leak (tau)",
        (
            "Speck's neurons are integrate-and-fire; its only leak is a constant bias on a slow "
            "clock"
        ),
        (
            "train with IF neurons, or export with --speck-lif-as-if to drop the leak (verify and "
            "report "
            "then state the cost)"
        ),
    ),
    "CubaLIF": (
        "a synaptic current and a membrane leak",
        "Speck has no synaptic state and no decay",
        "use IF neurons",
    ),
    "CubaLI": (
        "a synaptic current and a leaky non-spiking read-out membrane (nir 1.0.5)",
        "Speck has no synaptic state, no decay, and no membrane can be read out",
        "end the network with an IF layer and read out its spike counts",
    ),
    "LI": (
        "a leaky non-spiking read-out membrane",
        "Speck cores only send spikes; no membrane can be read out",
        (
            "read out spike counts of an IF layer, or export with --speck-host-readout to compute "
            "this "
            "terminal read-out on the host from the chip's spikes"
        ),
    ),
    "I": (
        "a non-spiking integrator read-out",
        "Speck cores only send spikes; no membrane can be read out",
        "read out spike counts of an IF layer, or export with --speck-host-readout",
    ),
    "Threshold": (
        "a stateless threshold",
        "every Speck neuron integrates its input",
        "use an IF layer",
    ),
}


def _per_channel(values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray | None:
    """One value per output channel, or None when a value varies inside a channel."""
    v = np.broadcast_to(np.asarray(values, dtype=np.float64), shape)
    v = v.reshape(shape[0], -1) if len(shape) == 3 else v.reshape(-1, 1)
    return v[:, 0].copy() if np.all(v == v[:, :1]) else None


def _neuron(node: Node, options: QuantOptions) -> tuple[_Neuron, list[Violation]]:
    shape, problems = node.out_shape, []
    f = shape[0] if len(shape) == 3 else int(np.prod(shape))
    fallback = _Neuron(np.ones(f), np.zeros(f), 1.0, False)
    if node.kind not in ("IF", "LIF") or (node.kind == "LIF" and not options.lif_as_if):
        what, why, hint = _UNSUPPORTED.get(
            node.kind, (f"a {node.kind} node", "not a Speck neuron", "use IF")
        )
        problems.append(
            Violation(
                node.name,
                "neuron model",
                "integrate-and-fire (IAF) only",
                f"{node.kind}, with {what}",
                f"{why}; {hint}",
                "unsupported",
            )
        )
        if node.kind != "LIF":
            return fallback, problems
    r = node.param("r")
    gain = r * (options.dt / node.param("tau")) if node.kind == "LIF" else r
    offset = (
        options.dt / node.param("tau") * node.param("v_leak")
        if node.kind == "LIF"
        else np.zeros(shape)
    )
    gain_c, offset_c = _per_channel(gain, shape), _per_channel(offset, shape)
    for name, value in (
        ("input gain r" + (" x dt/tau" if node.kind == "LIF" else ""), gain_c),
        ("constant input dt/tau x v_leak", offset_c),
    ):
        if value is None:
            problems.append(
                Violation(
                    node.name,
                    name,
                    "one value per channel (a kernel is shared across the feature map)",
                    "varies inside a channel",
                    "make it constant per channel",
                    "unsupported",
                )
            )
    theta = node.param("v_threshold")
    if np.any(theta != theta.flat[0]):
        problems.append(
            Violation(
                node.name,
                "v_threshold",
                "one threshold per layer (threshold_high is a core register)",
                f"{theta.min():g}..{theta.max():g}",
                "use one threshold for the whole layer",
                "unsupported",
            )
        )
    if theta.flat[0] <= 0:
        problems.append(
            Violation(
                node.name,
                "v_threshold",
                "> 0",
                f"{theta.flat[0]:g}",
                "use a positive threshold",
                "unsupported",
            )
        )
    if node.reset == "value":
        problems.append(
            Violation(
                node.name,
                "v_reset",
                "reset by subtraction or to 0 (return_to_zero)",
                f"reset to {node.reset_text[len('to value ') :]}",
                "re-export with v_reset = 0",
                "unsupported",
            )
        )
    neuron = _Neuron(
        gain_c if gain_c is not None else np.ones(f),
        offset_c if offset_c is not None else np.zeros(f),
        float(theta.flat[0]) if theta.flat[0] > 0 else 1.0,
        node.reset == "zero",
    )
    return neuron, problems


# --- synapses ---------------------------------------------------------------------------------


def _geometry(op: Node) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    n = op.nir_node
    return tuple(
        tuple(int(v) for v in np.asarray(a).reshape(-1))
        for a in (n.kernel_size, n.stride, n.padding)
    )


def _synapse(
    node: Node, lowered: Lowered, neuron: _Neuron
) -> tuple[_Synapse | None, list[Violation]]:
    """Fold every path into `node` into one kernel; the paths must share their synapse node."""
    paths = lowered.into(node.name)
    problems: list[Violation] = []
    if not paths:
        return None, [
            Violation(
                node.name, "inputs", "at least one", "none", "connect the layer", "unsupported"
            )
        ]
    for p in paths:
        if p.delayed:
            problems.append(
                Violation(
                    node.name,
                    f"recurrent connection from '{p.source}'",
                    "feed-forward",
                    "a loop",
                    "Speck's time-stepped model here has no recurrence; unroll or remove it",
                    "unsupported",
                )
            )
    parsed = [_parse_path(node, p) for p in paths]
    for _, errs in parsed:
        problems += errs
    if problems:
        return None, problems
    synapses = {info["synapse"].name for info, _ in parsed}
    if len(synapses) > 1:
        return None, [
            Violation(
                node.name,
                "inputs",
                "one kernel per core (several sources may share it)",
                f"{len(synapses)} different synapses ({', '.join(sorted(synapses))})",
                "sum the sources before one convolution",
                "unsupported",
            )
        ]
    first = parsed[0][0]
    for info, _ in parsed[1:]:
        if (
            not np.array_equal(info["in_factor"], first["in_factor"])
            or info["in_shape"] != first["in_shape"]
        ):
            return None, [
                Violation(
                    node.name,
                    "inputs",
                    "sources merged into one core need the same "
                    "shape and the same average-pooling/Scale factors",
                    "different",
                    "use SumPool2d and equal scales on every merged path",
                    "unsupported",
                )
            ]
    kernel, problems = _kernel(node, first, neuron)
    if kernel is None:
        return None, problems
    sources = tuple(Source(p.source, info["pool"]) for p, (info, _) in zip(paths, parsed))
    syn = _Synapse(sources, *kernel)
    if problems:
        return syn, problems
    return syn, _cross_check(node, paths, parsed, syn, neuron)


def _parse_path(node: Node, proj: Projection) -> tuple[dict, list[Violation]]:
    """Split one path into pooling, Scale, Flatten, the synapse and trailing Scale nodes."""
    ops, problems = list(proj.ops), []
    graph = proj.graph
    shape = tuple(graph.nodes[proj.source].out_shape)
    pool, in_factor, flattened = 1, np.ones(shape), False
    while ops and (ops[0].kind in POOLS or ops[0].kind == "Scale"):
        op = ops.pop(0)
        if op.kind == "Scale":
            in_factor = in_factor * np.broadcast_to(op.param("scale"), in_factor.shape)
            continue
        k, s, pad = _geometry(op)
        if len(set(k)) != 1 or k != s or any(pad) or k[0] not in (1, 2, 4):
            problems.append(
                Violation(
                    op.name,
                    "pooling",
                    "square sum pooling 1, 2 or 4 with stride = kernel and no padding",
                    f"kernel {k} stride {s} padding {pad}",
                    "use SumPool2d/AvgPool2d(2) or (4)",
                    "unsupported",
                )
            )
        pool *= k[0]
        if op.kind == "AvgPool2d":
            in_factor = in_factor / (k[0] * k[-1])
        in_factor = _pooled_factor(in_factor, op.out_shape)
        shape = tuple(op.out_shape)
    if ops and ops[0].kind == "Flatten":
        flat = ops.pop(0)
        if len(flat.out_shape) != 1:
            problems.append(
                Violation(
                    flat.name,
                    "Flatten",
                    "flatten to one dimension",
                    str(flat.out_shape),
                    "flatten every axis before a linear layer",
                    "unsupported",
                )
            )
        flattened = True
    if not ops or ops[0].kind not in SYNAPSES:
        chain = " -> ".join(proj.kinds) or "a direct edge"
        problems.append(
            Violation(
                node.name,
                "input path",
                "[SumPool2d] -> Conv2d/Affine/Linear -> neuron",
                f"{proj.source} -> {chain}",
                "restructure into conv -> neuron -> pooling blocks (one convolution per core)",
                "unsupported",
            )
        )
        return {}, problems
    synapse = ops.pop(0)
    out_factor = np.ones(synapse.out_shape)
    while ops and ops[0].kind == "Scale":
        out_factor = out_factor * np.broadcast_to(ops.pop(0).param("scale"), out_factor.shape)
    if ops:
        problems.append(
            Violation(
                node.name,
                "operations after the convolution",
                "only Scale between a convolution and its neurons",
                " -> ".join(op.kind for op in ops),
                "pool after the neurons, not before (Speck pools spikes)",
                "unsupported",
            )
        )
    if synapse.kind == "Conv2d":
        c_shape = shape if len(shape) == 3 else None
        if c_shape is None or flattened:
            problems.append(
                Violation(
                    synapse.name,
                    "Conv2d input",
                    "a (channels, height, width) map",
                    str(shape),
                    "feed the convolution a 3-d feature map",
                    "unsupported",
                )
            )
            return {}, problems
    return {
        "synapse": synapse,
        "pool": pool,
        "in_factor": in_factor,
        "out_factor": out_factor,
        "in_shape": shape,
        "flattened": flattened,
    }, problems


def _pooled_factor(factor: np.ndarray, out_shape: tuple[int, ...]) -> np.ndarray:
    """A per-element factor after pooling: kept per channel (it must not vary inside a channel)."""
    if factor.ndim == 3:
        return (
            np.broadcast_to(factor[:, :1, :1], out_shape).copy()
            if np.all(factor == factor[:, :1, :1])
            else np.full(out_shape, np.nan)
        )
    return factor


def _kernel(node: Node, info: dict, neuron: _Neuron) -> tuple[tuple | None, list[Violation]]:
    """(in_shape (c, h, w), dense effective kernel [f, c, k, k], bias [f] in model units, stride
    (y, x), padding (y, x)), or None with the reasons it cannot be built."""
    syn, problems = info["synapse"], []
    n = syn.nir_node
    in_shape = info["in_shape"]
    in_factor, out_factor = info["in_factor"], info["out_factor"]
    if syn.kind == "Conv2d":
        w = np.asarray(n.weight, dtype=np.float64)
        groups, dil = int(n.groups), tuple(int(d) for d in n.dilation)
        f, cg, kh, kw = w.shape
        dense = np.zeros((f, cg * groups, kh, kw))
        per = f // groups
        for g in range(groups):
            dense[g * per : (g + 1) * per, g * cg : (g + 1) * cg] = w[g * per : (g + 1) * per]
        if dil != (1, 1):
            kh, kw = dil[0] * (kh - 1) + 1, dil[1] * (kw - 1) + 1
            spread = np.zeros((f, cg * groups, kh, kw))
            spread[:, :, :: dil[0], :: dil[1]] = dense
            dense = spread
        bias = np.broadcast_to(np.asarray(n.bias, dtype=np.float64), (f,)).copy()
        stride, padding = tuple(int(s) for s in n.stride), tuple(int(p) for p in n.padding)
        chw = in_shape
        in_c = _per_channel(in_factor, in_shape)
        out_c = _per_channel(out_factor, tuple(syn.out_shape))
    else:
        w = np.asarray(n.weight, dtype=np.float64)
        f = w.shape[0]
        bias = np.asarray(getattr(n, "bias", np.zeros(f)), dtype=np.float64).reshape(f).copy()
        chw = tuple(in_shape) if len(in_shape) == 3 else (int(np.prod(in_shape)), 1, 1)
        w = w * np.asarray(in_factor, dtype=np.float64).reshape(1, -1)  # element-wise input scale
        dense = w.reshape(f, *chw)
        kh, kw = chw[1], chw[2]
        stride, padding = (1, 1), (0, 0)
        in_c = np.ones(chw[0])
        out_c = np.asarray(out_factor, dtype=np.float64).reshape(f)
    if in_c is None or out_c is None or not np.all(np.isfinite(in_c)):
        problems.append(
            Violation(
                node.name,
                "Scale/average pooling factor",
                "one value per channel",
                "varies inside a channel",
                "make Scale nodes per channel",
                "unsupported",
            )
        )
        return None, problems
    if kh != kw:
        what = "flattened map before a linear layer" if syn.kind != "Conv2d" else "kernel"
        problems.append(
            Violation(
                node.name,
                what,
                "square (Speck kernels are k x k)",
                f"{kh}x{kw}",
                "pool or crop the map to a square before flattening"
                if syn.kind != "Conv2d"
                else "use a square kernel",
                "limit",
            )
        )
    gain = neuron.gain * out_c
    weight = dense * gain[:, None, None, None] * in_c[None, :, None, None]
    return (
        tuple(int(i) for i in chw),
        weight,
        bias * gain + neuron.offset,
        stride,
        padding,
    ), problems


def _cross_check(
    node: Node, paths: list[Projection], parsed: list, syn: _Synapse, neuron: _Neuron
) -> list[Violation]:
    """The folded kernel must reproduce each path of the graph (gain applied) on random input."""
    import torch  # imported here: `nrf-deploy targets` must not load torch
    import torch.nn.functional as F

    rng = np.random.default_rng(0)
    f = syn.weight.shape[0]
    weight = torch.as_tensor(syn.weight)
    for proj, (info, _) in zip(paths, parsed):
        x = rng.integers(0, 3, size=(2, *proj.source_shape)).astype(np.float64)
        want = (proj.apply(x).numpy() - proj.apply(np.zeros_like(x)).numpy()).reshape(2, f, -1)
        want = want * neuron.gain[None, :, None]
        pooled = torch.as_tensor(x).reshape(2, *_chw(proj.source_shape))
        if info["pool"] > 1:
            pooled = F.avg_pool2d(pooled, info["pool"]) * info["pool"] ** 2
        got = (
            F.conv2d(
                pooled.reshape(2, *syn.in_shape), weight, stride=syn.stride, padding=syn.padding
            )
            .reshape(2, f, -1)
            .numpy()
        )
        bias_want = proj.bias.reshape(f, -1)[:, 0] * neuron.gain + neuron.offset
        if (
            got.shape != want.shape
            or not np.allclose(got, want, rtol=1e-9, atol=1e-9 * max(1.0, np.abs(want).max()))
            or not np.allclose(syn.bias, bias_want, rtol=1e-9, atol=1e-12)
        ):
            return [
                Violation(
                    node.name,
                    f"path from '{proj.source}'",
                    "expressible as pooling -> conv -> IAF",
                    " -> ".join(proj.kinds),
                    "this structure was not recognised; please report it with the graph",
                    "unsupported",
                )
            ]
    return []


def _chw(shape: tuple[int, ...]) -> tuple[int, int, int]:
    # type: ignore[return-value]
    return tuple(shape) if len(shape) == 3 else (int(np.prod(shape)), 1, 1)


# --- discretisation ---------------------------------------------------------------------------


def _discretise(
    node: Node, syn: _Synapse, neuron: _Neuron, options: QuantOptions
) -> tuple[SpeckLayer, list[Violation]]:
    w, b, theta = syn.weight, syn.bias, neuron.threshold
    limits = [THRESHOLD_MAX / theta]
    for values, lo, hi in ((w, WEIGHT_MIN, WEIGHT_MAX), (b, BIAS_MIN, BIAS_MAX)):
        if values.size and values.max() > 0:
            limits.append(hi / values.max())
        if values.size and values.min() < 0:
            limits.append(lo / values.min())
    theta_int = int(np.floor(theta * min(limits)))
    problems = []
    if theta_int < 1:
        problems.append(
            Violation(
                node.name,
                "threshold in chip units",
                ">= 1 with 8-bit weights",
                f"{theta * min(limits):.3g}",
                "the weights or bias exceed 127 x threshold; scale them down or raise v_threshold",
                "range",
            )
        )
        theta_int = 1
    scale = theta_int / theta
    w_int = round_half_away(w * scale)
    b_int = round_half_away(b * scale)
    check_weights_survive(w, w_int, f"layer '{node.name}' ({node.kind}), its incoming weights")
    low = -theta_int if options.threshold_low == "threshold" else STATE_MIN
    layer = SpeckLayer(
        node.name,
        syn.sources,
        tuple(int(i) for i in syn.in_shape),
        w_int,
        b_int,
        syn.stride,
        syn.padding,
        theta_int,
        low,
        neuron.return_to_zero,
        scale=float(scale),
        weight_error=relative_error(w * scale, w_int),
    )
    return layer, problems


# --- graph-level checks -----------------------------------------------------------------------


def _check_outputs(graph: Graph, lowered: Lowered) -> list[Violation]:
    problems = []
    for out in graph.output_names:
        paths = lowered.into(out)
        for p in paths:
            if p.ops or p.source == graph.input_name:
                problems.append(
                    Violation(
                        out,
                        "output",
                        "spikes of a neuron layer (the monitored core)",
                        f"{p.source} -> {' -> '.join(p.kinds) or 'direct'}",
                        "end the graph with an IF layer feeding the Output directly",
                        "unsupported",
                    )
                )
    return problems
