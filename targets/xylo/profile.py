"""Xylo Audio 2 cost model: a measured inference power and rockpool's clock-cycle model.

Published (measured on the chip): 291 uW dynamic inference power and 6.6 uJ per inference for the
Aloha keyword-spotting network in continuous real-time operation (Bos & Muir, "Micro-power spoken
keyword spotting on Xylo Audio 2", arXiv:2406.15112, 2024). Xylo runs in real time, one timestep
per ``dt``: the energy of an inference is that power over the input's duration ``T x dt`` — an
assumption for networks other than the KWS one, stated in the notes. No energy per synaptic event
is published (the optional term stays unset).

Time per step: rockpool's cycle model for SYNS61201 (``rockpool/devices/xylo/syns61201/
power_cycles_model.py`` ``cycles_model``, rockpool 3.0.3.dev @ 42cee1c), restated below from the
deployment's sizes, mean recurrent fan-out and measured spike probabilities. The master clock
frequency is not collected from a primary source: ``cycle_ns`` is unset until the user supplies it
(``--energy-constant xylo2.cycle_ns=VALUE``), so latency is "not available" by default.
"""

from __future__ import annotations

from typing import Any

from nrf_deploy.profile import Constant, HardwareProfile, Ledger

_BOS = "Bos & Muir, arXiv:2406.15112, 2024 (Aloha KWS on Xylo Audio 2, measured)"
_ROCKPOOL = "rockpool syns61201/power_cycles_model.py cycles_model (3.0.3.dev @ 42cee1c)"

XYLO_AUDIO2 = {
    "inference_power_mw": Constant(
        0.291, "mW", "dynamic inference power (KWS network, real time)", _BOS, "measured"
    ),
    "kws_inference_uj": Constant(
        6.6, "uJ", "energy per KWS inference (reference figure, not summed)", _BOS, "measured"
    ),
    "sop_pj": Constant(
        None,
        "pJ",
        "energy per synaptic event",
        "no published per-event figure; supply one with --energy-constant xylo2.sop_pj=VALUE",
        "unpublished",
    ),
    "cycle_ns": Constant(
        None,
        "ns",
        "master clock period (cycle counts from " + _ROCKPOOL + ")",
        "clock frequency not collected; supply it with --energy-constant xylo2.cycle_ns=VALUE",
        "unset",
    ),
}

# rockpool's cycle-count constants (cycles_model)
_INPUT_LOOP, _HIDDEN_UPDATE, _OUTPUT_ISYN, _FIXED_HIDDEN, _FIXED_OUTPUT = 3.5, 7, 8, 19, 12


def cycles_per_step(
    n_in: int, n_hidden: int, n_out: int, fanout: float, p_in: float, p_hidden: float, p_out: float
) -> float:
    """Master clock cycles for one timestep (rockpool's ``cycles_model`` without aliases: input
    loop, hidden synaptic updates, read-out synaptic updates, hidden and read-out spike stages).
    ``p_*`` are the probabilities that a channel/neuron emits an event in a step."""
    del p_out  # rockpool's read-out spike stage has a fixed cost
    inputs = n_in * (p_in * n_hidden * _INPUT_LOOP + 1)
    hidden_isyn = n_hidden * (fanout * _HIDDEN_UPDATE * p_hidden + 3)
    output_isyn = n_hidden * p_hidden * (1 + n_out * _OUTPUT_ISYN)
    hidden_spk = n_hidden * (_FIXED_HIDDEN + 2 * p_hidden + p_hidden)
    output_spk = n_out * _FIXED_OUTPUT
    return float(inputs + hidden_isyn + output_isyn + hidden_spk + output_spk)


def _probability(layers: dict[str, Any], names: list[str], steps: int) -> float:
    """Events per neuron and step over the named layers, capped at 1 (rockpool counts a step with
    any event once; multi-event steps make this an upper bound)."""
    neurons = sum(layers[n]["neurons"] for n in names if n in layers)
    spikes = sum(layers[n]["spikes"] or 0.0 for n in names if n in layers)
    return min(1.0, spikes / max(neurons * steps, 1))


def xylo2_model(ledger: Ledger, counts: dict[str, Any], resources: dict[str, Any]) -> None:
    """Energy: inference power x T x dt (+ optional events x sop_pj). Latency: cycles x cycle_ns."""
    duration = counts["timesteps"] * counts["dt"]
    ledger.energy(
        "inference power x input duration (T x dt, s)",
        "input_duration_s",
        duration,
        "inference_power_mw",
    )
    ledger.energy(
        "synaptic events", "effective_sops", counts["effective_sops"], "sop_pj", required=False
    )
    ledger.info["kws_reference"] = ledger.term(
        "the published KWS inference, for scale (not added)",
        "kws_inferences",
        1,
        "kws_inference_uj",
    )
    layers = counts.get("layers", {})
    groups = resources.get("groups", {})
    steps = int(counts["timesteps"])
    p_in = _probability(layers, [n for n, v in layers.items() if v["kind"] == "Input"], steps)
    p_hid = _probability(layers, list(groups.get("hidden", [])), steps)
    p_out = _probability(layers, list(groups.get("output", [])), steps)
    per_step = cycles_per_step(
        int(resources.get("input_channels", 0)),
        int(resources.get("hidden_neurons", 0)),
        int(resources.get("output_neurons", 0)),
        float(resources.get("mean_recurrent_fanout", 0.0)),
        p_in,
        p_hid,
        p_out,
    )
    ledger.latency(
        "master clock cycles (rockpool cycles model), summed over steps",
        "clock_cycles",
        per_step * counts["timesteps"],
        "cycle_ns",
    )
    ledger.info["cycles_per_step"] = per_step
    ledger.info["input_duration_s"] = duration
    ledger.latency_model = (
        "time-stepped: rockpool's cycle model per step from the export's sizes, mean "
        f"fan-out and event probabilities (input {p_in:.3f}, hidden {p_hid:.3f}) x the "
        f"clock period; the chip streams in real time, one step per dt ({duration:g} s)"
    )
    ledger.latency_basis = "cycle model x clock period"
    ledger.notes.append(
        "the 291 uW figure was measured on the KWS network; other networks draw more or less"
    )


PROFILES = (
    HardwareProfile(
        "xylo2",
        "SynSense Xylo Audio 2",
        XYLO_AUDIO2,
        xylo2_model,
        "measured inference power over the input's real-time duration; cycle model "
        "needs the clock period",
    ),
)
