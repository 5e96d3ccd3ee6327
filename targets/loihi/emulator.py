"""Loihi emulator: an independent reading of the chip, core by core, in its execution order.

Each step has the chip's two phases (a population's cores run as one block, see
:class:`_Population`). *Neuron phase*: every core takes the synaptic input that its
delay buffer collected during the previous step, applies the Dense exponent, and updates its
compartments (24-bit wrap of u, clip of v, strict threshold, reset to 0). *Spike phase*: every
spike is an event routed to the cores that hold its targets, where the weight column it addresses
is added into the delay buffer slot for the next step. Shares no arithmetic with the reference.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from nrf_deploy.targets.loihi.format import (
    ACT_SHIFT,
    DECAY_SHIFT,
    SIGN_EXCITATORY,
    SIGN_INHIBITORY,
    SIGN_MIXED,
    UV_BITS,
    VTH_SHIFT,
    LoihiProgram,
)

from nrf_deploy.trace import Trace

_UNITY = 2**DECAY_SHIFT
_WRAP = 2**UV_BITS
_HALF = 2 ** (UV_BITS - 1)


@dataclass
class _Synapse:
    """One projection into a population, column-addressable for events."""

    projection: int  # index into program.projections
    weight_exp: int
    columns: sp.csc_matrix  # [population neurons, source neurons], int64
    rows: sp.csr_matrix  # the same weights row-major, for steps where most sources fire
    blocks: int  # Lava Dense blocks the projection is split into


class _Population:
    """All cores of one population as one block: compartments [0, size) in core order.

    The mapper's cores hold contiguous slices that together cover the population; the chip runs
    every core's neuron phase, then routes every event to each core holding its targets. Each
    compartment's update reads only its own registers and its own delay-buffer entries, and each
    buffer entry is an exact int64 sum of the weights its events address, so running the slices
    as one array (and delivering a block's events in one product) gives the chip's values.
    """

    def __init__(
        self, program: LoihiProgram, population: str, batch: int, block_of: dict[int, np.ndarray]
    ):
        comp = program.populations[population]
        _check_cover(population, program.cores.get(population, []), comp.size)
        self.population = population
        self.decay_u = _UNITY - (comp.du.astype(np.int64) + 1)
        self.decay_v = _UNITY - comp.dv.astype(np.int64)
        self.bias = comp.bias_mant.astype(np.int64) * (2 ** comp.bias_exp.astype(np.int64))
        self.threshold = comp.vth.astype(np.int64) * 2**VTH_SHIFT
        self.synapses = []
        for j, s in enumerate(program.projections):
            if s.target != population:
                continue
            w = _lava_weights(s.weights, s.sign_mode)
            self.synapses.append(
                _Synapse(
                    j,
                    s.weight_exp,
                    sp.csc_matrix(w),
                    sp.csr_matrix(w),
                    int(block_of[j].max()) + 1 if block_of[j].size else 1,
                )
            )
        n = comp.size
        self.u = np.zeros((batch, n), np.int64)
        self.v = np.zeros((batch, n), np.int64)
        # delay buffer: one accumulator per incoming Dense block, filled by the spike phase
        self.buffer = [np.zeros((syn.blocks, batch, n), np.int64) for syn in self.synapses]

    def receive(self, projection: int, events: list[tuple[int, np.ndarray, np.ndarray]]) -> None:
        """Spike phase: add the weight columns addressed by this step's events on `projection`.

        `events` holds, per Dense block, (block, source neurons that spiked in some sample,
        [those neurons, batch] 0/1 of who spiked in which sample): each sample sums the columns
        of its own events."""
        for k, syn in enumerate(self.synapses):
            if syn.projection != projection:
                continue
            for block, fired, spikes in events:
                if fired.size * 4 > syn.columns.shape[1]:  # most sources fired: whole rows
                    full = np.zeros((syn.columns.shape[1], spikes.shape[1]), np.int64)
                    full[fired] = spikes
                    self.buffer[k][block] += np.asarray(syn.rows @ full, dtype=np.int64).T
                else:
                    columns = syn.columns[:, fired]  # the weight columns the events address
                    self.buffer[k][block] += np.asarray(columns @ spikes, dtype=np.int64).T

    def neuron_phase(self) -> np.ndarray:
        """Update all compartments from the buffered input; return spikes [batch, n] (0/1)."""
        a_in = np.zeros_like(self.u)
        for k, syn in enumerate(self.synapses):
            for acc in self.buffer[k]:  # each Dense block's sum is shifted on its own
                a_in += (
                    acc * (2**syn.weight_exp)
                    if syn.weight_exp >= 0
                    else np.floor_divide(acc, 2**-syn.weight_exp)
                )
            self.buffer[k][:] = 0
        self.u = _wrap24(_toward_zero(self.u * self.decay_u) + a_in * (2**ACT_SHIFT))
        v = _toward_zero(self.v * self.decay_v) + self.u + self.bias
        v = np.minimum(np.maximum(v, -(_HALF - 1)), _HALF - 1)
        fired = v > self.threshold
        v[fired] = 0
        self.v = v
        return fired.astype(np.int64)


def _check_cover(population: str, cores: list[tuple[int, int, int]], size: int) -> None:
    """The mapper's cores must tile the population contiguously (what merging them relies on)."""
    bounds = [(start, stop) for _core, start, stop in cores]
    if (
        not bounds
        or bounds[0][0] != 0
        or bounds[-1][1] != size
        or any(a[1] != b[0] for a, b in itertools.pairwise(bounds))
    ):
        raise ValueError(f"population '{population}': cores {bounds} do not tile [0, {size})")


def _toward_zero(product: np.ndarray) -> np.ndarray:
    """``sign(p) * (|p| >> 12)``, written as floor division on the magnitude."""
    magnitude = np.abs(product) // _UNITY
    return np.where(product < 0, -magnitude, magnitude)


def _wrap24(u: np.ndarray) -> np.ndarray:
    """Lava's u overflow rule: above 2**23 subtract 2**24; at or below -2**23 add 2**24."""
    out = u.copy()
    out[u > _HALF] -= _WRAP
    out[u <= -_HALF] += _WRAP
    return out


def _events_by_block(
    step_spikes: np.ndarray, block_of: np.ndarray
) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """One step's spikes [batch, neurons] as events per Dense block: (block, neuron ids that
    spiked in some sample, [those ids, batch] 0/1)."""
    fired = np.flatnonzero(step_spikes.any(axis=0))
    blocks = block_of[fired]
    out = []
    for block in np.unique(blocks):
        ids = fired[blocks == block]
        out.append((int(block), ids, np.ascontiguousarray(step_spikes[:, ids].T)))
    return out


def _lava_weights(weights: sp.csr_matrix, sign_mode: str) -> sp.csr_matrix:
    w = weights.copy().astype(np.int64)
    if sign_mode == SIGN_MIXED:
        w.data = (np.clip(w.data, -256, 255) // 2) * 2
    elif sign_mode == SIGN_EXCITATORY:
        w.data = np.clip(w.data, 0, 255)
    elif sign_mode == SIGN_INHIBITORY:
        w.data = np.clip(w.data, -255, 0)
    return w


def run_emulator(program: LoihiProgram, x: np.ndarray, record_states: bool = True) -> Trace:
    """Emulate `program` on binary input spikes ``x [T, B, *input_shape]`` (int64 trace)."""
    steps, batch = x.shape[:2]
    x = np.asarray(x, dtype=np.int64).reshape(steps, batch, -1)
    block_of = {j: syn.block_ids() for j, syn in enumerate(program.projections)}
    pops = program.populations
    blocks = {name: _Population(program, name, batch, block_of) for name in pops}
    rec: dict[str, list[np.ndarray]] = {n: [] for n in [program.input_name, *pops]}
    rec_u: dict[str, list[np.ndarray]] = {n: [] for n in pops}
    rec_v: dict[str, list[np.ndarray]] = {n: [] for n in pops}
    for t in range(steps):
        spikes = {program.input_name: x[t]}  # host injects this step's input events
        for name, comp in pops.items():  # neuron phase, every core
            spikes[name] = blocks[name].neuron_phase()
            rec[name].append(blocks[name].v if comp.readout else spikes[name])
            if record_states:
                rec_u[name].append(blocks[name].u)
                rec_v[name].append(blocks[name].v)
        rec[program.input_name].append(x[t])
        for j, syn in enumerate(program.projections):  # spike phase: route events to target cores
            events = _events_by_block(spikes[syn.source], block_of[j])
            if events:
                blocks[syn.target].receive(j, events)
    shapes = {n: c.shape for n, c in pops.items()} | {program.input_name: program.input_shape}
    outputs = {n: np.stack(r).reshape(steps, batch, *shapes[n]) for n, r in rec.items()}
    states = (
        {
            n: {
                "u": np.stack(rec_u[n]).reshape(steps, batch, *pops[n].shape),
                "v": np.stack(rec_v[n]).reshape(steps, batch, *pops[n].shape),
            }
            for n in pops
        }
        if record_states
        else {}
    )
    return Trace(outputs, states)
