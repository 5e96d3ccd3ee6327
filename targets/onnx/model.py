"""Networks as ONNX models of one timestep (opset 17), or of T unrolled timesteps.

Two sources, one interface (:class:`StepInterface`, also stored in the model's metadata under
``nrf_deploy.interface`` so a ``.onnx`` file describes itself):

* :func:`export_float` — a normalised float NIR graph, op for op the float executor
  (nrf_deploy/ir/executor.py): same operations in the same order, float32 throughout.
* :func:`export_speck_integer` — the integer reference of a Speck export (its quantised program:
  8-bit weights, 16-bit saturating state, MultiSpike), in int64 chip units.

Step model (``unroll=None``), batch dimension ``B`` symbolic:

* inputs: ``x [B, *input_shape]`` (the event frame of this step), then every state tensor in
  :attr:`StepInterface.states` order: ``state.<node>.v`` (and ``state.<node>.i`` before it for
  CubaLIF) per stateful node in schedule order, then ``prev.<node>`` for every source of a
  recurrent (delayed) edge — its output of the previous step, which the delayed edge delivers.
  Zeros are the initial state.
* outputs: ``out.<node>`` for every neuron, Threshold and Output node (spikes, or the membrane of
  LI / I read-outs), then ``next.<state>`` for every state input, to be fed back at the next step.

Unrolled model (``unroll=T``): input ``x [T, B, *input_shape]``, states start at zero inside the
model, outputs ``out.<node> [T, B, *shape]``. It is the step graph repeated T times.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from nrf_deploy.errors import NrfError
from nrf_deploy.ir.graph import Graph, Node
from nrf_deploy.ir.semantics import Semantics
from nrf_deploy.ir.spec import SPECS

OPSET = 17
"""ONNX operator set of every exported model (onnxruntime >= 1.13 runs it)."""
IR_VERSION = 8
MAX_UNROLL = 1000
"""Longest unrolled model written (the graph grows linearly with T; use the step model beyond)."""
METADATA_KEY = "nrf_deploy.interface"
STATE_VARS = {kind: spec.states for kind, spec in SPECS.items() if spec.states}
_DTYPES = {"float32": (np.float32, TensorProto.FLOAT), "int64": (np.int64, TensorProto.INT64)}
FLOAT32_EXACT = 1 << 24
"""Integers of magnitude below 2**24 are exact in float32 (and so are sums that stay below it)."""


@dataclass(frozen=True)
class Port:
    """One model input or output: its name, element type and shape without the batch axis."""

    name: str
    dtype: str
    shape: tuple[int, ...]


@dataclass(frozen=True)
class StepInterface:
    """The step model's inputs and outputs (the documented state layout)."""

    mode: str  # "float" or "integer"
    input: Port
    states: tuple[Port, ...]  # inputs after x; outputs "next.<name>" after the node outputs
    outputs: tuple[Port, ...]  # "out.<node>"

    def to_json(self) -> dict:
        return {
            "mode": self.mode,
            "input": asdict(self.input),
            "states": [asdict(p) for p in self.states],
            "outputs": [asdict(p) for p in self.outputs],
        }

    @classmethod
    def from_json(cls, data: dict) -> StepInterface:
        port = lambda d: Port(d["name"], d["dtype"], tuple(int(i) for i in d["shape"]))
        return cls(
            data["mode"],
            port(data["input"]),
            tuple(port(d) for d in data["states"]),
            tuple(port(d) for d in data["outputs"]),
        )

    def zero_states(self, batch: int) -> dict[str, np.ndarray]:
        """Initial state feeds for a batch of `batch` samples."""
        return {p.name: np.zeros((batch, *p.shape), _DTYPES[p.dtype][0]) for p in self.states}


def read_interface(model: onnx.ModelProto) -> StepInterface:
    """The interface an exported model records in its metadata (NrfError if it has none)."""
    props = {p.key: p.value for p in model.metadata_props}
    if METADATA_KEY not in props:
        raise NrfError(
            "this ONNX model has no nrf-deploy interface metadata (another tool or an older "
            "nrf-deploy wrote it)",
            METADATA_KEY,
            "export it with 'nrf-deploy export MODEL.nir --target onnx'",
        )
    return StepInterface.from_json(json.loads(props[METADATA_KEY]))


def model_metadata(model: onnx.ModelProto) -> dict[str, str]:
    return {p.key: p.value for p in model.metadata_props}


class _Builder:
    """Accumulates nodes and initializers; every op gets a fresh output name."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: dict[str, onnx.TensorProto] = {}
        self.count = 0

    def const(self, name: str, value, dtype: str = "float32") -> str:
        if name not in self.inits:
            self.inits[name] = numpy_helper.from_array(
                np.asarray(value, dtype=_DTYPES[dtype][0]), name
            )
        return name

    def i64(self, values) -> str:
        arr = np.asarray(values, dtype=np.int64)
        return self.const(
            f"i64[{','.join(map(str, arr.reshape(-1)))}]{'s' if arr.ndim == 0 else ''}",
            arr,
            "int64",
        )

    def op(self, kind: str, inputs: list[str], **attrs) -> str:
        self.count += 1
        out = f"t{self.count}"
        self.nodes.append(helper.make_node(kind, inputs, [out], **attrs))
        return out

    def reshape(self, x: str, shape: tuple[int, ...]) -> str:
        return self.op("Reshape", [x, self.i64([-1, *shape])])

    def batch_zeros(self, x: str, port: Port, batch_axis: int) -> str:
        """Zeros shaped ``[B, *port.shape]`` with B taken from axis `batch_axis` of `x` at run
        time."""
        dims = self.op("Shape", [x])
        batch = self.op("Slice", [dims, self.i64([batch_axis]), self.i64([batch_axis + 1])])
        shape = self.op("Concat", [batch, self.i64(list(port.shape))], axis=0)
        return self.op("Expand", [self.const(f"zero.{port.dtype}", 0, port.dtype), shape])


StepFn = Callable[[_Builder, str, dict[str, str]], tuple[dict[str, str], dict[str, str]]]
"""Emits one timestep: (builder, x, state value per state port) -> (value per output port, next
state per port)."""


def _assemble(
    interface: StepInterface, step: StepFn, unroll: int | None, name: str, metadata: dict[str, str]
) -> onnx.ModelProto:
    """Wrap `step` into the step model or the unrolled model; run ``onnx.checker``."""
    b = _Builder()
    vi = lambda p, lead=(): helper.make_tensor_value_info(
        p.name, _DTYPES[p.dtype][1], [*lead, "B", *p.shape]
    )
    if unroll is None:
        outs, nxt = step(b, interface.input.name, {p.name: p.name for p in interface.states})
        inputs = [vi(interface.input)] + [vi(p) for p in interface.states]
        outputs = []
        for p in interface.outputs:
            b.nodes.append(helper.make_node("Identity", [outs[p.name]], [p.name]))
            outputs.append(vi(p))
        for p in interface.states:
            b.nodes.append(helper.make_node("Identity", [nxt[p.name]], [f"next.{p.name}"]))
            outputs.append(vi(Port(f"next.{p.name}", p.dtype, p.shape)))
    else:
        check_unroll(unroll)
        x = interface.input.name
        state = {p.name: b.batch_zeros(x, p, 1) for p in interface.states}
        collected: dict[str, list[str]] = {p.name: [] for p in interface.outputs}
        for t in range(unroll):
            outs, state = step(b, b.op("Gather", [x, b.i64(t)], axis=0), state)
            for key, parts in collected.items():
                parts.append(b.op("Unsqueeze", [outs[key], b.i64([0])]))
        inputs = [vi(interface.input, (unroll,))]
        outputs = []
        for p in interface.outputs:
            b.nodes.append(helper.make_node("Concat", collected[p.name], [p.name], axis=0))
            outputs.append(vi(p, (unroll,)))
    graph = helper.make_graph(b.nodes, name, inputs, outputs, list(b.inits.values()))
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="nrf-deploy"
    )
    model.ir_version = IR_VERSION
    props = {
        METADATA_KEY: json.dumps(interface.to_json(), sort_keys=True),
        "nrf_deploy.opset": str(OPSET),
        "nrf_deploy.unroll": str(unroll or 0),
        **metadata,
    }
    helper.set_model_props(model, props)
    onnx.checker.check_model(model, full_check=True)
    return model


def check_unroll(unroll: int) -> None:
    if not 1 <= int(unroll) <= MAX_UNROLL:
        raise NrfError(
            f"--onnx-unroll {unroll} is outside 1..{MAX_UNROLL}",
            "--onnx-unroll",
            f"unroll at most {MAX_UNROLL} steps (e.g. --onnx-unroll 20); longer inputs run the "
            "step model",
        )


# ---------------------------------------------------------------- float graphs (the executor's
# order)


def float_interface(graph: Graph) -> StepInterface:
    """State layout and outputs of the float step model of `graph`."""
    states = [
        Port(f"state.{n}.{var}", "float32", graph.nodes[n].out_shape)
        for n in graph.schedule
        if graph.nodes[n].kind in STATE_VARS
        for var in STATE_VARS[graph.nodes[n].kind]
    ]
    states += [
        Port(f"prev.{u}", "float32", graph.nodes[u].out_shape)
        for u in sorted({u for u, _ in graph.delayed_edges})
    ]
    outputs = [
        Port(f"out.{n}", "float32", graph.nodes[n].out_shape)
        for n in graph.schedule
        if graph.nodes[n].kind in STATE_VARS or graph.nodes[n].kind in ("Output", "Threshold")
    ]
    return StepInterface(
        "float", Port("x", "float32", graph.input_shape), tuple(states), tuple(outputs)
    )


def dense_macs(graph: Graph) -> int:
    """Dense multiply-accumulates per timestep: every weight applied at every step (NeuroBench's
    dense count)."""
    return int(sum(n.synapses for n in graph.nodes.values()))


def export_float(
    graph: Graph, dt: float, unroll: int | None = None, semantics: Semantics | None = None
) -> onnx.ModelProto:
    """The float step model (``unroll=None``) or a `unroll`-step model of `graph`; `dt` in
    seconds."""
    semantics = semantics or Semantics()
    interface = float_interface(graph)
    emitter = _FloatStep(graph, float(dt), semantics)
    meta = {
        "nrf_deploy.dt": repr(float(dt)),
        "nrf_deploy.semantics": json.dumps(asdict(semantics), sort_keys=True),
        "nrf_deploy.dense_macs_per_step": str(dense_macs(graph)),
    }
    return _assemble(interface, emitter, unroll, "nrf_deploy_float_step", meta)


class _FloatStep:
    """One timestep of the float executor as ONNX ops (same formulas, same operand order)."""

    def __init__(self, graph: Graph, dt: float, semantics: Semantics):
        self.graph, self.dt, self.sem = graph, dt, semantics
        self.reported = [p.name[len("out.") :] for p in float_interface(graph).outputs]
        unsupported = sorted({n.kind for n in graph.nodes.values()} - set(_FLOAT_KINDS))
        if unsupported:
            raise NrfError(
                f"the ONNX exporter has no mapping for {', '.join(unsupported)}",
                "exporters/onnx",
                f"supported node types: {', '.join(_FLOAT_KINDS)}",
            )
        writer_only = [
            f for f in ("late_reset", "bias_at_start", "tau_times_dt") if getattr(semantics, f)
        ] + (["cuba"] if semantics.cuba != "nir" else [])
        if writer_only:
            raise NrfError(
                f"the ONNX float model does not implement the semantics field(s) "
                f"{', '.join(writer_only)}",
                "--semantics",
                "export ONNX with --semantics nir or sinabs; the writer presets snntorch, "
                "rockpool and norse exist for comparing with the writers (docs/interop.md)",
            )

    def __call__(self, b: _Builder, x: str, state: dict[str, str]):
        g = self.graph
        out: dict[str, str] = {g.input_name: x}
        nxt: dict[str, str] = {}
        for name in g.schedule:
            if name == g.input_name:
                continue
            terms = [
                state[f"prev.{u}"] if (u, name) in g.delayed_edges else out[u]
                for u in g.predecessors(name)
            ]
            inp = terms[0]
            for term in terms[1:]:
                inp = b.op("Add", [inp, term])
            out[name] = self.emit(b, g.nodes[name], inp, state, nxt)
        outs = {f"out.{n}": out[n] for n in self.reported}
        nxt.update({f"prev.{u}": out[u] for u in {u for u, _ in g.delayed_edges}})
        return outs, nxt

    def param(self, b: _Builder, node: Node, field: str) -> str:
        """A parameter as float32, rounded from float64 as the executor does."""
        return b.const(f"{node.name}.{field}", node.param(field).astype(np.float32))

    def dt_over(self, b: _Builder, node: Node, field: str) -> str:
        """``dt / tau`` computed exactly as the executor does (torch, python float over float32
        tensor)."""
        import torch

        value = (self.dt / torch.as_tensor(node.param(field), dtype=torch.float32)).numpy()
        return b.const(f"{node.name}.dt_over_{field}", value)

    def emit(
        self, b: _Builder, node: Node, x: str, state: dict[str, str], nxt: dict[str, str]
    ) -> str:
        n, kind, p = node.nir_node, node.kind, lambda f: self.param(b, node, f)
        if kind == "Output":
            return b.op("Identity", [x])
        if kind in ("Affine", "Linear"):  # executor: (x @ W.T) + b
            y = b.op(
                "MatMul",
                [x, b.const(f"{node.name}.weight_t", node.param("weight").T.astype(np.float32))],
            )
            return b.op("Add", [y, p("bias")]) if kind == "Affine" else y
        if kind in ("Conv1d", "Conv2d"):
            ints = lambda a: [int(v) for v in np.atleast_1d(a)]
            return b.op(
                "Conv",
                [x, p("weight"), p("bias")],
                strides=ints(n.stride),
                pads=ints(n.padding) * 2,
                dilations=ints(n.dilation),
                group=int(n.groups),
            )
        if kind in ("SumPool2d", "AvgPool2d"):
            k, s, pad = (
                [int(v) for v in np.asarray(a).reshape(-1)]
                for a in (n.kernel_size, n.stride, n.padding)
            )
            y = b.op(
                "AveragePool", [x], kernel_shape=k, strides=s, pads=pad * 2, count_include_pad=1
            )
            return (
                b.op("Mul", [y, b.const(f"area{k[0] * k[1]}", float(k[0] * k[1]))])
                if kind == "SumPool2d"
                else y
            )
        if kind == "Flatten":
            return b.reshape(x, node.out_shape)
        if kind == "Scale":
            return b.op("Mul", [x, p("scale")])
        if kind == "Threshold":
            return self.cmp(b, x, p("threshold"))
        v = state[f"state.{node.name}.v"]
        if kind in ("IF", "I"):  # v += r*I per step
            v = b.op("Add", [v, b.op("Mul", [p("r"), x])])
        elif kind in ("LI", "LIF"):  # v += dt/tau * (v_leak - v + r*I)
            v = self.leak(b, v, self.dt_over(b, node, "tau"), p("v_leak"), b.op("Mul", [p("r"), x]))
        else:  # CubaLIF/CubaLI: i += dt/tau_syn * (w_in*I - i), then LIF on r*i
            i = state[f"state.{node.name}.i"]
            i = b.op(
                "Add",
                [
                    i,
                    b.op(
                        "Mul",
                        [
                            self.dt_over(b, node, "tau_syn"),
                            b.op("Sub", [b.op("Mul", [p("w_in"), x]), i]),
                        ],
                    ),
                ],
            )
            nxt[f"state.{node.name}.i"] = i
            v = self.leak(
                b, v, self.dt_over(b, node, "tau_mem"), p("v_leak"), b.op("Mul", [p("r"), i])
            )
        if kind in ("LI", "I", "CubaLI"):
            nxt[f"state.{node.name}.v"] = v
            return v
        z, v = self.spike(b, node, v, p("v_threshold"))
        if kind == "IF" and self.sem.if_min_v:  # sinabs' min_v_mem = -threshold
            v = b.op("Max", [v, b.op("Neg", [p("v_threshold")])])
        nxt[f"state.{node.name}.v"] = v
        return z

    @staticmethod
    def leak(b: _Builder, v: str, k: str, v_leak: str, drive: str) -> str:
        return b.op("Add", [v, b.op("Mul", [k, b.op("Add", [b.op("Sub", [v_leak, v]), drive])])])

    def cmp(self, b: _Builder, v: str, threshold: str) -> str:
        test = "GreaterOrEqual" if self.sem.threshold_ge else "Greater"
        return b.op("Cast", [b.op(test, [v, threshold])], to=TensorProto.FLOAT)

    def spike(self, b: _Builder, node: Node, v: str, theta: str) -> tuple[str, str]:
        """Spikes and the membrane after the reset (executor ``_Runner.spike``)."""
        if self.sem.multi_spike:  # (v > 0) * trunc(v / theta)
            q = b.op("Div", [v, theta])
            trunc = b.op("Mul", [b.op("Sign", [q]), b.op("Floor", [b.op("Abs", [q])])])
            z = b.op(
                "Mul",
                [
                    b.op(
                        "Cast",
                        [b.op("Greater", [v, b.const("zero.float32", 0.0)])],
                        to=TensorProto.FLOAT,
                    ),
                    trunc,
                ],
            )
        else:
            z = self.cmp(b, v, theta)
        rule = self.sem.reset or node.reset
        if rule == "subtract":
            return z, b.op("Sub", [v, b.op("Mul", [z, theta])])
        fired = b.op(
            "Cast", [b.op("Greater", [z, b.const("zero.float32", 0.0)])], to=TensorProto.FLOAT
        )
        kept = b.op("Mul", [v, b.op("Sub", [b.const("one.float32", 1.0), fired])])
        if rule == "zero":  # v * (1 - fired) (+ fired * 0)
            return z, kept
        v_reset = b.const(f"{node.name}.v_reset", node.v_reset.astype(np.float32))
        return z, b.op("Add", [kept, b.op("Mul", [fired, v_reset])])


_FLOAT_KINDS = (
    "Input",
    "Output",
    "Affine",
    "Linear",
    "Conv1d",
    "Conv2d",
    "SumPool2d",
    "AvgPool2d",
    "Flatten",
    "Scale",
    "Threshold",
    "IF",
    "I",
    "LI",
    "LIF",
    "CubaLIF",
    "CubaLI",
)


# ---------------------------------------------------------------- Speck integer programs


def speck_interface(program, graph_shapes: dict[str, tuple[int, ...]]) -> StepInterface:
    """Integer step model of a Speck program: int64 event counts in, int64 spikes and membranes
    out."""
    states = tuple(Port(f"state.{L.name}.v", "int64", graph_shapes[L.name]) for L in program.layers)
    outputs = tuple(Port(f"out.{L.name}", "int64", graph_shapes[L.name]) for L in program.layers)
    return StepInterface("integer", Port("x", "int64", tuple(program.input_shape)), states, outputs)


def speck_input_limit(program) -> int:
    """Largest input event count per pixel and step for which every convolution stays exact.

    The convolutions run in float32 (onnxruntime has no integer Conv beyond 8-bit inputs): exact
    while every partial sum stays below 2**24, i.e. while ``max_o sum|W[o]| * max(input) + |bias|``
    does. A layer receives at most ``STATE_MAX // threshold_high`` spikes per neuron and step from
    another layer (times the pooling area), so only the network input needs a limit. Raises
    NrfError if a layer can exceed 2**24 whatever the input."""
    from nrf_deploy.targets.speck.format import STATE_MAX

    by_name = {L.name: L for L in program.layers}
    limit = FLOAT32_EXACT - 1
    for L in program.layers:
        fan = float(np.abs(L.weight).reshape(L.weight.shape[0], -1).sum(axis=1).max(initial=0))
        room = FLOAT32_EXACT - 1 - float(np.abs(L.bias).max(initial=0))
        hidden = sum(
            STATE_MAX // by_name[s.name].threshold_high * s.pool**2
            for s in L.sources
            if s.name in by_name
        )
        direct = sum(s.pool**2 for s in L.sources if s.name not in by_name)
        if fan * hidden > room or (direct and fan * (hidden + direct) > room):
            raise NrfError(
                f"layer '{L.name}' can accumulate {fan * (hidden + direct):.0f} per step, beyond "
                "float32's exact integer range (2**24): its integer ONNX model would not be exact",
                f"layer '{L.name}'",
                "export the float model instead (omit --onnx-integer-from)",
            )
        if direct and fan > 0:
            limit = min(limit, int((room - fan * hidden) // (fan * direct)))
    return limit


def export_speck_integer(
    program, graph_shapes: dict[str, tuple[int, ...]], unroll: int | None = None
) -> onnx.ModelProto:
    """The integer reference of a Speck export (targets/speck/format.py) as an ONNX model, int64
    chip units.

    `graph_shapes`: each layer's shape in the source graph (its outputs and states use them)."""
    interface = speck_interface(program, graph_shapes)
    macs = sum(int(np.prod(L.weight.shape[1:])) * int(np.prod(L.out_shape)) for L in program.layers)
    meta = {
        "nrf_deploy.source_target": "speck",
        "nrf_deploy.max_input_count": str(speck_input_limit(program)),
        "nrf_deploy.dense_macs_per_step": str(macs),
    }
    return _assemble(
        interface, _SpeckStep(program, graph_shapes), unroll, "nrf_deploy_speck_integer_step", meta
    )


class _SpeckStep:
    """One Speck timestep per the format statement: conv of the pooled sources, saturate,
    MultiSpike, reset, lower bound. Convolutions in float32 (exact: see speck_input_limit),
    neurons in int64."""

    def __init__(self, program, graph_shapes: dict[str, tuple[int, ...]]):
        self.program, self.shapes = program, graph_shapes

    def __call__(self, b: _Builder, x: str, state: dict[str, str]):
        from nrf_deploy.targets.speck.format import STATE_MAX, STATE_MIN

        p = self.program
        frames = {
            p.input_name: b.reshape(b.op("Cast", [x], to=TensorProto.FLOAT), tuple(p.input_chw))
        }
        outs, nxt = {}, {}
        for L in p.layers:
            total = None
            for s in L.sources:
                src = frames[s.name]
                if s.pool > 1:
                    src = b.op(
                        "Mul",
                        [
                            b.op(
                                "AveragePool",
                                [src],
                                kernel_shape=[s.pool] * 2,
                                strides=[s.pool] * 2,
                            ),
                            b.const(f"area{s.pool**2}", float(s.pool**2)),
                        ],
                    )
                total = src if total is None else b.op("Add", [total, src])
            (sy, sx), (py, px) = tuple(L.stride), tuple(L.padding)
            drive = b.op(
                "Conv",
                [total, b.const(f"{L.name}.weight", L.weight), b.const(f"{L.name}.bias", L.bias)],
                strides=[int(sy), int(sx)],
                pads=[int(py), int(px), int(py), int(px)],
            )
            drive = b.op("Cast", [b.op("Round", [drive])], to=TensorProto.INT64)
            v = b.op("Add", [b.reshape(state[f"state.{L.name}.v"], L.out_shape), drive])
            v = b.op("Clip", [v, b.i64(STATE_MIN), b.i64(STATE_MAX)])  # 16-bit saturation
            theta = b.i64(L.threshold_high)
            z = b.op(
                "Where", [b.op("Greater", [v, b.i64(0)]), b.op("Div", [v, theta]), b.i64(0)]
            )  # int Div truncates
            if L.return_to_zero:
                v = b.op("Where", [b.op("Greater", [z, b.i64(0)]), b.i64(0), v])
            else:
                v = b.op("Sub", [v, b.op("Mul", [z, theta])])
            v = b.op("Max", [v, b.i64(L.threshold_low)])
            frames[L.name] = b.op("Cast", [z], to=TensorProto.FLOAT)
            outs[f"out.{L.name}"] = b.reshape(z, self.shapes[L.name])
            nxt[f"state.{L.name}.v"] = b.reshape(v, self.shapes[L.name])
        return outs, nxt
