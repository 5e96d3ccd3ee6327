"""RF-SNN: event data, model, explicit NIR export (round trip through the float executor),
training."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
import torch
from conftest import CLI
from nrf_deploy.exporters.nir import export_rf_snn

from nrf_deploy.data import ShapesConfig, ShapesDataset, generate, load_dataset, save_dataset
from nrf_deploy.ir import load_graph, run_float
from nrf_deploy.ir.write import write_nir
from nrf_deploy.models import CONFIGS, RFSNN, dsnt


def test_generator_is_deterministic_and_labels_follow_the_shapes(tmp_path):
    cfg = ShapesConfig(size=32, frames=12, noise=0.0)
    e1, c1 = generate(6, cfg, seed=3)
    e2, c2 = generate(6, cfg, seed=3)
    e3, _ = generate(6, cfg, seed=4)
    assert np.array_equal(e1, e2) and np.array_equal(c1, c2) and not np.array_equal(e1, e3)
    assert e1.shape == (6, 12, 2, 32, 32) and c1.shape == (6, 12, 3, 2)
    assert c1.min() > 0 and c1.max() < 32
    # without noise, events appear only near the moving shapes: the ON/OFF centroid of each frame
    # lies within the bounding box of the three centres (grown by the largest radius)
    for s in range(6):
        for t in range(1, 12):
            ys, xs = np.nonzero(e1[s, t].sum(0))
            if len(xs) == 0:
                continue
            lo, hi = c1[s, t].min(0) - 12, c1[s, t].max(0) + 12
            assert lo[0] <= xs.mean() <= hi[0] and lo[1] <= ys.mean() <= hi[1]
    assert e1[:, 1:, 0].sum() > 0 and e1[:, 1:, 1].sum() > 0, "both polarities"
    save_dataset(tmp_path / "d.npz", e1, c1, cfg)
    e4, c4, cfg4 = load_dataset(tmp_path / "d.npz")
    assert np.array_equal(e4, e1) and np.array_equal(c4, c1) and cfg4 == cfg
    x, y = ShapesDataset(e4, c4)[2]
    assert x.shape == (12, 2, 32, 32) and y.shape == (12, 3, 2)


def test_noise_rate_matches_the_setting():
    cfg = ShapesConfig(size=32, frames=5, noise=0.05, radius=(1.0, 1.0), max_speed=0.0, scaling=0.0)
    events, _ = generate(4, cfg, seed=0)
    assert abs(events.mean() - 0.05) < 0.01


def test_kernels_are_gaussian_derivatives_with_opposite_polarities():
    cfg = CONFIGS["tiny"]  # derivatives (0,0) and (1,0) alternate per (scale, angle, ratio)
    w = RFSNN(cfg).conv.weight.detach()
    assert w.shape == (cfg.spatial_channels, 2, cfg.kernel, cfg.kernel)
    torch.testing.assert_close(w[:, 1], -w[:, 0])  # OFF events see the negated field
    blob, edge = w[0, 0], w[1, 0]
    c = cfg.kernel // 2
    assert blob.min() >= 0 and blob[c, c] == blob.max()  # zeroth order: a centred positive blob
    assert abs(float(edge.sum())) < 1e-3 * float(edge.abs().sum())  # first order: sums to zero
    assert float(edge.abs().max()) > 0
    uniform = RFSNN(__import__("dataclasses").replace(cfg, init="uniform")).conv.weight.detach()
    assert not torch.allclose(uniform[:, 1], -uniform[:, 0])


def test_export_round_trip_reproduces_the_model_on_100_inputs(tmp_path):
    torch.manual_seed(0)
    model = RFSNN(CONFIGS["tiny"])
    path = tmp_path / "m.nir"
    write_nir(path, export_rf_snn(model))
    raw = pytest.importorskip("nir").read(path)  # the nir package's own type checks
    assert {type(n).__name__ for n in raw.nodes.values()} >= {"Conv2d", "LIF", "SumPool2d", "LI"}
    graph = load_graph(path)
    assert graph.dt == CONFIGS["tiny"].dt
    x = (torch.rand(12, 100, 2, 32, 32) < 0.15).float()
    with torch.no_grad():
        out, spikes = model(x, record=True)
    trace = run_float(graph, x.numpy())
    assert spikes.sum() > 100
    np.testing.assert_array_equal(trace.outputs["lif"], spikes.numpy())
    assert np.max(np.abs(trace.output() - out.numpy())) <= 1e-5


def test_dsnt_decodes_a_peak_to_its_pixel():
    maps = torch.full((1, 3, 8, 8), -50.0)
    maps[0, 0, 2, 5] = 50.0  # row 2, column 5
    xy = dsnt(maps, 64)
    assert torch.allclose(xy[0, 0], torch.tensor([(5 + 0.5) * 8, (2 + 0.5) * 8]), atol=1e-3)


@pytest.mark.slow
def test_train_command_writes_a_deployable_run(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run(
        [*CLI, "train", "--config", "tiny", "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["median_l2_px"] > 0 and metrics["train_seconds"] < 300
    proc = subprocess.run(
        [*CLI, "inspect", str(out / "model.nir")], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0 and "graph check: OK" in proc.stdout
