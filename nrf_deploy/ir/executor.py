"""Float reference executor: any normalised graph in PyTorch, batched, step by step.

Discretisation (forward Euler with timestep ``dt`` in seconds; docs/semantics.md has the full
statement and which frameworks agree):

* LI:       ``v += dt/tau * (v_leak - v + r*I)``
* LIF:      as LI, then ``z = v > v_threshold`` and reset (``subtract``: ``v -= v_threshold``,
            nir 1.0.4's definition; ``zero``: ``v = 0``, norse/Lava), per ``metadata["reset"]``
* CubaLIF:  ``i += dt/tau_syn * (-i + w_in*I)``, then the LIF update driven by the new ``i``
* IF:       ``v += r*I`` (per step, independent of dt), threshold and reset as LIF
* I:        ``v += r*I``
* Threshold ``z = I > threshold``; Affine/Linear/Scale/Conv/pooling/Flatten are stateless.

:class:`Semantics` switches the two conventions on which frameworks differ: the threshold test
(``>`` NIR/norse/Loihi, ``>=`` SpiNNaker), sinabs' multi-spike output and its clamp of IF
membranes at ``-v_threshold``; ``Semantics.named("sinabs")`` reproduces ``sinabs.from_nir``.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from nrf_deploy.errors import NrfError
from nrf_deploy.ir.graph import DEFAULT_DT, Graph, Node
from nrf_deploy.ir.semantics import Semantics
from nrf_deploy.trace import Trace



def run_float(graph: Graph, x: np.ndarray | torch.Tensor, dt: float | None = None,
              record_states: bool = False, semantics: Semantics = Semantics(),
              dtype: torch.dtype = torch.float32) -> Trace:
    """Run `graph` on ``x [T, B, *input_shape]``; return every node's output per step.

    `dt` (seconds) defaults to ``graph.metadata["dt"]``, else :data:`DEFAULT_DT`. With
    `record_states` the trace also holds each stateful node's state after every step."""
    xt = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x).to(dtype)
    if xt.ndim != len(graph.input_shape) + 2 or tuple(xt.shape[2:]) != graph.input_shape:
        raise NrfError(f"input has shape {tuple(xt.shape)}, the graph expects "
                       f"[T, B, {', '.join(map(str, graph.input_shape))}]", "input array",
                       "reshape the input to [timesteps, batch, *input_shape]")
    step_dt = float(dt if dt is not None else graph.dt if graph.dt is not None else DEFAULT_DT)
    if step_dt <= 0:
        raise NrfError(f"dt must be positive, got {step_dt}", "--dt", "give the timestep in seconds")
    runner = _Runner(graph, step_dt, semantics, dtype, xt.shape[1])
    with torch.no_grad():
        steps = [runner.step(xt[t], record_states) for t in range(xt.shape[0])]
    outputs = {n: torch.stack([s[0][n] for s in steps]).numpy() for n in graph.schedule}
    states: dict[str, dict[str, np.ndarray]] = {}
    if record_states:
        for n in steps[0][1]:
            states[n] = {v: torch.stack([s[1][n][v] for s in steps]).numpy() for v in steps[0][1][n]}
    return Trace(outputs, states, graph.output_names)


class _Runner:
    """Holds parameters as tensors and the state of every stateful node between steps."""

    def __init__(self, graph: Graph, dt: float, semantics: Semantics, dtype: torch.dtype, batch: int):
        self.graph, self.dt, self.sem, self.dtype = graph, dt, semantics, dtype
        self.params = {n.name: {k: torch.as_tensor(v, dtype=dtype) for k, v in _tensor_fields(n).items()}
                       for n in graph.nodes.values()}
        self.state = {n.name: {v: torch.zeros((batch, *n.out_shape), dtype=dtype) for v in _STATE_VARS[n.kind]}
                      for n in graph.nodes.values() if n.kind in _STATE_VARS}
        self.previous = {n: torch.zeros((batch, *graph.nodes[n].out_shape), dtype=dtype) for n in graph.nodes}
        self.preds = {n: [(u, (u, n) in graph.delayed_edges) for u in graph.predecessors(n)] for n in graph.nodes}

    def step(self, x_t: torch.Tensor, record: bool):
        out: dict[str, torch.Tensor] = {}
        for name in self.graph.schedule:
            node = self.graph.nodes[name]
            if name == self.graph.input_name:
                out[name] = x_t
                continue
            inp = sum(self.previous[u] if delayed else out[u] for u, delayed in self.preds[name])
            out[name] = _OPS[node.kind](self, node, inp)
        self.previous = out
        states = {n: {k: v.clone() for k, v in s.items()} for n, s in self.state.items()} if record else {}
        return out, states

    def spike(self, node: Node, v: torch.Tensor, threshold: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.sem.multi_spike:
            z = (v > 0).to(self.dtype) * torch.div(v, threshold, rounding_mode="trunc")
        else:
            z = ((v >= threshold) if self.sem.threshold_ge else (v > threshold)).to(self.dtype)
        v = v - z * threshold if node.reset == "subtract" else v * (1 - z)
        return z, v


def _tensor_fields(node: Node) -> dict[str, np.ndarray]:
    n = node.nir_node
    names = {"Affine": ("weight", "bias"), "Linear": ("weight",), "Conv1d": ("weight", "bias"),
             "Conv2d": ("weight", "bias"), "Scale": ("scale",), "Threshold": ("threshold",),
             "IF": ("r", "v_threshold"), "I": ("r",), "LI": ("tau", "r", "v_leak"),
             "LIF": ("tau", "r", "v_leak", "v_threshold"),
             "CubaLIF": ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "w_in")}.get(node.kind, ())
    return {k: np.asarray(getattr(n, k), dtype=np.float64) for k in names}


_STATE_VARS = {"IF": ("v",), "I": ("v",), "LI": ("v",), "LIF": ("v",), "CubaLIF": ("i", "v")}


def _affine(r: _Runner, node: Node, x: torch.Tensor) -> torch.Tensor:
    p = r.params[node.name]
    y = x @ p["weight"].T
    return y + p["bias"] if "bias" in p else y


def _conv(r: _Runner, node: Node, x: torch.Tensor) -> torch.Tensor:
    n, p = node.nir_node, r.params[node.name]
    conv = F.conv2d if node.kind == "Conv2d" else F.conv1d
    return conv(x, p["weight"], p["bias"], stride=n.stride, padding=n.padding, dilation=n.dilation,
                groups=n.groups)


def _pool(r: _Runner, node: Node, x: torch.Tensor) -> torch.Tensor:
    n = node.nir_node
    k, s, pad = (tuple(int(i) for i in a) for a in (n.kernel_size, n.stride, n.padding))
    y = F.avg_pool2d(x, k, s, pad, count_include_pad=True)
    return y * float(k[0] * k[1]) if node.kind == "SumPool2d" else y


def _flatten(r: _Runner, node: Node, x: torch.Tensor) -> torch.Tensor:
    return x.reshape(x.shape[0], *node.out_shape)


def _li(r: _Runner, node: Node, x: torch.Tensor) -> torch.Tensor:
    p, s = r.params[node.name], r.state[node.name]
    s["v"] = s["v"] + r.dt / p["tau"] * (p["v_leak"] - s["v"] + p["r"] * x)
    return s["v"]


def _lif(r: _Runner, node: Node, x: torch.Tensor) -> torch.Tensor:
    p, s = r.params[node.name], r.state[node.name]
    v = s["v"] + r.dt / p["tau"] * (p["v_leak"] - s["v"] + p["r"] * x)
    z, s["v"] = r.spike(node, v, p["v_threshold"])
    return z


def _cubalif(r: _Runner, node: Node, x: torch.Tensor) -> torch.Tensor:
    p, s = r.params[node.name], r.state[node.name]
    s["i"] = s["i"] + r.dt / p["tau_syn"] * (p["w_in"] * x - s["i"])
    v = s["v"] + r.dt / p["tau_mem"] * (p["v_leak"] - s["v"] + p["r"] * s["i"])
    z, s["v"] = r.spike(node, v, p["v_threshold"])
    return z


def _if(r: _Runner, node: Node, x: torch.Tensor) -> torch.Tensor:
    p, s = r.params[node.name], r.state[node.name]
    z, v = r.spike(node, s["v"] + p["r"] * x, p["v_threshold"])
    s["v"] = torch.maximum(v, -p["v_threshold"]) if r.sem.if_min_v else v
    return z


def _integrator(r: _Runner, node: Node, x: torch.Tensor) -> torch.Tensor:
    s = r.state[node.name]
    s["v"] = s["v"] + r.params[node.name]["r"] * x
    return s["v"]


def _threshold(r: _Runner, node: Node, x: torch.Tensor) -> torch.Tensor:
    th = r.params[node.name]["threshold"]
    return ((x >= th) if r.sem.threshold_ge else (x > th)).to(r.dtype)


_OPS: dict[str, Callable[[_Runner, Node, torch.Tensor], torch.Tensor]] = {
    "Output": lambda r, node, x: x,
    "Affine": _affine, "Linear": _affine, "Conv1d": _conv, "Conv2d": _conv,
    "SumPool2d": _pool, "AvgPool2d": _pool, "Flatten": _flatten,
    "Scale": lambda r, node, x: x * r.params[node.name]["scale"],
    "LI": _li, "LIF": _lif, "CubaLIF": _cubalif, "IF": _if, "I": _integrator, "Threshold": _threshold,
}
