"""Speck / DYNAP-CNN number format, limits and the quantised program.

Sources: sinabs 3.1.3 ``backend/dynapcnn`` (``discretize.py``, ``dynapcnn_layer.py``,
``chips/dynapcnn.py``, ``mapping.py``) and ``sinabs/validate_memory_speck.py``, read as
documentation and never imported (the package imports samna); samna's Speck 2e/2f feature list
(max input 128x128, max output feature map 64x64, 1024 features, kernel <= 16x16, stride
{1,2,4,8} and padding 0..7 independently in x and y, pooling 1/2/4, fan-out 2).

A *layer* is what one of the 9 cores runs: a convolution (an Affine layer is a convolution whose
kernel covers its whole input, as sinabs' ``convert_linear_to_conv``), integrate-and-fire neurons,
and sum pooling of the spikes on the way to each of at most two destination cores. Per timestep,
in chip units (integers), the *discretised model* every backend implements is::

    v  = v + sum_sources conv(sum_pool(source events)) + bias
    v  = clip(v, -2**15, 2**15 - 1)                    # 16-bit state saturates
    z  = (v > 0) * trunc(v / threshold_high)           # MultiSpike: several events per step
    v  = v - z * threshold_high   (or v = 0 where z > 0 with return_to_zero)
    v  = max(v, threshold_low)

Weights are 8-bit signed and share one scale with the bias and thresholds of their conv + IAF
pair; sinabs' discretisation also holds biases to the 8-bit weight precision, and so do we.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

WEIGHT_BITS = 8
WEIGHT_MIN, WEIGHT_MAX = -(1 << 7), (1 << 7) - 1
BIAS_MIN, BIAS_MAX = WEIGHT_MIN, WEIGHT_MAX  # sinabs discretises biases at weight precision
STATE_BITS = 16
STATE_MIN, STATE_MAX = -(1 << 15), (1 << 15) - 1

CORES = 9
KI = 1024
KERNEL_MEMORY = (16, 16, 16, 32, 32, 64, 64, 16, 16)  # Ki entries per core
NEURON_MEMORY = (64, 64, 64, 32, 32, 16, 16, 16, 16)  # Ki entries per core
BIAS_MEMORY = (1,) * CORES  # Ki entries per core
MAX_KERNEL = 16
POOL_SIZES = (1, 2, 4)
STRIDES = (1, 2, 4, 8)
MAX_PADDING = 7
MAX_INPUT = 128  # input feature map of a core, per axis
MAX_OUTPUT = 64  # output feature map (neurons) of a core, per axis
MAX_FEATURES = 1024  # input and output channels of a core
MAX_DESTINATIONS = 2
DVS_CHANNELS = 2  # the DVS layer (the only place the chip pools its input) has 2 polarities


@dataclass(frozen=True)
class Violation:
    """One reason a graph cannot run on Speck: which layer, what, the limit, the value, what to
    do."""

    layer: str
    what: str
    limit: str
    value: str
    hint: str
    kind: str = "limit"  # "limit" (does not fit) or "unsupported" (cannot be represented)

    def __str__(self) -> str:
        return (
            f"layer '{self.layer}': {self.what} is {self.value} (limit: {self.limit}) — {self.hint}"
        )


@dataclass(frozen=True)
class Source:
    """One input of a layer: a population (layer name or the graph input) and the sum pooling
    (1, 2 or 4 per axis) its events pass through on the way (the source core's destination
    pooling)."""

    name: str
    pool: int = 1


def _ceil_log2(n: int) -> int:
    return int(np.ceil(np.log2(n))) if n > 1 else 0


@dataclass
class SpeckLayer:
    """One core's program, integers in chip units. Shapes are (channels, height, width)."""

    name: str  # the neuron node of the graph
    sources: tuple[Source, ...]
    in_shape: tuple[int, int, int]
    weight: np.ndarray  # int64 [out, in, k, k], 8-bit signed values
    bias: np.ndarray  # int64 [out], added once per timestep (the chip's leak clock)
    stride: tuple[int, int]  # (y, x)
    padding: tuple[int, int]  # (y, x)
    threshold_high: int
    threshold_low: int
    return_to_zero: bool
    destinations: list[str] = field(default_factory=list)
    core: int = -1
    scale: float = 1.0  # chip units per model unit
    weight_error: float = 0.0  # relative error of the 8-bit weights (model units)

    @property
    def kernel(self) -> int:
        return int(self.weight.shape[-1])

    @property
    def out_shape(self) -> tuple[int, int, int]:
        _, h, w = self.in_shape
        k = self.kernel
        return (
            int(self.weight.shape[0]),
            (h + 2 * self.padding[0] - k) // self.stride[0] + 1,
            (w + 2 * self.padding[1] - k) // self.stride[1] + 1,
        )

    def kernel_memory(self) -> int:
        """Kernel memory entries: ``c * 2**(ceil(log2(k*k)) + ceil(log2(f)))`` (sinabs)."""
        f, c = int(self.weight.shape[0]), int(self.weight.shape[1])
        return c * 2 ** (_ceil_log2(self.kernel * self.kernel) + _ceil_log2(f))

    def neuron_memory(self) -> int:
        """Neuron memory entries: ``f * 2**(ceil(log2(fy)) + ceil(log2(fx)))`` (sinabs)."""
        f, fy, fx = self.out_shape
        return f * 2 ** (_ceil_log2(max(fy, 1)) + _ceil_log2(max(fx, 1)))

    def bias_memory(self) -> int:
        """Bias memory entries: one per output feature when the layer has a bias (sinabs)."""
        return int(self.weight.shape[0]) if np.any(self.bias) else 0


@dataclass
class SpeckProgram:
    """The quantised network: layers in pipeline (schedule) order, fed by the graph input."""

    input_name: str
    input_shape: tuple[int, ...]  # the graph's input shape
    layers: list[SpeckLayer]
    host: list[Any] = field(default_factory=list)
    """Read-outs computed on the host from chip spikes (``host.HostReadout``,
    --speck-host-readout)."""

    @property
    def input_chw(self) -> tuple[int, int, int]:
        """The input as (channels, height, width): a flat input of N values is (N, 1, 1)."""
        s = tuple(self.input_shape)
        return s if len(s) == 3 else (int(np.prod(s)), 1, 1)  # type: ignore[return-value]

    def layer(self, name: str) -> SpeckLayer:
        return next(L for L in self.layers if L.name == name)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """program.npz: ``layer/<i>/weight`` ``[out, in, k, k]`` and ``layer/<i>/bias`` (int64)."""
        arrays = {}
        for i, L in enumerate(self.layers):
            arrays[f"layer/{i}/weight"] = np.asarray(L.weight, dtype=np.int64)
            arrays[f"layer/{i}/bias"] = np.asarray(L.bias, dtype=np.int64)
        return arrays

    @classmethod
    def from_arrays(cls, sidecar: dict[str, Any], arrays: dict[str, np.ndarray]) -> SpeckProgram:
        """The program from deploy.json's ``layers`` and program.npz (without host read-outs)."""
        layers = [
            _layer_from(d, arrays[f"layer/{i}/weight"], arrays[f"layer/{i}/bias"])
            for i, d in enumerate(sidecar["layers"])
        ]
        return cls(sidecar["input_name"], tuple(sidecar["input_shape"]), layers)

    def source_shape(self, name: str) -> tuple[int, int, int]:
        """(c, h, w) of what population `name` sends (before pooling)."""
        return self.input_chw if name == self.input_name else self.layer(name).out_shape

    def input_destinations(self) -> list[tuple[str, int]]:
        """(layer, pooling) of every layer the graph input feeds."""
        return [
            (L.name, s.pool) for L in self.layers for s in L.sources if s.name == self.input_name
        ]


def _layer_from(d: dict, weight: np.ndarray, bias: np.ndarray) -> SpeckLayer:
    return SpeckLayer(
        d["name"],
        tuple(Source(s["name"], int(s["pool"])) for s in d["sources"]),
        tuple(d["in_shape"]),
        weight.astype(np.int64),
        bias.astype(np.int64),
        tuple(d["stride"]),
        tuple(d["padding"]),
        int(d["threshold_high"]),
        int(d["threshold_low"]),
        bool(d["return_to_zero"]),
        list(d["destinations"]),
        int(d["core"]),
        float(d["scale"]),
        float(d["weight_error"]),
    )
