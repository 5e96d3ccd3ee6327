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

One sample at a time, every core per timestep before the next timestep (within a step, events
reach every downstream core: the chip has no timesteps and forwards events within microseconds).
"""
from __future__ import annotations

import numpy as np
from nrf_deploy.targets.speck.format import STATE_BITS, SpeckLayer, SpeckProgram

from nrf_deploy.trace import Trace

INT16_MIN, INT16_MAX = -(1 << (STATE_BITS - 1)), (1 << (STATE_BITS - 1)) - 1

Events = list[tuple[int, int, int, int]]


class Core:
    """One configured core: kernel, IAF registers, neuron state and address map."""

    def __init__(self, layer: SpeckLayer):
        self.layer = layer
        self.features, self.rows, self.cols = layer.out_shape
        # kernel memory as [in channel][ky][kx][feature]: one event reads a contiguous block per offset
        self.kernel = np.ascontiguousarray(np.asarray(layer.weight, dtype=np.int64).transpose(1, 2, 3, 0))
        self.bias = np.asarray(layer.bias, dtype=np.int64)
        self.theta, self.low = int(layer.threshold_high), int(layer.threshold_low)
        _, in_rows, in_cols = layer.in_shape
        self.row_map = [self._axis_map(y, layer.padding[0], layer.stride[0], self.rows) for y in range(in_rows)]
        self.col_map = [self._axis_map(x, layer.padding[1], layer.stride[1], self.cols) for x in range(in_cols)]
        self.state = np.zeros(layer.out_shape, dtype=np.int16)
        self.acc = np.zeros((self.rows, self.cols, self.features), dtype=np.int64)   # [y][x][feature]

    def _axis_map(self, pos: int, pad: int, stride: int, size: int) -> tuple[slice, slice] | None:
        """Along one axis, the output positions input `pos` reaches and the kernel offsets that take
        it there, as (outputs, offsets) slices that pair up element by element; None if none."""
        pairs = [((pos + pad - k) // stride, k) for k in range(self.layer.kernel)
                 if (pos + pad - k) % stride == 0 and 0 <= (pos + pad - k) // stride < size]
        if not pairs:
            return None
        outs, offsets = zip(*sorted(pairs))                 # outputs ascending, offsets descending
        assert list(outs) == list(range(outs[0], outs[-1] + 1))
        first, last = offsets[0], offsets[-1]
        return slice(outs[0], outs[-1] + 1), slice(first, last - 1 if last > 0 else None, -stride)

    def reset(self) -> None:
        self.state[...] = 0
        self.acc[...] = 0

    def receive(self, events: Events) -> None:
        """Scatter every input event through the kernel into the synaptic accumulators."""
        for c, y, x, n in events:
            rows, cols = self.row_map[y], self.col_map[x]
            if rows is not None and cols is not None:
                self.acc[rows[0], cols[0]] += n * self.kernel[c, rows[1], cols[1]]

    def fire(self) -> tuple[Events, np.ndarray, np.ndarray]:
        """Neuron update of one timestep; returns (output events, new state, saturated mask)."""
        v = self.state.astype(np.int64) + self.acc.transpose(2, 0, 1) + self.bias[:, None, None]
        self.acc[...] = 0
        saturated = (v > INT16_MAX) | (v < INT16_MIN)
        v[v > INT16_MAX] = INT16_MAX
        v[v < INT16_MIN] = INT16_MIN
        counts = np.zeros_like(v)
        positive = v > 0
        counts[positive], remainder = np.divmod(v[positive], self.theta)
        if self.layer.return_to_zero:
            v[counts > 0] = 0
        else:
            v[positive] = remainder
        v[v < self.low] = self.low
        assert INT16_MIN <= v.min() and v.max() <= INT16_MAX, "state left the 16-bit range"
        self.state[...] = v.astype(np.int16)
        f, y, x = np.nonzero(counts)
        return list(zip(f.tolist(), y.tolist(), x.tolist(), counts[f, y, x].tolist())), counts, saturated


def pooled(events: Events, pool: int, shape: tuple[int, int, int]) -> Events:
    """Events as a destination sees them through sum pooling `pool` (address divided by it)."""
    if pool == 1:
        return events
    _, rows, cols = shape
    return [(c, y // pool, x // pool, n) for c, y, x, n in events if y // pool < rows and x // pool < cols]


def run_emulator(program: SpeckProgram, x: np.ndarray, record_states: bool = True) -> Trace:
    """Run ``x [T, B, *input_shape]`` sample by sample, core by core, event by event."""
    steps, batch = x.shape[:2]
    frames = np.asarray(x, dtype=np.int64).reshape(steps, batch, *program.input_chw)
    cores = [Core(L) for L in program.layers]
    out = {L.name: np.zeros((steps, batch, *L.out_shape), np.int64) for L in program.layers}
    vs = {L.name: np.zeros((steps, batch, *L.out_shape), np.int64) for L in program.layers}
    sat = {L.name: np.zeros((steps, batch, *L.out_shape), np.int64) for L in program.layers}
    for b in range(batch):
        for core in cores:
            core.reset()
        for t in range(steps):
            c, y, xx = np.nonzero(frames[t, b])
            sent = {program.input_name: list(zip(c.tolist(), y.tolist(), xx.tolist(),
                                                 frames[t, b][c, y, xx].tolist()))}
            for core in cores:
                for s in core.layer.sources:
                    core.receive(pooled(sent[s.name], s.pool, core.layer.in_shape))
                sent[core.layer.name], counts, saturated = core.fire()
                name = core.layer.name
                out[name][t, b], vs[name][t, b], sat[name][t, b] = counts, core.state, saturated
    outputs = {**out, program.input_name: np.asarray(x, dtype=np.int64)}
    states = {n: {"v": vs[n], "saturated": sat[n]} for n in vs}
    return Trace(outputs, states if record_states else {})
