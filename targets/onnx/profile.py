"""Conventional-hardware baseline: the float network run densely by onnxruntime on a CPU.

Energy from Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014,
45 nm figures (``derived``: per-operation energies from process data, not a measurement of this
CPU): 4.6 pJ per fp32 multiply-accumulate, 0.9 pJ per fp32 add, 640 pJ per 32-bit DRAM read.
Latency is measured here (onnxruntime, one thread, batch 1) when the export is reported.
"""

from __future__ import annotations

from typing import Any

from nrf_deploy.profile import Constant, HardwareProfile, Ledger

_HOROWITZ = "Horowitz, ISSCC 2014, 45 nm (per-operation energy from process data)"
CPU = {
    "mac_pj": Constant(4.6, "pJ", "fp32 multiply-accumulate", _HOROWITZ, "derived"),
    "ac_pj": Constant(0.9, "pJ", "fp32 add (accumulate)", _HOROWITZ, "derived"),
    "dram_pj": Constant(640.0, "pJ", "32-bit DRAM read", _HOROWITZ, "derived"),
    "step_s": Constant(
        None,
        "s",
        "onnxruntime wall-clock time per timestep on this machine",
        "measured when the report runs (target.resources: 1 thread, batch 1, median)",
        "unset",
    ),
}


def cpu_model(ledger: Ledger, counts: dict[str, Any], resources: dict[str, Any]) -> None:
    """Energy: every synapse every step as an fp32 MAC (dense execution) + every weight read once
    from DRAM per inference (batch 1). Latency: measured onnxruntime time per step x T."""
    ledger.energy("dense synaptic ops as fp32 MACs", "dense_sops", counts["dense_sops"], "mac_pj")
    ledger.energy(
        "weights read from DRAM once per inference", "parameters", counts["parameters"], "dram_pj"
    )
    step = resources.get("cpu_latency_per_step_s")
    if isinstance(step, (int, float)) and ledger.constants["step_s"].kind != "user":
        ledger.add_constant(
            "step_s",
            Constant(
                float(step),
                "s",
                "onnxruntime wall-clock time per timestep",
                "measured on this machine: onnxruntime CPU, 1 thread, batch 1, "
                "median of repeated runs",
                "measured",
            ),
        )
    ledger.latency("timesteps, measured time per step", "timesteps", counts["timesteps"], "step_s")
    ledger.latency_model = "measured: onnxruntime step model, one thread, batch 1"
    ledger.latency_basis = "measured on this machine"
    ledger.info["event_driven_acs"] = ledger.term(
        "if run event-driven: effective ACs x 0.9 pJ (not added)", "acs", counts["acs"], "ac_pj"
    )


PROFILES = (
    HardwareProfile(
        "cpu",
        "CPU (onnxruntime, fp32)",
        CPU,
        cpu_model,
        "Horowitz's 45 nm figures are per operation; a real CPU also spends energy on "
        "control, caches and idle power, so this is a lower bound",
    ),
)
