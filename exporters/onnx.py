"""A NIR graph as an ONNX model of one timestep (opset 17), or of T unrolled timesteps.

Step model interface (float32):

* input ``x``: the event frame ``[B, *input_shape]``
* for every stateful node ``n``: input ``state.n.v`` (and ``state.n.i`` for CubaLIF), ``[B, *shape]``
* for every source ``u`` of a recurrent (delayed) edge: input ``prev.u``, its output of the last step
* outputs: ``out.n`` for every Output node and every neuron node (spikes or membrane), then
  ``next.state.n.v`` / ``next.state.n.i`` and ``next.prev.u`` — feed them back as the next inputs.

The unrolled model takes ``x`` as ``[T, B, *input_shape]`` and initial zero states, and returns
each ``out.n`` as ``[T, B, *shape]``. Operations follow nrf_deploy.ir.executor in the same order, so
values agree to float32 rounding and spikes exactly (docs/targets/onnx.md).
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from nrf_deploy.errors import NrfError
from nrf_deploy.ir.graph import Graph, Node

OPSET = 17
STATE_VARS = {"IF": ("v",), "I": ("v",), "LI": ("v",), "LIF": ("v",), "CubaLIF": ("i", "v")}


class _Builder:
    def __init__(self, graph: Graph, dt: float):
        self.graph, self.dt = graph, np.float32(dt)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: dict[str, onnx.TensorProto] = {}
        self.count = 0

    def const(self, name: str, value: np.ndarray) -> str:
        if name not in self.inits:
            self.inits[name] = numpy_helper.from_array(np.asarray(value, dtype=np.float32), name)
        return name

    def op(self, kind: str, inputs: list[str], **attrs) -> str:
        self.count += 1
        out = f"t{self.count}"
        self.nodes.append(helper.make_node(kind, inputs, [out], **attrs))
        return out

    def step(self, x: str, states: dict[str, str], prev: dict[str, str], suffix: str = ""):
        """Emit one timestep; return (outputs per node, next states, next prev)."""
        g = self.graph
        out: dict[str, str] = {}
        new_states: dict[str, str] = {}
        for name in g.schedule:
            node = g.nodes[name]
            if name == g.input_name:
                out[name] = x
                continue
            terms = [prev[u] if (u, name) in g.delayed_edges else out[u] for u in g.predecessors(name)]
            inp = terms[0]
            for t in terms[1:]:
                inp = self.op("Add", [inp, t])
            out[name] = self.emit(node, inp, states, new_states)
        return out, new_states, {u: out[u] for u in prev}

    def emit(self, node: Node, x: str, states: dict, new_states: dict) -> str:
        n, name, kind = node.nir_node, node.name, node.kind
        p = lambda field: self.const(f"{name}.{field}", np.asarray(getattr(n, field)))  # noqa: E731
        if kind == "Output":
            return self.op("Identity", [x])
        if kind in ("Affine", "Linear"):
            args = [x, p("weight")] + ([p("bias")] if kind == "Affine" else [])
            return self.op("Gemm", args, transB=1)
        if kind in ("Conv1d", "Conv2d"):
            pads = list(np.atleast_1d(n.padding)) * 2
            return self.op("Conv", [x, p("weight"), p("bias")], strides=list(np.atleast_1d(n.stride)),
                           pads=[int(v) for v in pads], dilations=[int(v) for v in np.atleast_1d(n.dilation)],
                           group=int(n.groups))
        if kind in ("SumPool2d", "AvgPool2d"):
            k, s, pad = ([int(v) for v in np.asarray(a).reshape(-1)] for a in (n.kernel_size, n.stride, n.padding))
            y = self.op("AveragePool", [x], kernel_shape=k, strides=s, pads=pad * 2, count_include_pad=1)
            return self.op("Mul", [y, self.const(f"{name}.area", np.float32(k[0] * k[1]))]) if kind == "SumPool2d" else y
        if kind == "Flatten":
            return self.op("Reshape", [x, self._shape(name, node.out_shape)])
        if kind == "Scale":
            return self.op("Mul", [x, p("scale")])
        if kind == "Threshold":
            return self.op("Cast", [self.op("Greater", [x, p("threshold")])], to=TensorProto.FLOAT)
        v = states[f"{name}.v"]
        if kind in ("IF", "I"):
            v = self.op("Add", [v, self.op("Mul", [p("r"), x])])
        elif kind in ("LI", "LIF"):
            k = self.const(f"{name}.dt_over_tau", self.dt / np.asarray(n.tau, np.float32))
            v = self._leak(v, k, p("v_leak"), self.op("Mul", [p("r"), x]))
        else:  # CubaLIF: current first, the membrane sees the new current
            i = states[f"{name}.i"]
            ks = self.const(f"{name}.dt_over_tau_syn", self.dt / np.asarray(n.tau_syn, np.float32))
            km = self.const(f"{name}.dt_over_tau_mem", self.dt / np.asarray(n.tau_mem, np.float32))
            i = self.op("Add", [i, self.op("Mul", [ks, self.op("Sub", [self.op("Mul", [p("w_in"), x]), i])])])
            new_states[f"{name}.i"] = i
            v = self._leak(v, km, p("v_leak"), self.op("Mul", [p("r"), i]))
        if kind in ("LI", "I"):
            new_states[f"{name}.v"] = v
            return v
        theta = p("v_threshold")
        z = self.op("Cast", [self.op("Greater", [v, theta])], to=TensorProto.FLOAT)
        if node.reset == "zero":
            v = self.op("Mul", [v, self.op("Sub", [self.const("one", np.float32(1.0)), z])])
        else:
            v = self.op("Sub", [v, self.op("Mul", [z, theta])])
        new_states[f"{name}.v"] = v
        return z

    def _leak(self, v: str, k: str, v_leak: str, drive: str) -> str:
        return self.op("Add", [v, self.op("Mul", [k, self.op("Add", [self.op("Sub", [v_leak, v]), drive])])])

    def _index(self, t: int) -> str:
        key = f"index{t}"
        if key not in self.inits:
            self.inits[key] = numpy_helper.from_array(np.array(t, dtype=np.int64), key)
        return key


    def _axes0(self) -> str:
        if "axes0" not in self.inits:
            self.inits["axes0"] = numpy_helper.from_array(np.array([0], dtype=np.int64), "axes0")
        return "axes0"


    def _batch_shape(self, x: str, shape: tuple[int, ...]) -> str:
        """[B, *shape] as a runtime shape tensor taken from x's batch dimension."""
        full = self.op("Shape", [x])
        batch = self.op("Slice", [full, self._const_i64("s1", [1]), self._const_i64("s2", [2])])
        return self.op("Concat", [batch, self._const_i64(f"shape{'x'.join(map(str, shape))}", list(shape))], axis=0)


    def _const_i64(self, name: str, values: list[int]) -> str:
        if name not in self.inits:
            self.inits[name] = numpy_helper.from_array(np.array(values, dtype=np.int64), name)
        return name

    def _shape(self, name: str, shape: tuple[int, ...]) -> str:
        key = f"{name}.shape"
        if key not in self.inits:
            self.inits[key] = numpy_helper.from_array(np.array([-1, *shape], dtype=np.int64), key)
        return key


def state_layout(graph: Graph) -> list[tuple[str, tuple[int, ...]]]:
    """(name, shape without batch) of every state input, in model input order."""
    states = [(f"state.{n}.{var}", graph.nodes[n].out_shape) for n in graph.schedule
              if graph.nodes[n].kind in STATE_VARS for var in STATE_VARS[graph.nodes[n].kind]]
    prev = sorted({u for u, _ in graph.delayed_edges})
    return states + [(f"prev.{u}", graph.nodes[u].out_shape) for u in prev]


def reported_nodes(graph: Graph) -> list[str]:
    """Nodes whose output the model returns: neurons and Output nodes."""
    return [n for n in graph.schedule if graph.nodes[n].kind in STATE_VARS or graph.nodes[n].kind in ("Output", "Threshold")]


def export_onnx(graph: Graph, dt: float, unroll: int | None = None) -> onnx.ModelProto:
    """Step model (``unroll=None``) or a model of `unroll` timesteps; ``onnx.checker`` clean."""
    b = _Builder(graph, dt)
    batch = "B"
    vi = lambda name, shape, lead=(): helper.make_tensor_value_info(name, TensorProto.FLOAT, [*lead, batch, *shape])  # noqa: E731
    layout = state_layout(graph)
    if unroll is None:
        states = {k[len("state."):]: k for k, _ in layout if k.startswith("state.")}
        prev = {k[len("prev."):]: k for k, _ in layout if k.startswith("prev.")}
        out, new_states, new_prev = b.step("x", states, prev)
        inputs = [vi("x", graph.input_shape)] + [vi(k, s) for k, s in layout]
        outputs = []
        for n in reported_nodes(graph):
            b.nodes.append(helper.make_node("Identity", [out[n]], [f"out.{n}"]))
            outputs.append(vi(f"out.{n}", graph.nodes[n].out_shape))
        for k, s in layout:
            src = new_states[k[len("state."):]] if k.startswith("state.") else new_prev[k[len("prev."):]]
            b.nodes.append(helper.make_node("Identity", [src], [f"next.{k}"]))
            outputs.append(vi(f"next.{k}", s))
    else:
        if unroll < 1:
            raise NrfError("--onnx-unroll must be at least 1", "--onnx-unroll", "e.g. --onnx-unroll 20")
        states, prev = {}, {}
        for k, s in layout:
            z = b.op("Expand", [b.const(f"{k}.zero", np.zeros(s, np.float32)), b._batch_shape("x", s)])
            (states if k.startswith("state.") else prev)[k.split(".", 1)[1]] = z
        collected = {n: [] for n in reported_nodes(graph)}
        for t in range(unroll):
            x_t = b.op("Gather", ["x", b._index(t)], axis=0)
            out, states, prev = b.step(x_t, states, prev)
            for n in collected:
                collected[n].append(b.op("Unsqueeze", [out[n], b._axes0()]))
        inputs = [vi("x", graph.input_shape, (unroll,))]
        outputs = []
        for n, parts in collected.items():
            b.nodes.append(helper.make_node("Concat", parts, [f"out.{n}"], axis=0))
            outputs.append(vi(f"out.{n}", graph.nodes[n].out_shape, (unroll,)))
    model = helper.make_model(helper.make_graph(b.nodes, "nrf_deploy_step", inputs, outputs, list(b.inits.values())),
                              opset_imports=[helper.make_opsetid("", OPSET)], producer_name="nrf-deploy")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model
