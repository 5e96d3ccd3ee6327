"""Loihi's number format as Lava 0.10's bit-accurate models define it, and the quantised program.

Sources (lava-nc 0.10.0): ``lava/proc/lif/models.py`` (``AbstractPyLifModelFixed``,
``PyLifModelBitAcc``), ``lava/proc/dense/models.py`` (``AbstractPyDenseModelBitAcc``),
``lava/utils/weightutils.py`` (``clip_weights``, ``truncate_weights``, ``SignMode``).

Per neuron and timestep (all integers, chip units):

* current   ``c = u * (4096 - (du + 1))``; ``u = sign(c) * (|c| >> 12)``; ``u += a_in << 6``;
  ``u`` wraps: above ``2**23`` subtract ``2**24``, at or below ``-2**23`` add ``2**24``
  (``ds_offset = 1``: the current decays by ``du + 1``)
* voltage   ``d = v * (4096 - dv)``; ``v = sign(d) * (|d| >> 12) + u + (bias_mant << bias_exp)``,
  clipped to ``±(2**23 - 1)``
* spike     ``v > vth << 6`` (strict), then ``v = 0``; ``u`` is not reset
* synapses  ``a_out(t + 1) = (W · s(t)) << weight_exp`` (``>> -weight_exp`` if negative,
  arithmetic): every Dense adds one timestep of delay. Weights are 8-bit: mixed-sign
  matrices are clipped to [-256, 255] and their LSB truncated (``(w >> 1) << 1``);
  excitatory ones to [0, 255], inhibitory ones to [-255, 0].
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

UV_BITS = 24
UV_MAX = 1 << (UV_BITS - 1)  # 2**23: wrap point of u, (UV_MAX - 1) clip of v
DECAY_SHIFT = 12
DECAY_UNITY = 1 << DECAY_SHIFT  # 4096
DU_MAX = DV_MAX = DECAY_UNITY - 1  # 12-bit unsigned
VTH_SHIFT = ACT_SHIFT = 6
VTH_MAX = (1 << 17) - 1  # 17-bit unsigned
BIAS_MANT_RANGE = (-(1 << 12), (1 << 12) - 1)  # 13-bit signed
BIAS_EXP_RANGE = (0, 7)  # 3-bit
WEIGHT_EXP_RANGE = (-8, 7)  # Loihi 1 weight exponent
WEIGHT_BITS = 8
CORES_PER_CHIP = 128
COMPARTMENTS_PER_CORE = 1024
SYNAPSES_PER_CORE = 64 * 1024  # 8-bit weights in 128 KiB synaptic memory (with indices)
FAN_IN_AXONS_PER_CORE = 4096

SIGN_MIXED, SIGN_EXCITATORY, SIGN_INHIBITORY = "mixed", "excitatory", "inhibitory"
POPULATION_FIELDS = ("du", "dv", "vth", "bias_mant", "bias_exp")


@dataclass
class Compartments:
    """One population: per-neuron integer configuration (flat arrays of length `size`)."""

    name: str
    kind: str  # NIR kind it came from: IF, LIF, LI, CubaLIF, I
    shape: tuple[int, ...]
    du: np.ndarray  # uint12
    dv: np.ndarray  # uint12
    vth: np.ndarray  # uint17
    bias_mant: np.ndarray  # int13
    bias_exp: np.ndarray  # uint3
    scale: float  # v_int ≈ scale * 64 * v_float  (chip units per model unit, before <<6)
    readout: bool = False  # membrane is read by the host (LI / Integrator); never meant to fire
    delay: int = 0  # timesteps by which this population lags the float executor

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))


@dataclass
class Synapses:
    """One projection (a Lava Dense): integer weights [n_target, n_source] and their exponent."""

    source: str
    target: str
    weights: sp.csr_matrix  # int64 values, already valid 8-bit weights for their sign mode
    weight_exp: int
    sign_mode: str
    error: float = 0.0  # relative RMS quantisation error of the effective weights
    column_group: np.ndarray | None = None
    """Lava Dense block of each source neuron (the source's LIF process). The exponent shift is
    applied to each block's sum separately, as Lava does; None: one block."""

    def block_ids(self) -> np.ndarray:
        """Dense block (0, 1, ..., in the order of :meth:`blocks`) of every source neuron."""
        if self.column_group is None:
            return np.zeros(self.weights.shape[1], np.int64)
        return np.unique(self.column_group, return_inverse=True)[1].reshape(-1)

    def blocks(self) -> list[np.ndarray]:
        """Source-neuron indices of each Dense block."""
        ids = self.block_ids()
        return [np.flatnonzero(ids == b) for b in range(int(ids.max()) + 1 if ids.size else 0)]

    @property
    def name(self) -> str:
        return f"{self.source}->{self.target}"


@dataclass
class LoihiProgram:
    """The whole quantised network in chip units."""

    input_name: str
    input_shape: tuple[int, ...]
    populations: dict[str, Compartments]
    projections: list[Synapses]
    dt: float
    cores: dict[str, list[tuple[int, int, int]]] = field(default_factory=dict)
    """population -> [(core id, first neuron, stop neuron)] from the mapper."""
    derived: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """Structures the backends build from the program once and reuse batch after batch (e.g. the
    reference's compiled blocks), keyed by their owner; never written to the export."""

    @property
    def input_size(self) -> int:
        return int(np.prod(self.input_shape))

    def into(self, name: str) -> list[Synapses]:
        return [p for p in self.projections if p.target == name]

    def to_arrays(self) -> dict[str, np.ndarray]:
        """program.npz: ``pop/<name>/{du,dv,vth,bias_mant,bias_exp}`` and each projection's weights
        ``proj/<i>/{data,indices,indptr,shape}`` (CSR: int16 weights, int32 indices where the
        quantiser
        made them so) and ``column_group`` (int64)."""
        arrays: dict[str, np.ndarray] = {}
        for name, comp in self.populations.items():
            for f in POPULATION_FIELDS:
                arrays[f"pop/{name}/{f}"] = np.asarray(getattr(comp, f), dtype=np.int64)
        for i, syn in enumerate(self.projections):
            w = syn.weights.tocsr()
            if not w.has_sorted_indices:
                w = w.sorted_indices()
            # compact integer dtypes as the quantiser made them (int16 weights, int32 indices)
            arrays.update(
                {
                    f"proj/{i}/data": w.data,
                    f"proj/{i}/indices": w.indices,
                    f"proj/{i}/indptr": w.indptr,
                    f"proj/{i}/shape": np.array(w.shape),
                }
            )
            if syn.column_group is not None:
                arrays[f"proj/{i}/column_group"] = syn.column_group.astype(np.int64)
        return arrays

    @classmethod
    def from_arrays(cls, sidecar: dict[str, Any], data: dict[str, np.ndarray]) -> LoihiProgram:
        """The program from deploy.json's ``populations``/``projections`` and program.npz."""
        pops = {}
        for name, d in sidecar["populations"].items():
            pops[name] = Compartments(
                name,
                d["kind"],
                tuple(d["shape"]),
                *(data[f"pop/{name}/{f}"] for f in POPULATION_FIELDS),
                scale=d["scale"],
                readout=d["readout"],
                delay=d["delay"],
            )
        projections = []
        for d in sidecar["projections"]:
            i = d["index"]
            w = sp.csr_matrix(
                (data[f"proj/{i}/data"], data[f"proj/{i}/indices"], data[f"proj/{i}/indptr"]),
                shape=tuple(data[f"proj/{i}/shape"]),
            )
            group = data.get(f"proj/{i}/column_group")
            projections.append(
                Synapses(
                    d["source"], d["target"], w, d["weight_exp"], d["sign_mode"], d["error"], group
                )
            )
        program = cls(
            sidecar["input_name"], tuple(sidecar["input_shape"]), pops, projections, sidecar["dt"]
        )
        program.cores = {
            n: [tuple(c) for c in d["cores"]] for n, d in sidecar["populations"].items()
        }
        return program


def neuron_groups(comp: Compartments) -> np.ndarray:
    """Group id per neuron: neurons sharing (du, dv, vth) form one Lava LIF process."""
    keys = np.stack([comp.du, comp.dv, comp.vth], axis=1)
    _, inverse = np.unique(keys, axis=0, return_inverse=True)
    return inverse.reshape(-1).astype(np.int64)


def sign_mode_of(weights: np.ndarray) -> str:
    """Lava's ``determine_sign_mode``: excitatory if no negative weight, inhibitory if no
    positive."""
    if weights.size == 0 or np.min(weights) >= 0:
        return SIGN_EXCITATORY
    if np.max(weights) <= 0:
        return SIGN_INHIBITORY
    return SIGN_MIXED


def weight_limits(sign_mode: str) -> tuple[int, int]:
    """Largest magnitudes an 8-bit weight can take after Lava's clip+truncate, per sign mode."""
    return {SIGN_MIXED: (-256, 254), SIGN_EXCITATORY: (0, 255), SIGN_INHIBITORY: (-255, 0)}[
        sign_mode
    ]
