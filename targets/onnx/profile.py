"""CPU baseline cost model: measured onnxruntime latency; energy from Horowitz, ISSCC 2014
(45 nm): 4.6 pJ per fp32 multiply-accumulate — every dense MAC of every step."""
from __future__ import annotations

from nrf_deploy.profile import Constant, HardwareProfile

_SRC = "Horowitz, 'Computing's energy problem', ISSCC 2014 (45 nm)"
CONSTANTS = {
    "mac_energy_pj": Constant("fp32 multiply-accumulate", 4.6, "pJ", _SRC, "derived"),
    "ac_energy_pj": Constant("fp32 accumulate", 0.9, "pJ", _SRC, "derived"),
    "dram_32bit_pj": Constant("32-bit DRAM access", 640.0, "pJ", _SRC, "derived"),
}


def estimate(counts: dict, resources: dict, c: dict) -> dict:
    """Compute-only energy of the dense network (no DRAM traffic counted) and measured latency."""
    macs = resources.get("dense_macs_per_step", 0) * counts["timesteps"]
    parts = {"dense MACs x 4.6 pJ": macs * c["mac_energy_pj"].value * 1e-12}
    latency = resources.get("cpu_latency_per_step_s")
    return {"energy_j": sum(parts.values()), "energy_breakdown_j": parts,
            "latency_s": latency * counts["timesteps"] if latency is not None else None,
            "latency_note": "measured: onnxruntime, 1 thread, batch 1, median over runs"}


PROFILE = HardwareProfile("onnx", CONSTANTS, estimate, "compute energy only; memory traffic not modelled")
