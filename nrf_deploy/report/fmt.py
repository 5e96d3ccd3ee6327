"""Readable numbers for people (terminal and HTML): SI prefixes with units, thousands separators,
ratios in words, singular/plural, and human labels for report.json's keys.

report.json keeps raw SI floats and snake_case keys; everything a person reads goes through here.
"""

from __future__ import annotations

import math
from typing import Any

_PREFIXES = (
    (1e9, "G"),
    (1e6, "M"),
    (1e3, "k"),
    (1.0, ""),
    (1e-3, "m"),
    (1e-6, "µ"),
    (1e-9, "n"),
    (1e-12, "p"),
    (1e-15, "f"),
)
NOT_AVAILABLE = "not available"


def si(value: float | None, unit: str, status: str | None = None, digits: int = 3) -> str:
    """``2.3e-6, "J"`` -> ``"2.3 µJ"``; ``0.0134, "s"`` -> ``"13.4 ms"``; None -> "not available";
    a partial total (``status == "partial"``: an optional term has no constant) gets a ``≥``."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return NOT_AVAILABLE
    if value == 0:
        return f"0 {unit}"
    value = float(f"{value:.{digits}g}")  # 999.95e-6 s -> 1 ms, not 1e+03 µs
    allowed = [(s, p) for s, p in _PREFIXES if not (unit == "s" and s > 1)]  # no kiloseconds
    scale, prefix = next(((s, p) for s, p in allowed if abs(value) >= s), allowed[-1])
    number = value / scale
    text = f"{number:,.0f}" if abs(number) >= 10**digits else f"{number:.{digits}g}"
    text = f"{text} {prefix}{unit}"
    return ("≥ " + text) if status == "partial" else text


def count(value: float | None, digits: int = 3) -> str:
    """A count with thousands separators: ``5761000.0`` -> ``"5,761,000"``; small averages keep
    `digits` significant digits (``2.5`` -> ``"2.5"``)."""
    if value is None:
        return NOT_AVAILABLE
    v = float(value)
    if v == 0:
        return "0"
    if abs(v) >= 100 or v == round(v):
        return f"{round(v):,}"
    return f"{v:.{digits}g}"


def plural(n: float, word: str, words: str | None = None) -> str:
    """``plural(1, "sample")`` -> ``"1 sample"``; ``plural(8, "sample")`` -> ``"8 samples"``."""
    return f"{count(n)} {word if n == 1 else (words or word + 's')}"


def percent(value: float | None, digits: int = 3) -> str:
    return NOT_AVAILABLE if value is None else f"{100 * value:.{digits}g} %"


def ratio(mine: float | None, baseline: float | None, status: str | None = None) -> str:
    """How `mine` compares with `baseline`: ``"3.6× less"``, ``"2,800× more"``, ``"about the
    same"``.
    A partial `mine` (a lower bound, ``status == "partial"``) gives ``"up to 3.6× less"`` or
    ``"≥ 2,800× more"``."""
    if mine is None or not baseline:
        return NOT_AVAILABLE
    if mine == 0:
        return "0 (none)"
    r = mine / baseline
    if 1 / 1.05 <= r <= 1.05 and status != "partial":
        return "about the same"
    factor, word = (1 / r, "less") if r < 1 else (r, "more")
    text = f"{float(f'{factor:.2g}'):,.0f}" if factor >= 100 else f"{factor:.2g}"
    if status == "partial":
        return f"up to {text}× less" if word == "less" else f"≥ {text}× more"
    return f"{text}× {word}"


# Human labels for report.json keys (units in the label where the value has one).
LABELS = {
    "median_l2_px": "median l2 error vs true centre",
    "decoded_difference_px": "decoded distance to the float model",
    "accuracy": "accuracy vs labels",
    "prediction_agreement": "prediction agreement with the float model",
    "count_correlation": "spike-count correlation with the float model",
    "count_relative_l1": "relative L1 error of spike counts",
    "spikes_per_inference": "output spikes per inference",
    "relative_rms_error": "relative RMS error vs the float model",
    "correlation": "correlation with the float model",
    "output_mismatches_vs_reference": "output values differing from the reference",
    "samples": "samples",
    "effective_sops": "effective synaptic ops",
    "dense_sops": "dense synaptic ops",
    "neuron_updates": "neuron updates",
    "critical_core_sops": "synaptic ops on the busiest core",
    "critical_core_updates": "neuron updates on the busiest core",
    "timesteps": "timesteps",
    "input_duration_s": "input duration",
    "pipeline_passes": "pipeline passes",
    "chip_seconds": "chip-seconds",
    "spikes": "spikes",
    "macs": "MACs",
    "acs": "ACs",
}

_UNITS = {"median_l2_px": "px", "decoded_difference_px": "px"}
_FRACTIONS = {"accuracy", "prediction_agreement", "relative_rms_error", "count_relative_l1"}


def label(key: str) -> str:
    """The human label of a report.json key (the key with spaces if none is defined)."""
    return LABELS.get(key, key.replace("_", " "))


def metric(key: str, value: Any) -> str:
    """A metric's value with its unit: ``median_l2_px 3.27`` -> ``"3.27 px"``, accuracy -> "%",
    correlations -> ``"r = 0.98"``, mismatch counts with separators."""
    if value is None:
        return NOT_AVAILABLE
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return str(value)
    if key in _UNITS:
        return f"{value:.3g} {_UNITS[key]}"
    if key in _FRACTIONS:
        return percent(value)
    if key in ("count_correlation", "correlation"):
        return f"r = {value:.3g}"
    if key == "output_mismatches_vs_reference":
        return plural(value, "value") + " differ" + ("s" if value == 1 else "")
    if key == "spikes_per_inference":
        return plural(value, "spike")
    return count(value)
