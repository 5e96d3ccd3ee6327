"""Integer PyTorch reference: sPyNNaker's s16.15 neuron update as batched whole-population ops.

The fast statement of :mod:`targets.spinnaker.format`: int64 tensors holding accum bit patterns,
all samples at once; one sparse product per projection and step sums what a timestep's ring-buffer
slots hold (scipy CSR in float64, exact for these integer sums). The emulator
(:mod:`targets.spinnaker.emulator`) is the independent
second reading it is checked against.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from nrf_deploy.targets.spinnaker.format import (
    FRAC_BITS,
    INT32_MAX,
    INT32_MIN,
    WEIGHT_MAX,
    Population,
    SpiNNakerProgram,
)

from nrf_deploy.inputs import check_binary_spikes
from nrf_deploy.trace import Trace

_ROUND = 1 << (FRAC_BITS - 1)


def mul_accum(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """s16.15 × s16.15 -> s16.15, rounded to nearest (half up), saturated
    (MULT_ROUND_NEAREST_ACCUM)."""
    return torch.clamp(torch.bitwise_right_shift(a * b + _ROUND, FRAC_BITS), INT32_MIN, INT32_MAX)


def decay_s1615(x: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """``decay_s1615``: s16.15 × unsigned 0.32 fraction, the 64-bit product shifted right by 32."""
    return torch.bitwise_right_shift(x * d, 32)


def wrap32(x: torch.Tensor) -> torch.Tensor:
    """Two's-complement wrap of a sum to 32 bits (accum addition does not saturate)."""
    return torch.bitwise_and(x + (1 << 31), (1 << 32) - 1) - (1 << 31)


def check_binary_input(x: np.ndarray) -> np.ndarray:
    """Spike sources send at most one spike per neuron and timestep."""
    return check_binary_spikes(
        x, "SpiNNaker", "a SpikeSourceArray sends at most one spike per neuron and timestep"
    )


def run_reference(program: SpiNNakerProgram, x: np.ndarray, record_states: bool = True) -> Trace:
    """Run `program` on binary input spikes ``x [T, B, *input_shape]``; int64 trace in chip
    units."""
    x = check_binary_input(x)
    steps, batch = x.shape[:2]
    pops = program.populations
    mats = _compiled(program)
    params = {n: _tensors(p) for n, p in pops.items()}
    state = {n: _zero_state(p, batch) for n, p in pops.items()}
    history: dict[str, list[torch.Tensor]] = {n: [] for n in [program.input_name, *pops]}
    rec_out: dict[str, list[torch.Tensor]] = {n: [] for n in history}
    rec_state: dict[str, dict[str, list[torch.Tensor]]] = {
        n: {k: [] for k in state[n]} for n in pops
    }
    flat_in = torch.as_tensor(x.reshape(steps, batch, -1))
    for t in range(steps):
        history[program.input_name].append(flat_in[t])
        rec_out[program.input_name].append(flat_in[t])
        fired = {}
        for name, pop in pops.items():
            ring = _ring_slots(program, mats, history, name, t, batch)
            fired[name] = _population_step(pop, params[name], state[name], ring)
        for name, pop in pops.items():
            history[name].append(fired[name])
            rec_out[name].append(state[name]["v"].clone() if pop.readout else fired[name])
            for k, v in state[name].items():
                rec_state[name][k].append(v.clone())
    shapes = {n: p.shape for n, p in pops.items()} | {program.input_name: program.input_shape}
    outputs = {
        n: torch.stack(r).reshape(steps, batch, *shapes[n]).cpu().numpy()
        for n, r in rec_out.items()
    }
    states = {}
    if record_states:
        states = {
            n: {
                k: torch.stack(v).reshape(steps, batch, *pops[n].shape).cpu().numpy()
                for k, v in vs.items()
            }
            for n, vs in rec_state.items()
        }
    return Trace(outputs, states)


def _tensors(pop: Population) -> dict[str, torch.Tensor]:
    names = ["exp_tc", "r_membrane", "v_rest", "i_offset", "v_reset", "v_thresh", "t_refract"]
    if pop.exponential:
        names += ["syn_decay", "syn_init"]
    return {k: torch.as_tensor(np.asarray(getattr(pop, k), dtype=np.int64)) for k in names}


def _zero_state(pop: Population, batch: int) -> dict[str, torch.Tensor]:
    names = ["v", "refract"] + (["i_exc", "i_inh"] if pop.exponential else [])
    return {k: torch.zeros(batch, pop.size, dtype=torch.int64) for k in names}


def _ring_slots(
    program: SpiNNakerProgram, mats: dict, history: dict, name: str, t: int, batch: int
) -> list[torch.Tensor]:
    """What the excitatory and inhibitory ring-buffer slots of step `t` hold: every weight whose
    spike left `delay` steps ago, summed and saturated at 0xFFFF (16-bit entries)."""
    n = program.populations[name].size
    total = np.zeros((2 * n, batch))
    for proj, stacked in mats[name]:
        if t - proj.delay >= 0:  # float64 products of integers < 2**53: exact
            total += stacked @ history[proj.source][t - proj.delay].cpu().numpy().T.astype(
                np.float64
            )
    sums = torch.as_tensor(np.rint(total).astype(np.int64).T)
    return [torch.clamp(sums[:, :n], max=WEIGHT_MAX), torch.clamp(sums[:, n:], max=WEIGHT_MAX)]


def _population_step(
    pop: Population,
    p: dict[str, torch.Tensor],
    s: dict[str, torch.Tensor],
    ring: list[torch.Tensor],
) -> torch.Tensor:
    """One timestep of a whole population (int64 tensors [B, n]); returns its spikes (0/1)."""
    arriving = [torch.bitwise_left_shift(ring[k], pop.shifts[k]) for k in (0, 1)]
    if pop.exponential:
        s["i_exc"] = wrap32(s["i_exc"] + decay_s1615(arriving[0], p["syn_init"]))
        s["i_inh"] = wrap32(s["i_inh"] + decay_s1615(arriving[1], p["syn_init"]))
        exc, inh = s["i_exc"], s["i_inh"]
    else:
        exc, inh = arriving
    current = wrap32(wrap32(exc - inh) + p["i_offset"])
    alpha = wrap32(mul_accum(current, p["r_membrane"]) + p["v_rest"])
    v_new = wrap32(alpha - mul_accum(p["exp_tc"], wrap32(alpha - s["v"])))
    free = s["refract"] <= 0
    s["v"] = torch.where(free, v_new, s["v"])
    s["refract"] = torch.where(free, s["refract"], s["refract"] - 1)
    spikes = s["v"] >= p["v_thresh"]
    s["v"] = torch.where(spikes, p["v_reset"].expand_as(s["v"]), s["v"])
    s["refract"] = torch.where(spikes, p["t_refract"].expand_as(s["refract"]), s["refract"])
    if pop.exponential:
        s["i_exc"] = decay_s1615(s["i_exc"], p["syn_decay"])
        s["i_inh"] = decay_s1615(s["i_inh"], p["syn_decay"])
    return spikes.long()


def _compiled(program: SpiNNakerProgram) -> dict:
    """population -> [(projection, [excitatory; inhibitory] stacked as one float64 CSR matrix)],
    cached on the program (verify calls the reference batch after batch)."""
    cached = program.derived.get("reference_mats")
    if cached is not None:
        return cached
    mats = {name: [] for name in program.populations}
    for proj in program.projections:
        stacked = sp.vstack([proj.excitatory, proj.inhibitory], format="csr").astype(np.float64)
        mats[proj.target].append((proj, stacked))
    program.derived["reference_mats"] = mats
    return mats
