"""Read a ReLU CNN/MLP from an ONNX file into a plain chain of float64 operations.

Only the ``onnx`` package is used (protobuf + ``numpy_helper``); nothing is executed here. The
result is a :class:`Chain`: ``Linear`` (Conv / Gemm / MatMul, with any following ``Add`` bias,
``BatchNormalization`` and scalar ``Mul``/``Div`` folded in), ``Relu``, ``AvgPool`` and
``Flatten`` ops, in order. Everything else is refused with one message naming the operator, the
ONNX node and what to do: non-ReLU activations, MaxPool (the max of spike trains is not a sum of
spikes: an IF network cannot hold it exactly), branches (residual Adds), other operators.

ONNX semantics followed (onnx 1.23 operator docs): Conv ``NCHW`` cross-correlation with ``pads``
``[top, left, bottom, right]``; Gemm ``alpha * A' B' + beta * C``; AveragePool with
``count_include_pad``; BatchNormalization ``scale * (x - mean) / sqrt(var + epsilon) + B``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from nrf_deploy.errors import GraphError, NrfError

ACTIVATIONS = frozenset(
    {
        "Sigmoid",
        "Tanh",
        "LeakyRelu",
        "PRelu",
        "Elu",
        "Selu",
        "Softplus",
        "Softsign",
        "HardSigmoid",
        "HardSwish",
        "Gelu",
        "Mish",
        "Softmax",
        "LogSoftmax",
        "Clip",
        "ThresholdedRelu",
        "Celu",
        "Swish",
    }
)
"""Activations that are not ReLU: an IF neuron's rate approximates ReLU only."""
PASS_THROUGH = frozenset({"Identity", "Dropout"})


@dataclass
class Linear:
    """``y = W x + b``: a 2-d convolution (``weight [O, I/g, kh, kw]``) or a dense layer
    (``weight [O, I]``). Float64."""

    node: str
    weight: np.ndarray
    bias: np.ndarray
    conv: bool
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1

    def scaled(self, w_factor: float, b_factor: float) -> Linear:
        return replace(self, weight=self.weight * w_factor, bias=self.bias * b_factor)


@dataclass
class Relu:
    node: str


@dataclass
class AvgPool:
    """Mean over ``kernel`` windows (zero padding counted), float semantics of ONNX AveragePool
    with ``count_include_pad=1`` (or no padding)."""

    node: str
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]


@dataclass
class Flatten:
    node: str


Op = Linear | Relu | AvgPool | Flatten


@dataclass
class Chain:
    """The network as a chain of ops; ``input_shape`` without the batch axis."""

    input_name: str
    input_shape: tuple[int, ...]
    ops: list[Op] = field(default_factory=list)


def _refuse(what: str, node, hint: str) -> GraphError:
    return GraphError(what, f"ONNX node '{node.name or node.output[0]}' ({node.op_type})", hint)


def load_onnx(path: str | Path) -> onnx.ModelProto:  # noqa: F821
    """The ONNX model at `path`, checked by ``onnx.checker`` (NrfError if unreadable)."""
    import onnx

    p = Path(path)
    if not p.is_file():
        raise NrfError(f"ONNX file '{path}' does not exist", "MODEL", "check the path")
    try:
        model = onnx.load(str(p))
        onnx.checker.check_model(model)
    except Exception as exc:  # noqa: BLE001 — onnx raises assorted errors for damaged files
        raise NrfError(
            f"'{path}' is not a valid ONNX model ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0][:200] if str(exc) else ''})",
            "MODEL",
            "export the network with torch.onnx.export (or another ONNX writer)",
        ) from None
    return model


def read_chain(model) -> Chain:
    """Parse `model` (an ``onnx.ModelProto``) into a :class:`Chain` with folding applied."""
    from onnx import numpy_helper

    graph = model.graph
    consts = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in graph.initializer}
    inputs = [i for i in graph.input if i.name not in consts]
    if len(inputs) != 1 or len(graph.output) != 1:
        raise GraphError(
            f"the model has {len(inputs)} inputs and {len(graph.output)} outputs",
            "ONNX graph",
            "convert a network with one input tensor and one output",
        )
    dims = [d.dim_value for d in inputs[0].type.tensor_type.shape.dim]
    if len(dims) < 2 or any(d <= 0 for d in dims[1:]):
        raise GraphError(
            f"input '{inputs[0].name}' has shape {dims}",
            "ONNX graph input",
            "export with a fixed input shape [batch, C, H, W] or [batch, features]",
        )
    chain = Chain(inputs[0].name, tuple(dims[1:]))
    current = inputs[0].name
    for node in graph.node:
        if node.op_type == "Constant":
            consts[node.output[0]] = numpy_helper.to_array(node.attribute[0].t).astype(np.float64)
            continue
        data = [i for i in node.input if i and i not in consts]
        if data != [current]:
            raise _refuse(
                "the graph is not a single chain (this node reads "
                f"{data or 'only constants'}, the chain is at '{current}')",
                node,
                "convert a sequential network (no residual connections or branches)",
            )
        _add_op(chain, node, consts)
        current = node.output[0]
    if current != graph.output[0].name:
        raise GraphError(
            "the graph output is not the end of the chain",
            "ONNX graph output",
            "convert a sequential network",
        )
    if not any(isinstance(op, Linear) for op in chain.ops):
        raise GraphError(
            "the model has no Conv, Gemm or MatMul layer",
            "ONNX graph",
            "convert a network with at least one weighted layer",
        )
    return chain


def _attrs(node) -> dict:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _add_op(chain: Chain, node, consts: dict[str, np.ndarray]) -> None:
    op, a = node.op_type, _attrs(node)
    if op in PASS_THROUGH:
        return
    if op == "Relu":
        chain.ops.append(Relu(node.name))
    elif op in ACTIVATIONS:
        raise _refuse(
            f"'{op}' is not a ReLU: an integrate-and-fire neuron's rate approximates ReLU only",
            node,
            "replace the activation by ReLU and retrain",
        )
    elif op == "Conv":
        chain.ops.append(_conv(node, a, consts))
    elif op == "Gemm":
        chain.ops.append(_gemm(node, a, consts))
    elif op == "MatMul":
        w = consts.get(node.input[1])
        if w is None or w.ndim != 2:
            raise _refuse("MatMul with a non-2-d weight", node, "use a Linear layer")
        chain.ops.append(Linear(node.name, w.T.copy(), np.zeros(w.shape[1]), conv=False))
    elif op in ("Add", "Sub"):
        _fold_add(chain, node, consts, -1.0 if op == "Sub" else 1.0)
    elif op in ("Mul", "Div"):
        _fold_scalar(chain, node, consts, op)
    elif op == "BatchNormalization":
        _fold_batchnorm(chain, node, a, consts)
    elif op in ("AveragePool", "GlobalAveragePool"):
        chain.ops.append(_avgpool(node, a, chain))
    elif op in ("MaxPool", "GlobalMaxPool"):
        raise _refuse(
            "MaxPool is not representable: the maximum of spike trains is not a "
            "weighted sum of spikes, so no IF network computes it",
            node,
            "replace MaxPool by AveragePool (same kernel) and retrain",
        )
    elif op == "Flatten":
        if int(a.get("axis", 1)) != 1:
            raise _refuse("Flatten with axis != 1", node, "flatten everything but the batch axis")
        chain.ops.append(Flatten(node.name))
    elif op == "Reshape":
        shape = consts.get(node.input[1])
        if shape is None or shape.ndim != 1 or len(shape) != 2:
            raise _refuse(
                "Reshape other than to [batch, -1]",
                node,
                "use Flatten (or x.flatten(1) in torch) before the dense layers",
            )
        chain.ops.append(Flatten(node.name))
    else:
        raise _refuse(
            f"operator '{op}' is not supported by the converter",
            node,
            "supported: Conv, Gemm, MatMul(+Add), Relu, AveragePool, Flatten/Reshape, "
            "BatchNormalization (after Conv/Gemm), Mul/Div by a scalar, Dropout",
        )


def _pair(value, default: int) -> tuple[int, int]:
    if value is None:
        return (default, default)
    v = list(value)
    return (int(v[0]), int(v[-1])) if len(v) != 1 else (int(v[0]), int(v[0]))


def _symmetric_pads(node, a: dict) -> tuple[int, int]:
    if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
        raise _refuse("auto_pad is not supported", node, "export with explicit pads")
    pads = [int(p) for p in a.get("pads", [0, 0, 0, 0])]
    if pads[:2] != pads[2:]:
        raise _refuse(f"asymmetric padding {pads}", node, "use symmetric padding")
    return (pads[0], pads[1])


def _conv(node, a: dict, consts: dict[str, np.ndarray]) -> Linear:
    w = consts.get(node.input[1])
    if w is None or w.ndim != 4:
        raise _refuse(
            "only 2-d convolutions with constant weights are supported", node, "use Conv2d layers"
        )
    b = consts[node.input[2]] if len(node.input) > 2 and node.input[2] else np.zeros(w.shape[0])
    return Linear(
        node.name,
        w,
        b,
        conv=True,
        stride=_pair(a.get("strides"), 1),
        padding=_symmetric_pads(node, a),
        dilation=_pair(a.get("dilations"), 1),
        groups=int(a.get("group", 1)),
    )


def _gemm(node, a: dict, consts: dict[str, np.ndarray]) -> Linear:
    if int(a.get("transA", 0)):
        raise _refuse("Gemm with transA", node, "use a plain Linear layer")
    w = consts.get(node.input[1])
    if w is None:
        raise _refuse("Gemm with a non-constant weight", node, "use a Linear layer")
    w = w if int(a.get("transB", 0)) else w.T
    b = consts[node.input[2]] if len(node.input) > 2 and node.input[2] else np.zeros(w.shape[0])
    alpha, beta = float(a.get("alpha", 1.0)), float(a.get("beta", 1.0))
    return Linear(node.name, alpha * w, beta * np.broadcast_to(b, (w.shape[0],)).copy(), conv=False)


def _last_linear(chain: Chain, node, what: str) -> Linear:
    if not chain.ops or not isinstance(chain.ops[-1], Linear):
        raise _refuse(
            f"{what} that does not directly follow a Conv/Gemm/MatMul",
            node,
            "place it right after a weighted layer (it is folded into it)",
        )
    return chain.ops[-1]


def _fold_add(chain: Chain, node, consts: dict[str, np.ndarray], sign: float) -> None:
    const = [consts[i] for i in node.input if i in consts]
    if len(const) != 1:
        raise _refuse(
            "an Add of two computed tensors (a residual connection)",
            node,
            "convert a sequential network",
        )
    layer = _last_linear(chain, node, "a bias Add")
    c = np.asarray(const[0])
    out = layer.weight.shape[0]
    if layer.conv:
        per_channel = c.ndim <= 1 or c.shape[-2:] == (1, 1)
        c = c.reshape(-1) if c.size in (1, out) and per_channel else None
    else:
        c = c.reshape(-1) if c.size in (1, out) else None
    if c is None:
        raise _refuse(
            "an Add whose constant is not a per-channel bias", node, "use the layer's own bias"
        )
    chain.ops[-1] = replace(layer, bias=layer.bias + sign * np.broadcast_to(c, (out,)))


def _fold_scalar(chain: Chain, node, consts: dict[str, np.ndarray], op: str) -> None:
    const = [consts[i] for i in node.input if i in consts]
    if len(const) != 1 or const[0].size != 1:
        raise _refuse(
            f"{op} by something other than a scalar constant",
            node,
            "only scalar scaling is folded; move per-channel scales into the weights",
        )
    c = float(const[0].reshape(-1)[0])
    if op == "Div":
        if node.input[1] not in consts:
            raise _refuse("Div of a constant by a tensor", node, "remove the division")
        c = 1.0 / c
    if chain.ops and isinstance(chain.ops[-1], Linear):
        chain.ops[-1] = chain.ops[-1].scaled(c, c)
        return
    if c <= 0:
        raise _refuse(
            f"scaling by {c} <= 0 after a ReLU or pooling",
            node,
            "fold the scale into the next layer's weights",
        )
    # c * relu(z) = relu(c * z), and pooling/flatten are linear: scale the last weighted layer
    for i in range(len(chain.ops) - 1, -1, -1):
        if isinstance(chain.ops[i], Linear):
            chain.ops[i] = chain.ops[i].scaled(c, c)
            return
    raise _refuse("a scaling before any weighted layer", node, "scale the input data instead")


def _fold_batchnorm(chain: Chain, node, a: dict, consts: dict[str, np.ndarray]) -> None:
    layer = _last_linear(chain, node, "a BatchNormalization")
    scale, shift, mean, var = (consts[i] for i in node.input[1:5])
    k = scale / np.sqrt(var + float(a.get("epsilon", 1e-5)))
    shape = (-1,) + (1,) * (layer.weight.ndim - 1)
    chain.ops[-1] = replace(
        layer, weight=layer.weight * k.reshape(shape), bias=(layer.bias - mean) * k + shift
    )


def _avgpool(node, a: dict, chain: Chain) -> AvgPool:
    if node.op_type == "GlobalAveragePool":
        raise _refuse(
            "GlobalAveragePool needs the spatial size",
            node,
            "use AveragePool with the feature map's size as kernel (nn.AvgPool2d)",
        )
    if int(a.get("ceil_mode", 0)):
        raise _refuse("AveragePool with ceil_mode", node, "use ceil_mode=False")
    pads = _symmetric_pads(node, a)
    if any(pads) and not int(a.get("count_include_pad", 0)):
        raise _refuse(
            "padded AveragePool that excludes the padding from the mean",
            node,
            "use count_include_pad=True or no padding",
        )
    k = _pair(a.get("kernel_shape"), 1)
    return AvgPool(node.name, k, _pair(a.get("strides"), 1), pads)
