"""Loihi emulator: an independent reading of the chip, core by core, in its execution order.

Each step has the chip's two phases. *Neuron phase*: every core takes the synaptic input that its
delay buffer collected during the previous step, applies the Dense exponent, and updates its
compartments (24-bit wrap of u, clip of v, strict threshold, reset to 0). *Spike phase*: every
spike is an event routed to the cores that hold its targets, where the weight column it addresses
is added into the delay buffer slot for the next step. Shares no arithmetic with the reference.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from nrf_deploy.trace import Trace
from nrf_deploy.targets.loihi.format import (ACT_SHIFT, DECAY_SHIFT, SIGN_EXCITATORY, SIGN_INHIBITORY, SIGN_MIXED,
                                  UV_BITS, VTH_SHIFT, LoihiProgram)

_UNITY = 2 ** DECAY_SHIFT
_WRAP = 2 ** UV_BITS
_HALF = 2 ** (UV_BITS - 1)


@dataclass
class _Synapse:
    """The rows of one projection that live on one core, column-addressable for events."""

    projection: int             # index into program.projections
    weight_exp: int
    columns: sp.csc_matrix      # [core neurons, source neurons], int64
    blocks: int                 # Lava Dense blocks the projection is split into


class _Core:
    """Compartments [start, stop) of one population on one core, with its delay buffer."""

    def __init__(self, program: LoihiProgram, population: str, start: int, stop: int, batch: int,
                 block_of: dict[int, np.ndarray]):
        comp = program.populations[population]
        self.population, self.start, self.stop = population, start, stop
        sl = slice(start, stop)
        self.decay_u = _UNITY - (comp.du[sl].astype(np.int64) + 1)
        self.decay_v = _UNITY - comp.dv[sl].astype(np.int64)
        self.bias = comp.bias_mant[sl].astype(np.int64) * (2 ** comp.bias_exp[sl].astype(np.int64))
        self.threshold = comp.vth[sl].astype(np.int64) * 2 ** VTH_SHIFT
        self.synapses = [
            _Synapse(j, s.weight_exp, sp.csc_matrix(_lava_weights(s.weights[sl], s.sign_mode)),
                     int(block_of[j].max()) + 1 if block_of[j].size else 1)
            for j, s in enumerate(program.projections) if s.target == population]
        n = stop - start
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
                columns = syn.columns[:, fired]     # the weight columns the events address
                self.buffer[k][block] += np.asarray(columns @ spikes, dtype=np.int64).T

    def neuron_phase(self) -> np.ndarray:
        """Update all compartments from the buffered input; return spikes [batch, n] (0/1)."""
        a_in = np.zeros_like(self.u)
        for k, syn in enumerate(self.synapses):
            for acc in self.buffer[k]:   # each Dense block's sum is shifted on its own
                a_in += acc * (2 ** syn.weight_exp) if syn.weight_exp >= 0 else np.floor_divide(acc, 2 ** -syn.weight_exp)
            self.buffer[k][:] = 0
        self.u = _wrap24(_toward_zero(self.u * self.decay_u) + a_in * (2 ** ACT_SHIFT))
        v = _toward_zero(self.v * self.decay_v) + self.u + self.bias
        v = np.minimum(np.maximum(v, -(_HALF - 1)), _HALF - 1)
        fired = v > self.threshold
        v[fired] = 0
        self.v = v
        return fired.astype(np.int64)


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


def _events_by_block(step_spikes: np.ndarray, block_of: np.ndarray) -> list[tuple[int, np.ndarray, np.ndarray]]:
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
    cores = [_Core(program, pop, start, stop, batch, block_of)
             for pop, chunks in program.cores.items() for (_core_id, start, stop) in chunks]
    targets = {j: [c for c in cores if c.population == syn.target] for j, syn in enumerate(program.projections)}
    pops = program.populations
    rec: dict[str, list[np.ndarray]] = {n: [] for n in [program.input_name, *pops]}
    rec_u: dict[str, list[np.ndarray]] = {n: [] for n in pops}
    rec_v: dict[str, list[np.ndarray]] = {n: [] for n in pops}
    for t in range(steps):
        fired = {}
        for core in cores:                              # neuron phase, core by core
            fired[core] = core.neuron_phase()
        spikes = {program.input_name: x[t]}            # host injects this step's input events
        for name, comp in pops.items():
            mine = [c for c in cores if c.population == name]
            spikes[name] = np.concatenate([fired[c] for c in mine], axis=1)
            v = np.concatenate([c.v for c in mine], axis=1)
            rec[name].append(v if comp.readout else spikes[name])
            rec_u[name].append(np.concatenate([c.u for c in mine], axis=1))
            rec_v[name].append(v)
        rec[program.input_name].append(x[t])
        for j, syn in enumerate(program.projections):  # spike phase: route events to target cores
            events = _events_by_block(spikes[syn.source], block_of[j])
            for target in targets[j] if events else []:
                target.receive(j, events)
    shapes = {n: c.shape for n, c in pops.items()} | {program.input_name: program.input_shape}
    outputs = {n: np.stack(r).reshape(steps, batch, *shapes[n]) for n, r in rec.items()}
    states = ({n: {"u": np.stack(rec_u[n]).reshape(steps, batch, *pops[n].shape),
                   "v": np.stack(rec_v[n]).reshape(steps, batch, *pops[n].shape)} for n in pops}
              if record_states else {})
    return Trace(outputs, states)
