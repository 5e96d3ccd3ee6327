"""GERD-style event data: a circle, a square and a triangle moving (and scaling) on a canvas,
seen by an event camera.

Each sample is ``frames`` event frames ``[2, size, size]`` (channel 0: ON events, 1: OFF events)
and the centres ``(x, y)`` in pixels of the circle, square and triangle in every frame
(labels, in :data:`SHAPES` order). Pixel ``(row i, column j)`` covers ``[j, j+1) x [i, i+1)``, so
its centre is at ``(j + 0.5, i + 0.5)``.

How a sample is made (all vectorised in torch):

1. **Trajectories.** Each shape starts at a uniform position, moves in a uniform direction at a
   uniform speed in ``[min(min_speed, max_speed), max_speed]`` pixels per frame and bounces off the
   canvas walls
   (kept ``margin`` pixels inside). Its size oscillates by ``±scaling`` (relative) around a base
   radius drawn from ``radius`` (0 disables scaling).
2. **Rendering at sub-pixel precision.** Every shape is a signed-distance field evaluated at the
   pixel centres from its continuous (sub-pixel) centre and radius; coverage
   ``clamp(distance + 0.5, 0, 1)`` anti-aliases the edge over one pixel, so a motion of a fraction
   of a pixel changes the intensity. Shapes are white (1) on black (0); overlaps take the maximum.
   Only a window around each shape is evaluated.
3. **Events.** Each pixel integrates its intensity change ``I[t] - I[t-1]`` (``I[-1] = I[0]``, so
   frame 0 holds only noise). When the integral reaches ``+threshold`` (``-threshold``) the pixel
   emits one ON (OFF) event in that frame and the integral drops by every whole threshold it
   passed (``trunc(acc / threshold) * threshold``): at most one event per pixel, polarity and frame.
4. **Noise.** Every pixel, polarity and frame independently gets a spurious event with
   probability ``noise`` (a Bernoulli process, sampled by geometric gaps).

Determinism: sample ``i`` of ``generate(n, cfg, seed)`` depends only on ``(seed, i, cfg)``; it is
the same whatever ``n`` or ``chunk`` (``generate(10, c, s)[:3] == generate(3, c, s)``).

**On-disk format** (:func:`save_dataset` / :func:`load_dataset`, one compressed ``.npz``):

* ``events_bits`` uint8 ``[N, T, 2, H, ceil(W / 8)]``: the 0/1 events ``[N, T, 2, H, W]``
  (channel 0 ON, 1 OFF) packed along W with ``numpy.packbits`` (big bit order); ``width`` (int)
  holds W. ``numpy.unpackbits(events_bits, axis=-1, count=width)`` restores them. (A plain
  uint8 ``events`` array is accepted on load instead.)
* ``centres`` float32 ``[N, T, 3, 2]`` ((x, y) in pixels; circle, square, triangle),
* ``radii``   float32 ``[N, T, 3]`` (base radius in pixels as rendered; optional on load),
* ``config``  0-d unicode array holding the JSON of :class:`ShapesConfig`,
* ``format``  0-d unicode array ``"nrf-deploy shapes v1"``.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, fields

import numpy as np
import torch

from nrf_deploy.errors import NrfError
from nrf_deploy.fileio import atomic_path

SHAPES = ("circle", "square", "triangle")
FORMAT = "nrf-deploy shapes v1"
_SQUARE = 0.85  # half side of the square, relative to its radius
_EXTENT = 0.85 * math.sqrt(2)  # farthest point of any shape from its centre, relative to the radius


@dataclass(frozen=True)
class ShapesConfig:
    """Generator settings. Lengths in pixels, speeds in pixels per frame, intensities in [0, 1].

    ``radius``: range of the base radius (circle radius; square half side ``0.85 r``; triangle
    circumradius ``r``). ``scaling``: relative amplitude of the size oscillation (period
    ``2 pi / scale_rate`` frames). ``threshold``: intensity change per event. ``noise``: probability
    of a spurious event per pixel, polarity and frame.
    """

    size: int = 64
    frames: int = 40
    radius: tuple[float, float] = (5.0, 9.0)
    max_speed: float = 1.5
    min_speed: float = 0.45
    scaling: float = 0.2
    scale_rate: float = 0.15
    threshold: float = 0.15
    noise: float = 0.002

    def validate(self) -> None:
        """Raise :class:`NrfError` for settings that cannot produce a valid dataset."""
        if (
            int(self.size) != self.size
            or self.size < 16
            or int(self.frames) != self.frames
            or self.frames < 1
        ):
            raise NrfError(
                f"size {self.size} / frames {self.frames} not allowed",
                "ShapesConfig",
                "use an integer size >= 16 and frames >= 1",
            )
        lo, hi = self.radius
        if not 0 < lo <= hi:
            raise NrfError(
                f"radius range {self.radius} is empty",
                "ShapesConfig.radius",
                "give (min, max) with 0 < min <= max",
            )
        if 2 * self.margin >= self.size:
            raise NrfError(
                f"shapes of radius up to {hi * (1 + self.scaling):.1f} px do not fit a "
                f"{self.size} px canvas",
                "ShapesConfig",
                "lower radius/scaling or raise size",
            )
        if self.min_speed < 0 or self.max_speed < 0:
            raise NrfError("speeds must be >= 0", "ShapesConfig", "fix min_speed/max_speed")
        if not 0 <= self.noise < 1 or self.threshold <= 0 or not 0 <= self.scaling < 1:
            raise NrfError(
                "noise must be in [0, 1), threshold > 0 and scaling in [0, 1)",
                "ShapesConfig",
                "fix the values",
            )

    @property
    def margin(self) -> float:
        """Distance (px) of the walls the centres bounce off from the canvas border."""
        return self.radius[1] * (1 + self.scaling) * _EXTENT + 1.0

    @classmethod
    def from_dict(cls, data: dict) -> ShapesConfig:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if "radius" in values:
            values["radius"] = tuple(float(r) for r in values["radius"])
        return cls(**values)


def _sample_seed(seed: int, index: int) -> int:
    return int(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(index)]).generate_state(1)[0])


def _trajectories(
    gens: list[torch.Generator], cfg: ShapesConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    """Centres ``[n, T, 3, 2]`` (px) bouncing off the walls and radii ``[n, T, 3]`` (px)."""
    n = len(gens)
    draws = torch.stack([torch.rand(18, generator=g, dtype=torch.float64) for g in gens])  # [n, 18]
    r0, start, angle = draws[:, 0:3], draws[:, 3:9].view(-1, 3, 2), draws[:, 9:12]
    speed, phase = draws[:, 12:15], draws[:, 15:18]
    lo, hi = cfg.radius
    r0 = lo + (hi - lo) * r0
    margin = cfg.margin
    span = cfg.size - 2 * margin
    start = span * start  # position within [0, span]
    angle = 2 * math.pi * angle
    slow = min(cfg.min_speed, cfg.max_speed)
    speed = slow + (cfg.max_speed - slow) * speed
    velocity = torch.stack([torch.cos(angle), torch.sin(angle)], -1) * speed[..., None]
    t = torch.arange(cfg.frames, dtype=torch.float64).view(1, -1, 1, 1)
    travel = start[:, None] + velocity[:, None] * t  # unfolded, [n, T, 3, 2]
    folded = torch.remainder(travel, 2 * span)
    centres = margin + torch.where(folded > span, 2 * span - folded, folded)
    radii = r0[:, None] * (
        1 + cfg.scaling * torch.sin(2 * math.pi * phase[:, None] + cfg.scale_rate * t[..., 0])
    )
    assert centres.shape == (n, cfg.frames, 3, 2)
    return centres.float(), radii.float()


def render(centres: torch.Tensor, radii: torch.Tensor, size: int) -> torch.Tensor:
    """Anti-aliased intensity frames ``[..., size, size]`` in [0, 1] from centres ``[..., 3, 2]``
    and radii ``[..., 3]`` (pixels; shapes in :data:`SHAPES` order)."""
    lead = centres.shape[:-2]
    c = centres.reshape(-1, 3, 2)
    r = radii.reshape(-1, 3)
    m = c.shape[0]
    win = min(size, 2 * math.ceil(float(r.max()) * _EXTENT + 1.0) + 2) if m else size
    origin = (torch.floor(c) - (win // 2 - 1)).clamp(0, size - win).long()  # [m, 3, 2]
    local = torch.arange(win, dtype=torch.float32)
    coords = origin.float()[..., None] + local + 0.5  # [m, 3, 2, win]
    d = coords - c[..., None]  # offsets from the centre
    dx, dy = d[:, :, 0, None, :], d[:, :, 1, :, None]  # [m,3,1,win], [m,3,win,1]
    rr = r[:, :, None, None]
    circle = rr[:, 0] - torch.sqrt(dx[:, 0] ** 2 + dy[:, 0] ** 2)
    square = _SQUARE * rr[:, 1] - torch.maximum(dx[:, 1].abs(), dy[:, 1].abs())
    # equilateral triangle pointing up (y grows downwards), centroid at the centre, circumradius r:
    # inside when all three edge functions are negative
    s3, tx, ty, tr = math.sqrt(3) / 2, dx[:, 2], dy[:, 2], rr[:, 2] / 2
    triangle = -torch.maximum(
        torch.maximum(ty - tr, -s3 * tx - 0.5 * ty - tr), s3 * tx - 0.5 * ty - tr
    )
    coverage = (torch.stack([circle, square, triangle], 1) + 0.5).clamp_(0, 1)  # [m, 3, win, win]
    rows = origin[:, :, 1, None, None] + torch.arange(win).view(1, 1, -1, 1)
    cols = origin[:, :, 0, None, None] + torch.arange(win).view(1, 1, 1, -1)
    index = (rows * size + cols).reshape(m, -1)
    canvas = torch.zeros(m, size * size)
    canvas.scatter_reduce_(1, index, coverage.reshape(m, -1), reduce="amax")
    return canvas.view(*lead, size, size)


def _events(intensity: torch.Tensor, threshold: float) -> torch.Tensor:
    """Per-pixel integrate-and-fire on intensity change: ``[n, T, H, W]`` -> uint8 ``[n, T, 2, H,
    W]``."""
    n, steps, h, w = intensity.shape
    out = torch.zeros(n, steps, 2, h, w, dtype=torch.uint8)
    acc = torch.zeros(n, h, w)
    diff = torch.diff(intensity, dim=1)
    for t in range(1, steps):
        acc += diff[:, t - 1]
        crossed = torch.trunc(acc / threshold)
        acc -= crossed * threshold
        out[:, t, 0] = crossed > 0
        out[:, t, 1] = crossed < 0
    return out


def _add_noise(events: torch.Tensor, p: float, gen: torch.Generator) -> None:
    """Set each element of one sample's events to 1 with probability `p` (in place)."""
    if p <= 0:
        return
    flat = events.view(-1)
    total = flat.numel()
    position, picks = -1, []
    while True:
        expected = p * (total - position)
        k = int(expected + 6 * math.sqrt(expected) + 16)
        gaps = torch.empty(k, dtype=torch.float64).geometric_(p, generator=gen).long()  # >= 1
        pos = position + torch.cumsum(gaps, 0)
        picks.append(pos[pos < total])
        if int(pos[-1]) >= total:
            break
        position = int(pos[-1])
    flat[torch.cat(picks)] = 1


def generate(
    n: int,
    cfg: ShapesConfig = ShapesConfig(),
    seed: int = 0,
    chunk: int = 32,
    with_radii: bool = False,
    threads: int | None = 1,
):
    """`n` samples: events uint8 ``[n, T, 2, H, W]`` and centres float32 ``[n, T, 3, 2]`` (pixels),
    plus radii float32 ``[n, T, 3]`` when `with_radii`. Deterministic per ``(seed, sample index)``.

    `threads`: torch threads used meanwhile (restored after; None leaves the setting alone). One
    thread is the default because on a shared 2-core machine it measured 10x faster than two."""
    cfg.validate()
    if n < 0:
        raise NrfError(f"cannot generate {n} samples", "generate", "ask for n >= 0")
    previous = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        return _generate(n, cfg, seed, chunk, with_radii)
    finally:
        torch.set_num_threads(previous)


def _generate(n: int, cfg: ShapesConfig, seed: int, chunk: int, with_radii: bool):
    events = np.zeros((n, cfg.frames, 2, cfg.size, cfg.size), dtype=np.uint8)
    centres = np.zeros((n, cfg.frames, 3, 2), dtype=np.float32)
    radii = np.zeros((n, cfg.frames, 3), dtype=np.float32)
    for start in range(0, n, chunk):
        gens = [
            torch.Generator().manual_seed(_sample_seed(seed, i))
            for i in range(start, min(n, start + chunk))
        ]
        c, r = _trajectories(gens, cfg)
        ev = _events(render(c, r, cfg.size), cfg.threshold)
        for i, g in enumerate(gens):
            _add_noise(ev[i], cfg.noise, g)
        stop = start + len(gens)
        events[start:stop], centres[start:stop], radii[start:stop] = (
            ev.numpy(),
            c.numpy(),
            r.numpy(),
        )
    return (events, centres, radii) if with_radii else (events, centres)


def save_dataset(
    path: str | os.PathLike,
    events: np.ndarray,
    centres: np.ndarray,
    cfg: ShapesConfig,
    radii: np.ndarray | None = None,
) -> None:
    """Write the documented ``.npz`` format (module docstring) atomically."""
    events, centres = np.asarray(events), np.asarray(centres)
    if events.ndim != 5 or events.shape[2] != 2 or centres.shape != (*events.shape[:2], 3, 2):
        raise NrfError(
            f"events {events.shape} / centres {centres.shape} do not match the format",
            str(path),
            "pass events [N, T, 2, H, W] and centres [N, T, 3, 2]",
        )
    if events.size and events.max() > 1:
        raise NrfError(
            "events must be 0/1", str(path), "store one event per pixel, polarity and frame"
        )
    arrays = {
        "events_bits": np.packbits(events.astype(np.uint8), axis=-1),
        "width": np.array(events.shape[-1]),
        "centres": centres.astype(np.float32),
        "config": np.array(json.dumps(asdict(cfg), sort_keys=True)),
        "format": np.array(FORMAT),
    }
    if radii is not None:
        arrays["radii"] = np.asarray(radii, dtype=np.float32)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)


def load_dataset(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, ShapesConfig]:
    """Read a dataset written by :func:`save_dataset`: ``(events, centres, config)``."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if "format" in data.files and str(data["format"]) != FORMAT:
                raise ValueError(f"format {data['format']}")
            cfg = ShapesConfig.from_dict(json.loads(str(data["config"])))
            if "events_bits" in data.files:
                events = np.unpackbits(data["events_bits"], axis=-1, count=int(data["width"]))
            else:
                events = data["events"].astype(np.uint8)
            centres = data["centres"].astype(np.float32)
    except (OSError, KeyError, ValueError, TypeError, json.JSONDecodeError) as exc:
        raise NrfError(
            f"'{path}' is not a shapes dataset ({type(exc).__name__}: {exc})",
            str(path),
            "generate one with nrf_deploy.data.generate and save_dataset",
        ) from None
    if events.ndim != 5 or centres.shape != (*events.shape[:2], 3, 2):
        raise NrfError(
            f"'{path}' holds events {events.shape} and centres {centres.shape}",
            str(path),
            "the file is damaged; generate it again",
        )
    return events, centres, cfg


class ShapesDataset(torch.utils.data.Dataset):
    """Torch dataset of ``(events float32 [T, 2, H, W], centres float32 [T, 3, 2])`` samples.

    Build it from arrays (``ShapesDataset(events, centres)``), from a file written by
    :func:`save_dataset` (``ShapesDataset.from_file(path)``) or directly
    (``ShapesDataset.generate(n, cfg, seed)``). Models take time-major batches: use
    :func:`time_major` as the DataLoader's ``collate_fn``.
    """

    def __init__(self, events: np.ndarray, centres: np.ndarray, config: ShapesConfig | None = None):
        if len(events) != len(centres):
            raise NrfError(
                f"{len(events)} event samples but {len(centres)} label samples",
                "ShapesDataset",
                "pass arrays of the same length",
            )
        self.events, self.centres, self.config = events, centres, config

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> ShapesDataset:
        events, centres, cfg = load_dataset(path)
        return cls(events, centres, cfg)

    @classmethod
    def generate(cls, n: int, cfg: ShapesConfig = ShapesConfig(), seed: int = 0) -> ShapesDataset:
        events, centres = generate(n, cfg, seed)
        return cls(events, centres, cfg)

    def save(self, path: str | os.PathLike) -> None:
        save_dataset(
            path,
            self.events,
            self.centres,
            self.config or ShapesConfig(size=self.events.shape[-1], frames=self.events.shape[1]),
        )

    def __len__(self) -> int:
        return len(self.events)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.from_numpy(np.asarray(self.events[i], dtype=np.float32)), torch.from_numpy(
            np.asarray(self.centres[i], dtype=np.float32)
        )


def time_major(batch: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Collate samples into ``(events [T, B, 2, H, W], centres [T, B, 3, 2])``."""
    xs, ys = zip(*batch)
    return torch.stack(xs, 1), torch.stack(ys, 1)
