"""RF-SNN model (nrf_deploy.models): kernels against the analytic affine Gaussian, time constants,
LIF/LI dynamics on hand-computed cases, baselines with equal parameter counts, DSNT decoding."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from nrf_deploy.errors import NrfError
from nrf_deploy.models import CONFIGS, RFSNN, ANNBaseline, RFConfig, build_model, dsnt, rf_kernels

TINY = CONFIGS["tiny"]


def _analytic_gaussian(t: float, angle: float, ratio: float, k: int) -> np.ndarray:
    """exp(-x^T S^-1 x / 2) on the pixel grid, S = R diag(ratio^2 t, t / ratio^2) R^T, x = (column,
    row)."""
    c, s = math.cos(angle), math.sin(angle)
    rot = np.array([[c, -s], [s, c]])
    cov = rot @ np.diag([ratio**2 * t, t / ratio**2]) @ rot.T
    half = (k - 1) / 2
    rows, cols = np.mgrid[-half : half + 1, -half : half + 1]
    pts = np.stack([cols, rows], -1)
    g = np.exp(-0.5 * np.einsum("...i,ij,...j->...", pts, np.linalg.inv(cov), pts))
    return g / g.max()


def test_zeroth_order_kernels_are_the_analytic_affine_gaussians():
    cfg = RFConfig(
        size=32, scales=(1.0, 4.0), angles=4, ratios=(0.5, 1.0), derivatives=((0, 0),), kernel=9
    )
    table = cfg.spatial_table()
    kernels = rf_kernels(cfg)
    assert kernels.shape == (len(table), 2, 9, 9)
    # 2 scales x (4 angles at ratio 0.5 + 1 isotropic kernel: the other angles repeat it)
    assert len(table) == 2 * (4 + 1)
    for (scale, angle, ratio, _, _), k in zip(table.tolist(), kernels):
        expected = cfg.gain * _analytic_gaussian(scale, angle, ratio, 9)
        np.testing.assert_allclose(k[0].numpy(), expected, atol=2e-3 * cfg.gain)
        torch.testing.assert_close(k[1], -k[0])  # OFF events see the negated field


def test_first_order_kernels_are_odd_and_oriented():
    cfg = RFConfig(
        size=32, scales=(2.0,), angles=4, ratios=(1.0,), derivatives=((1, 0), (0, 1)), kernel=7
    )
    kernels = rf_kernels(cfg)[:, 0]
    # isotropic: 4 angles x 2 orders, of which (0,1) at angle a equals (1,0) at a + pi/2: 4 + 2
    # distinct
    assert len(kernels) == 6
    for k in kernels:
        torch.testing.assert_close(torch.rot90(k, 2), -k, atol=1e-5, rtol=0)  # odd: f(-x) = -f(x)
        assert abs(float(k.sum())) < 1e-4 * float(k.abs().sum())
    # angle 0, order (1, 0): the derivative runs along the rows (norse's first axis)
    k0 = kernels[0]
    assert (
        float(k0[0].sum()) * float(k0[-1].sum()) < 0
        and abs(float(k0[:, 0].sum() - k0[:, -1].sum())) < 1e-5
    )


def test_time_constants_are_log_spaced_and_in_seconds():
    cfg = replace(TINY, temporal_channels=3, tau_min_steps=2.0, tau_ratio=2.0, dt=5e-4)
    np.testing.assert_allclose(cfg.taus().numpy(), [2.0, 4.0, 8.0], rtol=1e-6)
    model = RFSNN(cfg)
    c = cfg.spatial_channels
    tau = model.tau.view(-1).numpy()
    assert tau.shape == (3 * c,)
    np.testing.assert_allclose(tau, np.repeat([2.0, 4.0, 8.0], c) * 5e-4, rtol=1e-6)
    assert float(model.tau_readout) == pytest.approx(cfg.readout_tau_steps * 5e-4)


def _one_pixel_model(neuron: str, drive: float) -> RFSNN:
    """One spatial kernel whose centre tap passes the ON event of its pixel with weight `drive`."""
    cfg = RFConfig(
        size=16,
        scales=(1.0,),
        angles=1,
        ratios=(1.0,),
        derivatives=((0, 0),),
        kernel=1,
        stride=1,
        temporal_channels=1,
        tau_min_steps=2.0,
        readout_kernel=1,
        pool=1,
        neuron=neuron,
        readout_tau_steps=2.0,
    )
    model = RFSNN(cfg)
    with torch.no_grad():
        model.conv.weight.zero_()
        model.conv.weight[0, 0] = drive
        model.conv.bias.zero_()
        model.readout.weight.fill_(1.0)
        model.readout.bias.zero_()
    return model


def test_lif_dynamics_match_hand_computed_forward_euler():
    # dt/tau = 1/2, drive 1.5, threshold 1: v = 0.75, 1.125 -> spike, reset to 0; 0.75, 1.125 ->
    # spike ...
    model = _one_pixel_model("lif", 1.5)
    x = torch.zeros(6, 1, 2, 16, 16)
    x[:, 0, 0, 3, 4] = 1.0
    with torch.no_grad():
        out, spikes = model(x, record=True)
    np.testing.assert_array_equal(spikes[:, 0, 0, 3, 4].numpy(), [0, 1, 0, 1, 0, 1])
    assert spikes.sum() == 3, "no other neuron fires"
    # read-out LI (dt/tau = 1/2) integrates the spikes: 0, 0.5, 0.25, 0.625, 0.3125, 0.65625
    np.testing.assert_allclose(
        out[:, 0, 0, 3, 4].numpy(), [0, 0.5, 0.25, 0.625, 0.3125, 0.65625], atol=1e-7
    )
    # a drive of exactly the threshold never fires (strict v > threshold): v -> 1 from below
    with torch.no_grad():
        _, none = _one_pixel_model("lif", 1.0)(x, record=True)
    assert none.sum() == 0


def test_li_hidden_layer_is_a_leaky_integrator():
    model = _one_pixel_model("li", 1.0)
    x = torch.zeros(4, 1, 2, 16, 16)
    x[:, 0, 0, 0, 0] = 1.0
    with torch.no_grad():
        _, v = model(x, record=True)
    np.testing.assert_allclose(v[:, 0, 0, 0, 0].numpy(), [0.5, 0.75, 0.875, 0.9375], atol=1e-7)


def test_baselines_have_the_same_parameter_count_and_differ_in_initialisation():
    torch.manual_seed(0)
    rf, uniform, ann = (build_model(k, CONFIGS["small"]) for k in ("rf", "uniform", "ann"))
    counts = [sum(p.numel() for p in m.parameters()) for m in (rf, uniform, ann)]
    assert counts[0] == counts[1] == counts[2] > 0
    assert (
        isinstance(ann, ANNBaseline)
        and isinstance(uniform, RFSNN)
        and uniform.cfg.init == "uniform"
    )
    torch.testing.assert_close(rf.conv.weight, rf_kernels(CONFIGS["small"]))
    w = uniform.conv.weight.detach()
    bound = 1 / math.sqrt(2 * CONFIGS["small"].kernel ** 2)  # PyTorch's default Conv2d init
    assert float(w.abs().max()) <= bound and float(w.abs().max()) > 0.8 * bound
    assert not torch.allclose(w[:, 1], -w[:, 0])
    with pytest.raises(NrfError):
        build_model("relu", TINY)


def test_shapes_gradients_and_ann_output():
    torch.manual_seed(1)
    x = (torch.rand(6, 3, 2, 32, 32) < 0.2).float()
    model = RFSNN(TINY)
    out, spikes = model(x, record=True)
    assert out.shape == (6, 3, 3, TINY.map_size, TINY.map_size)
    assert spikes.shape == (6, 3, TINY.hidden_channels, TINY.hidden_size, TINY.hidden_size)
    assert set(torch.unique(spikes).tolist()) <= {0.0, 1.0} and spikes.sum() > 0
    assert TINY.neurons == spikes[0, 0].numel() + out[0, 0].numel()
    dsnt(out, 32).pow(2).mean().backward()  # surrogate gradients reach the kernels
    assert (
        float(model.conv.weight.grad.abs().sum()) > 0
        and float(model.readout.weight.grad.abs().sum()) > 0
    )
    ann_out = build_model("ann", TINY)(x)
    assert ann_out.shape == out.shape
    # the ANN sees one frame at a time: changing frame 0 leaves frame 1's output alone
    x2 = x.clone()
    x2[0] = 1 - x2[0]
    ann = build_model("ann", TINY)
    assert torch.equal(ann(x)[1], ann(x2)[1]) and not torch.equal(ann(x)[0], ann(x2)[0])


def test_dsnt_decodes_peaks_and_flat_maps():
    maps = torch.full((2, 3, 8, 8), -50.0)
    maps[0, 0, 2, 5] = 50.0  # row 2, column 5
    maps[0, 1, 7, 0] = 50.0
    xy = dsnt(maps, 64)
    torch.testing.assert_close(
        xy[0, 0], torch.tensor([(5 + 0.5) * 8, (2 + 0.5) * 8]), atol=1e-3, rtol=0
    )
    torch.testing.assert_close(xy[0, 1], torch.tensor([4.0, 60.0]), atol=1e-3, rtol=0)
    torch.testing.assert_close(xy[1], torch.full((3, 2), 32.0))  # flat map: the canvas centre


def test_invalid_configurations_are_user_errors():
    for bad in (
        replace(TINY, kernel=4),
        replace(TINY, neuron="relu"),
        replace(TINY, tau_min_steps=0.5),
        replace(TINY, size=2, kernel=1, pool=4),
    ):
        with pytest.raises(NrfError):
            RFSNN(bad)
    with pytest.raises(NrfError):
        RFSNN(TINY)(torch.zeros(3, 1, 2, 16, 16))
