"""Speck / DYNAP-CNN number format and the quantised program (sinabs 3.1.3 ``backend/dynapcnn``,
read as documentation; never imported: it imports samna).

A *layer* is what one of the 9 cores runs: a convolution (Affine layers become convolutions whose
kernel covers the whole input, as sinabs' DynapcnnNetwork does), integrate-and-fire neurons and an
optional sum pooling of the spikes it sends on. Per timestep, in chip units (integers):

* ``v += conv(input events) + bias``, then ``v`` saturates to the 16-bit range [-2**15, 2**15-1]
* ``spikes = (v > 0) * trunc(v / threshold_high)`` (MultiSpike: several events per step)
* reset by subtraction ``v -= spikes * threshold_high`` (or to zero, ``return_to_zero``)
* ``v = max(v, threshold_low)``
* the core sends ``sum_pool(spikes)`` to at most two destination layers.

Weights are 8-bit signed, one scale per conv + IAF pair (threshold, bias and weights share it).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

WEIGHT_BITS = 8
STATE_BITS = 16
STATE_MIN, STATE_MAX = -(1 << 15), (1 << 15) - 1
CORES = 9
KERNEL_MEMORY = [16, 16, 16, 32, 32, 64, 64, 16, 16]        # Ki entries per core
NEURON_MEMORY = [64, 64, 64, 32, 32, 16, 16, 16, 16]        # Ki entries per core
BIAS_MEMORY = 1                                              # Ki entries per core
MAX_KERNEL = 16
POOL_SIZES = (1, 2, 4)
STRIDES = (1, 2, 4, 8)
MAX_PADDING = 7
MAX_INPUT = 128
MAX_CHANNELS = 1024
MAX_DESTINATIONS = 2


@dataclass
class SpeckLayer:
    """One core's program: integer conv, IAF parameters and output pooling."""

    name: str                        # the neuron population's node name
    source: str                      # input population (or the Input node)
    in_shape: tuple[int, int, int]   # channels, height, width seen by the conv
    weight: np.ndarray               # int64 [out, in, k, k]
    bias: np.ndarray                 # int64 [out]
    stride: int
    padding: int
    threshold_high: int
    threshold_low: int
    return_to_zero: bool
    pool: int = 1                    # sum pooling applied to the spikes this layer sends
    destinations: list[str] = field(default_factory=list)
    scale: float = 1.0               # chip units per model unit
    weight_error: float = 0.0
    core: int = -1
    input_pool: int = 1              # pooling of the source's spikes before this conv (source's core)

    @property
    def out_shape(self) -> tuple[int, int, int]:
        c, h, w = self.in_shape
        k = self.weight.shape[-1]
        return (self.weight.shape[0], (h + 2 * self.padding - k) // self.stride + 1,
                (w + 2 * self.padding - k) // self.stride + 1)

    def kernel_memory(self) -> int:
        c_in, f = self.weight.shape[1], self.weight.shape[0]
        k = self.weight.shape[-1]
        return c_in * 2 ** (int(np.ceil(np.log2(k * k))) + int(np.ceil(np.log2(f))))

    def neuron_memory(self) -> int:
        f, fy, fx = self.out_shape
        return f * 2 ** (int(np.ceil(np.log2(fy))) + int(np.ceil(np.log2(fx))))


@dataclass
class SpeckProgram:
    input_name: str
    input_shape: tuple[int, ...]
    layers: list[SpeckLayer]          # in schedule order
    flatten_before: dict[str, tuple[int, ...]] = field(default_factory=dict)
    """layer -> the pooled source shape that a Flatten collapsed (Affine-as-conv layers)."""
