"""SpiNNaker 1 as sPyNNaker runs neurons: signed s16.15 fixed point (``accum``), and the program.

Sources (read, not copied; docs/targets/spinnaker.md lists files and lines):

* ``neural_modelling/src/neuron/models/neuron_model_lif_impl.h`` — LIF closed form
  ``alpha = input·R + V_rest``; ``V = alpha − exp_TC·(alpha − V)``; refractory countdown; reset
  ``V = V_reset``, ``refract_timer = T_refract`` (``T_refract = ceil(t_refrac / dt)``).
* ``neural_modelling/src/neuron/implementations/neuron_impl_standard.h`` — per neuron and step:
  read the synaptic inputs, ``input = exc − inh + I_offset``, neuron update, threshold
  (``threshold_type_static.h``: ``V >= V_thresh``), reset and spike send, then synapse shaping.
* ``synapse_types/synapse_types_delta_impl.h`` (input used once, then zeroed) and
  ``synapse_types_exponential_impl.h`` + ``exp_synapse_utils.h`` + ``decay.h`` (``I +=
  decay_s1615(in,
  init)`` on arrival, ``I = decay_s1615(I, decay)`` after the update; ``decay_s1615(x, d) = (x·d)
  >> 32``
  with ``d`` an unsigned 0.32 fraction).
* ``neuron.c`` ``neuron_transfer`` + ``synapse_row.h`` ``synapse_row_convert_weight_to_input``: a
ring
  buffer entry (16-bit unsigned, saturating at 0xFFFF in ``synapses.c``) enters as the s16.15 bit
  pattern ``entry << left_shift`` of its synapse type (excitatory / inhibitory).
* spinn_common ``round.h`` ``MULT_ROUND_NEAREST_ACCUM`` → ``__stdfix_smul_k_round_nearest``:
  ``sat32((p >> 15) + ((p >> 14) & 1))`` with ``p = x·y`` (int64), i.e. round half up, saturated.

Everything here is in chip units: "accum" values are the int32 bit patterns of s16.15 numbers
(``bits = round(value · 2**15)``), u0.32 fractions are uint32 bit patterns, times are timesteps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

FRAC_BITS = 15
ONE = 1 << FRAC_BITS  # 1.0 as an accum bit pattern
INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
U032_ONE = 1 << 32  # 1.0 as an unsigned 0.32 fraction (not representable)
WEIGHT_MAX = 0xFFFF  # ring-buffer entries and synaptic weights: uint16
MAX_LEFT_SHIFT = FRAC_BITS  # 0xFFFF << 15 still fits an int32 accum
DELAY_BITS_IN_WORD = 4  # synaptic word delay field (no delay extensions)
MAX_DELAY = (1 << DELAY_BITS_IN_WORD) - 1
EXCITATORY, INHIBITORY = 0, 1
SYNAPSE_TYPES = ("excitatory", "inhibitory")

IF_EXP_TC = ONE - 1  # IF/I: exp_TC = 1 - 2**-15 (smallest leak s16.15 holds)
IF_R = 1 << 30  # IF/I: R_membrane = 32768.0, so (1 - exp_TC)·R = 1

CORES_PER_CHIP = 18
APP_CORES_PER_CHIP = 16  # one monitor core, one spare: 16 run neurons
DEFAULT_NEURONS_PER_CORE = 256  # sPyNNaker DEFAULT_MAX_ATOMS_PER_CORE (POP_TABLE_MAX_ROW_LENGTH)
MAX_NEURONS_PER_CORE = 256
DTCM_BYTES = 64 * 1024  # per core
SDRAM_BYTES_PER_CHIP = 128 * 1024 * 1024
DEFAULT_CHIPS = 48  # one SpiNN-5 board

MODEL_DELTA, MODEL_EXP, MODEL_SOURCE = "IF_curr_delta", "IF_curr_exp", "SpikeSourceArray"
WORDS = ("exp_tc", "r_membrane", "v_rest", "i_offset", "v_reset", "v_thresh", "t_refract")
SYNAPSE_WORDS = ("syn_decay", "syn_init")


def to_accum(x: np.ndarray | float) -> np.ndarray:
    """Float values -> s16.15 bit patterns (int64), rounded to nearest (ties away from zero).
    Callers check the range (:func:`nrf_deploy.quant.check_range` with 32 bits)."""
    x = np.asarray(x, dtype=np.float64) * ONE
    return (np.sign(x) * np.floor(np.abs(x) + 0.5)).astype(np.int64)


def from_accum(bits: np.ndarray | int) -> np.ndarray:
    """s16.15 bit patterns -> float values (exact)."""
    return np.asarray(bits, dtype=np.float64) / ONE


def ring_buffer_shift(max_summed_weight: float) -> int:
    """sPyNNaker's rule (``get_ring_buffer_shifts``): the smallest power with
    ``max_summed_weight < 2**shift`` (0 for no weight), so that the largest summed input of one
    timestep, stored as ``weight · 2**(15 - shift)``, stays below 2**15 ring-buffer units."""
    if max_summed_weight <= 0:
        return 0
    power = max(0, int(np.ceil(np.log2(max_summed_weight))))
    return power + 1 if 2.0**power <= max_summed_weight else power


@dataclass
class Population:
    """One neuron population in the words sPyNNaker's LIF holds after initialisation.

    Per-neuron arrays (length `size`), all int64: accum bit patterns except ``t_refract`` (steps)
    and ``syn_decay``/``syn_init`` (unsigned 0.32 fractions; exponential synapses only)."""

    name: str
    kind: str  # NIR kind it came from: IF, LIF, CubaLIF, LI, I
    model: str  # PyNN cell type: IF_curr_delta or IF_curr_exp
    shape: tuple[int, ...]
    exp_tc: np.ndarray
    r_membrane: np.ndarray
    v_rest: np.ndarray
    i_offset: np.ndarray
    v_reset: np.ndarray
    v_thresh: np.ndarray
    t_refract: np.ndarray
    syn_decay: np.ndarray | None = None
    syn_init: np.ndarray | None = None
    shifts: tuple[int, int] = (0, 0)
    """Ring-buffer-to-input left shift of the excitatory and the inhibitory synapse type."""
    scale: float = 1.0
    """λ: accum value per model unit of the membrane (``V_bits ≈ λ · 2**15 · v``)."""
    readout: bool = False  # LI / I: membrane read by the host, never fires
    lag: int = 1  # timesteps by which this population lags the float executor

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def exponential(self) -> bool:
        return self.model == MODEL_EXP


@dataclass
class Projection:
    """Synapses from `source` to `target`: uint16 weights per synapse type, one delay (steps)."""

    source: str
    target: str
    excitatory: sp.csr_matrix  # [n_target, n_source], values 1..0xFFFF (int64)
    inhibitory: sp.csr_matrix
    delay: int = 1

    @property
    def name(self) -> str:
        return f"{self.source}->{self.target}"

    def weights(self, synapse_type: int) -> sp.csr_matrix:
        return self.excitatory if synapse_type == EXCITATORY else self.inhibitory

    @property
    def synapses(self) -> int:
        return int(self.excitatory.nnz + self.inhibitory.nnz)


@dataclass
class SpiNNakerProgram:
    """The whole quantised network; `cores` is filled by the mapper."""

    input_name: str
    input_shape: tuple[int, ...]
    populations: dict[str, Population]
    projections: list[Projection]
    dt: float  # seconds
    neurons_per_core: int = DEFAULT_NEURONS_PER_CORE
    cores: dict[str, list[tuple[int, int, int]]] = field(default_factory=dict)
    """population (the input included) -> [(global core id, first neuron, stop neuron)]."""
    derived: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """Structures the backends build from the program once and reuse batch after batch (e.g. the
    reference's compiled blocks), keyed by their owner; never written to the export."""

    @property
    def input_size(self) -> int:
        return int(np.prod(self.input_shape))

    def size_of(self, name: str) -> int:
        return self.input_size if name == self.input_name else self.populations[name].size

    def into(self, name: str) -> list[Projection]:
        return [p for p in self.projections if p.target == name]

    @property
    def max_delay(self) -> int:
        return max((p.delay for p in self.projections), default=1)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """program.npz: ``pop/<name>/<word>`` and ``proj/<i>/{excitatory,inhibitory}/{data,indices,
        indptr}`` (uint16 weights as CSR, target x source), all int64."""
        arrays: dict[str, np.ndarray] = {}
        for name, pop in self.populations.items():
            for k in WORDS + (SYNAPSE_WORDS if pop.exponential else ()):
                arrays[f"pop/{name}/{k}"] = np.asarray(getattr(pop, k), dtype=np.int64)
        for i, proj in enumerate(self.projections):
            for kind, m in (("excitatory", proj.excitatory), ("inhibitory", proj.inhibitory)):
                m = m.tocsr()
                m.sort_indices()
                arrays.update(
                    {
                        f"proj/{i}/{kind}/data": m.data.astype(np.int64),
                        f"proj/{i}/{kind}/indices": m.indices.astype(np.int64),
                        f"proj/{i}/{kind}/indptr": m.indptr.astype(np.int64),
                    }
                )
        return arrays

    @classmethod
    def from_arrays(cls, sidecar: dict[str, Any], data: dict[str, np.ndarray]) -> SpiNNakerProgram:
        """The program from deploy.json's ``populations``/``projections`` and program.npz."""
        pops = {}
        for name, d in sidecar["populations"].items():
            exp = d["model"] == MODEL_EXP
            words = {k: data[f"pop/{name}/{k}"] for k in WORDS + (SYNAPSE_WORDS if exp else ())}
            pops[name] = Population(
                name,
                d["kind"],
                d["model"],
                tuple(d["shape"]),
                **words,
                shifts=tuple(d["shifts"]),
                scale=d["scale"],
                readout=d["readout"],
                lag=d["lag"],
            )
        projections = []
        for d in sidecar["projections"]:
            i, shape = d["index"], tuple(d["shape"])
            mats = [
                sp.csr_matrix(
                    (
                        data[f"proj/{i}/{k}/data"],
                        data[f"proj/{i}/{k}/indices"],
                        data[f"proj/{i}/{k}/indptr"],
                    ),
                    shape=shape,
                )
                for k in ("excitatory", "inhibitory")
            ]
            projections.append(Projection(d["source"], d["target"], mats[0], mats[1], d["delay"]))
        program = cls(
            sidecar["input_name"],
            tuple(sidecar["input_shape"]),
            pops,
            projections,
            sidecar["dt"],
            sidecar["neurons_per_core"],
        )
        program.cores = {
            sidecar["input_name"]: [tuple(c) for c in sidecar["input_cores"]],
            **{n: [tuple(c) for c in d["cores"]] for n, d in sidecar["populations"].items()},
        }
        return program
