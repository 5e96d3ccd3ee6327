"""Framework conventions of the float executor and each writer's preset (plain dataclasses:
importing them needs no torch)."""

from __future__ import annotations

from dataclasses import dataclass

from nrf_deploy.errors import NrfError


@dataclass(frozen=True)
class Semantics:
    """Conventions that differ between frameworks (the defaults follow NIR: nir 1.0.4's update
    and threshold test, each node's recorded reset rule)."""

    threshold_ge: bool = False
    """Spike when ``v >= threshold`` (sinabs, rockpool, SpiNNaker) instead of ``v > threshold``."""
    if_min_v: bool = False
    """Clamp IF membranes at ``-v_threshold`` after the reset (sinabs' ``min_v_mem``)."""
    multi_spike: bool = False
    """Emit ``(v > 0) * trunc(v / threshold)`` spikes per step (sinabs ``MultiSpike``, rockpool)."""
    reset: str | None = None
    """Reset rule used instead of each node's record (the writer's own mechanism), or None."""
    late_reset: bool = False
    """Subtract a step's spikes after the next step's leak (snnTorch: ``mem = beta*mem + I -
    reset*threshold`` with ``reset`` from the previous membrane), not right after the spike."""
    cuba: str = "nir"
    """CubaLIF/CubaLI update: ``nir`` (Euler, v driven by the new current), ``norse`` (input
    added to i undecayed, v driven by that i, then i decays: ``lif_feed_forward_step``) or
    ``rockpool``
    (``i = exp(-dt/tau_syn) (i + w_in I)``, ``v = exp(-dt/tau_mem) v + i + v_leak``: LIFTorch;
    ``r`` is ignored, as rockpool's own ``from_nir`` does)."""
    dt: float | None = None
    """Timestep in seconds the writer assumes (snnTorch 1.0.0's export fixes 1e-4), or None."""
    tau_times_dt: bool = False
    """Time constants in the file are ``dt * tau`` (norse 1.1.0's ``export_nir.py`` writes
    ``tau = dt / tau_mem_inv``): divide them by ``dt`` (seconds) to get tau."""
    bias_at_start: bool = False
    """A delayed edge from an Affine delivers its bias at step 0 (snnTorch's recurrent
    ``nn.Linear`` applied to the initial zero spikes) instead of zeros."""

    @classmethod
    def named(cls, name: str) -> Semantics:
        if name not in PRESETS:
            raise NrfError(
                f"unknown semantics '{name}'", "--semantics", f"choose one of: {', '.join(PRESETS)}"
            )
        return PRESETS[name]


PRESETS: dict[str, Semantics] = {
    "nir": Semantics(),
    "sinabs": Semantics(threshold_ge=True, if_min_v=True, multi_spike=True),
    "snntorch": Semantics(reset="subtract", late_reset=True, dt=1e-4, bias_at_start=True),
    "rockpool": Semantics(threshold_ge=True, multi_spike=True, reset="subtract", cuba="rockpool"),
    "norse": Semantics(reset="zero", cuba="norse", tau_times_dt=True),
}
"""``--semantics`` presets: each writer's own simulation of the graphs it writes
(docs/interop.md)."""
