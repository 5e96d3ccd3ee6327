"""Float NIR graph -> rockpool's Xylo specification (:class:`XyloProgram`), refusing what does
not fit.

The chip's step (format.py) for a hidden/read-out neuron, with ``α = 2**-dash``:

    I_t = (1 − α_s)(I_{t−1} + Σ W x_t)          (weights added first, then the bit-shift decay)
    V_t = (1 − α_m) V_{t−1} + I_t + B           spike while V_t >= Θ, V_t −= Θ

is matched to the float executor's forward-Euler CubaLIF (docs/semantics.md; dt in seconds)
``i ← (1 − dt/τ_s) i + (dt/τ_s) w_in u``, ``v ← (1 − dt/τ_m) v + (dt/τ_m)(v_leak + r i)`` with one
scale λ per population (``V ≈ λ v``) so that the *steady state* is exact for the chip's decays:

==========  =====================================  =========================================
kind        dash_mem / dash_syn                    chip weight per unit of projection (× λ)
==========  =====================================  =========================================
CubaLIF     round(log2(τ_m/dt)), round(log2(τ_s/dt))  α_m r w_in α_s/(1 − α_s)
LIF, LI     round(log2(τ/dt)), 1                   α_m r          (input spread over 2 steps)
IF, I       15 (smallest leak: 1 unit/step), 1     r
==========  =====================================  =========================================

(rockpool's rule ``dash = log2(τ/dt)``, rounded, clipped to 0..15; ``dash_syn >= 1`` because
``dash_syn = 0`` clears the current before it reaches the membrane.) ``B = λ α_m v_leak`` plus each
projection bias at its steady state; ``Θ = floor(λ θ) + 1`` (the chip fires on ``>=``, the float
model on ``>``). λ puts thresholds near 2**12 (8x headroom in the 16-bit state), read-outs'
steady-state drive below 2**14; each layer (input, recurrent, output) gets the smallest weight
left shift for which its largest weight fits int8, and λ is lowered where even shift 8 is not
enough. Losses are reported per population (weight error, decay errors, λ, dashes).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from nrf_deploy.targets.xylo.format import (
    DASH_MAX,
    MAX_WEIGHT_SHIFT,
    STATE_MAX,
    STATE_MIN,
    WEIGHT_MAX,
    Group,
    XyloProgram,
)
from nrf_deploy.targets.xylo.mapper import READOUT, Plan, plan

from nrf_deploy.ir.graph import Graph, Node
from nrf_deploy.lowering import Lowered, lower
from nrf_deploy.quant import canonical, check_weights_survive, relative_error, row_sums

THRESHOLD_TARGET = 2.0**12
READOUT_LIMIT = 2.0**14
LEAKLESS = ("IF", "I")
LAYERS = ("in", "rec", "out")


def quantise(graph: Graph, dt: float) -> tuple[XyloProgram, dict, list[str], list[str]]:
    """Quantise `graph` for timestep `dt` (seconds). Returns the program, the per-population
    report, every problem (empty if it fits) and the approximations it makes."""
    lowered = lower(graph)
    placed = plan(lowered)
    if placed.problems:
        return _empty(graph, dt), {}, placed.problems, []
    params = {g.name: _neuron_params(graph.nodes[g.name], dt) for g in placed.groups}
    gains = {g.name: _projections(lowered, g, params[g.name], placed) for g in placed.groups}
    problems: list[str] = []
    for g in placed.groups:
        theta = params[g.name]["theta"]
        if not g.readout and np.any(theta < 0):
            problems.append(
                f"'{g.name}' has a negative threshold ({theta.min():g}): Xylo thresholds are "
                "positive — shift v_leak/bias instead"
            )
    caps = {g.name: _lambda_cap(g, params[g.name], gains[g.name]) for g in placed.groups}
    shifts = _layer_shifts(placed, gains, caps)
    for g in placed.groups:
        g.scale = _lambda(g, gains[g.name], caps[g.name], shifts)
    program = _assemble(graph, dt, placed, params, gains, shifts, problems)
    report = {
        g.name: _report(g, params[g.name], gains[g.name], program, shifts) for g in placed.groups
    }
    return program, report, problems, _approximations(graph, placed)


def _neuron_params(node: Node, dt: float) -> dict[str, np.ndarray]:
    """Per-neuron float parameters and chip dashes of one population (flattened)."""
    n = int(np.prod(node.out_shape))

    def get(name: str, default: float) -> np.ndarray:
        return (
            node.param(name).reshape(-1) if hasattr(node.nir_node, name) else np.full(n, default)
        ) * np.ones(n)

    kind = node.kind
    tau_m = get("tau_mem" if kind == "CubaLIF" else "tau", np.inf)
    tau_s = get("tau_syn", 0.0) if kind == "CubaLIF" else np.zeros(n)
    dash_mem = np.full(n, DASH_MAX) if kind in LEAKLESS else _dash(tau_m, dt, 0)
    dash_syn = _dash(tau_s, dt, 1) if kind == "CubaLIF" else np.ones(n, np.int64)
    alpha_m, alpha_s = 2.0**-dash_mem, 2.0**-dash_syn
    drive = np.ones(n) if kind in LEAKLESS else alpha_m  # membrane gain per step
    w_in = get("w_in", 1.0)
    syn_gain = alpha_s / (1 - alpha_s) if kind == "CubaLIF" else np.ones(n)
    return {
        "tau_m": tau_m,
        "tau_s": tau_s,
        "dash_mem": dash_mem,
        "dash_syn": dash_syn,
        "gain": drive * get("r", 1.0) * w_in * syn_gain,
        "dc": drive * get("r", 1.0) * w_in,
        "leak": drive * get("v_leak", 0.0) if kind not in LEAKLESS else np.zeros(n),
        "theta": get("v_threshold", np.inf) if kind not in READOUT else np.full(n, np.inf),
        "alpha_m": alpha_m,
    }


def _dash(tau: np.ndarray, dt: float, lowest: int) -> np.ndarray:
    """rockpool's ``log2(τ/dt)``, rounded and clipped to the 4-bit range (``lowest`` .. 15)."""
    with np.errstate(divide="ignore"):
        exact = np.log2(np.maximum(tau, 1e-300) / dt)
    return np.clip(
        np.round(np.nan_to_num(exact, posinf=DASH_MAX, neginf=0)), lowest, DASH_MAX
    ).astype(np.int64)


def _layer_of(lowered: Lowered, proj, group: Group) -> str:
    if lowered.graph.nodes[proj.source].kind == "Input":
        return "in"
    return "rec" if group.layer == "hidden" else "out"


def _projections(lowered: Lowered, group: Group, p: dict, placed: Plan) -> dict:
    """Incoming projections as float chip weights per unit λ (``gain · matrix``), by layer, and
    the constant drive per unit λ (leak + projection biases at steady state)."""
    out: dict = {"parts": [], "bias": p["leak"].copy()}
    for proj in lowered.into(group.name):
        layer = _layer_of(lowered, proj, group)
        source = None if layer == "in" else placed.group(proj.source)
        weights = canonical(sp.diags(p["gain"]) @ proj.matrix.tocsr())
        out["parts"].append((layer, source, weights, proj))
        out["bias"] = out["bias"] + p["dc"] * proj.bias.reshape(-1)
    return out


def _max_weight(gain: dict, layer: str) -> float:
    values = [abs(w).max() for L, _, w, _ in gain["parts"] if L == layer and w.nnz]
    return float(max(values, default=0.0))


def _lambda_cap(group: Group, p: dict, gain: dict) -> float:
    """Largest λ the state allows: thresholds near 2**12, or a read-out's worst steady state
    (every source firing, plus the bias) below 2**14."""
    if not group.readout:
        theta = float(np.max(p["theta"])) if p["theta"].size else 0.0
        return THRESHOLD_TARGET / theta if theta > 0 else THRESHOLD_TARGET
    drive = np.abs(gain["bias"]).copy()
    for _, _, w, _ in gain["parts"]:
        drive += row_sums(abs(w))
    worst = float(np.max(drive / p["alpha_m"])) if drive.size else 0.0
    return READOUT_LIMIT / worst if worst > 0 else 1.0


def _layer_shifts(placed: Plan, gains: dict, caps: dict) -> dict[str, int]:
    """Per layer, the smallest left shift for which every target's largest weight fits int8."""
    shifts = {}
    for layer in LAYERS:
        need = 0.0
        for g in placed.groups:
            need = max(need, caps[g.name] * _max_weight(gains[g.name], layer) / WEIGHT_MAX)
        shifts[layer] = int(
            min(max(np.ceil(np.log2(need)) if need > 0 else 0, 0), MAX_WEIGHT_SHIFT)
        )
    return shifts


def _lambda(group: Group, gain: dict, cap: float, shifts: dict[str, int]) -> float:
    lam = cap
    for layer in LAYERS:
        w = _max_weight(gain, layer)
        if w > 0:
            lam = min(lam, WEIGHT_MAX * 2.0 ** shifts[layer] / w)
    return float(lam)


def _assemble(
    graph: Graph,
    dt: float,
    placed: Plan,
    params: dict,
    gains: dict,
    shifts: dict,
    problems: list[str],
) -> XyloProgram:
    hidden = [g for g in placed.groups if g.layer == "hidden"]
    outputs = [g for g in placed.groups if g.layer == "output"]
    n_in, n_hid = int(np.prod(graph.input_shape)), sum(g.size for g in hidden)
    n_out = sum(g.size for g in outputs)
    prog = _empty(graph, dt, n_in, n_hid, n_out)
    prog.weight_shift_in, prog.weight_shift_rec, prog.weight_shift_out = (shifts[k] for k in LAYERS)
    prog.groups = placed.groups
    for g in placed.groups:
        p, lam, sl = params[g.name], g.scale, slice(g.first, g.stop)
        suffix = "" if g.layer == "hidden" else "_out"
        getattr(prog, "dash_mem" + suffix)[sl] = p["dash_mem"]
        getattr(prog, "dash_syn" + suffix)[sl] = p["dash_syn"]
        theta = (
            np.floor(lam * p["theta"]) + 1 if not g.readout else np.full(g.size, float(STATE_MAX))
        )
        getattr(prog, "threshold" + suffix)[sl] = np.clip(theta, 1, STATE_MAX).astype(np.int64)
        if not g.readout and np.any(lam * p["theta"] >= STATE_MAX):
            problems.append(f"'{g.name}': threshold x scale exceeds the 16-bit state")
        bias = np.round(lam * gains[g.name]["bias"])
        if bias.size and (bias.min() < STATE_MIN or bias.max() > STATE_MAX):
            problems.append(
                f"'{g.name}': bias/v_leak needs {bias.min():.0f}..{bias.max():.0f} chip units, "
                "the 16-bit bias holds -32768..32767 — reduce v_leak or the layer bias"
            )
        getattr(prog, "bias" + suffix)[sl] = np.clip(bias, STATE_MIN, STATE_MAX).astype(np.int64)
        for layer, source, w, _ in gains[g.name]["parts"]:
            q = _integer(w * lam / 2.0 ** shifts[layer])
            check_weights_survive(w, q, f"population '{g.name}', its {layer} weights")
            if layer == "in":
                prog.weights_in[:, sl, 0] += q.T
            elif layer == "rec":
                prog.weights_rec[source.first : source.stop, sl, 0] += q.T
            else:
                prog.weights_out[source.first : source.stop, sl] += q.T
    return prog


def _integer(w: sp.csr_matrix) -> np.ndarray:
    dense = np.asarray(w.todense(), dtype=np.float64)
    return np.clip(np.round(dense), -WEIGHT_MAX - 1, WEIGHT_MAX).astype(np.int64)


def _empty(graph: Graph, dt: float, n_in: int = 0, n_hid: int = 0, n_out: int = 0) -> XyloProgram:
    z = np.zeros
    return XyloProgram(
        graph.input_name,
        graph.input_shape,
        z((n_in, n_hid, 1), np.int64),
        z((n_hid, n_hid, 1), np.int64),
        z((n_hid, n_out), np.int64),
        z(n_hid, np.int64),
        z(n_out, np.int64),
        z(n_hid, np.int64),
        z(n_hid, np.int64),
        z(n_out, np.int64),
        z(n_hid, np.int64),
        z(n_out, np.int64),
        z(n_hid, np.int64),
        z(n_out, np.int64),
        aliases=[[] for _ in range(n_hid)],
        dt=dt,
    )


def _report(g: Group, p: dict, gain: dict, program: XyloProgram, shifts: dict) -> dict:
    """What quantisation cost this population (errors relative, dimensionless)."""
    errors = []
    for layer, _source, w, _ in gain["parts"]:
        exact = np.asarray(w.todense()) * g.scale / 2.0 ** shifts[layer]
        errors.append(relative_error(exact, np.clip(np.round(exact), -WEIGHT_MAX - 1, WEIGHT_MAX)))
    dt = program.dt
    finite = np.isfinite(p["tau_m"])
    mem_err = (
        relative_error(dt / p["tau_m"][finite], 2.0 ** -p["dash_mem"][finite])
        if finite.any()
        else 0.0
    )
    syn_err = (
        relative_error(dt / p["tau_s"], 2.0 ** -p["dash_syn"]) if g.kind == "CubaLIF" else None
    )
    return {
        "kind": g.kind,
        "layer": g.layer,
        "neurons": [g.first, g.stop],
        "scale": g.scale,
        "weight_error": float(max(errors, default=0.0)),
        "dash_mem": sorted({int(d) for d in p["dash_mem"]}),
        "dash_syn": sorted({int(d) for d in p["dash_syn"]}),
        "decay_error_mem": None if g.kind in LEAKLESS else float(mem_err),
        "decay_error_syn": None if syn_err is None else float(syn_err),
        "lag": g.lag,
    }


def _approximations(graph: Graph, placed: Plan) -> list[str]:
    notes = [
        (
            "spiking populations fire on V >= Θ with Θ = floor(λθ) + 1 and subtract Θ; hidden "
            "neurons may fire up to 31 times per step (read-out neurons once), the float model at "
            "most once"
        ),
        (
            "time constants are bit-shift decays 1 - 2^-dash (decay errors per population in "
            "quantisation)"
        ),
    ]
    kinds = {g.kind for g in placed.groups}
    zero = sorted(g.name for g in placed.groups if graph.nodes[g.name].reset == "zero")
    if zero:
        notes.append(f"reset to zero ({', '.join(zero)}) runs as Xylo's subtractive reset")
    to_value = sorted(g.name for g in placed.groups if graph.nodes[g.name].reset == "value")
    if to_value:
        notes.append(
            f"reset to v_reset (nir >= 1.0.6: {', '.join(to_value)}) runs as Xylo's "
            "subtractive reset"
        )
    if kinds & {"LIF", "LI", "IF", "I"}:
        notes.append(
            "LIF/IF/LI/Integrator inputs pass a synaptic state with dash_syn = 1: each input is "
            "spread over the following steps (half, quarter, ...), same total"
        )
    if kinds & {"IF", "I"}:
        notes.append(
            "IF/Integrator membranes leak 1 unit per step (dash_mem = 15, the smallest leak)"
        )
    if any(g.readout for g in placed.groups):
        notes.append(
            "LI/Integrator read-outs have threshold 32767: they fire (and subtract) only at "
            "saturation"
        )
    notes += placed.timing
    return notes
