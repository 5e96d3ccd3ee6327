"""Compare a recording made on real hardware with the target's emulator, step for step.

A recording (``nrf-deploy verify DIR --hardware-trace REC``) is either

* an ``.npz`` with ``input`` ``[T, B, *input_shape]`` (what the chip was driven with) and, per
  recorded population ``<node>``, ``spikes/<node>`` ``[T, B, *shape]`` (events per step) and
  optionally ``<var>/<node>`` for a state variable the emulator records (``v``, ``u``, ... in chip
  units); or
* a ``.csv`` of single-neuron probes (one sample): a header row, then one row per timestep with the
  columns ``t`` (0, 1, 2, ...), ``input`` (or ``input:<i>`` per flat input index) and any of
  ``spike``, ``v``, ``u`` (each optionally ``<column>:<node>``; bare names mean the export's only
  population), for populations of one neuron (use the ``.npz`` form for larger ones).

The emulator runs on ``input``; spikes are compared exactly, states where recorded. A constant
offset in timesteps (probe latency) is never absorbed silently: a declared offset K (the recording
is K steps late: ``rec[t + K] == emulator[t]``) is applied and reported; an undeclared one is
detected and reported as a mismatch with its diagnosis. The read-out rule ``spike-step-differs``
counts state differences at the steps where the emulator's neuron spiked separately ("read-out
differs at spike steps") instead of as mismatches (a probe may read v before the reset). This module
names no chip: targets are reached through :class:`~nrf_deploy.target.Target`.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nrf_deploy.errors import NrfError
from nrf_deploy.target import Deployment, Target
from nrf_deploy.trace import Trace
from nrf_deploy.verify import Comparison, compare

READOUT_RULES = ("exact", "spike-step-differs")
MAX_DETECTED_OFFSET = 4
"""Largest |offset| in timesteps tried when diagnosing an undeclared probe latency."""
HARDWARE = "hardware"
SPIKES = "spikes"


@dataclass
class Recording:
    """What the chip was driven with and what was read back (every array ``[T, B, ...]``)."""

    path: str
    input: np.ndarray
    spikes: dict[str, np.ndarray] = field(default_factory=dict)
    states: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)

    def variables(self) -> list[tuple[str, str, np.ndarray]]:
        """(node, variable, array) of every recorded quantity; spikes are variable ``spikes``."""
        out = [(n, SPIKES, a) for n, a in self.spikes.items()]
        return out + [(n, v, a) for n, vs in self.states.items() for v, a in vs.items()]


@dataclass
class Agreement:
    """Per recorded population and variable: how much of the recording agrees."""

    node: str
    variable: str
    compared: int
    mismatches: int
    readout_differs: int = 0
    spikes_emulator: int | None = None
    spikes_hardware: int | None = None

    @property
    def fraction(self) -> float:
        return 1.0 - self.mismatches / self.compared if self.compared else 1.0

    def describe(self) -> str:
        text = (
            f"{self.node}/{self.variable}: {100 * self.fraction:.2f}% agree "
            f"({self.mismatches} of {self.compared} values differ"
        )
        if self.spikes_emulator is not None:
            text += f"; spikes emulator {self.spikes_emulator}, hardware {self.spikes_hardware}"
        if self.readout_differs:
            text += f"; read-out differs at spike steps: {self.readout_differs}"
        return text + ")"


@dataclass
class HardwareResult:
    """Verdict on one recording: the comparison (steps are the recording's), per-population
    agreement, the offset applied and, where the steps do not agree, a detected offset."""

    target: str
    recording: str
    comparison: Comparison
    agreement: list[Agreement]
    offset: int = 0
    readout_rule: str = "exact"
    detected_offset: int | None = None
    aligned: dict[str, Trace] = field(default_factory=dict, repr=False)
    """The compared arrays after alignment: ``{"emulator": ..., "hardware": ...}``."""

    @property
    def ok(self) -> bool:
        return self.comparison.ok

    def diff_arrays(self) -> dict[str, np.ndarray]:
        """Both sides' aligned arrays for the first diverging sample (empty when they agree)."""
        if self.comparison.first is None:
            return {}
        s = self.comparison.first.sample
        return {
            f"{side}/{k}": a[:, s]
            for side, trace in self.aligned.items()
            for k, a in trace.arrays().items()
            if k != "out/ "
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "recording": self.recording,
            "ok": self.ok,
            "offset_steps": self.offset,
            "readout_rule": self.readout_rule,
            "detected_offset_steps": self.detected_offset,
            "comparison": self.comparison.to_dict(),
            "agreement": [{**a.__dict__, "fraction": a.fraction} for a in self.agreement],
        }

    def summary(self) -> str:
        c = self.comparison
        verdict = "OK" if c.ok else "MISMATCH"
        lines = [
            (
                f"{HARDWARE:>12} vs {c.reference}: {verdict}  {c.samples} samples x "
                f"{c.timesteps} steps, {c.compared_values} values compared, "
                f"{c.mismatches} mismatches"
            )
        ]
        if self.offset:
            lines.append(
                f"{'':>14}declared probe offset: recording is {self.offset} step(s) late "
                f"(emulator step = recording step - {self.offset})"
            )
        if c.first is not None:
            lines.append(f"{'':>14}first divergence (recording's steps): {c.first.describe()}")
        if self.detected_offset is not None:
            lines.append(
                f"{'':>14}diagnosis: spikes agree if shifted by {self.detected_offset} "
                f"step(s) (probe latency?); if that latency is known, re-run with "
                f"--probe-offset {self.detected_offset}"
            )
        lines += [f"{'':>14}{a.describe()}" for a in self.agreement]
        return "\n".join(lines)


def read_recording(path: str | Path) -> Recording:
    """Read an ``.npz`` or ``.csv`` recording (format in the module docstring); NrfError if not."""
    path = Path(path)
    if not path.is_file():
        raise NrfError(
            f"hardware recording '{path}' does not exist",
            str(path),
            "give the .npz or .csv written from the chip's probes",
        )
    if path.suffix.lower() == ".csv":
        return _read_csv(path)
    if path.suffix.lower() != ".npz":
        raise NrfError(
            f"unknown recording format '{path.suffix}'",
            str(path),
            "save the recording as .npz (spikes/<node>, v/<node>, input) or .csv",
        )
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: np.asarray(data[k]) for k in data.files}
    except (OSError, ValueError) as exc:
        raise NrfError(
            f"cannot read the recording ({type(exc).__name__}: {exc})",
            str(path),
            "write it with numpy.savez",
        ) from None
    if "input" not in arrays:
        raise NrfError(
            "the recording has no 'input' array (what the chip was driven with)",
            str(path),
            "add input=[T, B, *input_shape] to the .npz",
        )
    rec = Recording(str(path), arrays.pop("input"))
    for key, arr in arrays.items():
        var, _, node = key.partition("/")
        if not node:
            raise NrfError(
                f"unexpected array '{key}' in the recording",
                f"{path}: {key}",
                "name arrays spikes/<node>, <variable>/<node> or input",
            )
        if var == SPIKES:
            rec.spikes[node] = arr
        else:
            rec.states.setdefault(node, {})[var] = arr
    return rec


def _read_csv(path: Path) -> Recording:
    try:
        with open(path, newline="") as fh:
            rows = list(csv.DictReader(fh))
        columns = {
            k.strip(): np.array([float(r[k]) for r in rows]) for k in (rows[0] if rows else {})
        }
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise NrfError(
            f"cannot read the CSV recording ({type(exc).__name__}: {exc})",
            str(path),
            "one header row (t, input, spike, v, ...), then one number per cell",
        ) from None
    if "t" not in columns or not np.array_equal(columns["t"], np.arange(len(rows))):
        raise NrfError(
            "the CSV needs a column 't' counting timesteps 0, 1, 2, ...",
            str(path),
            "add the t column (one row per timestep, in order)",
        )
    inputs = [k for k in columns if k == "input" or k.startswith("input:")]
    if any(k != "input" and not k[6:].isdigit() for k in inputs):
        raise NrfError(
            f"input columns must be 'input' or 'input:<flat index>', got {inputs}",
            str(path),
            "name them input:0, input:1, ...",
        )
    inputs.sort(key=lambda k: int(k.partition(":")[2] or 0))
    if not inputs:
        raise NrfError(
            "the CSV has no 'input' column (what the chip was driven with)",
            str(path),
            "add an input column (or input:<i> per flat input index)",
        )
    x = np.stack([columns[k] for k in inputs], axis=1)[:, None, :]
    rec = Recording(str(path), x.astype(np.int64))
    for key, values in columns.items():
        if key == "t" or key in inputs:
            continue
        var, _, node = key.partition(":")
        var = SPIKES if var == "spike" else var
        arr = values[:, None, None]
        if var == SPIKES:
            rec.spikes[node] = arr.astype(np.int64)
        else:
            rec.states.setdefault(node, {})[var] = arr
    return rec


def check_recording(rec: Recording, deployment: Deployment, emulated: Trace) -> Recording:
    """Resolve CSV node names and check every array against the emulator's trace: known node,
    known variable, shape ``[T, B, *node_shape]``, binary spikes (NrfError naming the array)."""
    populations = [n for n in emulated.outputs if n in emulated.states]
    rec = _resolve_bare_names(rec, populations)
    steps, batch = rec.input.shape[:2]
    spiking = deployment.record.spiking_nodes
    for node, var, arr in rec.variables():
        where = f"{rec.path}: {var}/{node}"
        if node not in emulated.states:
            raise NrfError(
                f"unknown node '{node}' in the recording",
                where,
                f"record one of: {', '.join(populations)}",
            )
        if var == SPIKES and node not in spiking:
            raise NrfError(
                f"node '{node}' does not spike (a read-out)",
                where,
                f"compare its state instead (v/{node})",
            )
        if var != SPIKES and var not in emulated.states[node]:
            raise NrfError(
                f"node '{node}' has no state variable '{var}'",
                where,
                f"record one of: {', '.join(['spikes', *emulated.states[node]])}",
            )
        want = emulated.outputs[node].shape
        if arr.shape != want[:1] + (batch,) + want[2:] or arr.shape[0] != steps:
            raise NrfError(
                f"shape {list(arr.shape)} does not match [T, B, *shape] = "
                f"{[steps, batch, *want[2:]]} (T, B from 'input')",
                where,
                "record every neuron of the population at every step of the input",
            )
        if var == SPIKES and not (np.all(arr >= 0) and np.array_equal(arr, np.round(arr))):
            raise NrfError(
                "spikes must be event counts (0, 1, ...)",
                where,
                "record the events per neuron and step, not times or rates",
            )
    return rec


def _resolve_bare_names(rec: Recording, populations: list[str]) -> Recording:
    """A CSV's bare column names (``spike``, ``v``) mean the export's only population."""
    if "" not in rec.spikes and "" not in rec.states:
        return rec
    if len(populations) != 1:
        raise NrfError(
            "bare CSV columns (spike, v, ...) are ambiguous: the export has "
            f"{len(populations)} populations",
            rec.path,
            f"name the node: spike:<node>, v:<node> with <node> one of {populations}",
        )
    node = populations[0]
    spikes = {node if k == "" else k: a for k, a in rec.spikes.items()}
    states = {node if k == "" else k: a for k, a in rec.states.items()}
    return Recording(rec.path, rec.input, spikes, states)


def emulator_backend(target: Target, deployment: Deployment) -> str:
    """The backend a recording is checked against: the emulator, else the reference."""
    table = target.backends_for(deployment)
    return next((b.name for b in table if b.role == "emulator"), table[0].name)


def verify_recording(
    target: Target,
    deployment: Deployment,
    rec: Recording,
    offset: int = 0,
    readout_rule: str = "exact",
) -> HardwareResult:
    """Run the emulator on ``rec.input`` and compare it with the recording.

    `offset` (timesteps): the recording is that many steps late (negative: early)."""
    if readout_rule not in READOUT_RULES:
        raise NrfError(
            f"unknown read-out rule '{readout_rule}'",
            "--readout-rule",
            f"choose one of: {', '.join(READOUT_RULES)}",
        )
    x = _check_input(rec, deployment)
    if abs(offset) >= x.shape[0]:
        raise NrfError(
            f"probe offset {offset} leaves no step of {x.shape[0]} to compare",
            "--probe-offset",
            "give the probe latency in timesteps, |K| < T",
        )
    backend = emulator_backend(target, deployment)
    emulated = target.run(deployment, backend, x, record_states=True)
    rec = check_recording(rec, deployment, emulated)
    order = list(deployment.record.schedule)
    spiking = deployment.record.spiking_nodes
    comparison, agreement, aligned = _compare_aligned(
        emulated, rec, backend, order, offset, readout_rule, spiking
    )
    detected = (
        None if comparison.ok else _detect_offset(emulated, rec, backend, order, offset, spiking)
    )
    return HardwareResult(
        target.name, rec.path, comparison, agreement, offset, readout_rule, detected, aligned
    )


def _check_input(rec: Recording, deployment: Deployment) -> np.ndarray:
    want = tuple(deployment.input_shape)
    if rec.input.ndim < 2 or tuple(rec.input.shape[2:]) != want:
        raise NrfError(
            f"recording input has shape {list(rec.input.shape)}, the export expects "
            f"[T, B, {', '.join(map(str, want))}]",
            f"{rec.path}: input",
            "record the input the chip was driven with, timesteps first",
        )
    return rec.input


def _shift(arr: np.ndarray, offset: int, emulator: bool) -> np.ndarray:
    """The part of `arr` that overlaps when the recording is `offset` steps late."""
    steps = arr.shape[0]
    if offset >= 0:
        return arr[: steps - offset] if emulator else arr[offset:]
    return arr[-offset:] if emulator else arr[: steps + offset]


def _compare_aligned(
    emulated: Trace,
    rec: Recording,
    backend: str,
    order: list[str],
    offset: int,
    rule: str,
    spiking: frozenset[str],
) -> tuple[Comparison, list[Agreement], dict[str, Trace]]:
    ours = Trace({}, {})
    theirs = Trace({}, {})
    agreement = []
    for node, var, arr in rec.variables():
        mine = _shift(
            emulated.outputs[node] if var == SPIKES else emulated.states[node][var],
            offset,
            emulator=True,
        )
        seen = _shift(arr, offset, emulator=False)  # not cast: 1.5 must not pass as 1
        differs = 0
        if var != SPIKES and rule == "spike-step-differs" and node in spiking:
            fired = _shift(emulated.outputs[node], offset, emulator=True) == 1
            at_spike = fired & (mine != seen)
            differs = int(at_spike.sum())
            seen = np.where(at_spike, mine, seen)
        if var == SPIKES:
            ours.outputs[node], theirs.outputs[node] = mine, seen
        else:
            ours.states.setdefault(node, {})[var] = mine
            theirs.states.setdefault(node, {})[var] = seen
        bad = int(np.sum(mine != seen))
        spikes = (int(mine.sum()), int(seen.sum())) if var == SPIKES else (None, None)
        agreement.append(Agreement(node, var, int(mine.size), bad, differs, *spikes))
    if not ours.outputs:  # compare() reads T and B from an output; this one is not compared
        ours.outputs[" "] = np.zeros((rec.input.shape[0] - abs(offset), rec.input.shape[1]))
    comparison = compare(ours, theirs, backend, HARDWARE, order, 0.0, None, frozenset(rec.spikes))
    comparison.timesteps = rec.input.shape[0] - abs(offset)
    if comparison.first is not None:
        comparison.first.timestep += max(offset, 0)
    return comparison, agreement, {"emulator": ours, HARDWARE: theirs}


def _detect_offset(
    emulated: Trace,
    rec: Recording,
    backend: str,
    order: list[str],
    declared: int,
    spiking: frozenset[str],
) -> int | None:
    """The nearest other offset at which every recorded spike agrees (some spike must fire)."""
    if not rec.spikes or not any(a.any() for a in rec.spikes.values()):
        return None
    spikes_only = Recording(rec.path, rec.input, rec.spikes, {})
    steps = rec.input.shape[0]
    for k in sorted(range(-MAX_DETECTED_OFFSET, MAX_DETECTED_OFFSET + 1), key=abs):
        if k == declared or abs(k) >= steps - 1:
            continue
        comparison, _, _ = _compare_aligned(
            emulated, spikes_only, backend, order, k, "exact", spiking
        )
        if comparison.ok:
            return k
    return None
