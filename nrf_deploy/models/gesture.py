"""A sparse spiking gesture CNN in the style of Cordone, Miramond & Ferrante (IJCNN 2021):
strided convolutions (no pooling layers), integrate-and-fire (or LIF) neurons, trained timestep
by timestep with a surrogate gradient, classified by the output layer's spike counts.

On chip (one NIR graph, :func:`nrf_deploy.exporters.nir.export_gesture_cnn`)::

    events [2, 128, 128] -> Conv2d (stride s1) -> IF -> Conv2d (stride s2) -> IF -> ...
                         -> Flatten -> Linear -> IF   one neuron per motion class

On the host: the predicted class is the output neuron with the most spikes over the sample
(ties go to the lowest index). Every layer resets to zero after a spike (``metadata["reset"] =
"zero"``), the rule Loihi, SpiNNaker and Speck's ``return_to_zero`` share; no biases.

Units: ``dt`` is seconds per timestep (one event frame); LIF time constants are configured in
timesteps (``tau_steps``) and stored in seconds. The forward pass is the float executor's order
and arithmetic (IF: ``v = v + I``; LIF: ``v = v + (dt / tau) * (I - v)``; spike ``v > threshold``;
reset ``v * (1 - z)``), so the exported graph reproduces it spike for spike.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F

from nrf_deploy.errors import NrfError
from nrf_deploy.models.rf_snn import _Spike

GESTURE_NEURONS = ("if", "lif")


@dataclass(frozen=True)
class GestureNetConfig:
    """Architecture: conv layer ``i`` has ``channels[i]`` output channels, a square kernel
    ``kernels[i]``, ``strides[i]`` and ``paddings[i]`` (pixels); then one fully connected layer of
    ``classes`` neurons. ``neuron``: ``if`` or ``lif`` (time constant ``tau_steps`` timesteps).
    ``dt`` seconds per timestep; ``threshold`` in the units of the weighted input."""

    size: int = 128
    classes: int = 6
    channels: tuple[int, ...] = (8, 16, 16)
    kernels: tuple[int, ...] = (4, 3, 3)
    strides: tuple[int, ...] = (4, 2, 2)
    paddings: tuple[int, ...] = (0, 1, 1)
    neuron: str = "if"
    tau_steps: float = 8.0
    threshold: float = 1.0
    dt: float = 0.05

    def validate(self) -> None:
        """Raise :class:`NrfError` for an architecture that cannot be built."""
        problems = []
        if self.neuron not in GESTURE_NEURONS:
            problems.append(f"neuron '{self.neuron}' is not one of {', '.join(GESTURE_NEURONS)}")
        layers = (self.channels, self.kernels, self.strides, self.paddings)
        if not self.channels or len({len(v) for v in layers}) != 1:
            problems.append("channels, kernels, strides and paddings need one entry per layer")
        elif min(self.map_sizes) < 1:
            problems.append(f"a {self.size} px input leaves no feature map: {self.map_sizes}")
        if self.tau_steps < 1 or self.threshold <= 0 or self.dt <= 0 or self.classes < 2:
            problems.append("tau_steps >= 1, threshold > 0, dt > 0 and classes >= 2 are needed")
        if problems:
            raise NrfError(
                "invalid gesture CNN: " + "; ".join(problems),
                "GestureNetConfig",
                "fix the listed fields (--neuron if|lif)",
            )

    @property
    def map_sizes(self) -> tuple[int, ...]:
        """Side (px) of each conv layer's output map."""
        sizes, s = [], self.size
        for k, st, p in zip(self.kernels, self.strides, self.paddings):
            s = (s + 2 * p - k) // st + 1
            sizes.append(s)
        return tuple(sizes)

    @property
    def flat_features(self) -> int:
        return self.channels[-1] * self.map_sizes[-1] ** 2

    @property
    def neurons(self) -> int:
        """Neurons in the deployable graph (every spiking layer)."""
        return sum(c * s * s for c, s in zip(self.channels, self.map_sizes)) + self.classes

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GestureNetConfig:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        for key in ("channels", "kernels", "strides", "paddings"):
            if key in values:
                values[key] = tuple(int(v) for v in values[key])
        return cls(**values)


class GestureCNN(torch.nn.Module):
    """``forward(x [T, B, 2, H, W]) -> output spikes [T, B, classes]`` (and, with ``record``, the
    spikes of every conv layer). Parameters: ``convs`` (bias-free Conv2d) and ``fc`` (bias-free
    Linear); buffers ``threshold`` and ``tau`` (seconds, LIF only)."""

    def __init__(self, cfg: GestureNetConfig):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        ins = (2, *cfg.channels[:-1])
        self.convs = torch.nn.ModuleList(
            torch.nn.Conv2d(i, o, k, s, p, bias=False)
            for i, o, k, s, p in zip(ins, cfg.channels, cfg.kernels, cfg.strides, cfg.paddings)
        )
        self.fc = torch.nn.Linear(cfg.flat_features, cfg.classes, bias=False)
        # enough drive at the start for sparse binary events to cross the threshold. A LIF
        # membrane takes dt/tau of its input per step and leaks: its weights start 1.5 tau/dt
        # times larger (measured on the gesture preset: at 1 tau/dt the third layer is silent
        # and nothing trains; 1.5 tau/dt gave 0.34 held-out accuracy, 2 tau/dt 0.30)
        gain = 3.0 * (1.5 * cfg.tau_steps if cfg.neuron == "lif" else 1.0)
        with torch.no_grad():
            for conv in self.convs:
                conv.weight.mul_(gain)
            self.fc.weight.mul_(gain)
        self.register_buffer("threshold", torch.tensor(cfg.threshold, dtype=torch.float32))
        self.register_buffer("tau", torch.tensor(cfg.tau_steps * cfg.dt, dtype=torch.float32))

    def _step(self, v: torch.Tensor | None, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One timestep of a spiking layer driven by `h`: returns (spikes, new membrane)."""
        v = torch.zeros_like(h) if v is None else v
        if self.cfg.neuron == "if":
            v = v + h
        else:
            v = v + (self.cfg.dt / self.tau) * (h - v)
        z = _Spike.apply(v, self.threshold)
        return z, v * (1 - z)

    def forward(self, x: torch.Tensor, record: bool = False):
        cfg = self.cfg
        if x.dim() != 5 or tuple(x.shape[2:]) != (2, cfg.size, cfg.size):
            raise NrfError(
                f"input of shape {tuple(x.shape)}",
                "GestureCNN.forward",
                f"pass events shaped [T, B, 2, {cfg.size}, {cfg.size}]",
            )
        states: list[torch.Tensor | None] = [None] * (len(self.convs) + 1)
        outs, hidden = [], [[] for _ in self.convs]
        for t in range(x.shape[0]):
            z = x[t]
            for i, conv in enumerate(self.convs):
                z, states[i] = self._step(states[i], F.conv2d(z, conv.weight, None, *_geom(conv)))
                hidden[i].append(z)
            z, states[-1] = self._step(states[-1], z.flatten(1) @ self.fc.weight.T)
            outs.append(z)
        out = torch.stack(outs)
        return (out, [torch.stack(h) for h in hidden]) if record else out


def _geom(conv: torch.nn.Conv2d) -> tuple[tuple[int, ...], tuple[int, ...]]:
    return conv.stride, conv.padding  # type: ignore[return-value]


def spike_count_loss(out: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the output spike counts ``[T, B, classes]`` summed over time (the counts
    are the logits) against class indices ``[B]``."""
    return F.cross_entropy(out.sum(0), labels)


def predict_class(out: torch.Tensor | Any) -> torch.Tensor:
    """Predicted class per sample from output spikes ``[T, B, classes]`` (array or tensor): the
    most spikes over the run, ties to the lowest index."""
    return torch.as_tensor(out).sum(0).argmax(-1)
