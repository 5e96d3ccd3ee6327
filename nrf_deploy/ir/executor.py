"""Float reference executor: any normalised graph in PyTorch, batched, step by step.

Discretisation (forward Euler with timestep ``dt`` in seconds; docs/semantics.md has the full
statement and which frameworks agree):

* LI:       ``v += dt/tau * (v_leak - v + r*I)``
* LIF:      as LI, then ``z = v > v_threshold`` and reset per the node's record
            (``subtract``: ``v -= v_threshold``, nir 1.0.4's definition; ``zero``: ``v = 0``,
            norse/Lava; ``value``: ``v = v_reset``, nir >= 1.0.6)
* CubaLIF:  ``i += dt/tau_syn * (-i + w_in*I)``, then the LIF update driven by the new ``i``
* CubaLI:   the CubaLIF update without threshold and reset (output ``v``; nir 1.0.5)
* IF:       ``v += r*I`` (per step, independent of dt), threshold and reset as LIF
* I:        ``v += r*I``
* Threshold ``z = I > threshold``; Affine/Linear/Scale/Conv/pooling/Flatten are stateless.

:class:`Semantics` switches the conventions on which frameworks differ (threshold test, multi-spike
output, IF clamp, reset mechanism and its timing, CubaLIF update order, dt);
``Semantics.named(w)`` for w in sinabs, snntorch, rockpool, norse reproduces that writer's own
simulation (docs/interop.md).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from nrf_deploy.errors import NrfError
from nrf_deploy.ir.graph import DEFAULT_DT, Graph, Node
from nrf_deploy.ir.semantics import PRESETS, Semantics
from nrf_deploy.ir.spec import SPECS, TIME_CONSTANTS, resolve
from nrf_deploy.trace import Trace

__all__ = ["DEFAULT_DT", "PRESETS", "Semantics", "float_update", "run_float"]

Update = Callable[["_Runner", Node, torch.Tensor], torch.Tensor]
"""A primitive's float ``update`` (spec.py): runner, node, summed input -> output this step."""


def float_update(kind: str) -> Update:
    """The float update of node kind `kind`, as its spec names it."""
    return resolve(SPECS[kind].update)


def run_float(
    graph: Graph,
    x: np.ndarray | torch.Tensor,
    dt: float | None = None,
    record_states: bool = False,
    semantics: Semantics = PRESETS["nir"],
    dtype: torch.dtype = torch.float32,
) -> Trace:
    """Run `graph` on ``x [T, B, *input_shape]``; return every node's output per step.

    `dt` (seconds) defaults to ``graph.metadata["dt"]``, else :data:`DEFAULT_DT`. With
    `record_states` the trace also holds each stateful node's state after every step."""
    xt = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x).to(dtype)
    if xt.ndim != len(graph.input_shape) + 2 or tuple(xt.shape[2:]) != graph.input_shape:
        raise NrfError(
            f"input has shape {tuple(xt.shape)}, the graph expects "
            f"[T, B, {', '.join(map(str, graph.input_shape))}]",
            "input array",
            "reshape the input to [timesteps, batch, *input_shape]",
        )
    step_dt = float(
        dt
        if dt is not None
        else semantics.dt
        if semantics.dt is not None
        else graph.dt
        if graph.dt is not None
        else DEFAULT_DT
    )
    if step_dt <= 0:
        raise NrfError(
            f"dt must be positive, got {step_dt}", "--dt", "give the timestep in seconds"
        )
    runner = _Runner(graph, step_dt, semantics, dtype, xt.shape[1])
    with torch.no_grad():
        steps = [runner.step(xt[t], record_states) for t in range(xt.shape[0])]
    outputs = {n: torch.stack([s[0][n] for s in steps]).cpu().numpy() for n in graph.schedule}
    states: dict[str, dict[str, np.ndarray]] = {}
    if record_states:
        for n in steps[0][1]:
            states[n] = {
                v: torch.stack([s[1][n][v] for s in steps]).cpu().numpy() for v in steps[0][1][n]
            }
    return Trace(outputs, states, graph.output_names)


class _Runner:
    """Holds parameters as tensors and the state of every stateful node between steps."""

    def __init__(
        self, graph: Graph, dt: float, semantics: Semantics, dtype: torch.dtype, batch: int
    ):
        self.graph, self.dt, self.sem, self.dtype = graph, dt, semantics, dtype
        self.params = {
            n.name: {k: torch.as_tensor(v, dtype=dtype) for k, v in _tensor_fields(n).items()}
            for n in graph.nodes.values()
        }
        self.state = {
            n.name: {
                v: torch.zeros((batch, *n.out_shape), dtype=dtype) for v in SPECS[n.kind].states
            }
            for n in graph.nodes.values()
            if SPECS[n.kind].stateful
        }
        self.previous = {
            n: torch.zeros((batch, *graph.nodes[n].out_shape), dtype=dtype) for n in graph.nodes
        }
        self.preds = {
            n: [(u, (u, n) in graph.delayed_edges) for u in graph.predecessors(n)]
            for n in graph.nodes
        }
        self.updates = {
            n: float_update(node.kind) for n, node in graph.nodes.items() if n != graph.input_name
        }
        self.pending: dict[str, torch.Tensor] = {}  # late_reset: last step's z*threshold per node
        if semantics.tau_times_dt:
            for p in self.params.values():
                p.update({k: v / dt for k, v in p.items() if k in TIME_CONSTANTS})
        if semantics.bias_at_start:
            for u, _ in graph.delayed_edges:
                if graph.nodes[u].kind == "Affine":
                    self.previous[u] = self.previous[u] + self.params[u]["bias"]

    def step(self, x_t: torch.Tensor, record: bool):
        out: dict[str, torch.Tensor] = {}
        for name in self.graph.schedule:
            node = self.graph.nodes[name]
            if name == self.graph.input_name:
                out[name] = x_t
                continue
            inp = sum(self.previous[u] if delayed else out[u] for u, delayed in self.preds[name])
            out[name] = self.updates[name](self, node, inp)
        self.previous = out
        states = (
            {n: {k: v.clone() for k, v in s.items()} for n, s in self.state.items()}
            if record
            else {}
        )
        return out, states

    def spike(
        self, node: Node, v: torch.Tensor, threshold: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Threshold test and reset of membrane `v` (already leaked and driven this step)."""
        if self.sem.late_reset:
            v = v - self.pending.get(node.name, 0.0)
        if self.sem.multi_spike:
            z = (v > 0).to(self.dtype) * torch.div(v, threshold, rounding_mode="trunc")
        else:
            z = ((v >= threshold) if self.sem.threshold_ge else (v > threshold)).to(self.dtype)
        rule = self.sem.reset or node.reset
        if self.sem.late_reset and rule == "subtract":
            self.pending[node.name] = z * threshold
            return z, v
        fired = (z > 0).to(self.dtype)
        if rule == "subtract":
            return z, v - z * threshold
        target = self.params[node.name]["v_reset"] if rule == "value" else 0.0
        return z, v * (1 - fired) + fired * target


def _tensor_fields(node: Node) -> dict[str, np.ndarray]:
    n = node.nir_node
    spec = SPECS[node.kind]
    fields = {k: np.asarray(getattr(n, k), dtype=np.float64) for k in spec.params}
    if spec.resets:
        fields["v_reset"] = node.v_reset
    return fields


def dense(r: _Runner, node: Node, x: torch.Tensor) -> torch.Tensor:
    p = r.params[node.name]
    y = x @ p["weight"].T
    return y + p["bias"] if "bias" in p else y


def conv(r: _Runner, node: Node, x: torch.Tensor) -> torch.Tensor:
    n, p = node.nir_node, r.params[node.name]
    conv = F.conv2d if node.kind == "Conv2d" else F.conv1d
    return conv(
        x,
        p["weight"],
        p["bias"],
        stride=n.stride,
        padding=n.padding,
        dilation=n.dilation,
        groups=n.groups,
    )


def pool(r: _Runner, node: Node, x: torch.Tensor) -> torch.Tensor:
    n = node.nir_node
    k, s, pad = (tuple(int(i) for i in a) for a in (n.kernel_size, n.stride, n.padding))
    y = F.avg_pool2d(x, k, s, pad, count_include_pad=True)
    return y * float(k[0] * k[1]) if node.kind == "SumPool2d" else y


def flatten(r: _Runner, node: Node, x: torch.Tensor) -> torch.Tensor:
    return x.reshape(x.shape[0], *node.out_shape)


def li(r: _Runner, node: Node, x: torch.Tensor) -> torch.Tensor:
    p, s = r.params[node.name], r.state[node.name]
    s["v"] = s["v"] + r.dt / p["tau"] * (p["v_leak"] - s["v"] + p["r"] * x)
    return s["v"]


def lif(r: _Runner, node: Node, x: torch.Tensor) -> torch.Tensor:
    p, s = r.params[node.name], r.state[node.name]
    v = s["v"] + r.dt / p["tau"] * (p["v_leak"] - s["v"] + p["r"] * x)
    z, s["v"] = r.spike(node, v, p["v_threshold"])
    return z


def _cuba_current(r: _Runner, node: Node, x: torch.Tensor) -> torch.Tensor:
    """Update the synaptic current and membrane of a CubaLIF/CubaLI per ``Semantics.cuba``;
    returns the new (not yet reset) membrane."""
    p, s = r.params[node.name], r.state[node.name]
    if r.sem.cuba == "rockpool":
        s["i"] = torch.exp(-r.dt / p["tau_syn"]) * (s["i"] + p["w_in"] * x)
        return torch.exp(-r.dt / p["tau_mem"]) * s["v"] + s["i"] + p["v_leak"]
    if r.sem.cuba == "norse":
        i = s["i"] + p["w_in"] * x
        s["i"] = i - r.dt / p["tau_syn"] * i
        return s["v"] + r.dt / p["tau_mem"] * (p["v_leak"] - s["v"] + p["r"] * i)
    s["i"] = s["i"] + r.dt / p["tau_syn"] * (p["w_in"] * x - s["i"])
    return s["v"] + r.dt / p["tau_mem"] * (p["v_leak"] - s["v"] + p["r"] * s["i"])


def cubalif(r: _Runner, node: Node, x: torch.Tensor) -> torch.Tensor:
    v = _cuba_current(r, node, x)
    z, r.state[node.name]["v"] = r.spike(node, v, r.params[node.name]["v_threshold"])
    return z


def cubali(r: _Runner, node: Node, x: torch.Tensor) -> torch.Tensor:
    r.state[node.name]["v"] = _cuba_current(r, node, x)
    return r.state[node.name]["v"]


def integrate_and_fire(r: _Runner, node: Node, x: torch.Tensor) -> torch.Tensor:
    p, s = r.params[node.name], r.state[node.name]
    z, v = r.spike(node, s["v"] + p["r"] * x, p["v_threshold"])
    s["v"] = torch.maximum(v, -p["v_threshold"]) if r.sem.if_min_v else v
    return z


def integrator(r: _Runner, node: Node, x: torch.Tensor) -> torch.Tensor:
    s = r.state[node.name]
    s["v"] = s["v"] + r.params[node.name]["r"] * x
    return s["v"]


def threshold(r: _Runner, node: Node, x: torch.Tensor) -> torch.Tensor:
    th = r.params[node.name]["threshold"]
    return ((x >= th) if r.sem.threshold_ge else (x > th)).to(r.dtype)


def identity(r: _Runner, node: Node, x: torch.Tensor) -> torch.Tensor:
    return x


def scale(r: _Runner, node: Node, x: torch.Tensor) -> torch.Tensor:
    return x * r.params[node.name]["scale"]
