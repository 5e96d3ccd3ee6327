"""Float NIR graph -> Loihi integers (:class:`LoihiProgram`), refusing what does not fit.

Every population P gets one scale ``λ_P`` (chip units per model unit): ``v_int ≈ 64 λ_P v``.
Per neuron, the float update is matched term by term (dt in seconds, forward Euler as in
docs/semantics.md):

=========  ======================  ===========================  ==============================
kind       du (+1 offset)          dv                           weight factor g (a = λ g W s)
=========  ======================  ===========================  ==============================
IF, I      4095 (u = a<<6)         0                            r
LIF, LI    4095                    round(4096 dt/τ)             r dt/τ
CubaLIF    round(4096 dt/τs) - 1   round(4096 dt/τm)            r w_in dt²/(τm τs)
CubaLI     as CubaLIF, read-out (never fires)
=========  ======================  ===========================  ==============================

Lava's LIF resets v to 0: a node whose record is reset-to-value with v_reset != 0 (nir >= 1.0.6)
is deployed with reset to 0 and listed in deploy.json "approximations"
(:func:`reset_approximations`).

Thresholds become ``vth = round(λ θ)``; LI and I are read-out compartments whose ``vth`` is the
17-bit maximum. Constant inputs (``v_leak``, projection biases) become ``bias_mant << bias_exp``.
Each projection's effective weights ``λ g W`` get one exponent and 8-bit mantissas (the finest
exponent that does not clip). Nothing is silently clipped: values beyond the format raise
:class:`~nrf_deploy.errors.RangeError`.

A :class:`PinnedScale` (``export --loihi-scale S [--loihi-weight-exp E]``) replaces the chosen λ
(and weight exponent) of every population, to reproduce a mapping made by another tool; what does
not fit at that scale is refused, never clipped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from nrf_deploy.targets.loihi.format import (
    BIAS_EXP_RANGE,
    BIAS_MANT_RANGE,
    DECAY_UNITY,
    DV_MAX,
    SIGN_MIXED,
    VTH_MAX,
    WEIGHT_EXP_RANGE,
    Compartments,
    LoihiProgram,
    Synapses,
    neuron_groups,
    sign_mode_of,
    weight_limits,
)
from nrf_deploy.targets.loihi.mapper import check_fan_in

from nrf_deploy.errors import RangeError
from nrf_deploy.ir.graph import Graph, Node
from nrf_deploy.ir.spec import READOUT_KINDS as READOUT
from nrf_deploy.ir.spec import SPECS
from nrf_deploy.lowering import Projection, check_spike_routed, lower
from nrf_deploy.quant import check_weights_survive, relative_error, round_half_away

SPIKING = {"IF", "LIF", "CubaLIF"}
CURRENT_BASED = {"CubaLIF", "CubaLI"}
V_TARGET = 2.0**14  # threshold in vth units: v at threshold ≈ 2**20, 8x headroom below 2**23
READOUT_TARGET = 2.0**16  # bound of a read-out membrane in vth units (v ≈ 2**22)
MAX_EFFECTIVE_WEIGHT = 254 * 2 ** WEIGHT_EXP_RANGE[1]
MAX_BIAS = BIAS_MANT_RANGE[1] * 2 ** BIAS_EXP_RANGE[1]


@dataclass(frozen=True)
class PinnedScale:
    """A scale given by the user instead of the quantiser's choice.

    `scale`: λ in threshold units (vth) per model unit, so ``vth = round(λ θ)`` and
    ``v_int ≈ 64 λ v``; `weight_exp`: the weight exponent of every projection (None: chosen)."""

    scale: float
    weight_exp: int | None = None


def quantise(
    graph: Graph, dt: float, pinned: PinnedScale | None = None
) -> tuple[LoihiProgram, dict]:
    """Quantise `graph` for timestep `dt` (seconds); return the program and per-layer errors.

    `pinned` fixes λ (and optionally the weight exponent) of every population."""
    lowered = lower(graph)
    check_spike_routed(lowered, "Loihi", "neuron spikes or read-out membranes")
    check_fan_in(lowered)  # refuse what no core can hold before building anything
    populations: dict[str, Compartments] = {}
    projections: list[Synapses] = []
    report: dict[str, dict] = {}
    for node in lowered.populations:
        if node.kind == "Input":
            continue
        incoming = [p for p in lowered.into(node.name)]
        comp, syn, info = _quantise_population(node, incoming, dt, populations, pinned)
        populations[node.name] = comp
        projections.extend(syn)
        report[node.name] = info
    for syn in projections:
        if syn.source in populations:
            syn.column_group = neuron_groups(populations[syn.source])
    program = LoihiProgram(graph.input_name, graph.input_shape, populations, projections, dt)
    return program, report


def reset_approximations(graph: Graph) -> list[str]:
    """deploy.json notes for nodes whose reset Loihi (reset to 0) does not reproduce exactly."""
    shifted = sorted(
        n.name for n in graph.nodes.values() if n.reset == "value" and np.any(n.v_reset != 0)
    )
    if not shifted:
        return []
    return [
        (
            "reset to v_reset != 0 (nir >= 1.0.6) runs as reset to 0 on Loihi (Lava's LIF has no "
            f"reset value): {', '.join(shifted)}"
        )
    ]


def _row_factor(node: Node, dt: float) -> np.ndarray:
    """g per neuron: model input -> a_in (before λ)."""
    p = {k: node.param(k).reshape(-1) for k in _PARAMS[node.kind]}
    if node.kind in ("IF", "I"):
        return p["r"]
    if node.kind in ("LIF", "LI"):
        return p["r"] * dt / p["tau"]
    return p["r"] * p["w_in"] * dt * dt / (p["tau_mem"] * p["tau_syn"])


def _bias_factor(node: Node, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """(constant term, multiplier of the projection bias) of v per step in model units."""
    p = {k: node.param(k).reshape(-1) for k in _PARAMS[node.kind]}
    if node.kind in ("IF", "I"):
        return np.zeros_like(p["r"]), p["r"]
    if node.kind in ("LIF", "LI"):
        return p["v_leak"] * dt / p["tau"], p["r"] * dt / p["tau"]
    # CubaLIF/CubaLI: a constant input b settles the current at w_in*b; its v term is a bias
    return p["v_leak"] * dt / p["tau_mem"], p["r"] * p["w_in"] * dt / p["tau_mem"]


_PARAMS = {kind: SPECS[kind].params for kind in ("IF", "I", "LI", "LIF", "CubaLIF", "CubaLI")}


def _decays(node: Node, dt: float) -> tuple[np.ndarray, np.ndarray]:
    n = int(np.prod(node.out_shape))
    where = f"node '{node.name}' ({node.kind})"
    if node.kind in ("IF", "I"):
        return np.full(n, DV_MAX, np.int64), np.zeros(n, np.int64)
    tau_v = node.param("tau" if node.kind in ("LIF", "LI") else "tau_mem").reshape(-1)
    ratio_v = dt / tau_v
    if np.any(ratio_v > 1):
        raise RangeError(
            f"membrane time constant {tau_v.min():g} s is shorter than dt = {dt:g} s: the "
            "12-bit decay cannot express it",
            f"{where}, field '{'tau' if node.kind in ('LIF', 'LI') else 'tau_mem'}'",
            "export with a smaller --dt or use a longer tau",
        )
    dv = np.minimum(round_half_away(DECAY_UNITY * ratio_v), DV_MAX)
    if node.kind not in CURRENT_BASED:
        return np.full(n, DV_MAX, np.int64), dv
    ratio_u = dt / node.param("tau_syn").reshape(-1)
    if np.any(ratio_u > 1):
        raise RangeError(
            f"synaptic time constant {node.param('tau_syn').min():g} s is shorter than dt",
            f"{where}, field 'tau_syn'",
            "export with a smaller --dt or a longer tau_syn",
        )
    du = np.clip(round_half_away(DECAY_UNITY * ratio_u) - 1, 0, DV_MAX)
    return du, dv


def _quantise_population(
    node: Node,
    incoming: list[Projection],
    dt: float,
    done: dict[str, Compartments],
    pinned: PinnedScale | None = None,
) -> tuple[Compartments, list[Synapses], dict]:
    where = f"node '{node.name}' ({node.kind})"
    g = _row_factor(node, dt)
    leak_term, bias_mult = _bias_factor(node, dt)
    proj_bias = sum((p.bias.reshape(-1) for p in incoming), np.zeros(g.size))
    stats = [_scaled_stats(p, g) for p in incoming]
    max_w = max((st.max_abs for st in stats), default=0.0)
    limits = [MAX_EFFECTIVE_WEIGHT / max_w] if max_w > 0 else []
    max_bias = float(np.max(np.abs(leak_term + bias_mult * proj_bias))) if g.size else 0.0
    if max_bias > 0:
        limits.append(MAX_BIAS / (64 * max_bias))
    if node.kind in SPIKING:
        theta = node.param("v_threshold").reshape(-1)
        if np.any(theta <= 0):
            raise RangeError(
                "Loihi thresholds must be positive",
                f"{where}, field 'v_threshold'",
                "use v_threshold > 0",
            )
        limits += [V_TARGET / theta.max(), VTH_MAX / theta.max()]
    else:
        drive = sum((st.abs_row_sum for st in stats), np.zeros(g.size))
        bound = _readout_bound(node, drive, leak_term, bias_mult * proj_bias, dt)
        limits.append(READOUT_TARGET / bound if bound > 0 else V_TARGET)
    lam = (
        float(min(limits))
        if pinned is None
        else _pinned_scale(node, pinned, where, 0.0 if node.kind in SPIKING else bound)
    )
    exp = pinned.weight_exp if pinned is not None else None
    synapses = [_quantise_weights(p, g, lam, st, where, exp) for p, st in zip(incoming, stats)]
    vth = (
        np.full(g.size, VTH_MAX, np.int64)
        if node.kind in READOUT
        else round_half_away(lam * node.param("v_threshold").reshape(-1))
    )
    if np.any(vth < 1):
        raise RangeError(
            f"threshold rounds to 0 at scale {lam:g}",
            f"{where}, field 'v_threshold'",
            "the weights are too large relative to the threshold; rescale the layer",
        )
    bias_mant, bias_exp = _quantise_bias(64 * lam * (leak_term + bias_mult * proj_bias), where)
    du, dv = _decays(node, dt)
    delay = (
        1
        + min((done[p.source].delay if p.source in done else 0) for p in incoming if not p.delayed)
        if any(not p.delayed for p in incoming)
        else 1
    )
    comp = Compartments(
        node.name,
        node.kind,
        node.out_shape,
        du,
        dv,
        vth,
        bias_mant,
        bias_exp,
        lam,
        readout=node.kind in READOUT,
        delay=int(delay),
    )
    info = {
        "scale": lam,
        "weight_error": {s.name: s.error for s in synapses},
        "weight_exp": {s.name: s.weight_exp for s in synapses},
        "threshold_error": (
            0.0
            if node.kind in READOUT
            else relative_error(lam * node.param("v_threshold").reshape(-1), vth)
        ),
        "decay_error": _decay_error(node, dt, dv),
        "delay": int(delay),
    }
    return comp, synapses, info


def _pinned_scale(node: Node, pinned: PinnedScale, where: str, readout_bound: float) -> float:
    """The pinned λ, refusing thresholds beyond the 17-bit vth at that scale, and read-out
    membranes whose bound (model units, :func:`_readout_bound`) would pass 2^23 (v = 64 λ bound)."""
    lam = float(pinned.scale)
    if not lam > 0:
        raise RangeError(
            f"--loihi-scale must be positive, got {lam:g}",
            "--loihi-scale",
            "give the threshold units per model unit, e.g. --loihi-scale 256",
        )
    if node.kind in SPIKING:
        top = float(np.max(node.param("v_threshold")))
        if round(lam * top) > VTH_MAX:
            raise RangeError(
                f"threshold {top:g} needs vth = {lam * top:.0f} at the pinned scale "
                f"{lam:g}, beyond the 17-bit maximum {VTH_MAX}",
                f"{where}, field 'v_threshold'",
                f"pin a scale of at most {VTH_MAX / top:.4g}",
            )
    if readout_bound * lam * 64 >= 2**23:
        raise RangeError(
            f"the read-out membrane can reach {64 * lam * readout_bound:.4g} at the "
            f"pinned scale {lam:g}, beyond the 24-bit v",
            where,
            f"pin a scale of at most {2**23 / (64 * readout_bound):.4g}",
        )
    return lam


def _readout_bound(
    node: Node, drive: np.ndarray, leak: np.ndarray, bias: np.ndarray, dt: float
) -> float:
    """Largest |v| (model units) a read-out membrane can reach with binary inputs: the per-step
    increment divided by the decay fraction dt/τ (64 steps of full drive for an integrator).
    `drive` is each neuron's sum of |g·w| over its incoming synapses."""
    per_step = float(np.max(drive + np.abs(leak) + np.abs(bias))) if leak.size else 0.0
    if node.kind == "I":
        return 64.0 * per_step  # an integrator: allow 64 steps of full drive
    if node.kind == "CubaLI":  # the current settles at drive/(dt/τs), v at that/(dt/τm)
        return (
            per_step
            / float(np.min(dt / node.param("tau_syn").reshape(-1)))
            / float(np.min(dt / node.param("tau_mem").reshape(-1)))
        )
    return per_step / float(np.min(dt / node.param("tau").reshape(-1)))


@dataclass
class _ScaledStats:
    """What the quantiser needs of a projection's scaled weights ``g_i · w_ij`` (first pass)."""

    max_abs: float
    lowest: float
    highest: float
    nnz: int
    abs_row_sum: np.ndarray


BLOCK_ENTRIES = 1 << 21
"""Dense entries of a projection quantised at a time (rows x sources): memory holds one float
block of about 16 MiB, never the whole float matrix."""


def _scaled_row_blocks(proj: Projection, g: np.ndarray):
    """Yield (first row, csr block, its data times g per row): the scaled weights by blocks."""
    rows_per_block = max(1, BLOCK_ENTRIES // max(1, int(np.prod(proj.source_shape))))
    for start, blk in proj.row_blocks(rows_per_block):
        rows = np.repeat(np.arange(start, start + blk.shape[0]), np.diff(blk.indptr))
        yield start, blk, g[rows] * blk.data


def _scaled_stats(proj: Projection, g: np.ndarray) -> _ScaledStats:
    stats = _ScaledStats(0.0, 0.0, 0.0, 0, np.zeros(g.size))
    for start, blk, scaled in _scaled_row_blocks(proj, g):
        if scaled.size == 0:
            continue
        mags = np.abs(scaled)
        stats.max_abs = max(stats.max_abs, float(mags.max()))
        stats.lowest = min(stats.lowest, float(scaled.min()))
        stats.highest = max(stats.highest, float(scaled.max()))
        stats.nnz += int(np.count_nonzero(scaled))
        stats.abs_row_sum[start : start + blk.shape[0]] = np.add.reduceat(
            np.append(mags, 0.0), blk.indptr[:-1]
        ) * (np.diff(blk.indptr) > 0)
    return stats


def _quantise_weights(
    proj: Projection,
    g: np.ndarray,
    lam: float,
    stats: _ScaledStats,
    where: str,
    pinned_exp: int | None = None,
) -> Synapses:
    """8-bit mantissas and one exponent for the effective weights ``λ g_i w_ij``, written block
    by block into int16 data / int32 indices (6 bytes per synapse; zeros after rounding dropped)."""
    shape = (int(np.prod(proj.target_shape)), int(np.prod(proj.source_shape)))
    if stats.nnz == 0 or stats.max_abs == 0:
        return Synapses(
            proj.source,
            proj.target,
            sp.csr_matrix(shape, dtype=np.int16),
            0,
            sign_mode_of(np.zeros(0)),
        )
    mode = sign_mode_of(np.array([stats.lowest, stats.highest]))
    lo, hi = weight_limits(mode)
    limit = hi if mode != "inhibitory" else -lo
    max_abs = lam * stats.max_abs  # exact: rounding is monotone, so max(λx) = λ max(x)
    exp = int(np.ceil(np.log2(max_abs / limit))) if max_abs > 0 else 0
    exp = int(np.clip(exp, *WEIGHT_EXP_RANGE)) if pinned_exp is None else int(pinned_exp)
    if pinned_exp is not None and not WEIGHT_EXP_RANGE[0] <= exp <= WEIGHT_EXP_RANGE[1]:
        raise RangeError(
            f"weight exponent {exp} is outside {list(WEIGHT_EXP_RANGE)}",
            "--loihi-weight-exp",
            "pin an exponent inside that range",
        )
    if max_abs / 2.0**exp > limit + 0.5:
        if pinned_exp is not None or max_abs <= limit * 2.0 ** WEIGHT_EXP_RANGE[1]:
            raise RangeError(
                f"weights of {proj.name} need {max_abs:.4g} chip units, beyond the "
                f"8-bit mantissa x 2^{exp} of the pinned scale",
                f"{where}, projection {proj.name}",
                "pin a smaller --loihi-scale or a larger --loihi-weight-exp",
            )
        raise RangeError(
            f"weights of {proj.name} need {max_abs:.4g} chip units, beyond 8 bits x 2^7",
            f"{where}, projection {proj.name}",
            "reduce the weights or the thresholds' ratio",
        )
    step = 2 if mode == SIGN_MIXED else 1
    index_dtype = np.int32 if max(shape[1], stats.nnz) < 2**31 else np.int64
    data = np.empty(stats.nnz, np.int16)
    indices = np.empty(stats.nnz, index_dtype)
    indptr = np.zeros(shape[0] + 1, index_dtype)
    at, sq_ref, sq_err, count = 0, 0.0, 0.0, 0
    for start, blk, scaled in _scaled_row_blocks(proj, g):
        values = lam * scaled
        ints = np.clip(round_half_away(values / (2.0**exp * step)) * step, lo, hi)
        sq_ref += float(np.sum(values**2))
        sq_err += float(np.sum((values - ints * 2.0**exp) ** 2))
        count += values.size
        keep = ints != 0
        kept = int(np.count_nonzero(keep))
        data[at : at + kept] = ints[keep]
        indices[at : at + kept] = blk.indices[keep]
        rows = np.repeat(np.arange(blk.shape[0]), np.diff(blk.indptr))[keep]
        per_row = np.bincount(rows, minlength=blk.shape[0])
        indptr[start + 1 : start + 1 + blk.shape[0]] = at + np.cumsum(per_row)
        at += kept
    q = sp.csr_matrix((data[:at], indices[:at], indptr), shape=shape)
    check_weights_survive(np.array([stats.max_abs]), q, f"{where}, projection {proj.name}")
    error = float(np.sqrt(sq_err / sq_ref if sq_ref > 0 else sq_err / max(count, 1)))
    return Synapses(
        proj.source,
        proj.target,
        q,
        exp,
        sign_mode_of(np.array([q.data.min(initial=0), q.data.max(initial=0)])),
        error,
    )


def _quantise_bias(bias: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray]:
    lo, hi = BIAS_MANT_RANGE
    mags = np.abs(bias)
    exp = np.where(mags > hi, np.ceil(np.log2(np.maximum(mags, 1) / hi)), 0).astype(np.int64)
    if np.any(exp > BIAS_EXP_RANGE[1]):
        raise RangeError(
            f"bias of {mags.max():.4g} chip units exceeds 13 bits x 2^7",
            f"{where}, bias/v_leak",
            "reduce v_leak or the layer bias relative to the threshold",
        )
    mant = np.clip(round_half_away(bias / 2.0**exp), lo, hi)
    return mant.astype(np.int64), exp


def _decay_error(node: Node, dt: float, dv: np.ndarray) -> float:
    if node.kind in ("IF", "I"):
        return 0.0
    tau = node.param("tau" if node.kind in ("LIF", "LI") else "tau_mem").reshape(-1)
    return relative_error(dt / tau, dv / DECAY_UNITY)
