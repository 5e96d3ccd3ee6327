"""Framework conventions of the float executor (a plain dataclass: importing it needs no torch)."""
from __future__ import annotations

from dataclasses import dataclass

from nrf_deploy.errors import NrfError


@dataclass(frozen=True)
class Semantics:
    """Conventions that differ between frameworks (the defaults follow NIR 1.0.4)."""

    threshold_ge: bool = False
    """Spike when ``v >= threshold`` (sinabs, SpiNNaker) instead of ``v > threshold``."""
    if_min_v: bool = False
    """Clamp IF membranes at ``-v_threshold`` after the reset (sinabs' ``min_v_mem``)."""
    multi_spike: bool = False
    """Emit ``(v > 0) * trunc(v / threshold)`` spikes per step (sinabs' default ``MultiSpike``)."""

    @classmethod
    def named(cls, name: str) -> "Semantics":
        presets = {"nir": cls(), "sinabs": cls(threshold_ge=True, if_min_v=True, multi_spike=True)}
        if name not in presets:
            raise NrfError(f"unknown semantics '{name}'", "--semantics",
                           f"choose one of: {', '.join(presets)}")
        return presets[name]
