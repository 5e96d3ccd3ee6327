"""Speck emulator: cores in pipeline order, one event at a time, 16-bit neuron state.

A second, independent reading of the discretised model (format.py), written the way the chip
works rather than as tensor algebra (it shares no code with reference.py):

* Events are ``(channel, y, x, count)`` records. A core's *address map* (the chip's
  address-mapping function) gives, for an input row y, the output rows it reaches and the kernel
  rows that take it there (and likewise for columns); an event adds ``count x kernel[c, ky, kx, :]``
  to exactly those neurons' synaptic accumulators.
* Sum pooling happens on the way to a destination: the event's address is divided by the pooling
  factor (events beyond the last whole pooling window are dropped, as sinabs' sum pooling drops
  the remainder).
* After the step's events, each neuron adds its accumulator and the bias (the leak clock tick),
  saturates to int16, fires ``v // threshold_high`` events while positive, resets and clamps at
  ``threshold_low``. The state lives in an ``np.int16`` array, so a value outside 16 bits cannot
  be stored by accident (an assertion guards the conversion).

Every core per timestep before the next timestep (within a step, events reach every downstream
core: the chip has no timesteps and forwards events within microseconds). A batch is a set of
independent chip runs, stepped together; a step's events are scattered at once (see
``Core.receive`` for why their order cannot change the result).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from nrf_deploy.targets.speck.format import STATE_BITS, SpeckLayer, SpeckProgram

from nrf_deploy.trace import Trace

INT16_MIN, INT16_MAX = -(1 << (STATE_BITS - 1)), (1 << (STATE_BITS - 1)) - 1

Events = np.ndarray
"""One step's events as an int64 array ``[n_events, 5]`` of ``(sample, channel, y, x, count)``."""


class Core:
    """One configured core: kernel, IAF registers, neuron state and address map, for a batch of
    independent samples (each sample is its own chip run; they share nothing but the config)."""

    def __init__(self, layer: SpeckLayer, batch: int = 1):
        self.layer = layer
        self.batch = batch
        self.features, self.rows, self.cols = layer.out_shape
        k = layer.kernel
        # kernel memory as [in channel][ky][kx] rows of [feature]: one event offset reads one row
        self.kernel = np.ascontiguousarray(
            np.asarray(layer.weight, dtype=np.int64).transpose(1, 2, 3, 0)
        ).reshape(-1, self.features)
        self.bias = np.asarray(layer.bias, dtype=np.int64)
        self.theta, self.low = int(layer.threshold_high), int(layer.threshold_low)
        _, in_rows, in_cols = layer.in_shape
        self.row_map = self._axis_table(in_rows, layer.padding[0], layer.stride[0], self.rows, k)
        self.col_map = self._axis_table(in_cols, layer.padding[1], layer.stride[1], self.cols, k)
        self.state = np.zeros((batch, *layer.out_shape), dtype=np.int16)
        self.acc = np.zeros((batch * self.rows * self.cols, self.features), dtype=np.int64)

    @staticmethod
    def _axis_table(
        n_in: int, pad: int, stride: int, size: int, kernel: int
    ) -> tuple[np.ndarray, ...]:
        """The address map along one axis: for input position p and kernel offset k, the output
        position ``(p + pad - k) / stride`` and whether it exists (divisible, inside the layer).
        Returns (outputs [n_in, kernel], valid [n_in, kernel])."""
        shifted = np.arange(n_in)[:, None] + pad - np.arange(kernel)[None, :]
        out = np.floor_divide(shifted, stride)
        valid = (shifted % stride == 0) & (out >= 0) & (out < size)
        return np.where(valid, out, 0), valid

    def reset(self) -> None:
        self.state[...] = 0
        self.acc[...] = 0

    def receive(self, events: Events) -> None:
        """Scatter a step's input events through the kernel into the synaptic accumulators.

        All events of the step at once: each event, through the address map, addresses
        (neuron, kernel row) pairs; the pairs become a sparse [neurons, kernel rows] count matrix
        and one product with the kernel adds every ``count x kernel row`` to its neuron. The
        accumulators are exact int64 sums (saturation happens only in the neuron update), so the
        order in which the chip delivers a step's events cannot change them."""
        if events.size == 0:
            return
        b, c, y, x, n = events.T
        k = self.layer.kernel
        out_y, ok_y = self.row_map[0][y], self.row_map[1][y]  # [E, k]
        out_x, ok_x = self.col_map[0][x], self.col_map[1][x]
        valid = ok_y[:, :, None] & ok_x[:, None, :]  # [E, ky, kx]
        neuron = (b[:, None, None] * self.rows + out_y[:, :, None]) * self.cols + out_x[:, None, :]
        offsets = np.arange(k)
        kernel_row = (c[:, None, None] * k + offsets[None, :, None]) * k + offsets[None, None, :]
        counts = np.broadcast_to(n[:, None, None], valid.shape)
        hits = sp.csr_matrix(
            (counts[valid], (neuron[valid], kernel_row[valid])),
            shape=(self.acc.shape[0], self.kernel.shape[0]),
        )
        self.acc += hits @ self.kernel

    def fire(self) -> tuple[Events, np.ndarray, np.ndarray]:
        """Neuron update of one timestep for every sample; returns (output events, spike counts
        [B, F, Y, X], saturated mask [B, F, Y, X])."""
        acc = self.acc.reshape(self.batch, self.rows, self.cols, self.features).transpose(
            0, 3, 1, 2
        )
        v = self.state.astype(np.int64) + acc + self.bias[None, :, None, None]
        self.acc[...] = 0
        saturated = (v > INT16_MAX) | (v < INT16_MIN)
        np.clip(v, INT16_MIN, INT16_MAX, out=v)
        positive = v > 0
        counts = np.where(positive, v // self.theta, 0)  # v > 0: floor = trunc
        if self.layer.return_to_zero:
            v = np.where(counts > 0, 0, v)
        else:
            v = np.where(positive, v - counts * self.theta, v)
        np.maximum(v, self.low, out=v)
        assert INT16_MIN <= v.min() and v.max() <= INT16_MAX, "state left the 16-bit range"
        self.state[...] = v.astype(np.int16)
        return _events_of(counts), counts, saturated


def _events_of(counts: np.ndarray) -> Events:
    """Nonzero spike counts [B, C, Y, X] as an event array (sample, channel, y, x, count)."""
    where = np.nonzero(counts)
    return np.stack([*where, counts[where]], axis=1).astype(np.int64)


def pooled(events: Events, pool: int, shape: tuple[int, int, int]) -> Events:
    """Events as a destination sees them through sum pooling `pool` (address divided by it)."""
    if pool == 1 or events.size == 0:
        return events
    _, rows, cols = shape
    out = events.copy()
    out[:, 2:4] //= pool
    return out[(out[:, 2] < rows) & (out[:, 3] < cols)]


def run_emulator(program: SpeckProgram, x: np.ndarray, record_states: bool = True) -> Trace:
    """Run ``x [T, B, *input_shape]``: every sample is an independent chip run; per timestep,
    core by core in pipeline order, each core takes the step's events of all its sources."""
    steps, batch = x.shape[:2]
    frames = np.asarray(x, dtype=np.int64).reshape(steps, batch, *program.input_chw)
    cores = [Core(L, batch) for L in program.layers]
    out = {L.name: np.zeros((steps, batch, *L.out_shape), np.int64) for L in program.layers}
    vs = {L.name: np.zeros((steps, batch, *L.out_shape), np.int64) for L in program.layers}
    sat = {L.name: np.zeros((steps, batch, *L.out_shape), np.int64) for L in program.layers}
    for t in range(steps):
        sent = {program.input_name: _events_of(frames[t])}
        for core in cores:
            for s in core.layer.sources:
                core.receive(pooled(sent[s.name], s.pool, core.layer.in_shape))
            sent[core.layer.name], counts, saturated = core.fire()
            name = core.layer.name
            out[name][t], vs[name][t], sat[name][t] = counts, core.state, saturated
    outputs = {**out, program.input_name: np.asarray(x, dtype=np.int64)}
    states = {n: {"v": vs[n], "saturated": sat[n]} for n in vs}
    return Trace(outputs, states if record_states else {})
