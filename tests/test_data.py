"""Event data generator (nrf_deploy.data): determinism, rendering against an independent full-canvas
reference, the integrate-and-fire event rule on hand-computed cases, noise, on-disk format,
Dataset."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from nrf_deploy.data import (
    ShapesConfig,
    ShapesDataset,
    generate,
    load_dataset,
    render,
    save_dataset,
    time_major,
)
from nrf_deploy.errors import NrfError

SMALL = ShapesConfig(size=32, frames=10, radius=(3.0, 5.0), noise=0.0)


def _reference_render(centre: np.ndarray, radius: np.ndarray, size: int) -> np.ndarray:
    """Full-canvas float64 rendering written from the documented geometry (not the windowed
    code)."""
    y, x = np.mgrid[0:size, 0:size] + 0.5
    out = np.zeros((size, size))
    for k in range(3):
        dx, dy, r = x - centre[k, 0], y - centre[k, 1], radius[k]
        if k == 0:
            d = r - np.hypot(dx, dy)
        elif k == 1:
            d = 0.85 * r - np.maximum(np.abs(dx), np.abs(dy))
        else:  # triangle pointing up: apex at (0, -r), base at dy = r/2, vertices at distance r
            apex, left, right = (
                np.array([0, -r]),
                np.array([-r * math.sqrt(3) / 2, r / 2]),
                np.array([r * math.sqrt(3) / 2, r / 2]),
            )
            d = np.full((size, size), np.inf)
            for a, b in ((apex, right), (right, left), (left, apex)):  # clockwise on screen
                edge = b - a
                normal = np.array([edge[1], -edge[0]]) / np.hypot(*edge)  # outward normal
                d = np.minimum(d, -((dx - a[0]) * normal[0] + (dy - a[1]) * normal[1]))
        out = np.maximum(out, np.clip(d + 0.5, 0, 1))
    return out


def test_render_matches_an_independent_full_canvas_reference():
    rng = np.random.default_rng(0)
    centres = rng.uniform(10, 30, size=(6, 3, 2))
    radii = rng.uniform(2, 7, size=(6, 3))
    img = render(
        torch.tensor(centres, dtype=torch.float32), torch.tensor(radii, dtype=torch.float32), 40
    )
    assert img.shape == (6, 40, 40)
    for i in range(6):
        np.testing.assert_allclose(
            img[i].numpy(), _reference_render(centres[i], radii[i], 40), atol=2e-5
        )


def test_rendering_is_sub_pixel_precise():
    # a quarter-pixel shift of the circle moves its intensity centroid by a quarter pixel
    far = torch.tensor([[[40.0, 40.0], [40.0, 40.0]]])
    xs = []
    for shift in (0.0, 0.25, 0.5):
        c = torch.cat([torch.tensor([[[20.0 + shift, 20.0]]]), far], 1)
        img = render(c, torch.tensor([[5.0, 0.1, 0.1]]), 48)[0, :32, :32].numpy()  # circle only
        xs.append((img.sum(0) * (np.arange(32) + 0.5)).sum() / img.sum())
    # (the one-pixel coverage ramp approximates the area coverage: a few hundredths of a pixel)
    assert (
        abs(xs[0] - 20.0) < 0.01
        and abs(xs[1] - xs[0] - 0.25) < 0.04
        and abs(xs[2] - xs[0] - 0.5) < 0.04
    )


def test_integrate_and_fire_rule_on_a_hand_computed_pixel():
    from nrf_deploy.data.shapes import _events

    # threshold 0.15: acc 0.1 | 0.2 -> ON, keeps 0.05 | +0.3 = 0.35 -> ON (two crossings), keeps
    # 0.05
    # | 0.05 | -0.3 = -0.25 -> OFF, keeps -0.10 | -0.2 = -0.30 -> OFF (two crossings), keeps 0
    series = torch.tensor([0.0, 0.1, 0.2, 0.5, 0.5, 0.2, 0.0])
    ev = _events(series.view(1, -1, 1, 1), 0.15)[0, :, :, 0, 0].numpy()
    np.testing.assert_array_equal(ev[:, 0], [0, 0, 1, 1, 0, 0, 0])
    np.testing.assert_array_equal(ev[:, 1], [0, 0, 0, 0, 0, 1, 1])


def test_generator_is_deterministic_and_prefix_stable():
    e1, c1 = generate(5, SMALL, seed=3)
    e2, c2 = generate(5, SMALL, seed=3, chunk=2)
    e3, c3 = generate(2, SMALL, seed=3)
    e4, _ = generate(5, SMALL, seed=4)
    assert np.array_equal(e1, e2) and np.array_equal(c1, c2)
    assert np.array_equal(e1[:2], e3) and np.array_equal(c1[:2], c3)
    assert not np.array_equal(e1, e4)
    noisy = ShapesConfig(size=32, frames=10, radius=(3.0, 5.0), noise=0.01)
    assert np.array_equal(generate(3, noisy, seed=1)[0], generate(3, noisy, seed=1)[0])


def test_labels_events_and_rendering_agree_end_to_end():
    """The labelled centres and radii, rendered (and checked against the full-canvas reference),
    give
    through the documented event rule (numpy, float32) exactly the generator's events (no noise)."""
    cfg = ShapesConfig(size=32, frames=8, radius=(3.0, 5.0), noise=0.0, threshold=0.2)
    events, centres, radii = generate(3, cfg, seed=11, with_radii=True)
    assert events.shape == (3, 8, 2, 32, 32) and events.dtype == np.uint8
    assert centres.shape == (3, 8, 3, 2) and centres.dtype == np.float32
    assert centres.min() >= cfg.margin - 1e-4 and centres.max() <= cfg.size - cfg.margin + 1e-4
    assert (
        radii.min() >= 3.0 * (1 - cfg.scaling) - 1e-5
        and radii.max() <= 5.0 * (1 + cfg.scaling) + 1e-5
    )
    for s in range(3):
        frames = render(torch.from_numpy(centres[s]), torch.from_numpy(radii[s]), 32).numpy()
        for t in range(8):
            np.testing.assert_allclose(
                frames[t],
                _reference_render(
                    centres[s, t].astype(np.float64), radii[s, t].astype(np.float64), 32
                ),
                atol=2e-5,
            )
        acc = np.zeros((32, 32), dtype=np.float32)
        assert events[s, 0].sum() == 0
        for t in range(1, 8):
            acc += frames[t] - frames[t - 1]
            crossed = np.trunc(acc / np.float32(0.2))
            acc -= crossed * np.float32(0.2)
            np.testing.assert_array_equal(events[s, t, 0], crossed > 0)
            np.testing.assert_array_equal(events[s, t, 1], crossed < 0)
    assert events[:, 1:, 0].sum() > 20 and events[:, 1:, 1].sum() > 20, "both polarities occur"


def test_shapes_move_at_the_configured_speed_and_bounce():
    cfg = ShapesConfig(size=64, frames=60, max_speed=2.0, min_speed=1.0, scaling=0.0, noise=0.0)
    _, centres = generate(8, cfg, seed=2)
    steps = np.linalg.norm(np.diff(centres, axis=1), axis=-1)  # px per frame
    # away from a bounce the step length is the constant speed, within [min_speed, max_speed]
    typical = np.median(steps, axis=1)
    assert typical.min() >= 1.0 - 1e-4 and typical.max() <= 2.0 + 1e-4
    assert steps.max() <= 2.0 + 1e-4
    assert centres.min() >= cfg.margin - 1e-4 and centres.max() <= 64 - cfg.margin + 1e-4
    still, _ = generate(
        2, ShapesConfig(size=32, frames=6, max_speed=0.0, scaling=0.0, noise=0.0), seed=0
    )
    assert still.sum() == 0, "a static scene produces no events"


def test_noise_is_bernoulli_at_the_configured_rate():
    cfg = ShapesConfig(size=32, frames=20, noise=0.02, max_speed=0.0, scaling=0.0)
    events, _ = generate(4, cfg, seed=0)  # static shapes: every event is noise
    n = events.size
    assert abs(events.mean() - 0.02) < 4 * math.sqrt(0.02 * 0.98 / n)
    assert abs(events[:, :, 0].mean() - events[:, :, 1].mean()) < 0.003
    assert abs(events[:, :10].mean() - events[:, 10:].mean()) < 0.003


def test_save_load_round_trip_and_dataset(tmp_path):
    cfg = ShapesConfig(size=32, frames=6, noise=0.01)
    events, centres = generate(4, cfg, seed=5)
    path = tmp_path / "shapes.npz"
    save_dataset(path, events, centres, cfg)
    with np.load(path) as raw:
        assert {"events_bits", "width", "centres", "config", "format"} <= set(raw.files)
        assert np.array_equal(
            np.unpackbits(raw["events_bits"], axis=-1, count=int(raw["width"])), events
        )
    e2, c2, cfg2 = load_dataset(path)
    assert np.array_equal(e2, events) and np.array_equal(c2, centres) and cfg2 == cfg
    ds = ShapesDataset.from_file(path)
    assert len(ds) == 4 and ds.config == cfg
    x, y = ds[1]
    assert x.dtype == torch.float32 and x.shape == (6, 2, 32, 32) and y.shape == (6, 3, 2)
    assert torch.equal(x, torch.from_numpy(events[1].astype(np.float32)))
    xb, yb = next(iter(torch.utils.data.DataLoader(ds, batch_size=3, collate_fn=time_major)))
    assert xb.shape == (6, 3, 2, 32, 32) and yb.shape == (6, 3, 3, 2)
    assert torch.equal(yb[:, 2], torch.from_numpy(centres[2]))


def test_bad_files_and_settings_are_user_errors(tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, something=np.zeros(3))
    with pytest.raises(NrfError):
        load_dataset(bad)
    with pytest.raises(NrfError):
        load_dataset(tmp_path / "missing.npz")
    for cfg in (
        ShapesConfig(size=8),
        ShapesConfig(noise=1.5),
        ShapesConfig(size=24, radius=(8.0, 12.0)),
        ShapesConfig(radius=(5.0, 2.0)),
        ShapesConfig(frames=0),
    ):
        with pytest.raises(NrfError):
            generate(1, cfg)
