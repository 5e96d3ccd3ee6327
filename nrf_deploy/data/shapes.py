"""GERD-style event data: shapes moving (and scaling) on a canvas, seen by an event camera.

Each sample is ``frames`` event frames ``[2, size, size]`` (channel 0: ON events, 1: OFF events)
and the centres ``(x, y)`` in pixels of the circle, square and triangle in every frame. Intensity
frames are rendered with sub-pixel precision (anti-aliased edges); every pixel integrates its
intensity change and emits an event each time the accumulated change passes ``threshold``
(integrate-and-fire, at most one event per pixel, polarity and frame); Bernoulli noise adds
spurious events. Everything is vectorised in torch and deterministic for a given seed.

On-disk format (``save_dataset``): one ``.npz`` with ``events`` uint8 ``[N, T, 2, H, W]``,
``centres`` float32 ``[N, T, 3, 2]`` (x, y in pixels, shapes in SHAPES order) and ``config``
(the JSON of :class:`ShapesConfig`).
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from nrf_deploy.errors import NrfError
from nrf_deploy.fileio import atomic_path

SHAPES = ("circle", "square", "triangle")


@dataclass(frozen=True)
class ShapesConfig:
    """Generator settings. Lengths in pixels, speeds in pixels per frame."""

    size: int = 64
    frames: int = 40
    radius: tuple[float, float] = (5.0, 9.0)
    max_speed: float = 1.5
    scaling: float = 0.2          # relative radius oscillation amplitude (0: fixed size)
    threshold: float = 0.15       # intensity change per event
    noise: float = 0.002          # probability of a spurious event per pixel, polarity and frame

    def validate(self) -> None:
        if self.size < 16 or self.frames < 1:
            raise NrfError(f"size {self.size} / frames {self.frames} too small", "ShapesConfig",
                           "use size >= 16 and frames >= 1")
        if not 0 <= self.noise < 1 or self.threshold <= 0:
            raise NrfError("noise must be in [0, 1) and threshold > 0", "ShapesConfig", "fix the values")


def _trajectories(n: int, cfg: ShapesConfig, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Centres [n, T, 3, 2] bouncing off the walls, radii [n, T, 3]."""
    r0 = cfg.radius[0] + (cfg.radius[1] - cfg.radius[0]) * torch.rand(n, 1, 3, generator=gen)
    margin = cfg.radius[1] * (1 + cfg.scaling) + 1
    span = cfg.size - 2 * margin
    start = margin + span * torch.rand(n, 1, 3, 2, generator=gen)
    angle = 2 * math.pi * torch.rand(n, 1, 3, generator=gen)
    speed = cfg.max_speed * (0.3 + 0.7 * torch.rand(n, 1, 3, generator=gen))
    velocity = torch.stack([torch.cos(angle), torch.sin(angle)], -1) * speed[..., None]
    t = torch.arange(cfg.frames, dtype=torch.float32).view(1, -1, 1, 1)
    travel = start - margin + velocity * t                        # unfolded position within [0, span]
    folded = torch.remainder(travel, 2 * span)
    centres = margin + torch.where(folded > span, 2 * span - folded, folded)
    phase = 2 * math.pi * torch.rand(n, 1, 3, generator=gen)
    radii = r0 * (1 + cfg.scaling * torch.sin(phase + 0.15 * t[..., 0]))
    return centres, radii


def _render(centres: torch.Tensor, radii: torch.Tensor, size: int) -> torch.Tensor:
    """Anti-aliased intensity frames [n, T, size, size] in [0, 1] (shapes are white)."""
    coords = torch.arange(size, dtype=torch.float32) + 0.5
    dx = coords.view(1, 1, 1, 1, -1) - centres[..., 0, None, None]     # [n, T, 3, 1, W]
    dy = coords.view(1, 1, 1, -1, 1) - centres[..., 1, None, None]     # [n, T, 3, H, 1]
    r = radii[..., None, None]
    circle = r[:, :, 0] - torch.sqrt(dx[:, :, 0] ** 2 + dy[:, :, 0] ** 2)
    square = r[:, :, 1] * 0.85 - torch.maximum(dx[:, :, 1].abs(), dy[:, :, 1].abs())
    # equilateral triangle pointing up: inside when all three edge distances are negative
    s3 = math.sqrt(3) / 2
    ddx, ddy = dx[:, :, 2], dy[:, :, 2]
    edges = torch.stack(torch.broadcast_tensors(ddy - r[:, :, 2] / 2,
                                                -s3 * ddx - 0.5 * ddy - r[:, :, 2] / 2,
                                                s3 * ddx - 0.5 * ddy - r[:, :, 2] / 2))
    triangle = -edges.max(dim=0).values
    inside = torch.stack([circle, square, triangle], dim=2)            # signed distance, px
    coverage = (inside + 0.5).clamp(0, 1)
    return coverage.max(dim=2).values


def _events(intensity: torch.Tensor, threshold: float, noise: float, gen: torch.Generator) -> torch.Tensor:
    """Per-pixel integrate-and-fire on intensity change -> events [n, T, 2, H, W] (uint8)."""
    n, steps, h, w = intensity.shape
    acc = torch.zeros(n, h, w)
    out = torch.zeros(n, steps, 2, h, w, dtype=torch.uint8)
    previous = intensity[:, 0]
    for t in range(steps):
        acc += intensity[:, t] - previous
        previous = intensity[:, t]
        on, off = acc >= threshold, acc <= -threshold
        acc = torch.where(on, acc - threshold, torch.where(off, acc + threshold, acc))
        if noise > 0:
            spurious = torch.rand(n, 2, h, w, generator=gen) < noise
            on, off = on | spurious[:, 0], off | spurious[:, 1]
        out[:, t, 0], out[:, t, 1] = on, off
    return out


def generate(n: int, cfg: ShapesConfig = ShapesConfig(), seed: int = 0,
             chunk: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """`n` samples: events uint8 ``[n, T, 2, H, W]`` and centres float32 ``[n, T, 3, 2]`` (pixels)."""
    cfg.validate()
    gen = torch.Generator().manual_seed(seed)
    events, centres = [], []
    for start in range(0, n, chunk):
        c, r = _trajectories(min(chunk, n - start), cfg, gen)
        events.append(_events(_render(c, r, cfg.size), cfg.threshold, cfg.noise, gen))
        centres.append(c)
    return torch.cat(events).numpy(), torch.cat(centres).numpy().astype(np.float32)


def save_dataset(path: str | Path, events: np.ndarray, centres: np.ndarray, cfg: ShapesConfig) -> None:
    """Write the documented ``.npz`` format atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, events=events.astype(np.uint8), centres=centres.astype(np.float32),
                                config=np.array(json.dumps(asdict(cfg))))


def load_dataset(path: str | Path) -> tuple[np.ndarray, np.ndarray, ShapesConfig]:
    """Read a dataset written by :func:`save_dataset`."""
    try:
        data = np.load(path)
        cfg = json.loads(str(data["config"]))
        cfg["radius"] = tuple(cfg["radius"])
        return data["events"], data["centres"], ShapesConfig(**cfg)
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise NrfError(f"'{path}' is not a shapes dataset ({type(exc).__name__})", str(path),
                       "generate one with nrf_deploy.data.generate / save_dataset") from None


class ShapesDataset(torch.utils.data.Dataset):
    """Torch dataset of (events float32 [T, 2, H, W], centres float32 [T, 3, 2])."""

    def __init__(self, events: np.ndarray, centres: np.ndarray):
        self.events, self.centres = events, centres

    def __len__(self) -> int:
        return len(self.events)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.from_numpy(self.events[i].astype(np.float32)), torch.from_numpy(self.centres[i])
