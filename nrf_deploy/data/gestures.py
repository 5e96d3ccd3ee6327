"""Generated DVS128-sized gesture events: one hand-like shape moving in one of several motion
classes, seen by the event camera of :mod:`nrf_deploy.data.shapes`.

The "hand" is the shapes generator's three shapes held together: a circle (the palm, radius
``r``), a triangle above it (the fingers, circumradius ``0.9 r``, centre ``1.1 r`` above the
palm's) and a square below it (the wrist, "radius" ``0.7 r``, centre ``1.1 r`` below). The three
move rigidly; :func:`nrf_deploy.data.shapes.render` draws them at sub-pixel precision and the
same per-pixel event model and noise turn the intensity frames into ON/OFF events.

Motion classes (:data:`MOTIONS`; y grows downwards, as on the sensor):

* ``left``, ``right``, ``up``, ``down``: straight motion at a uniform speed (pixels per frame)
  from a start position drawn so that the whole path stays on the canvas;
* ``clockwise``, ``counterclockwise``: the palm's centre on a circle of uniform radius about a
  uniform centre, a uniform fraction of a turn over the sample, from a uniform start angle.

Sample ``i`` of ``generate_gestures(n, cfg, seed)`` (events ``uint8 [n, T, 2, size, size]``,
labels ``int64 [n]``) depends only on ``(seed, i, cfg)``; the label is drawn uniformly per sample.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from nrf_deploy.data.shapes import _add_noise, _events, _sample_seed, render
from nrf_deploy.errors import NrfError

MOTIONS = ("left", "right", "up", "down", "clockwise", "counterclockwise")
_DIRECTIONS = {"left": (-1.0, 0.0), "right": (1.0, 0.0), "up": (0.0, -1.0), "down": (0.0, 1.0)}
# palm (circle), wrist (square), fingers (triangle): centre offsets and radii relative to r
_OFFSETS = torch.tensor([[0.0, 0.0], [0.0, 1.1], [0.0, -1.1]])
_RADII = torch.tensor([1.0, 0.7, 0.9])
_EXTENT = 2.1  # farthest point of the hand from the palm's centre, relative to r


@dataclass(frozen=True)
class GestureConfig:
    """Generator settings. Lengths in pixels, speeds in pixels per frame; ``turns`` is the
    fraction of a full circle the circular motions cover over the ``frames``; ``threshold`` and
    ``noise`` as in :class:`nrf_deploy.data.ShapesConfig` (intensity change per event, spurious
    event probability per pixel, polarity and frame)."""

    size: int = 128
    frames: int = 16
    radius: tuple[float, float] = (7.0, 10.0)
    speed: tuple[float, float] = (2.5, 4.0)
    orbit: tuple[float, float] = (14.0, 24.0)
    turns: tuple[float, float] = (0.5, 0.9)
    threshold: float = 0.15
    noise: float = 0.001

    @property
    def margin(self) -> float:
        """Closest distance (px) of the palm's centre to the canvas border."""
        return _EXTENT * self.radius[1] + 1.0

    def validate(self) -> None:
        """Raise :class:`NrfError` when a motion of the largest size/speed leaves the canvas."""
        room = self.size - 2 * self.margin
        ranges = (self.radius, self.speed, self.orbit, self.turns)
        if any(not 0 < lo <= hi for lo, hi in ranges) or self.frames < 2:
            raise NrfError(
                "gesture ranges must be (min, max) with 0 < min <= max, frames >= 2",
                "GestureConfig",
                "fix radius/speed/orbit/turns/frames",
            )
        if self.speed[1] * (self.frames - 1) > room or 2 * self.orbit[1] > room:
            raise NrfError(
                f"a {self.size} px canvas leaves {room:.0f} px for the palm's centre, too little "
                f"for {self.frames} frames at {self.speed[1]} px/frame or an orbit of "
                f"{self.orbit[1]} px",
                "GestureConfig",
                "lower speed, orbit, radius or frames, or raise size",
            )
        if not 0 <= self.noise < 1 or self.threshold <= 0:
            raise NrfError(
                "noise must be in [0, 1) and threshold > 0", "GestureConfig", "fix the values"
            )


def _uniform(u: torch.Tensor, bounds: tuple[float, float]) -> torch.Tensor:
    return bounds[0] + (bounds[1] - bounds[0]) * u


def _palm_path(u: torch.Tensor, motion: str, cfg: GestureConfig) -> torch.Tensor:
    """The palm's centre ``[T, 2]`` (px) for one sample's uniform draws ``u [6]``."""
    t = torch.arange(cfg.frames, dtype=torch.float64)
    lo, hi = cfg.margin, cfg.size - cfg.margin
    if motion in _DIRECTIONS:
        speed = _uniform(u[1], cfg.speed)
        travel = speed * (cfg.frames - 1)
        d = torch.tensor(_DIRECTIONS[motion], dtype=torch.float64)
        along = lo + (hi - lo - travel) * u[2]  # start of the path along the motion
        across = _uniform(u[3], (lo, hi))
        start_pos = torch.where(d != 0, torch.where(d > 0, along, hi - (along - lo)), across)
        return start_pos + d * speed * t[:, None]
    orbit = _uniform(u[1], cfg.orbit)
    centre = torch.stack([_uniform(u[k], (lo + orbit, hi - orbit)) for k in (2, 3)])
    sense = 1.0 if motion == "clockwise" else -1.0  # angle grows clockwise on screen (y down)
    step = sense * 2 * math.pi * _uniform(u[4], cfg.turns) / (cfg.frames - 1)
    angle = 2 * math.pi * u[5] + step * t
    return centre + orbit * torch.stack([torch.cos(angle), torch.sin(angle)], -1)


def gesture_paths(
    gens: list[torch.Generator], cfg: GestureConfig
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Labels ``[n]``, shape centres ``[n, T, 3, 2]`` and radii ``[n, T, 3]`` (px) of the hands."""
    draws = torch.stack([torch.rand(7, generator=g, dtype=torch.float64) for g in gens])
    labels = (draws[:, 0] * len(MOTIONS)).long().clamp_max(len(MOTIONS) - 1)
    r = _uniform(draws[:, 6], cfg.radius)  # [n]
    palms = torch.stack(
        [_palm_path(u[:6], MOTIONS[int(k)], cfg) for u, k in zip(draws, labels)]
    )  # [n, T, 2]
    centres = palms[:, :, None, :] + r[:, None, None, None] * _OFFSETS.double()
    radii = (r[:, None] * _RADII.double()).unsqueeze(1).expand(-1, cfg.frames, -1)
    return labels, centres.float(), radii.float().contiguous()


def generate_gestures(
    n: int | Sequence[int],
    cfg: GestureConfig = GestureConfig(),
    seed: int = 0,
    chunk: int = 16,
) -> tuple[np.ndarray, np.ndarray]:
    """Samples ``0..n-1`` (or the sample indices `n`): events uint8 ``[n, T, 2, size, size]``
    (channel 0 ON, 1 OFF) and labels int64 ``[n]`` (indices into :data:`MOTIONS`). Deterministic
    per ``(seed, sample index)``; runs on one torch thread (restored after)."""
    cfg.validate()
    indices = list(range(n)) if isinstance(n, int) else [int(i) for i in n]
    if isinstance(n, int) and n < 0 or any(i < 0 for i in indices):
        raise NrfError(f"cannot generate {n} samples", "generate_gestures", "ask for n >= 0")
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        events = np.zeros((len(indices), cfg.frames, 2, cfg.size, cfg.size), dtype=np.uint8)
        labels = np.zeros(len(indices), dtype=np.int64)
        for start in range(0, len(indices), chunk):
            stop = min(len(indices), start + chunk)
            gens = [
                torch.Generator().manual_seed(_sample_seed(seed, i)) for i in indices[start:stop]
            ]
            y, centres, radii = gesture_paths(gens, cfg)
            ev = _events(render(centres, radii, cfg.size), cfg.threshold)
            for i, g in enumerate(gens):
                _add_noise(ev[i], cfg.noise, g)
            events[start:stop], labels[start:stop] = ev.numpy(), y.numpy()
        return events, labels
    finally:
        torch.set_num_threads(previous)
