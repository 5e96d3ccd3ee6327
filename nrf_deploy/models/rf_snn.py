"""The covariant spatio-temporal receptive-field SNN, in the deployable form.

On chip (one NIR graph, see :func:`nrf_deploy.exporters.nir.export_rf_snn`):

    events [2, H, W] -> Conv2d (affine Gaussian derivative kernels x K temporal channels, stride 2)
                     -> LIF (per-channel time constants, log-spaced; reset to zero)
                     -> SumPool2d(2) -> Conv2d (readout, averages the K temporal channels)
                     -> LI (one heat map per shape; its membrane is the graph output)

On the host: soft-argmax (DSNT) of each heat map into (x, y) pixels. The forward pass uses
exactly the float executor's operation order (docs/semantics.md), so the exported graph
reproduces the model spike for spike.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from norse.torch.functional.receptive_field import (spatial_parameters,
                                                     spatial_receptive_fields_with_derivatives)


@dataclass(frozen=True)
class RFConfig:
    """Architecture and discretisation. Time constants in timesteps, dt in seconds."""

    size: int = 64
    scales: tuple[float, ...] = (1.0, 2.0)
    angles: int = 4
    ratios: tuple[float, ...] = (0.5,)
    derivatives: tuple[tuple[int, int], ...] = ((0, 0), (1, 0))
    kernel: int = 7
    stride: int = 2
    temporal_channels: int = 2
    tau_steps: tuple[float, float] = (2.0, 8.0)   # min and max membrane time constant, timesteps
    readout_tau_steps: float = 4.0
    readout_kernel: int = 5
    pool: int = 2
    threshold: float = 1.0
    dt: float = 1e-3
    init: str = "rf"                               # "rf" (Gaussian derivatives) or "uniform" (torch default)
    gain: float = 4.0                              # initial scale of the RF kernels

    @property
    def spatial_channels(self) -> int:
        return len(self._parameters())

    def _parameters(self) -> torch.Tensor:
        angles = torch.arange(self.angles, dtype=torch.float32) * math.pi / self.angles
        return spatial_parameters(torch.tensor(self.scales), angles, torch.tensor(self.ratios),
                                  [tuple(d) for d in self.derivatives])

    @property
    def hidden_size(self) -> int:
        return (self.size + 2 * (self.kernel // 2) - self.kernel) // self.stride + 1

    @property
    def map_size(self) -> int:
        return self.hidden_size // self.pool

    def taus(self) -> torch.Tensor:
        """Membrane time constants in timesteps, log-spaced between ``tau_steps`` (the spacing of
        Lindeberg's ``temporal_scale_distribution``: a constant ratio between neighbours)."""
        lo, hi = self.tau_steps
        if self.temporal_channels == 1:
            return torch.tensor([lo], dtype=torch.float64)
        return torch.logspace(math.log10(lo), math.log10(hi), self.temporal_channels, dtype=torch.float64)


CONFIGS = {
    "tiny": RFConfig(size=32, scales=(1.0, 2.0), angles=2, derivatives=((0, 0), (1, 0)), kernel=5,
                     temporal_channels=2),
    "small": RFConfig(),
    "paper": RFConfig(size=64, scales=(1.0, 2.0, 4.0), angles=4, ratios=(0.25, 0.5),
                      derivatives=((0, 0), (1, 0), (0, 1), (1, 1)), kernel=9, temporal_channels=4),
}


class _Spike(torch.autograd.Function):
    """Heaviside forward (``v > θ``, as the executor), SuperSpike surrogate backward."""

    @staticmethod
    def forward(ctx, v: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(v - theta)
        return (v > theta).to(v.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (x,) = ctx.saved_tensors
        return grad / (10.0 * x.abs() + 1.0) ** 2, None


def rf_kernels(cfg: RFConfig) -> torch.Tensor:
    """Affine Gaussian derivative kernels [C, 2, k, k]: ON channel +RF, OFF channel -RF."""
    fields = spatial_receptive_fields_with_derivatives(cfg._parameters(), cfg.kernel).float()
    fields = fields / fields.flatten(1).abs().amax(1).clamp_min(1e-6).view(-1, 1, 1)
    return cfg.gain * torch.stack([fields, -fields], dim=1)


class RFSNN(torch.nn.Module):
    """Spiking RF network. ``forward(x [T, B, 2, H, W]) -> readout membrane [T, B, 3, h, w]``."""

    def __init__(self, cfg: RFConfig):
        super().__init__()
        self.cfg = cfg
        c = cfg.spatial_channels
        self.conv = torch.nn.Conv2d(2, c, cfg.kernel, cfg.stride, cfg.kernel // 2)
        if cfg.init == "rf":
            with torch.no_grad():
                self.conv.weight.copy_(rf_kernels(cfg))
                self.conv.bias.zero_()
        self.readout = torch.nn.Conv2d(c, 3, cfg.readout_kernel, 1, cfg.readout_kernel // 2)
        taus = (cfg.taus() * cfg.dt).repeat_interleave(c)             # seconds, per channel
        self.register_buffer("tau", taus.float().view(-1, 1, 1))
        self.register_buffer("tau_readout", torch.tensor(cfg.readout_tau_steps * cfg.dt).float())
        self.register_buffer("theta", torch.tensor(cfg.threshold).float())

    def hidden_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The spatial kernels repeated for the K temporal channels (what runs on chip)."""
        k = self.cfg.temporal_channels
        return self.conv.weight.repeat(k, 1, 1, 1), self.conv.bias.repeat(k)

    def readout_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Readout kernel applied to the mean over temporal channels, as one conv on all channels."""
        k = self.cfg.temporal_channels
        return self.readout.weight.repeat(1, k, 1, 1) / k, self.readout.bias

    def forward(self, x: torch.Tensor, record: bool = False):
        cfg = self.cfg
        w1, b1 = self.hidden_weights()
        w2, b2 = self.readout_weights()
        batch = x.shape[1]
        v1 = torch.zeros(batch, w1.shape[0], cfg.hidden_size, cfg.hidden_size, dtype=x.dtype)
        v2 = torch.zeros(batch, 3, cfg.map_size, cfg.map_size, dtype=x.dtype)
        zero1, one1 = torch.zeros_like(v1[0]), torch.ones_like(v1[0])
        zero2, one2 = torch.zeros_like(v2[0]), torch.ones_like(v2[0])
        tau1 = self.tau.expand_as(v1[0])
        tau2 = self.tau_readout.expand_as(v2[0])
        outs, spikes = [], []
        for t in range(x.shape[0]):
            h = F.conv2d(x[t], w1, b1, stride=cfg.stride, padding=cfg.kernel // 2)
            v1 = v1 + cfg.dt / tau1 * (zero1 - v1 + one1 * h)
            z = _Spike.apply(v1, self.theta)
            v1 = v1 * (1 - z)
            p = F.avg_pool2d(z, cfg.pool, cfg.pool, 0, count_include_pad=True) * float(cfg.pool ** 2)
            r = F.conv2d(p, w2, b2, stride=1, padding=cfg.readout_kernel // 2)
            v2 = v2 + cfg.dt / tau2 * (zero2 - v2 + one2 * r)
            outs.append(v2)
            if record:
                spikes.append(z)
        out = torch.stack(outs)
        return (out, torch.stack(spikes)) if record else out


class ANNBaseline(torch.nn.Module):
    """ReLU CNN with the same convolutions (same parameter count), one frame at a time."""

    def __init__(self, cfg: RFConfig):
        super().__init__()
        self.cfg = cfg
        self.conv = torch.nn.Conv2d(2, cfg.spatial_channels, cfg.kernel, cfg.stride, cfg.kernel // 2)
        self.readout = torch.nn.Conv2d(cfg.spatial_channels, 3, cfg.readout_kernel, 1, cfg.readout_kernel // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        steps, batch = x.shape[:2]
        h = F.relu(self.conv(x.flatten(0, 1)))
        h = F.avg_pool2d(h, self.cfg.pool) * self.cfg.pool ** 2
        return self.readout(h).view(steps, batch, 3, self.cfg.map_size, self.cfg.map_size)


def build_model(kind: str, cfg: RFConfig) -> torch.nn.Module:
    """``rf`` (RF-initialised LIF SNN), ``uniform`` (same SNN, torch default init) or ``ann``."""
    from dataclasses import replace

    if kind == "ann":
        return ANNBaseline(cfg)
    return RFSNN(replace(cfg, init="rf" if kind == "rf" else "uniform"))


def dsnt(heatmaps: torch.Tensor, image_size: int) -> torch.Tensor:
    """Soft-argmax of ``[..., 3, h, w]`` heat maps -> ``[..., 3, 2]`` (x, y) in input pixels."""
    h, w = heatmaps.shape[-2:]
    probs = torch.softmax(heatmaps.flatten(-2), dim=-1).view_as(heatmaps)
    xs = (torch.arange(w, dtype=heatmaps.dtype) + 0.5) * image_size / w
    ys = (torch.arange(h, dtype=heatmaps.dtype) + 0.5) * image_size / h
    x = (probs.sum(-2) * xs).sum(-1)
    y = (probs.sum(-1) * ys).sum(-1)
    return torch.stack([x, y], dim=-1)
