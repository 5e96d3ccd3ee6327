"""Speck emulator: core by core, events scattered through the kernel, 16-bit state.

Each core receives the (pooled) events of its source as (channel, y, x, count) records and adds
``count x kernel`` into every output neuron the event reaches — the scatter the chip performs —
then runs its IAF neurons with saturating 16-bit state, multi-spike output, subtractive (or
zero) reset and the ``threshold_low`` clamp. Written independently of the reference.
"""
from __future__ import annotations

import numpy as np

from nrf_deploy.targets.speck.format import STATE_BITS, SpeckLayer, SpeckProgram
from nrf_deploy.trace import Trace

_LO, _HI = -(2 ** (STATE_BITS - 1)), 2 ** (STATE_BITS - 1) - 1


def _sum_pool(events: np.ndarray, k: int) -> np.ndarray:
    if k == 1:
        return events
    c, h, w = events.shape
    return events[:, : h - h % k, : w - w % k].reshape(c, h // k, k, w // k, k).sum(axis=(2, 4))


def _scatter(layer: SpeckLayer, events: np.ndarray) -> np.ndarray:
    """Synaptic input of one sample: every event adds its kernel slice to the outputs it reaches."""
    f, oh, ow = layer.out_shape
    acc = np.zeros((f, oh, ow), np.int64)
    chans, ys, xs = np.nonzero(events)
    counts = events[chans, ys, xs]
    k = layer.weight.shape[-1]
    for ky in range(k):
        for kx in range(k):
            ty, tx = ys + layer.padding - ky, xs + layer.padding - kx
            ok = (ty % layer.stride == 0) & (tx % layer.stride == 0)
            oy, ox = ty // layer.stride, tx // layer.stride
            ok &= (oy >= 0) & (oy < oh) & (ox >= 0) & (ox < ow)
            if not ok.any():
                continue
            contrib = layer.weight[:, chans[ok], ky, kx] * counts[ok]     # [f, n_events]
            for j, (y, x) in enumerate(zip(oy[ok], ox[ok])):
                acc[:, y, x] += contrib[:, j]
    return acc


def run_emulator(program: SpeckProgram, x: np.ndarray, record_states: bool = True) -> Trace:
    steps, batch = x.shape[:2]
    x = np.asarray(x, dtype=np.int64)
    v = {L.name: np.zeros((batch, *L.out_shape), np.int64) for L in program.layers}
    out = {L.name: np.zeros((steps, batch, *L.out_shape), np.int64) for L in program.layers}
    rec = {L.name: np.zeros((steps, batch, *L.out_shape), np.int64) for L in program.layers}
    saturated = {L.name: np.zeros((steps, batch, *L.out_shape), np.int64) for L in program.layers}
    for t in range(steps):
        for b in range(batch):
            sent = {program.input_name: x[t, b]}
            for L in program.layers:                       # cores in pipeline order
                src = sent[L.source]
                src = src if src.ndim == 3 else src.reshape(-1, 1, 1)
                events = _sum_pool(src, L.input_pool).reshape(L.in_shape)
                state = v[L.name][b] + _scatter(L, events) + L.bias[:, None, None]
                saturated[L.name][t, b] = (state < _LO) | (state > _HI)
                state = np.minimum(np.maximum(state, _LO), _HI)             # 16-bit saturation
                spikes = np.where(state > 0, np.abs(state) // L.threshold_high, 0)
                state = np.where(spikes > 0, 0, state) if L.return_to_zero else state - spikes * L.threshold_high
                state = np.maximum(state, L.threshold_low)
                v[L.name][b] = state
                out[L.name][t, b] = spikes
                rec[L.name][t, b] = state
                sent[L.name] = spikes
    outputs = {**out, program.input_name: x}
    states = {n: {"v": r, "saturated": saturated[n]} for n, r in rec.items()}
    return Trace(outputs, states if record_states else {})
