"""The covariant spatio-temporal receptive-field SNN (Pedersen, Conradt & Lindeberg, Nat. Commun.
16:8231, 2025) in a deployable form, and its baselines.

On chip (one NIR graph, :func:`nrf_deploy.exporters.nir.export_rf_snn`)::

    events [2, H, W] -> Conv2d   C spatial kernels (affine Gaussian derivatives) repeated for the
                                 K temporal channels: C*K output channels, stride 2
                     -> LIF      (or LI) one time constant per temporal channel (log-spaced);
                                 LIF resets to zero
                     -> SumPool2d(2)
                     -> Conv2d   readout kernel applied to the mean of the K temporal channels
                     -> LI       one heat map per shape; its membrane is the graph output

On the host: soft-argmax (DSNT, :func:`dsnt`) of each heat map into (x, y) pixels.

Units: time constants are configured in **timesteps** (``RFConfig``) and stored in **seconds**
(buffers ``tau``/``tau_readout``, the NIR graph), with ``dt`` seconds per timestep (one event
frame). The forward pass follows the float executor's forward-Euler order exactly
(``v = v + (dt / tau) * (I - v)`` with ``dt / tau`` computed as the executor does, spike
``v > threshold``, reset ``v * (1 - z)``), so the exported graph reproduces it spike for spike.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import torch
import torch.nn.functional as F

from nrf_deploy.errors import NrfError

# norse is imported where its receptive-field functions are used: importing norse imports nir and
# nirtorch, which nothing but building the RF kernels needs.

NEURONS = ("lif", "li")
INITS = ("rf", "uniform")
KINDS = ("rf", "uniform", "ann")


@dataclass(frozen=True)
class RFConfig:
    """Architecture and discretisation.

    Spatial: ``scales`` are the variances ``t = sigma^2`` (px^2) of the affine Gaussian kernels,
    ``angles`` orientations evenly spaced in [0, pi), ``ratios`` the axis ratios (the two axes have
    standard deviations ``ratio * sigma`` and ``sigma / ratio``), ``derivatives`` the (along,
    across)
    derivative orders. Temporal: ``temporal_channels`` time constants from norse's
    ``temporal_scale_distribution`` (``tau_min_steps * tau_ratio**k`` timesteps). ``dt`` in seconds.
    ``neuron``: ``lif`` (spiking, deployable on spiking chips) or ``li`` (membrane passed on).
    ``init``: ``rf`` (Gaussian-derivative kernels) or ``uniform`` (PyTorch default).
    """

    size: int = 64
    scales: tuple[float, ...] = (1.0, 4.0)
    angles: int = 4
    ratios: tuple[float, ...] = (0.5,)
    derivatives: tuple[tuple[int, int], ...] = ((0, 0), (0, 1))
    kernel: int = 7
    stride: int = 2
    temporal_channels: int = 2
    tau_min_steps: float = 2.0
    tau_ratio: float = 2.0
    readout_tau_steps: float = 4.0
    readout_kernel: int = 5
    pool: int = 2
    threshold: float = 1.0
    dt: float = 1e-3
    neuron: str = "lif"
    init: str = "rf"
    gain: float = 4.0

    def validate(self) -> None:
        """Raise :class:`NrfError` for an architecture that cannot be built or run stably."""
        problems = []
        if self.kernel % 2 == 0 or self.readout_kernel % 2 == 0:
            problems.append("kernel sizes must be odd")
        if self.neuron not in NEURONS:
            problems.append(f"neuron must be one of {NEURONS}")
        if self.init not in INITS:
            problems.append(f"init must be one of {INITS}")
        if self.tau_min_steps < 1 or self.readout_tau_steps < 1:
            problems.append("time constants below one timestep make forward Euler unstable")
        if self.temporal_channels < 1 or self.angles < 1 or not self.scales or not self.ratios:
            problems.append("need at least one temporal channel, angle, scale and ratio")
        if self.stride < 1 or self.pool < 1 or self.dt <= 0 or self.threshold <= 0:
            problems.append("stride, pool, dt and threshold must be positive")
        if not problems and self.map_size < 1:
            problems.append(f"a {self.size} px input leaves no read-out map")
        if problems:
            raise NrfError(
                "invalid RF-SNN configuration: " + "; ".join(problems),
                "RFConfig",
                "fix the listed fields",
            )

    def spatial_table(self) -> torch.Tensor:
        """Kernel parameters ``[C, 5]`` (scale, angle, ratio, d_along, d_across) from norse's
        ``spatial_parameters``, without repeats: a combination whose kernel equals an earlier one
        (isotropic zeroth-order kernels at other angles; isotropic first-order kernels along one
        axis at angle a+pi/2 and across it at a) is kept once."""
        from norse.torch.functional.receptive_field import spatial_parameters

        angles = torch.arange(self.angles, dtype=torch.float32) * math.pi / self.angles
        table = spatial_parameters(
            torch.tensor(self.scales, dtype=torch.float32),
            angles,
            torch.tensor(self.ratios, dtype=torch.float32),
            [tuple(int(v) for v in d) for d in self.derivatives],
            include_replicas=True,
        )
        kernels = _sample_fields(table, self.kernel).flatten(1)
        keep: list[int] = []
        for i, k in enumerate(kernels):
            if not any(
                torch.allclose(k, kernels[j], atol=1e-5 * float(k.abs().max())) for j in keep
            ):
                keep.append(i)
        return table[keep]

    @property
    def spatial_channels(self) -> int:
        """C: spatial kernels per temporal channel."""
        return len(self.spatial_table())

    @property
    def hidden_channels(self) -> int:
        """C*K: channels of the LIF (LI) layer."""
        return self.spatial_channels * self.temporal_channels

    @property
    def hidden_size(self) -> int:
        return (self.size + 2 * (self.kernel // 2) - self.kernel) // self.stride + 1

    @property
    def map_size(self) -> int:
        return self.hidden_size // self.pool

    @property
    def neurons(self) -> int:
        """Neurons in the deployable graph (hidden layer + read-out)."""
        return self.hidden_channels * self.hidden_size**2 + 3 * self.map_size**2

    def taus(self) -> torch.Tensor:
        """Membrane time constants in **timesteps**, one per temporal channel (float64).

        Lindeberg's temporal scales are variances ``tau_k = c^(2k) tau_0`` (time^2); norse's
        ``temporal_scale_distribution`` returns their square roots, ``sqrt(tau_0) * c^k``, which we
        use as time constants: ``tau_min_steps * tau_ratio**k``, log-spaced."""
        from norse.torch.functional.receptive_field import temporal_scale_distribution

        scales = temporal_scale_distribution(
            self.temporal_channels, min_scale=self.tau_min_steps**2, c=self.tau_ratio
        )
        return scales.double()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RFConfig:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for key in ("scales", "ratios"):
            if key in values:
                values[key] = tuple(float(v) for v in values[key])
        if "derivatives" in values:
            values["derivatives"] = tuple(tuple(int(i) for i in d) for d in values["derivatives"])
        return cls(**values)


CONFIGS: dict[str, RFConfig] = {
    # tests and smoke runs: 32x32 input, 8 kernels x 2 temporal channels (4.3 k neurons)
    "tiny": RFConfig(
        size=32, scales=(1.0, 4.0), angles=2, ratios=(0.5,), kernel=5, temporal_channels=2
    ),
    # the CPU-sized model of the demo: 64x64, 2 scales x 4 angles x 1 ratio x 2 derivative orders =
    # 16 kernels x 2 temporal channels (33.5 k neurons)
    "small": RFConfig(),
    # closer to the paper's kernel bank: 3 scales x 4 angles x 2 ratios x 3 derivative orders,
    # repeats removed = 57 kernels x 4 temporal channels at 64x64 (234 k neurons; hours on a CPU)
    "paper": RFConfig(
        size=64,
        scales=(1.0, 2.0, 4.0),
        angles=4,
        ratios=(0.5, 1.0),
        derivatives=((0, 0), (1, 0), (0, 1)),
        kernel=9,
        temporal_channels=4,
        tau_min_steps=1.5,
        tau_ratio=math.sqrt(2),
    ),
}


class _Spike(torch.autograd.Function):
    """Heaviside forward (``v > threshold``, as the executor), SuperSpike surrogate backward."""

    @staticmethod
    def forward(ctx, v: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(v, threshold)
        return (v > threshold).to(v.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        v, threshold = ctx.saved_tensors
        return grad / (10.0 * (v - threshold).abs() + 1.0) ** 2, None


def _sample_fields(table: torch.Tensor, kernel: int) -> torch.Tensor:
    """norse's affine Gaussian derivative fields ``[C, k, k]`` sampled on the pixel grid (``domain``
    = half the kernel width, so scales are variances in px^2), each scaled to a largest magnitude
    of 1."""
    from norse.torch.functional.receptive_field import spatial_receptive_fields_with_derivatives

    fields_ = spatial_receptive_fields_with_derivatives(
        table, kernel, domain=(kernel - 1) / 2
    ).float()
    return fields_ / fields_.flatten(1).abs().amax(1).clamp_min(1e-12).view(-1, 1, 1)


def rf_kernels(cfg: RFConfig) -> torch.Tensor:
    """Affine Gaussian derivative kernels ``[C, 2, k, k]`` (ON events see +field, OFF events
    -field),
    each scaled to a largest magnitude of ``cfg.gain``."""
    fields_ = _sample_fields(cfg.spatial_table(), cfg.kernel)
    return cfg.gain * torch.stack([fields_, -fields_], dim=1)


class RFSNN(torch.nn.Module):
    """Spiking RF network: ``forward(x [T, B, 2, H, W]) -> read-out membrane [T, B, 3, h, w]``.

    Trainable parameters: ``conv`` (2 -> C, shared by the K temporal channels) and ``readout``
    (C -> 3). Buffers: ``tau`` (s, per hidden channel), ``tau_readout`` (s), ``threshold``.
    """

    def __init__(self, cfg: RFConfig):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        c = cfg.spatial_channels
        self.conv = torch.nn.Conv2d(2, c, cfg.kernel, cfg.stride, cfg.kernel // 2)
        if cfg.init == "rf":
            with torch.no_grad():
                self.conv.weight.copy_(rf_kernels(cfg))
                self.conv.bias.zero_()
        self.readout = torch.nn.Conv2d(c, 3, cfg.readout_kernel, 1, cfg.readout_kernel // 2)
        taus = (cfg.taus() * cfg.dt).repeat_interleave(c)  # seconds, channel k*C + i
        self.register_buffer("tau", taus.float().view(-1, 1, 1))
        self.register_buffer(
            "tau_readout", torch.tensor(cfg.readout_tau_steps * cfg.dt, dtype=torch.float32)
        )
        self.register_buffer("threshold", torch.tensor(cfg.threshold, dtype=torch.float32))

    def hidden_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The spatial kernels repeated for the K temporal channels (the on-chip Conv2d)."""
        k = self.cfg.temporal_channels
        return self.conv.weight.repeat(k, 1, 1, 1), self.conv.bias.repeat(k)

    def readout_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Read-out kernel applied to the mean over temporal channels, as one Conv2d on all C*K."""
        k = self.cfg.temporal_channels
        return self.readout.weight.repeat(1, k, 1, 1) / k, self.readout.bias

    def forward(self, x: torch.Tensor, record: bool = False):
        """``x``: events ``[T, B, 2, H, W]``. Returns the read-out membrane ``[T, B, 3, h, w]``, and
        with ``record`` also the hidden layer's output ``[T, B, C*K, h1, w1]`` (spikes or LI
        membrane)."""
        cfg = self.cfg
        if x.dim() != 5 or tuple(x.shape[2:]) != (2, cfg.size, cfg.size):
            raise NrfError(
                f"input of shape {tuple(x.shape)}",
                "RFSNN.forward",
                f"pass events shaped [T, B, 2, {cfg.size}, {cfg.size}]",
            )
        out, hidden = self._forward_stepwise(x)
        return (out, hidden) if record else out

    def _neuron(
        self, v: torch.Tensor, h: torch.Tensor, alpha: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One forward-Euler step of the hidden layer: returns (output, new membrane)."""
        v = v + alpha * (h - v)
        if self.cfg.neuron == "lif":
            z = _Spike.apply(v, self.threshold)
            return z, v * (1 - z)
        return v, v

    def _forward_stepwise(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The executor's order: every node once per timestep. (Running the stateless layers once
        over all T*B frames measured slower on CPU, so training uses this pass too.)"""
        cfg = self.cfg
        w1, b1 = self.hidden_weights()
        w2, b2 = self.readout_weights()
        batch = x.shape[1]
        alpha1 = cfg.dt / self.tau  # the executor's dt / tau, elementwise
        alpha2 = cfg.dt / self.tau_readout
        v1 = x.new_zeros(batch, cfg.hidden_channels, cfg.hidden_size, cfg.hidden_size)
        v2 = x.new_zeros(batch, 3, cfg.map_size, cfg.map_size)
        k = cfg.pool
        outs, hidden = [], []
        for t in range(x.shape[0]):
            h = F.conv2d(x[t], w1, b1, stride=cfg.stride, padding=cfg.kernel // 2)
            z, v1 = self._neuron(v1, h, alpha1)
            p = F.avg_pool2d(z, k, k, 0, count_include_pad=True) * float(k * k)
            r = F.conv2d(p, w2, b2, stride=1, padding=cfg.readout_kernel // 2)
            v2 = v2 + alpha2 * (r - v2)
            outs.append(v2)
            hidden.append(z)
        return torch.stack(outs), torch.stack(hidden)


class ANNBaseline(torch.nn.Module):
    """ReLU CNN with the same convolutions (hence the same parameter count) as :class:`RFSNN`,
    applied to one event frame at a time: ``[T, B, 2, H, W] -> heat maps [T, B, 3, h, w]``.
    Not deployable (ReLU has no NIR node); PyTorch default initialisation."""

    def __init__(self, cfg: RFConfig):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.conv = torch.nn.Conv2d(
            2, cfg.spatial_channels, cfg.kernel, cfg.stride, cfg.kernel // 2
        )
        self.readout = torch.nn.Conv2d(
            cfg.spatial_channels, 3, cfg.readout_kernel, 1, cfg.readout_kernel // 2
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        steps, batch = x.shape[:2]
        h = F.relu(self.conv(x.flatten(0, 1)))
        h = F.avg_pool2d(h, self.cfg.pool) * self.cfg.pool**2
        return self.readout(h).view(steps, batch, 3, self.cfg.map_size, self.cfg.map_size)


def build_model(kind: str, cfg: RFConfig) -> torch.nn.Module:
    """``rf`` (RF-initialised SNN), ``uniform`` (same SNN, PyTorch default init) or ``ann``
    (ReLU baseline with the same parameter count). ``cfg.neuron`` picks LIF or LI for the SNNs."""
    if kind not in KINDS:
        raise NrfError(
            f"unknown model kind '{kind}'", "--kind", f"choose one of {', '.join(KINDS)}"
        )
    if kind == "ann":
        return ANNBaseline(cfg)
    return RFSNN(replace(cfg, init=kind))


def dsnt(heatmaps: torch.Tensor, image_size: int) -> torch.Tensor:
    """Soft-argmax (DSNT, host side) of heat maps ``[..., 3, h, w]`` -> ``[..., 3, 2]`` (x, y) in
    input pixels: the expectation of the pixel-centre coordinates under ``softmax(map)``."""
    h, w = heatmaps.shape[-2:]
    probs = torch.softmax(heatmaps.flatten(-2), dim=-1).view_as(heatmaps)
    xs = (torch.arange(w, dtype=heatmaps.dtype) + 0.5) * image_size / w
    ys = (torch.arange(h, dtype=heatmaps.dtype) + 0.5) * image_size / h
    x = (probs.sum(-2) * xs).sum(-1)
    y = (probs.sum(-1) * ys).sum(-1)
    return torch.stack([x, y], dim=-1)
