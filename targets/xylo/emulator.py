"""Xylo emulator: an independent reading of the chip, event by event and neuron by neuron.

The weights are first laid out as the chip's fan-out memories (one synapse list per source:
``(target, synapse, weight)``, synapse-1 targets ascending, then synapse-2 targets, as rockpool's
``XyloSim.from_specification`` builds them). A timestep then runs in ``XyloLayer::evolve``'s order:
every input event walks its channel's list, adding the shifted weight once per event with a
16-bit saturating add; last step's hidden events walk the recurrent lists, then the read-out
lists; each hidden neuron is updated in index order (decay every synaptic current, membrane
decay, integrate, bias, the firing loop ``while v >= v_th``), then each read-out neuron.

Shares no code with the reference: plain numpy over the batch axis, its own saturating add,
decay by floor division, the firing loop spelled out, no matrix products.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from nrf_deploy.targets.xylo.format import (
    MAX_HIDDEN_SPIKES,
    MAX_INPUT_SPIKES,
    MAX_OUTPUT_SPIKES,
    XyloProgram,
    layer_trace,
)

from nrf_deploy.inputs import check_binary_spikes
from nrf_deploy.trace import Trace

_HI, _LO = 32767, -32768


def _safe_add(x: np.ndarray, y: np.ndarray | int) -> np.ndarray:
    """``safe_add(x, y, 16)``: the sum, or the range end it would pass."""
    total = x + y
    return np.where(total > _HI, _HI, np.where(total < _LO, _LO, total))


def _as_int16(value):
    """An int (or int array) stored into an ``int16_t`` (two's complement)."""
    return ((value + 0x8000) % 0x10000) - 0x8000


def _decrement(v: np.ndarray, dash: int) -> np.ndarray:
    """``decay(v, dash)``: ``v`` divided by ``2**dash`` rounded down, or ±1 if that is 0."""
    dv = np.floor_divide(v, 2 ** int(dash))
    return np.where(dv != 0, dv, np.sign(v))


@dataclass
class _Synapse:
    target: int
    synapse: int
    weight: int  # already shifted and stored as int16 (receiveSpike's argument)


def _fanout_lists(weights: np.ndarray, shift: int) -> list[list[_Synapse]]:
    """Per source row of ``weights [source, target, synapse]``: its synapse list in chip order."""
    lists = []
    for row in weights:
        entries = []
        for syn in range(row.shape[1]):
            for target in np.flatnonzero(row[:, syn]):
                entries.append(
                    _Synapse(int(target), syn, _as_int16(int(row[target, syn]) << shift))
                )
        lists.append(entries)
    return lists


class _Neurons:
    """One layer's neuron words and states, states shaped ``[neuron, synapse, batch]``."""

    def __init__(
        self,
        dash_mem,
        dash_syn: np.ndarray,
        threshold,
        bias,
        use_bias: bool,
        max_spikes: int,
        batch: int,
    ):
        self.dash_mem = [int(d) for d in dash_mem]
        self.dash_syn = [[int(d) for d in row] for row in dash_syn]
        self.threshold = [int(t) for t in threshold]
        self.bias = [int(b) if use_bias else 0 for b in bias]
        self.max_spikes = max_spikes
        n, s = len(self.dash_mem), dash_syn.shape[1]
        self.i_syn = np.zeros((n, s, batch), np.int64)
        self.v_mem = np.zeros((n, batch), np.int64)
        self.spikes = np.zeros((n, batch), np.int64)

    def receive(self, counts: np.ndarray, lists: list[list[_Synapse]], max_count: int) -> None:
        """Deliver ``counts [source, batch]`` through the sources' synapse lists."""
        for source, entries in enumerate(lists):
            c = np.minimum(counts[source], max_count)
            if not entries or not c.any():
                continue
            for syn in entries:
                for k in range(int(c.max())):
                    hit = c > k
                    cur = self.i_syn[syn.target, syn.synapse]
                    cur[hit] = _safe_add(cur[hit], syn.weight)

    def evolve(self) -> None:
        """Every neuron in index order: ``XyloIAFNeuron::evolve`` with no alias spikes."""
        for n in range(len(self.dash_mem)):
            for s, dash in enumerate(self.dash_syn[n]):
                self.i_syn[n, s] = self.i_syn[n, s] - _decrement(self.i_syn[n, s], dash)
            total = self.i_syn[n].sum(axis=0)
            dv = _as_int16(-_decrement(self.v_mem[n], self.dash_mem[n]))
            dv = _safe_add(_safe_add(dv, total), self.bias[n])
            v = _safe_add(self.v_mem[n], dv)
            count = np.zeros_like(v)
            th = self.threshold[n]
            while True:
                fire = (v >= th) & (count < self.max_spikes)
                if not fire.any():
                    break
                count = count + fire
                v = v - th * fire
            self.v_mem[n], self.spikes[n] = v, count


def run_emulator(program: XyloProgram, x: np.ndarray, record_states: bool = True) -> Trace:
    """Run `program` on binary input events ``x [T, B, *input_shape]``; int64 trace (chip units)."""
    x = check_binary_spikes(x, "Xylo", "each input channel carries spikes of the float model")
    steps, batch = x.shape[:2]
    p = program
    lists_in = _fanout_lists(np.asarray(p.weights_in), p.weight_shift_in)
    lists_rec = _fanout_lists(np.asarray(p.weights_rec), p.weight_shift_rec)
    lists_out = _fanout_lists(np.asarray(p.weights_out)[:, :, None], p.weight_shift_out)
    dash_syn = np.stack([p.dash_syn, p.dash_syn_2], axis=1)[:, : p.n_syn]
    hidden = _Neurons(
        p.dash_mem, dash_syn, p.threshold, p.bias, p.has_bias, MAX_HIDDEN_SPIKES, batch
    )
    output = _Neurons(
        p.dash_mem_out,
        np.asarray(p.dash_syn_out)[:, None],
        p.threshold_out,
        p.bias_out,
        p.has_bias,
        MAX_OUTPUT_SPIKES,
        batch,
    )
    frames = np.asarray(x, dtype=np.int64).reshape(steps, batch, -1)
    rec: dict[str, list[np.ndarray]] = {k: [] for k in ("s_h", "v_h", "i_h", "s_o", "v_o", "i_o")}
    for t in range(steps):
        previous = hidden.spikes.copy()
        hidden.receive(frames[t].T, lists_in, MAX_INPUT_SPIKES)
        hidden.receive(previous, lists_rec, MAX_HIDDEN_SPIKES)
        output.receive(previous, lists_out, MAX_HIDDEN_SPIKES)
        hidden.evolve()
        output.evolve()
        for layer, key in ((hidden, "h"), (output, "o")):
            rec[f"s_{key}"].append(layer.spikes.T.copy())
            rec[f"v_{key}"].append(layer.v_mem.T.copy())
            rec[f"i_{key}"].append(np.transpose(layer.i_syn, (2, 0, 1)).copy())
    return layer_trace(program, x, {k: np.stack(v) for k, v in rec.items()}, record_states)
