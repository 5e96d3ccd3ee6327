"""ANN -> SNN conversion: a ReLU CNN/MLP read from ONNX becomes an integrate-and-fire NIR graph.

Method (Rueckauer, Lungu, Hu, Pfeiffer & Liu, Front. Neurosci. 11:682, 2017, "data-based
normalisation"; the percentile of the *non-zero* activations as snntoolbox's
``conversion/utils.py:normalize_parameters`` computes it):

1. Read the network (:mod:`.onnx_reader`), fold BatchNorm / bias Adds / scalar scales.
2. Run it in float64 on the calibration set; for every ReLU layer ``l`` take
   ``λ_l = percentile_p(a_l[a_l > 0])`` (``p`` = 99.9 by default). ``λ_0`` is the input scale:
   the calibration input's maximum for rate coding (so ``x / λ_0`` is a spike probability in
   [0, 1]), 1 for direct analog input.
3. Every weighted layer becomes ``W_l λ_{l-1} / λ_l`` and ``b_l / λ_l``; each ReLU becomes an
   ``IF`` with ``r = 1``, threshold 1 and reset by **subtraction** (``metadata["reset"] =
   "subtract"``, nir 1.0.4's definition, docs/semantics.md). The bias is a constant input
   applied every timestep. A neuron's rate (spikes per step) then approximates ``a_l / λ_l``,
   clipped at 1 (activations above the percentile saturate).
4. The last weighted layer without a ReLU (the logits / heat maps) feeds an ``I`` (integrator,
   ``r = 1``) with weights ``W λ_{L-1}`` and bias ``b``: its membrane after ``T`` steps divided by
   ``T`` approximates the ANN's output (``metadata["decoding"]``). A network ending in ReLU
   decodes ``λ_L * spikes / T`` instead.

AveragePool becomes ``AvgPool2d``, Flatten ``Flatten``; both sit in the projection between two
neuron populations. The graph metadata records the input coding, ``input_scale`` (``λ_0``), the
scales per layer and the ONNX node each NIR node comes from. This module never imports a target.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from nrf_deploy.exporters.onnx_reader import (
    AvgPool,
    Chain,
    Flatten,
    Linear,
    Relu,
    load_onnx,
    read_chain,
)

from nrf_deploy.errors import GraphError, NrfError
from nrf_deploy.ir import nodes as ir_nodes

CODINGS = ("poisson", "deterministic", "direct")
"""Input coding: rate coding with Bernoulli (Poisson) or evenly spaced spikes, or the analog value
fed to the first layer every step (chips with binary spike inputs refuse the latter)."""
DEFAULT_PERCENTILE = 99.9
DEFAULT_DT = 1e-3


@dataclass(frozen=True)
class ConvertOptions:
    """``percentile`` of the non-zero activations (0 < p <= 100) used as each layer's scale;
    ``coding`` one of :data:`CODINGS`; ``reset`` of the IF neurons (``subtract`` or ``zero``);
    ``dt`` seconds per timestep recorded in the graph (IF dynamics do not depend on it)."""

    percentile: float = DEFAULT_PERCENTILE
    coding: str = "poisson"
    reset: str = "subtract"
    dt: float = DEFAULT_DT


@dataclass
class Conversion:
    """The converted graph and what was measured to build it."""

    graph: ir_nodes.NIRGraph
    scales: dict[str, float]  # λ per IF population (and "input")
    ann_check: float  # max |ours - onnxruntime| on the checked samples
    samples: int  # calibration samples used


def check_options(options: ConvertOptions) -> None:
    if not 0 < options.percentile <= 100:
        raise NrfError(
            f"percentile {options.percentile} is not in (0, 100]",
            "--percentile",
            "e.g. --percentile 99.9 (Rueckauer et al. 2017) or 100 (max-norm)",
        )
    if options.coding not in CODINGS:
        raise NrfError(
            f"unknown input coding '{options.coding}'",
            "--input-coding",
            f"choose one of {', '.join(CODINGS)}",
        )
    if options.reset not in ("subtract", "zero"):
        raise NrfError(f"unknown reset '{options.reset}'", "--reset", "choose subtract or zero")
    if not options.dt > 0:
        raise NrfError("dt must be positive (seconds)", "--dt", "e.g. --dt 0.001")


def forward(chain: Chain, x: np.ndarray, record: bool = False):
    """Run the chain in float64 on ``x [N, *input_shape]``; with `record` also return the output
    of every ReLU (op index -> array)."""
    import torch

    h = torch.as_tensor(np.asarray(x), dtype=torch.float64)
    acts: dict[int, np.ndarray] = {}
    for i, op in enumerate(chain.ops):
        h = _apply(op, h)
        if record and isinstance(op, Relu):
            acts[i] = h.numpy()
    return (h.numpy(), acts) if record else h.numpy()


def _apply(op, h):
    import torch
    import torch.nn.functional as F

    if isinstance(op, Linear):
        w, b = torch.from_numpy(op.weight), torch.from_numpy(op.bias)
        if op.conv:
            return F.conv2d(h, w, b, op.stride, op.padding, op.dilation, op.groups)
        return F.linear(h, w, b)
    if isinstance(op, Relu):
        return torch.relu(h)
    if isinstance(op, AvgPool):
        return F.avg_pool2d(h, op.kernel, op.stride, op.padding, count_include_pad=True)
    return h.flatten(1)


def check_calibration(calibration: np.ndarray | None, chain: Chain, coding: str) -> np.ndarray:
    """The calibration set as float64 ``[N, *input_shape]`` (NrfError when missing or wrong)."""
    shape = chain.input_shape
    if calibration is None:
        raise NrfError(
            "no calibration set: the layer scales are percentiles of activations on real data",
            "--calibration",
            "save a few hundred training inputs shaped "
            f"[N, {', '.join(map(str, shape))}]"
            " with numpy.save and pass --calibration X.npy",
        )
    x = np.asarray(calibration)
    if x.shape == shape:
        x = x[None]
    if x.ndim != len(shape) + 1 or tuple(x.shape[1:]) != shape or x.shape[0] < 1:
        raise NrfError(
            f"calibration array has shape {x.shape}, the model takes "
            f"[N, {', '.join(map(str, shape))}]",
            "--calibration",
            "save the network's inputs, samples first",
        )
    if not np.issubdtype(x.dtype, np.number) or not np.all(np.isfinite(x)):
        raise NrfError(
            "calibration array holds non-numeric or non-finite values",
            "--calibration",
            "save finite numbers",
        )
    if coding != "direct" and x.min() < 0:
        raise NrfError(
            f"rate coding needs non-negative inputs (min {x.min():g})",
            "--input-coding",
            "shift/scale the inputs to [0, max] before training, or use --input-coding "
            "direct (analog first layer)",
        )
    return x.astype(np.float64)


def onnxruntime_check(model, chain: Chain, x: np.ndarray, samples: int = 8) -> float:
    """Largest |chain output - onnxruntime output| relative to the output's magnitude on the
    first `samples` calibration inputs: proves the parsed chain is the ONNX model."""
    import onnxruntime as ort

    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    batch_dim = model.graph.input[0].type.tensor_type.shape.dim[0]
    xs = x[:samples].astype(np.float32)
    if batch_dim.dim_value > 0:  # fixed batch size: one run per sample batch of that size
        n = batch_dim.dim_value
        xs = xs[: max(n, len(xs) // n * n)] if len(xs) >= n else np.repeat(xs[:1], n, axis=0)
        ref = np.concatenate(
            [sess.run(None, {name: xs[i : i + n]})[0] for i in range(0, len(xs), n)]
        )
    else:
        ref = sess.run(None, {name: xs})[0]
    ours = forward(chain, xs.astype(np.float64))
    return float(np.abs(ours - ref).max() / max(1.0, float(np.abs(ref).max())))


def convert_onnx(
    path: str | Path, calibration: np.ndarray | None, options: ConvertOptions = ConvertOptions()
) -> Conversion:
    """Convert the ReLU network in `path` (ONNX) into an IF NIR graph (see the module docstring)."""
    check_options(options)
    model = load_onnx(path)
    chain = read_chain(model)
    _check_structure(chain)
    x = check_calibration(calibration, chain, options.coding)
    diff = onnxruntime_check(model, chain, x)
    if diff > 1e-4:
        raise GraphError(
            "the converter's reading of the model differs from onnxruntime by "
            f"{diff:.2e}"
            " (relative)",
            str(path),
            "this is a bug in the converter: report it with the ONNX file",
        )
    scales = _scales(chain, x, options)
    graph = build_graph(chain, scales, options, source=Path(path).name)
    return Conversion(graph, scales, diff, len(x))


def _check_structure(chain: Chain) -> None:
    """A ReLU after each weighted layer but the last; pooling only after a ReLU."""
    ops = chain.ops
    for i, op in enumerate(ops):
        if isinstance(op, Relu) and (i == 0 or not isinstance(ops[i - 1], Linear)):
            raise GraphError(
                "a ReLU that does not directly follow a weighted layer",
                f"ONNX node '{op.node}'",
                "apply the ReLU right after its Conv/Gemm "
                "(before pooling); the SNN cannot rectify its input",
            )
        if isinstance(op, Linear):
            nxt = next((o for o in ops[i + 1 :] if not isinstance(o, (AvgPool, Flatten))), None)
            if nxt is not None and isinstance(nxt, Linear):
                raise GraphError(
                    "two weighted layers without a ReLU between them",
                    f"ONNX node '{nxt.node}'",
                    "merge them into one layer or add a ReLU",
                )


def _scales(chain: Chain, x: np.ndarray, options: ConvertOptions) -> dict[str, float]:
    """λ per ReLU op (key: op index as str) and for the input (key ``input``)."""
    acts: dict[int, list[np.ndarray]] = {}
    for i in range(0, len(x), 256):
        _, rec = forward(chain, x[i : i + 256], record=True)
        for k, a in rec.items():
            acts.setdefault(k, []).append(a[a > 0])
    scales = {"input": float(x.max()) if options.coding != "direct" else 1.0}
    if scales["input"] <= 0:
        raise NrfError("the calibration inputs are all zero", "--calibration", "pass real data")
    for k, parts in acts.items():
        positive = np.concatenate(parts)
        if positive.size == 0:
            raise GraphError(
                "a ReLU layer never activates on the calibration set",
                f"ONNX node '{chain.ops[k].node}'",
                "pass more (or more varied) calibration data; check the model",
            )
        scales[str(k)] = float(np.percentile(positive, options.percentile))
    return scales


def build_graph(
    chain: Chain, scales: dict[str, float], options: ConvertOptions, source: str = "model.onnx"
) -> ir_nodes.NIRGraph:
    """The IF NIR graph of `chain` with the layer scales `scales` (from :func:`_scales`)."""
    nodes: dict[str, ir_nodes.NIRNode] = {
        "input": ir_nodes.Input({"input": np.array(chain.input_shape)})
    }
    order, origin = ["input"], {}
    shape = chain.input_shape
    prev_scale, layer, pending = scales["input"], 0, None
    ops = chain.ops
    for i, op in enumerate(ops):
        if isinstance(op, Linear):
            layer += 1
            pending = (op, shape)
            shape = _linear_shape(op, shape)
            if i == len(ops) - 1 or not any(isinstance(o, Relu) for o in ops[i + 1 :]):
                # the read-out: no ReLU follows (pooling/flatten after it stay in the ANN's output)
                if any(not isinstance(o, Linear) for o in ops[i + 1 :]):
                    raise GraphError(
                        "operations after the last weighted layer",
                        f"ONNX node '{ops[i + 1].node}'",
                        "end the network with its last Conv/Gemm (or a ReLU)",
                    )
                name = "readout_conv" if op.conv else "readout_fc"
                nodes[name] = _linear_node(op.scaled(prev_scale, 1.0), pending[1])
                nodes["readout"] = ir_nodes.I(r=np.ones(shape))
                order += [name, "readout"]
                origin[name] = op.node
                decoding = "readout membrane / timesteps = ANN output"
                break
            continue
        if isinstance(op, Relu):
            lin, in_shape = pending
            lam = scales[str(i)]
            name = f"{'conv' if lin.conv else 'fc'}{layer}"
            nodes[name] = _linear_node(lin.scaled(prev_scale / lam, 1.0 / lam), in_shape)
            nodes[f"if{layer}"] = ir_nodes.IF(
                r=np.ones(shape), v_threshold=np.ones(shape), metadata={"reset": options.reset}
            )
            order += [name, f"if{layer}"]
            origin[name] = lin.node
            prev_scale = lam
            decoding = f"{lam!r} * spikes of if{layer} / timesteps = ANN output"
        elif isinstance(op, AvgPool):
            name = f"pool{layer}"
            nodes[name] = ir_nodes.AvgPool2d(
                kernel_size=np.array(op.kernel),
                stride=np.array(op.stride),
                padding=np.array(op.padding),
            )
            order.append(name)
            shape = (
                shape[0],
                *(
                    (s + 2 * p - k) // st + 1
                    for s, p, k, st in zip(shape[1:], op.padding, op.kernel, op.stride)
                ),
            )
        else:
            name = f"flatten{layer}"
            nodes[name] = ir_nodes.Flatten(
                input_type={"input": np.array(shape)}, start_dim=0, end_dim=-1
            )
            order.append(name)
            shape = (int(np.prod(shape)),)
    nodes["output"] = ir_nodes.Output({"output": np.array(shape)})
    order.append("output")
    metadata = {
        "dt": float(options.dt),
        "name": f"converted-{Path(source).stem}",
        "source": f"nrf-deploy convert (exporters/ann_to_snn.py) from {source}",
        "conversion": "Rueckauer et al. 2017 data-based normalisation",
        "percentile": float(options.percentile),
        "input_coding": options.coding,
        "input_scale": float(scales["input"]),
        "decoding": decoding,
        "layer_scales": json.dumps({k: v for k, v in scales.items()}, sort_keys=True),
        "onnx_nodes": json.dumps(origin, sort_keys=True),
    }
    return ir_nodes.NIRGraph(nodes=nodes, edges=list(itertools.pairwise(order)), metadata=metadata)


def _linear_shape(op: Linear, shape: tuple[int, ...]) -> tuple[int, ...]:
    if not op.conv:
        return (op.weight.shape[0],)
    out = [
        (s + 2 * p - d * (k - 1) - 1) // st + 1
        for s, p, d, k, st in zip(
            shape[1:], op.padding, op.dilation, op.weight.shape[2:], op.stride
        )
    ]
    return (op.weight.shape[0], *out)


def _linear_node(op: Linear, in_shape: tuple[int, ...]) -> ir_nodes.NIRNode:
    if op.conv:
        return ir_nodes.Conv2d(
            input_shape=tuple(int(s) for s in in_shape[1:]),
            weight=op.weight,
            stride=op.stride,
            padding=op.padding,
            dilation=op.dilation,
            groups=op.groups,
            bias=op.bias,
        )
    return ir_nodes.Affine(weight=op.weight, bias=op.bias)


def write_converted(conversion: Conversion, path: str | Path) -> None:
    """Write the converted graph to `path` atomically."""
    from nrf_deploy.fileio import atomic_path
    from nrf_deploy.ir.write import write_nir

    with atomic_path(path) as tmp:
        write_nir(tmp, conversion.graph)


def encode(
    x: np.ndarray, timesteps: int, coding: str, input_scale: float, seed: int = 0
) -> np.ndarray:
    """Inputs ``[N, *shape]`` -> ``[T, N, *shape]`` float32 for the converted graph.

    ``poisson``: a spike with probability ``x / input_scale`` per step (Bernoulli, seeded);
    ``deterministic``: ``floor((t + 1) p) - floor(t p)`` spikes at step ``t`` (``floor(T p)`` evenly
    spaced spikes in all); ``direct``: ``x`` itself every step (analog; chips whose inputs are
    spikes refuse it)."""
    if timesteps < 1:
        raise NrfError("timesteps must be >= 1", "--timesteps", "e.g. --timesteps 32")
    x = np.asarray(x, dtype=np.float64)
    if coding == "direct":
        return np.broadcast_to(x, (timesteps, *x.shape)).astype(np.float32)
    p = np.clip(x / input_scale, 0.0, 1.0)
    if coding == "poisson":
        rng = np.random.default_rng(seed)
        return (rng.random((timesteps, *x.shape)) < p).astype(np.float32)
    t = np.arange(timesteps, dtype=np.float64).reshape(-1, *([1] * x.ndim))
    return (np.floor((t + 1) * p + 1e-9) - np.floor(t * p + 1e-9)).astype(np.float32)
