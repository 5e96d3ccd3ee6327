"""Integer PyTorch reference: Xylo's timestep (format.py) as batched whole-layer tensor ops.

All samples at once, int64 tensors in chip units. Synaptic input is one integer product per
layer; the chip adds events one by one with 16-bit saturation, which equals one saturated sum
whenever no partial sum can leave the range (start + all positive contributions <= 32767 and
start + all negative ones >= -32768). Entries where it could are recomputed in the chip's event
order (input channels, then hidden sources, each ascending; a source's ``k`` spikes add its
weight ``k`` times, i.e. one clamp of ``k·w`` since the sign does not change). The emulator
(:mod:`targets.xylo.emulator`) is the independent second reading it is checked against.
"""

from __future__ import annotations

import numpy as np
import torch
from nrf_deploy.targets.xylo.format import (
    MAX_HIDDEN_SPIKES,
    MAX_INPUT_SPIKES,
    MAX_OUTPUT_SPIKES,
    STATE_MAX,
    STATE_MIN,
    XyloProgram,
    layer_trace,
)

from nrf_deploy.inputs import check_binary_spikes
from nrf_deploy.trace import Trace


def check_binary_input(x: np.ndarray) -> np.ndarray:
    """nrf-deploy feeds Xylo binary events (the float model's inputs are spikes)."""
    return check_binary_spikes(x, "Xylo", "each input channel carries spikes of the float model")


def sat16(x: torch.Tensor) -> torch.Tensor:
    return torch.clamp(x, STATE_MIN, STATE_MAX)


def decay(v: torch.Tensor, dash: torch.Tensor) -> torch.Tensor:
    """The bit-shift decay's decrement: ``v >> dash``, at least one unit towards zero."""
    dv = torch.bitwise_right_shift(v, dash)
    return torch.where((dv == 0) & (v != 0), torch.sign(v), dv)


def wrap16(x: torch.Tensor) -> torch.Tensor:
    return torch.bitwise_and(x + (1 << 15), (1 << 16) - 1) - (1 << 15)


class _Layer:
    """One neuron layer: its incoming weight blocks (already shifted) and its neuron words."""

    def __init__(
        self, blocks: list[torch.Tensor], dash_mem, dash_syn, threshold, bias, max_spikes: int
    ):
        self.weights = torch.cat(blocks, dim=0)  # [J, N, S] chip order
        self.flat = self.weights.reshape(self.weights.shape[0], -1)
        self.pos, self.neg = self.flat.clamp(min=0), self.flat.clamp(max=0)
        self.dash_mem, self.dash_syn = dash_mem, dash_syn  # [N], [N, S]
        self.threshold, self.bias, self.max_spikes = threshold, bias, max_spikes

    def receive(self, i_syn: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
        """Add the weighted events of ``counts [B, J]`` to ``i_syn [B, N, S]`` as the chip does."""
        shape = i_syn.shape
        flat = i_syn.reshape(shape[0], -1)
        up, down = flat + counts @ self.pos, flat + counts @ self.neg
        exact = (up <= STATE_MAX) & (down >= STATE_MIN)
        out = up + down - flat
        if not bool(exact.all()):
            b, k = torch.nonzero(~exact, as_tuple=True)
            value = flat[b, k]
            for j in range(self.flat.shape[0]):
                value = sat16(value + counts[b, j] * self.flat[j, k])
            out[b, k] = value
        return out.reshape(shape)

    def evolve(self, i_syn: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Decay, integrate, fire: returns (i_syn, v, spike counts)."""
        i_syn = i_syn - decay(i_syn, self.dash_syn)
        dv = wrap16(-decay(v, self.dash_mem))
        dv = sat16(sat16(dv + i_syn.sum(dim=2)) + self.bias)
        v = sat16(v + dv)
        spikes = torch.clamp(
            torch.div(v, self.threshold, rounding_mode="floor"), 0, self.max_spikes
        )
        return i_syn, v - spikes * self.threshold, spikes


def _tensor(a) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a, dtype=np.int64))


def _layers(program: XyloProgram) -> tuple[_Layer, _Layer]:
    p = program
    w_in = _tensor(p.weights_in) << p.weight_shift_in
    w_rec = _tensor(p.weights_rec) << p.weight_shift_rec
    w_out = (_tensor(p.weights_out) << p.weight_shift_out)[:, :, None]
    syn = torch.stack([_tensor(p.dash_syn), _tensor(p.dash_syn_2)], dim=1)[:, : p.n_syn]
    hidden = _Layer(
        [w_in, w_rec],
        _tensor(p.dash_mem),
        syn,
        _tensor(p.threshold),
        _tensor(p.bias),
        MAX_HIDDEN_SPIKES,
    )
    output = _Layer(
        [w_out],
        _tensor(p.dash_mem_out),
        _tensor(p.dash_syn_out)[:, None],
        _tensor(p.threshold_out),
        _tensor(p.bias_out),
        MAX_OUTPUT_SPIKES,
    )
    return hidden, output


def run_reference(program: XyloProgram, x: np.ndarray, record_states: bool = True) -> Trace:
    """Run `program` on binary input events ``x [T, B, *input_shape]``; int64 trace (chip units)."""
    x = check_binary_input(x)
    steps, batch = x.shape[:2]
    hidden, output = _layers(program)
    n_hid, n_out, n_syn = program.n_hidden, program.n_out, program.n_syn
    i_h = torch.zeros(batch, n_hid, n_syn, dtype=torch.int64)
    v_h = torch.zeros(batch, n_hid, dtype=torch.int64)
    i_o = torch.zeros(batch, n_out, 1, dtype=torch.int64)
    v_o = torch.zeros(batch, n_out, dtype=torch.int64)
    s_h = torch.zeros(batch, n_hid, dtype=torch.int64)
    inputs = torch.clamp(torch.as_tensor(x.reshape(steps, batch, -1)), 0, MAX_INPUT_SPIKES)
    rec = {k: [] for k in ("s_h", "v_h", "i_h", "s_o", "v_o", "i_o")}
    for t in range(steps):
        i_h = hidden.receive(i_h, torch.cat([inputs[t], s_h], dim=1))
        i_o = output.receive(i_o, s_h)
        i_h, v_h, s_h = hidden.evolve(i_h, v_h)
        i_o, v_o, s_o = output.evolve(i_o, v_o)
        for key, value in (
            ("s_h", s_h),
            ("v_h", v_h),
            ("i_h", i_h),
            ("s_o", s_o),
            ("v_o", v_o),
            ("i_o", i_o),
        ):
            rec[key].append(value)
    stacked = {k: torch.stack(v).numpy() if v else None for k, v in rec.items()}
    return layer_trace(program, x, stacked, record_states)
