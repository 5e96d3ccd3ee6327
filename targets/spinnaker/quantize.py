"""Float NIR graph -> sPyNNaker s16.15 words (:class:`SpiNNakerProgram`), refusing what does not
fit.

Every population P gets one scale ``λ_P`` (accum value per model unit: ``V ≈ λ v``). sPyNNaker's
closed-form LIF ``V' = V + ε (alpha − V)`` with ``ε = 1 − exp_TC`` and ``alpha = input·R + V_rest``
is matched term by term to the float executor's forward-Euler step (docs/semantics.md; dt in
seconds):

=========  ==================================  =====  ==========================================
kind       exp_TC (accum)                      R      chip input per unit of projection output
=========  ==================================  =====  ==========================================
IF, I      1 − 2**-15 (the smallest leak)      2**15  λ r            (ε·R = 1: ``V += input``)
LIF, LI    round(1 − dt/τ)                     1      λ r (dt/τ)/ε   (Euler's drive, exactly)
CubaLIF    round(1 − dt/τ_mem); synapse decay  1      λ r w_in (dt/τ_syn)(dt/τ_mem)/(ε ι)
           ``δ = round((1 − dt/τ_syn)·2**32)``,       (``ι``: the synapse's ``init`` factor)
           ``init ι = −(1 − δ)/ln δ`` (u0.32)
=========  ==================================  =====  ==========================================

So the PyNN ``tau_m`` is ``−dt/ln(1 − dt/τ)``: sPyNNaker's ``exp(−dt/tau_m)`` equals NIR's Euler
factor.
``v_leak`` becomes ``V_rest = λ v_leak``; projection biases become ``I_offset``; thresholds
``V_thresh = λ θ`` (fires on ``>=``); the reset is ``V_reset = λ v_reset`` for a node whose
record is reset-to-value (nir >= 1.0.6), else ``V_reset = 0``; CubaLI is a CubaLIF read-out
(``IF_curr_exp`` whose threshold is never reached); ``t_refrac`` (an export option,
NIR has none) becomes ``ceil(t_refrac/dt)`` refractory steps.

λ keeps every sum inside s16.15: ``|alpha| <= 2**14`` for leaky populations and ``<= 2**15`` for
integrators (whose ``alpha`` is 2**15 × the step's input), thresholds ``<= 2**14``. Weights are
split by sign into the excitatory and inhibitory synapse types; each type of each population gets
sPyNNaker's ring-buffer left shift for the largest summed input one timestep can bring (every
source spiking at once), so no ring-buffer entry can saturate; weights are stored as
``rint(w · 2**(15 − shift))`` (uint16) and the loss is reported.

``scale`` (``export --spinnaker-scale S``) pins λ of every population instead (e.g. 1: model
units are mV, as in a hand-written PyNN script), refused where it exceeds the largest λ that keeps
the sums above inside s16.15.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg  # noqa: F401  (sp.linalg.norm)
from nrf_deploy.targets.spinnaker.format import (
    IF_EXP_TC,
    IF_R,
    INT32_MAX,
    MAX_DELAY,
    MAX_LEFT_SHIFT,
    MODEL_DELTA,
    MODEL_EXP,
    ONE,
    U032_ONE,
    WEIGHT_MAX,
    Population,
    Projection,
    SpiNNakerProgram,
    ring_buffer_shift,
    to_accum,
)

from nrf_deploy.errors import GraphError, RangeError
from nrf_deploy.ir.graph import Graph, Node
from nrf_deploy.ir.spec import READOUT_KINDS as READOUT
from nrf_deploy.ir.spec import SPECS
from nrf_deploy.lowering import Lowered, check_spike_routed, lower
from nrf_deploy.lowering import Projection as Path
from nrf_deploy.quant import (
    canonical,
    check_range,
    check_weights_survive,
    relative_error,
    row_sums,
    sign_parts,
)

SPIKING = {"IF", "LIF", "CubaLIF"}
CURRENT_BASED = {"CubaLIF", "CubaLI"}
INTEGRATORS = {"IF", "I"}
ALPHA_LIMIT = 2.0**14  # leaky populations: |alpha| bound (accum value)
INTEGRATOR_INPUT_LIMIT = 1.0  # integrators: |input| bound, so |alpha| = 2**15·|input| <= 2**15
THRESHOLD_LIMIT = 2.0**14
_PARAMS = {kind: SPECS[kind].params for kind in ("IF", "I", "LI", "LIF", "CubaLIF", "CubaLI")}


def quantise(
    graph: Graph, dt: float, t_refrac: float = 0.0, scale: float | None = None
) -> tuple[SpiNNakerProgram, dict]:
    """Quantise `graph` for timestep `dt` (seconds); `t_refrac` (seconds) is the refractory period
    of spiking neurons; `scale` pins λ (accum value per model unit). Returns the program and the
    per-population quantisation report."""
    lowered = lower(graph)
    check_spike_routed(lowered, "SpiNNaker", "recorded spikes or membranes")
    lags = _lags(lowered)
    refract_steps = _refractory_steps(t_refrac, dt)
    populations: dict[str, Population] = {}
    projections: list[Projection] = []
    report: dict[str, dict] = {}
    for node in lowered.populations:
        if node.kind == "Input":
            continue
        incoming = lowered.into(node.name)
        delays = [_delay(p, lags) for p in incoming]
        pop, synapses, info = _quantise_population(node, incoming, delays, dt, refract_steps, scale)
        pop.lag = lags[node.name]
        populations[node.name] = pop
        projections.extend(synapses)
        report[node.name] = {**info, "lag": pop.lag}
    program = SpiNNakerProgram(graph.input_name, graph.input_shape, populations, projections, dt)
    return program, report


def _lags(lowered: Lowered) -> dict[str, int]:
    """Timesteps each population lags the float executor. Every synapse delays by >= 1 step, so a
    population runs at least one step after each source it reads in the same step, and no earlier
    than the sources it reads over a recurrent (one-step-delayed) edge. The smallest such lags are
    the longest paths with weights 1 and 0 (recurrent edges close every cycle, so they exist)."""
    lags, settled = lowered.longest_lags(1, lambda p: 0 if p.delayed else 1)
    if settled:
        return lags
    raise GraphError(
        "the graph has a cycle without a recurrent (delayed) edge",
        "graph edges",
        "check the NIR graph's edges",
    )


def _delay(path: Path, lags: dict[str, int]) -> int:
    """Synaptic delay (steps) that keeps `path` aligned: the lag difference, +1 over a recurrent
    edge."""
    delay = lags[path.target] - lags[path.source] + (1 if path.delayed else 0)
    where = f"projection {path.name}"
    if delay > MAX_DELAY:
        raise GraphError(
            f"{path.name} needs a delay of {delay} steps; synaptic words hold at most "
            f"{MAX_DELAY} (delay extensions are not supported)",
            where,
            "shorten the skip connection or deepen the shorter path",
        )
    return delay


def _refractory_steps(t_refrac: float, dt: float) -> int:
    if t_refrac < 0:
        raise RangeError(
            f"refractory period {t_refrac} s is negative",
            "--spinnaker-t-refrac",
            "give a period in seconds >= 0",
        )
    steps = t_refrac / dt
    return math.ceil(steps - 1e-12) if steps > 0 else 0  # lif_ceil_accum(T_refract_ms / ts)


def _params(node: Node) -> dict[str, np.ndarray]:
    return {k: node.param(k).reshape(-1) for k in _PARAMS[node.kind]}


def _leak(
    node: Node, tau: np.ndarray, dt: float, field: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(exp_TC bits, Euler factor a = dt/τ, realised ε = 1 − exp_TC) of a leaky membrane."""
    a = dt / tau
    if np.any(a > 1):
        raise RangeError(
            f"time constant {tau.min():g} s is shorter than dt = {dt:g} s: the closed-form "
            "decay exp(-dt/tau_m) cannot express Euler's factor 1 - dt/tau",
            f"node '{node.name}' ({node.kind}), field '{field}'",
            "export with a smaller --dt or use a longer time constant",
        )
    exp_tc = np.clip(
        to_accum(1.0 - a), 0, ONE - 1
    )  # at least 2**-15 leak: exp_TC = 1.0 never integrates
    return exp_tc, a, 1.0 - exp_tc / ONE


def _synapse(
    node: Node, tau_syn: np.ndarray, dt: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Exponential synapse: (decay u0.32, init u0.32, Euler factor dt/τ_syn, init as a float)."""
    a = dt / tau_syn
    where = f"node '{node.name}' ({node.kind}), field 'tau_syn'"
    if np.any(a >= 1):
        raise RangeError(
            f"synaptic time constant {tau_syn.min():g} s is not longer than dt = {dt:g} s: "
            "sPyNNaker's exponential synapse cannot express it",
            where,
            "export with a smaller --dt or use a longer tau_syn",
        )
    decay = np.clip(np.floor((1.0 - a) * U032_ONE + 0.5), 1, U032_ONE - 1).astype(np.int64)
    d = decay / U032_ONE
    iota = -(1.0 - d) / np.log(d)  # (tau/ts)(1 - exp(-ts/tau)), exp_synapse_utils.h
    init = np.clip(np.floor(iota * U032_ONE + 0.5), 1, U032_ONE - 1).astype(np.int64)
    return decay, init, a, init / U032_ONE


def _quantise_population(
    node: Node,
    incoming: list[Path],
    delays: list[int],
    dt: float,
    refract_steps: int,
    pinned: float | None = None,
) -> tuple[Population, list[Projection], dict]:
    where = f"node '{node.name}' ({node.kind})"
    p = _params(node)
    n = int(np.prod(node.out_shape))
    decay = init = None
    decay_error = 0.0
    if node.kind in INTEGRATORS:
        exp_tc, r_mem = np.full(n, IF_EXP_TC, np.int64), np.full(n, IF_R, np.int64)
        gain, bias_gain, v_leak = p["r"], p["r"], np.zeros(n)
    else:
        tau = p["tau"] if node.kind in ("LIF", "LI") else p["tau_mem"]
        exp_tc, a, eps = _leak(node, tau, dt, "tau" if node.kind in ("LIF", "LI") else "tau_mem")
        decay_error = relative_error(a, eps)
        r_mem = np.full(n, ONE, np.int64)
        gain = bias_gain = p["r"] * a / eps
        v_leak = p["v_leak"]
        if node.kind in CURRENT_BASED:
            decay, init, a_syn, iota = _synapse(node, p["tau_syn"], dt)
            bias_gain = gain * p["w_in"]  # a constant input, at its steady state
            gain = gain * p["w_in"] * a_syn / iota
    bias = sum((q.bias.reshape(-1) for q in incoming), np.zeros(n))
    scaled = [canonical(sp.diags(gain) @ q.matrix.tocsr()) for q in incoming]
    lam = _scale(node, scaled, bias_gain * bias, v_leak, decay, init)
    if pinned is not None:
        lam = _check_pinned(pinned, lam, where)
    synapses, shifts, weight_info = _quantise_weights(
        node, incoming, delays, [lam * m for m in scaled]
    )
    thresholds = np.full(n, INT32_MAX, np.int64)
    threshold_error = 0.0
    if node.kind in SPIKING:
        theta = p["v_threshold"]
        thresholds = to_accum(lam * theta)
        if np.any(thresholds < 1):
            raise RangeError(
                f"threshold rounds to 0 at scale {lam:g}",
                f"{where}, field 'v_threshold'",
                "use v_threshold > 0; the weights may be too large relative to it",
            )
        threshold_error = relative_error(lam * theta * ONE, thresholds)
    v_rest, i_offset = to_accum(lam * v_leak), to_accum(lam * bias_gain * bias)
    v_reset = (
        to_accum(lam * node.v_reset.reshape(-1)) if node.kind in SPIKING else np.zeros(n, np.int64)
    )
    for what, values in (
        ("V_rest (v_leak)", v_rest),
        ("I_offset (bias)", i_offset),
        ("V_thresh", thresholds),
        ("V_reset (v_reset)", v_reset),
    ):
        check_range(
            values,
            32,
            f"{what} of {node.name}",
            where,
            "reduce v_leak/bias relative to the weights",
        )
    pop = Population(
        node.name,
        node.kind,
        MODEL_EXP if node.kind in CURRENT_BASED else MODEL_DELTA,
        node.out_shape,
        exp_tc,
        r_mem,
        v_rest,
        i_offset,
        v_reset,
        thresholds,
        np.full(n, refract_steps if node.kind in SPIKING else 0, np.int64),
        decay,
        init,
        shifts,
        lam * 1.0,
        readout=node.kind in READOUT,
    )
    info = {
        "scale": lam,
        "model": pop.model,
        **weight_info,
        "threshold_error": threshold_error,
        "decay_error": decay_error,
        "refractory_steps": int(pop.t_refract.max(initial=0)),
        **(
            {"v_reset_error": relative_error(lam * node.v_reset.reshape(-1) * ONE, v_reset)}
            if node.reset == "value"
            else {}
        ),
    }
    return pop, synapses, info


def _check_pinned(pinned: float, safe: float, where: str) -> float:
    """The pinned λ, refused where it is not positive or exceeds the largest safe λ."""
    if not pinned > 0 or pinned > safe:
        raise RangeError(
            f"--spinnaker-scale {pinned:g} does not fit: the largest scale whose sums "
            f"stay inside s16.15 is {safe:.6g}",
            where,
            f"pin a positive scale of at most {safe:.6g}",
        )
    return float(pinned)


def _scale(
    node: Node,
    scaled: list[sp.csr_matrix],
    bias: np.ndarray,
    v_leak: np.ndarray,
    decay: np.ndarray | None,
    init: np.ndarray | None,
) -> float:
    """λ: the largest scale whose worst-case sums stay inside the limits of the module docstring."""
    n = bias.size
    parts = [sign_parts(m) for m in scaled]
    exc = sum((row_sums(pos) for pos, _ in parts), np.zeros(n))
    inh = sum((row_sums(neg) for _, neg in parts), np.zeros(n))
    if decay is not None:  # an exponential synapse settles at input·init/(1 - decay)
        settle = (init / U032_ONE) / (1.0 - decay / U032_ONE)
        exc, inh = exc * settle, inh * settle
    drive = np.maximum(exc, inh) + np.abs(bias)
    limits = []
    if node.kind in INTEGRATORS:
        if n and drive.max() > 0:
            limits.append(INTEGRATOR_INPUT_LIMIT / float(drive.max()))
    else:
        alpha = drive + np.abs(v_leak)
        if n and alpha.max() > 0:
            limits.append(ALPHA_LIMIT / float(alpha.max()))
    if node.kind in SPIKING:
        theta = node.param("v_threshold").reshape(-1)
        if np.any(theta <= 0):
            raise RangeError(
                "SpiNNaker thresholds must be positive (the reset is to 0)",
                f"node '{node.name}' ({node.kind}), field 'v_threshold'",
                "use v_threshold > 0",
            )
        limits.append(THRESHOLD_LIMIT / float(theta.max()))
    return float(min(limits)) if limits else 1.0


def _quantise_weights(
    node: Node, incoming: list[Path], delays: list[int], effective: list[sp.csr_matrix]
) -> tuple[list[Projection], tuple[int, int], dict]:
    """Split by sign, pick each synapse type's ring-buffer shift, store uint16 weights."""
    n = int(np.prod(node.out_shape))
    parts = [sign_parts(m) for m in effective]
    shifts, ints = [], []
    for t in (0, 1):
        mats = [pair[t] for pair in parts]
        summed = sum((row_sums(m) for m in mats), np.zeros(n))
        shift = ring_buffer_shift(float(summed.max(initial=0.0)))
        while True:
            q = [_to_uint16(m, shift) for m in mats]
            rows = sum((row_sums(m) for m in q), np.zeros(n, np.int64))
            if rows.max(initial=0) <= WEIGHT_MAX or shift >= MAX_LEFT_SHIFT:
                break
            shift += 1  # rounding pushed a row past 0xFFFF: one more bit of headroom
        if shift > MAX_LEFT_SHIFT or rows.max(initial=0) > WEIGHT_MAX:
            raise RangeError(
                f"the {('excitatory', 'inhibitory')[t]} input of one timestep reaches "
                f"{summed.max():.4g} (accum), beyond what 16-bit ring buffers shifted by "
                f"{MAX_LEFT_SHIFT} hold",
                f"node '{node.name}' ({node.kind})",
                "reduce the weights relative to the threshold",
            )
        shifts.append(shift)
        ints.append(q)
    synapses = [
        Projection(path.source, path.target, ints[0][i], ints[1][i], delays[i])
        for i, path in enumerate(incoming)
    ]
    for m, path, exc, inh in zip(effective, incoming, ints[0], ints[1]):
        check_weights_survive(m, exc.nnz + inh.nnz, f"projection {path.source} -> {path.target}")
    return synapses, (shifts[0], shifts[1]), _weight_report(effective, synapses, shifts)


def _to_uint16(m: sp.csr_matrix, shift: int) -> sp.csr_matrix:
    """``rint(|w| · 2**(15 − shift))`` as sPyNNaker's synapse_io writes it (ties to even)."""
    q = m.copy().astype(np.float64)
    q.data = np.rint(q.data * 2.0 ** (MAX_LEFT_SHIFT - shift))
    q = q.astype(np.int64)
    q.eliminate_zeros()
    return q.tocsr()


def _weight_report(
    effective: list[sp.csr_matrix], synapses: list[Projection], shifts: list[int]
) -> dict:
    """Relative RMS error of the realised weights (accum) per projection, and synapses lost to 0."""
    errors, lost, total = {}, 0, 0
    for m, syn in zip(effective, synapses):
        ref = m.tocsr().copy()
        ref.eliminate_zeros()
        realised = syn.excitatory * 2.0 ** (shifts[0] - MAX_LEFT_SHIFT) - syn.inhibitory * 2.0 ** (
            shifts[1] - MAX_LEFT_SHIFT
        )
        norm = sp.linalg.norm(ref)
        errors[syn.name] = float(sp.linalg.norm(realised - ref) / norm) if norm > 0 else 0.0
        lost += int(ref.nnz - syn.synapses)
        total += int(ref.nnz)
    return {
        "weight_error": errors,
        "ring_buffer_shifts": {"excitatory": shifts[0], "inhibitory": shifts[1]},
        "synapses_rounded_to_zero": lost,
        "synapses": total,
    }
