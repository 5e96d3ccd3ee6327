"""SpiNNaker emulator: an independent reading of sPyNNaker, core by core, in its execution order.

Each core holds one slice of a population: its neuron words, a ring buffer indexed by
``(timestep + delay) & mask`` per synapse type, a master population table (source key -> synaptic
rows) and the rows themselves, as 32-bit synaptic words ``weight << 16 | delay | type | index``.
A timestep runs as sPyNNaker's timer tick: every core moves its ring-buffer slot into the synaptic
inputs (``neuron_transfer``), updates each neuron (``neuron_impl_do_timestep_update``: input,
closed-form LIF, ``>=`` threshold, reset, refractory countdown, synapse shaping) and sends one
multicast packet per spike (key = core base key | neuron index). The router delivers each packet
to the cores whose tables hold the key; they walk the row and add each weight into the slot of its
delay, saturating at 0xFFFF. Spike-source cores send the input's packets the same way.

Shares no code with the reference: its own fixed-point helpers (written as the C macros are),
its own synaptic-word encoding, and event-driven delivery instead of matrix products.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from nrf_deploy.targets.spinnaker.format import DELAY_BITS_IN_WORD, SpiNNakerProgram

from nrf_deploy.trace import Trace

_ACCUM_FRAC = 15
_SAT_HI, _SAT_LO = 2**31 - 1, -(2**31)
_ENTRY_MAX = 0x10000 - 1


def _mul_accum(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``__stdfix_smul_k_round_nearest``: ``c = (p >> 14) & 1``, ``r = (p >> 15) + c``,
    saturated."""
    p = x.astype(np.int64) * y.astype(np.int64)
    carry = np.right_shift(p, _ACCUM_FRAC - 1) & 1
    return np.clip(np.right_shift(p, _ACCUM_FRAC) + carry, _SAT_LO, _SAT_HI)


def _decay_s1615(x: np.ndarray, decay: np.ndarray) -> np.ndarray:
    """``decay.h``: ``kbits((int64(bitsk(x)) * int64(bitsulr(decay))) >> 32)``."""
    return np.right_shift(x.astype(np.int64) * decay.astype(np.int64), 32)


def _acc(x: np.ndarray) -> np.ndarray:
    """An int64 intermediate stored back into a 32-bit accum register (wraps)."""
    return np.asarray(x, dtype=np.int64).astype(np.int32).astype(np.int64)


@dataclass
class _RowBlock:
    """Synaptic rows of one source core into one target core (the SDRAM block its master
    population table entry points at): row of local source neuron j = words[ptr[j]:ptr[j+1]]."""

    ptr: np.ndarray
    words: np.ndarray  # uint32 synaptic words


class _Core:
    """One application core running a slice [first, stop) of a neuron population."""

    def __init__(
        self,
        program: SpiNNakerProgram,
        population: str,
        core: int,
        first: int,
        stop: int,
        batch: int,
        index_bits: int,
    ):
        pop = program.populations[population]
        self.population, self.core, self.first, self.stop = population, core, first, stop
        self.exponential, self.readout, self.shifts = pop.exponential, pop.readout, pop.shifts
        self.index_bits = index_bits
        sl = slice(first, stop)
        words = {
            k: np.asarray(getattr(pop, k))[sl].astype(np.int64)
            for k in (
                "exp_tc",
                "r_membrane",
                "v_rest",
                "i_offset",
                "v_reset",
                "v_thresh",
                "t_refract",
            )
        }
        self.words = words
        if pop.exponential:
            self.syn_decay = np.asarray(pop.syn_decay)[sl].astype(np.int64)
            self.syn_init = np.asarray(pop.syn_init)[sl].astype(np.int64)
        n = stop - first
        self.v = np.zeros((batch, n), np.int64)
        self.refract = np.zeros((batch, n), np.int64)
        self.syn = np.zeros((2, batch, n), np.int64)  # excitatory, inhibitory input values
        delay = max((p.delay for p in program.into(population)), default=1)
        self.slots = 1 << int(np.ceil(np.log2(delay + 1)))
        self.ring = np.zeros((self.slots, 2, batch, n), np.int64)
        self.table: dict[int, _RowBlock] = {}  # master population table: key -> rows
        self.saturations = 0

    # -- spike processing (synapses.c: process_fixed_synapses) --------------------------------
    def receive(self, t: int, samples: np.ndarray, keys: np.ndarray) -> None:
        """A step's packets (one key each, tagged with the sample it belongs to; from any number
        of source cores): look up each key's row in the master population table and add every
        weight into the slot of its delay."""
        mask = (1 << self.index_bits) - 1
        parts = []
        bases = keys & ~mask
        for base in np.unique(bases):  # one table entry per source core
            mine = bases == base
            block = self.table[int(base)]
            local = keys[mine] & mask
            starts, lengths = block.ptr[local], block.ptr[local + 1] - block.ptr[local]
            total = int(lengths.sum())
            if total:
                idx = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(total)
                parts.append((np.repeat(samples[mine], lengths), block.words[idx]))
        if not parts:
            return
        sample = np.concatenate([p[0] for p in parts])
        words = np.concatenate([p[1] for p in parts]).astype(np.int64)
        weight = words >> 16
        delay = (words >> (self.index_bits + 1)) & ((1 << DELAY_BITS_IN_WORD) - 1)
        kind = (words >> self.index_bits) & 1
        target = words & mask
        slot = (t + delay) & (self.slots - 1)
        # Every packet's weights land in their ring-buffer entries; an entry hit several times
        # gets the sum (exact: integer counts, and float64 sums of 16-bit weights stay below 2**53).
        # The weights are non-negative, so saturating once after the adds equals saturating each
        # add in the chip's order: the order of a step's packets cannot change the ring buffer.
        flat_ring = self.ring.reshape(-1)
        entry = np.ravel_multi_index((slot, kind, sample, target), self.ring.shape)
        if flat_ring.size <= max(1 << 16, 8 * entry.size):
            totals = np.bincount(entry, weights=weight, minlength=flat_ring.size)
            hit = np.flatnonzero(totals)
            flat_ring[hit] += totals[hit].astype(np.int64)
        else:
            hit, which = np.unique(entry, return_inverse=True)
            flat_ring[hit] += _sum_by(which.reshape(-1), weight)
        over = flat_ring[hit] > _ENTRY_MAX
        if over.any():
            self.saturations += int(np.count_nonzero(over))
            flat_ring[hit[over]] = _ENTRY_MAX

    # -- timer tick (neuron.c: neuron_transfer, neuron_impl_standard.h) ------------------------
    def tick(self, t: int) -> np.ndarray:
        """Transfer this step's ring-buffer slot, update every neuron; return spikes [B, n]."""
        slot = t & (self.slots - 1)
        for k in (0, 1):
            entry = self.ring[slot, k]
            value = entry << self.shifts[k]  # synapse_row_convert_weight_to_input
            if self.exponential:
                self.syn[k] = _acc(self.syn[k] + _decay_s1615(value, self.syn_init))
            else:
                self.syn[k] = _acc(self.syn[k] + value)
            entry[...] = 0
        w = self.words
        exc, inh = self.syn[0], self.syn[1]
        # neuron_model_state_update (LIF closed form), only outside the refractory period
        total = _acc(_acc(exc - inh) + w["i_offset"])
        alpha = _acc(_mul_accum(total, w["r_membrane"]) + w["v_rest"])
        v_next = _acc(alpha - _mul_accum(w["exp_tc"], _acc(alpha - self.v)))
        counting = self.refract > 0
        self.v = np.where(counting, self.v, v_next)
        self.refract = np.where(counting, self.refract - 1, self.refract)
        # threshold_type_static: V >= V_thresh; neuron_model_has_spiked: reset and refractory
        fired = self.v >= w["v_thresh"]
        self.v = np.where(fired, w["v_reset"], self.v)
        self.refract = np.where(fired, w["t_refract"], self.refract)
        # synapse_types_shape_input
        if self.exponential:
            self.syn = np.stack([_decay_s1615(self.syn[k], self.syn_decay) for k in (0, 1)])
        else:
            self.syn[...] = 0
        return fired


def _sum_by(groups: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Exact int64 sum of `values` per group 0..G-1 (every group present), without np.add.at."""
    order = np.argsort(groups, kind="stable")
    ordered = groups[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    return np.add.reduceat(values[order], starts)


def _index_bits(neurons_per_core: int) -> int:
    return max(1, int(np.ceil(np.log2(neurons_per_core))))


def _synaptic_matrix(program: SpiNNakerProgram, index_bits: int) -> dict[int, dict[int, _RowBlock]]:
    """Every core's master population table (source core base key -> that source's rows into the
    core), encoded as sPyNNaker's 32-bit fixed synaptic words. Built once per program and cached:
    it is the static data a real load writes into SDRAM."""
    cached = program.derived.get("emulator_rows")
    if cached is not None:
        return cached
    tables: dict[int, dict[int, _RowBlock]] = {}
    for name, chunks in program.cores.items():
        if name == program.input_name:
            continue
        for core, first, stop in chunks:
            tables[core] = _core_rows(program, name, first, stop, index_bits)
    program.derived["emulator_rows"] = tables
    return tables


def _core_rows(
    program: SpiNNakerProgram, name: str, first: int, stop: int, index_bits: int
) -> dict[int, _RowBlock]:
    sources, locals_, words = [], [], []
    for proj in program.into(name):
        chunks = program.cores[proj.source]
        starts = np.array([a for _c, a, _b in chunks])
        ids = np.array([c for c, _a, _b in chunks])
        for kind in (0, 1):
            m = proj.weights(kind)[first:stop].tocoo()
            where = np.searchsorted(starts, m.col, side="right") - 1
            sources.append(ids[where])
            locals_.append(m.col - starts[where])
            words.append(
                (m.data.astype(np.int64) << 16)
                | (proj.delay << (index_bits + 1))
                | (kind << index_bits)
                | m.row.astype(np.int64)
            )
    table: dict[int, _RowBlock] = {}
    if not sources:
        return table
    src, loc, word = (np.concatenate(a) for a in (sources, locals_, words))
    sizes = {c: b - a for chunks in program.cores.values() for c, a, b in chunks}
    for core in np.unique(src):
        sel = src == core
        order = np.argsort(loc[sel], kind="stable")
        counts = np.bincount(loc[sel], minlength=sizes[int(core)])
        ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        table[int(core) << index_bits] = _RowBlock(ptr, word[sel][order].astype(np.uint32))
    return table


def run_emulator(program: SpiNNakerProgram, x: np.ndarray, record_states: bool = True) -> Trace:
    """Emulate `program` on binary input spikes ``x [T, B, *input_shape]`` (int64 trace)."""
    steps, batch = x.shape[:2]
    x = np.asarray(x, dtype=np.int64).reshape(steps, batch, -1)
    bits = _index_bits(program.neurons_per_core)
    cores = [
        _Core(program, name, c, a, b, batch, bits)
        for name, chunks in program.cores.items()
        if name != program.input_name
        for c, a, b in chunks
    ]
    routes = _routing_table(program, cores, bits)
    sources = [(c, a, b) for c, a, b in program.cores[program.input_name]]
    pops = program.populations
    rec: dict[str, list[np.ndarray]] = {n: [] for n in [program.input_name, *pops]}
    rec_state: dict[str, dict[str, list[np.ndarray]]] = {n: {} for n in pops}
    for t in range(steps):
        fired = {core.core: core.tick(t) for core in cores}  # timer tick on every core
        for name in pops:
            mine = [c for c in cores if c.population == name]
            values = {"v": [c.v for c in mine], "refract": [c.refract for c in mine]}
            if mine[0].exponential:
                values |= {"i_exc": [c.syn[0] for c in mine], "i_inh": [c.syn[1] for c in mine]}
            for k, parts in values.items():
                rec_state[name].setdefault(k, []).append(np.concatenate(parts, axis=1))
            rec[name].append(
                rec_state[name]["v"][-1]
                if pops[name].readout
                else np.concatenate([fired[c.core] for c in mine], axis=1).astype(np.int64)
            )
        rec[program.input_name].append(x[t])
        outgoing = [(c, x[t][:, a:b]) for c, a, b in sources] + [
            (c.core, fired[c.core]) for c in cores
        ]
        inbox: dict[int, tuple[list[np.ndarray], list[np.ndarray], _Core]] = {}
        for src_core, spikes in outgoing:  # multicast packets
            destinations = routes.get(src_core << bits, [])
            samples, local = np.nonzero(spikes)
            if not destinations or local.size == 0:
                continue
            keys = (src_core << bits) | local
            for core in destinations:  # the router's copies
                box = inbox.setdefault(core.core, ([], [], core))
                box[0].append(samples)
                box[1].append(keys)
        for samples, keys, core in inbox.values():  # each core's packets of the step
            core.receive(t, np.concatenate(samples), np.concatenate(keys))
    shapes = {n: p.shape for n, p in pops.items()} | {program.input_name: program.input_shape}
    outputs = {n: np.stack(r).reshape(steps, batch, *shapes[n]) for n, r in rec.items()}
    states = (
        {
            n: {k: np.stack(v).reshape(steps, batch, *pops[n].shape) for k, v in vs.items()}
            for n, vs in rec_state.items()
        }
        if record_states
        else {}
    )
    return Trace(outputs, states)


def _routing_table(
    program: SpiNNakerProgram, cores: list[_Core], bits: int
) -> dict[int, list[_Core]]:
    """Load the synaptic matrix into this run's cores; return source key -> destination cores."""
    tables = _synaptic_matrix(program, bits)
    routes: dict[int, list[_Core]] = {}
    for core in cores:
        core.table = tables[core.core]
        for key in core.table:
            routes.setdefault(key, []).append(core)
    return routes
