"""SynSense Xylo Audio 2 (SYNS61201, "Xylo core v2"): number format, limits and the program.

Sources (read, not copied):

* ``xylosim`` 0.1.3 (PyPI sdist), ``src/v2/cpp/XyloIAFNeuron.{h,cpp}`` — ``BITS_STATE 16``,
  ``BITS_WEIGHT 8``, ``MAX_NUM_INP_SPIKES 15``, ``MAX_NUM_SPIKES 31``, ``MAX_NUM_OUT_SPIKES 1``;
  ``decay(v, dash)``: ``dv = v >> dash``, ``dv = sign(v)`` if that is 0; ``safe_add`` saturates
  to the 16-bit range; ``evolve``: decay every synaptic current (``i -= decay(i, dash_syn)``),
  ``dv = -decay(v, dash_mem)`` stored in an ``int16`` (wraps for ``v = -2**15, dash = 0``),
  ``dv = sat(dv + Σ i)``, ``dv = sat(dv + bias)``, ``v = sat(v + dv)``, then
  ``while v >= v_th and n < max: n += 1; v -= v_th`` (subtractive reset, several spikes/step).
* ``xylosim`` 0.1.3 ``src/v2/cpp/XyloLayer.cpp`` ``evolve`` — per timestep: deliver the input
  spikes (channel by channel, each synapse ``count`` times, ``i = sat(i + (w << shift_in))``),
  deliver the hidden spikes of the previous step to hidden (``shift_rec``) then to output
  neurons (``shift_out``), evolve hidden neurons in index order (max 31 spikes), then output
  neurons (max 1 spike). Recorded: ``i_syn``, ``i_syn2`` and ``v_mem`` after the step.
* rockpool 3.0.3.dev (github synsense/rockpool @ 42cee1c) ``rockpool/devices/xylo/syns61201/``:
  ``xylo_sim.py`` (``XyloSim.from_specification``: synapse lists per source, syn 1 targets in
  ascending order, then syn 2 targets; ``has_bias`` iff a bias is nonzero), ``xylo_mapper.py``
  (design rules: 16 input channels, 1000 hidden and 8 output neurons, outputs straight from
  neurons, output neurons not recurrent; ``dash = log2(tau / dt)``), ``xylo_samna.py``
  (``config_from_specification``: the specification fields written by this target),
  ``xa2_devkit_utils.py`` (memory map: input weights 16 x 1000 (IWTRAM), 32 000 recurrent fan-out
  entries (RFORAM/RWTRAM 0x7D00 words), 1000 + 8 thresholds), ``docs/devices/xylo-overview.ipynb``
  (Xylo Audio 2: max. fan-out 64 per hidden neuron, 2 synaptic states, 15 input events per
  channel and step, 31 events per hidden neuron and step, 1 per output neuron).

Everything here is in chip units: weights int8, states/thresholds/biases int16, dashes are
bit-shift exponents (decay factor ``1 - 2**-dash`` per timestep), shifts are left shifts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from nrf_deploy.trace import Trace

STATE_BITS = 16
STATE_MIN, STATE_MAX = -(1 << 15), (1 << 15) - 1
WEIGHT_BITS = 8
WEIGHT_MIN, WEIGHT_MAX = -(1 << 7), (1 << 7) - 1
DASH_MAX = 15  # 4-bit decay exponents
MAX_WEIGHT_SHIFT = 8  # nrf-deploy's bound: int8 << 8 still fits the int16 add
THRESHOLD_MIN = 1  # v_th <= 0 would make the spike loop subtract upwards
MAX_INPUT_SPIKES = 15
MAX_HIDDEN_SPIKES = 31
MAX_OUTPUT_SPIKES = 1

MAX_INPUTS = 16
MAX_HIDDEN = 1000
MAX_OUTPUTS = 8
MAX_SYNAPSES = 2  # synaptic states per hidden neuron (output neurons: 1)
MAX_FANOUT = 64  # recurrent targets per hidden neuron (rockpool docs)
MAX_RECURRENT_ENTRIES = 32000  # RFORAM / RWTRAM words

SPEC_ARRAYS = (
    "weights_in",
    "weights_rec",
    "weights_out",
    "dash_mem",
    "dash_mem_out",
    "dash_syn",
    "dash_syn_2",
    "dash_syn_out",
    "threshold",
    "threshold_out",
    "bias",
    "bias_out",
)
"""The array fields of rockpool's Xylo specification (``config_from_specification``)."""
WEIGHT_SHIFTS = ("weight_shift_in", "weight_shift_rec", "weight_shift_out")
"""The integer fields of the specification: left shifts of the input, recurrent, output weights."""


@dataclass
class Group:
    """A NIR population placed on the chip: hidden ids ``[first, stop)`` or output ids."""

    name: str
    kind: str  # NIR kind: IF, LIF, CubaLIF, LI, I
    layer: str  # "hidden" or "output"
    first: int
    stop: int
    shape: tuple[int, ...]
    readout: bool = False  # LI / I: the membrane is the output (never meant to spike)
    scale: float = 1.0  # λ: chip units of v per model unit
    lag: int = 0  # timesteps by which this population lags the float model

    @property
    def size(self) -> int:
        return self.stop - self.first


@dataclass
class XyloProgram:
    """rockpool's Xylo specification (all int64 arrays in chip units) plus where each NIR
    population sits. Shapes: ``weights_in [Nin, Nhid, Nsyn]``, ``weights_rec [Nhid, Nhid, Nsyn]``,
    ``weights_out [Nhid, Nout]`` (``[source, target]``, as rockpool), per-neuron vectors
    ``[Nhid]`` / ``[Nout]``; `aliases` one list per hidden neuron."""

    input_name: str
    input_shape: tuple[int, ...]
    weights_in: np.ndarray
    weights_rec: np.ndarray
    weights_out: np.ndarray
    dash_mem: np.ndarray
    dash_mem_out: np.ndarray
    dash_syn: np.ndarray
    dash_syn_2: np.ndarray
    dash_syn_out: np.ndarray
    threshold: np.ndarray
    threshold_out: np.ndarray
    bias: np.ndarray
    bias_out: np.ndarray
    weight_shift_in: int = 0
    weight_shift_rec: int = 0
    weight_shift_out: int = 0
    aliases: list[list[int]] = field(default_factory=list)
    groups: list[Group] = field(default_factory=list)
    dt: float = 1e-3

    @property
    def n_in(self) -> int:
        return int(self.weights_in.shape[0])

    @property
    def n_hidden(self) -> int:
        return int(self.weights_rec.shape[0])

    @property
    def n_out(self) -> int:
        return int(self.weights_out.shape[1])

    @property
    def n_syn(self) -> int:
        """Synaptic states per hidden neuron (1, or 2 when synapse 2 is enabled)."""
        return int(self.weights_in.shape[2])

    @property
    def has_bias(self) -> bool:
        """xylosim's ``has_bias``: biases are applied only when one of them is nonzero."""
        return bool(np.any(self.bias != 0) or np.any(self.bias_out != 0))

    def to_arrays(self) -> dict[str, np.ndarray]:
        """program.npz: every :data:`SPEC_ARRAYS` field and the three weight shifts (0-d), int64."""
        arrays = {k: np.asarray(getattr(self, k), dtype=np.int64) for k in SPEC_ARRAYS}
        arrays.update({k: np.asarray(int(getattr(self, k)), dtype=np.int64) for k in WEIGHT_SHIFTS})
        return arrays

    @classmethod
    def from_arrays(cls, sidecar: dict, arrays: dict[str, np.ndarray]) -> XyloProgram:
        """The program from program.npz and deploy.json's ``groups`` (KeyError if a field is
        missing, ValueError if one is not integer)."""
        return cls(
            sidecar["input_name"],
            tuple(sidecar["input_shape"]),
            *(integer_array(arrays[k], k) for k in SPEC_ARRAYS),
            # one value each; npz_bytes stores a 0-d array as shape (1,) (np.ascontiguousarray)
            *(int(integer_array(arrays[k], k).reshape(())) for k in WEIGHT_SHIFTS),
            aliases=[[] for _ in range(int(np.shape(arrays["weights_rec"])[0]))],
            groups=[group_from(d) for d in sidecar["groups"]],
            dt=float(sidecar["dt"]),
        )

    def spec(self) -> dict:
        """The specification as rockpool's ``config_from_specification`` takes it."""
        out = {k: np.asarray(getattr(self, k)) for k in SPEC_ARRAYS}
        out.update(
            weight_shift_in=self.weight_shift_in,
            weight_shift_rec=self.weight_shift_rec,
            weight_shift_out=self.weight_shift_out,
            aliases=[list(a) for a in self.aliases],
        )
        return out


def integer_array(values: np.ndarray, name: str) -> np.ndarray:
    """`values` as int64; ValueError if they are not integers (a float would be truncated)."""
    values = np.asarray(values)
    if not (np.issubdtype(values.dtype, np.integer) or values.dtype == np.bool_):
        raise ValueError(f"{name} holds {values.dtype} values, not integers")
    return values.astype(np.int64)


def describe_group(g: Group) -> dict:
    """`g` as plain JSON (deploy.json's ``groups``, xylo_spec.json's ``populations``)."""
    return {
        "name": g.name,
        "kind": g.kind,
        "layer": g.layer,
        "first": g.first,
        "stop": g.stop,
        "shape": list(g.shape),
        "readout": g.readout,
        "scale": g.scale,
        "lag": g.lag,
    }


def group_from(d: dict) -> Group:
    """The inverse of :func:`describe_group`."""
    return Group(
        str(d["name"]),
        str(d["kind"]),
        str(d["layer"]),
        int(d["first"]),
        int(d["stop"]),
        tuple(int(n) for n in d["shape"]),
        bool(d["readout"]),
        float(d["scale"]),
        int(d["lag"]),
    )


def fanout(program: XyloProgram) -> np.ndarray:
    """Recurrent fan-out entries per hidden neuron: distinct hidden targets on either synapse (the
    words of its RFORAM row; output weights have their own dense memory)."""
    return np.any(program.weights_rec != 0, axis=2).sum(axis=1)


def check_program(program: XyloProgram) -> list[str]:
    """Every way `program` leaves the chip's format or limits (empty list: it is valid)."""
    p = program
    problems = [
        f"{key} has shape {np.shape(getattr(p, key))}, expected {ndim} dimensions"
        for key, ndim in (("weights_in", 3), ("weights_rec", 3), ("weights_out", 2))
        if np.ndim(getattr(p, key)) != ndim
    ]
    if problems:
        return problems
    nin, nhid, nout, nsyn = p.n_in, p.n_hidden, p.n_out, p.n_syn
    shapes = {
        "weights_in": (nin, nhid, nsyn),
        "weights_rec": (nhid, nhid, nsyn),
        "weights_out": (nhid, nout),
        "dash_mem": (nhid,),
        "dash_syn": (nhid,),
        "dash_syn_2": (nhid,),
        "threshold": (nhid,),
        "bias": (nhid,),
        "dash_mem_out": (nout,),
        "dash_syn_out": (nout,),
        "threshold_out": (nout,),
        "bias_out": (nout,),
    }
    for key, shape in shapes.items():
        if tuple(np.shape(getattr(p, key))) != shape:
            problems.append(f"{key} has shape {np.shape(getattr(p, key))}, expected {shape}")
    if problems:
        return problems
    for n, limit, what in (
        (nin, MAX_INPUTS, "input channels"),
        (nhid, MAX_HIDDEN, "hidden neurons"),
        (nout, MAX_OUTPUTS, "output neurons"),
        (nsyn, MAX_SYNAPSES, "synapses"),
    ):
        if n > limit:
            problems.append(f"{n} {what}, Xylo Audio 2 has {limit}")
    bounds = {
        "weights": (WEIGHT_MIN, WEIGHT_MAX),
        "dash": (0, DASH_MAX),
        "threshold": (THRESHOLD_MIN, STATE_MAX),
        "bias": (STATE_MIN, STATE_MAX),
    }
    for key in SPEC_ARRAYS:
        lo, hi = bounds[next(b for b in bounds if key.startswith(b))]
        arr = np.asarray(getattr(p, key))
        if arr.size and (arr.min() < lo or arr.max() > hi):
            problems.append(f"{key} holds [{arr.min()}, {arr.max()}], the chip takes [{lo}, {hi}]")
    for key in WEIGHT_SHIFTS:
        if not 0 <= int(getattr(p, key)) <= MAX_WEIGHT_SHIFT:
            problems.append(f"{key} = {getattr(p, key)}, nrf-deploy takes 0..{MAX_WEIGHT_SHIFT}")
    if any(len(a) for a in p.aliases):
        problems.append("aliases are set: nrf-deploy's backends do not model alias spikes")
    fo = fanout(p) if nhid else np.zeros(0, int)
    if fo.size and fo.max() > MAX_FANOUT:
        problems.append(
            f"hidden neuron {int(fo.argmax())} has a fan-out of {int(fo.max())}, "
            f"Xylo Audio 2 allows {MAX_FANOUT}"
        )
    entries = int(np.any(p.weights_rec != 0, axis=2).sum()) if nhid else 0
    if entries > MAX_RECURRENT_ENTRIES:
        problems.append(
            f"{entries} recurrent synapses, the recurrent weight memory holds "
            f"{MAX_RECURRENT_ENTRIES}"
        )
    return problems


def layer_trace(program: XyloProgram, x: np.ndarray, rec: dict, record_states: bool) -> Trace:
    """Per-population trace from whole-layer recordings ``s_h, v_h [T, B, Nhid]``, ``i_h [T, B,
    Nhid, Nsyn]`` and the same for the output layer (``_o``). Shared by every backend (placement
    only,
    no arithmetic)."""
    steps, batch = x.shape[:2]
    outputs = {program.input_name: np.asarray(x, dtype=np.int64)}
    states: dict[str, dict[str, np.ndarray]] = {}
    for g in program.groups:
        key = "h" if g.layer == "hidden" else "o"
        outputs[g.name] = _take(rec, "v" if g.readout else "s", key, g, steps, batch)
        if record_states:
            states[g.name] = {
                "v": _take(rec, "v", key, g, steps, batch),
                "i": _take(rec, "i", key, g, steps, batch, 0),
            }
            if key == "h" and program.n_syn > 1:
                states[g.name]["i2"] = _take(rec, "i", key, g, steps, batch, 1)
    return Trace(outputs, states)


def _take(
    rec: dict, name: str, layer: str, g: Group, steps: int, batch: int, syn: int | None = None
) -> np.ndarray:
    """Group `g`'s slice of one layer recording, shaped ``[T, B, *g.shape]``."""
    arr = np.asarray(rec[f"{name}_{layer}"])
    arr = arr[:, :, g.first : g.stop] if syn is None else arr[:, :, g.first : g.stop, syn]
    return arr.astype(np.int64).reshape(steps, batch, *g.shape)
