"""Integer PyTorch reference for Speck: the discretised model (format.py) as batched tensor ops.

Layer by layer over the whole run (the graph is feed-forward, so every timestep's input of a
layer is known before its neurons run): one convolution over all ``T x B`` frames, then the
neurons step through time on int64 tensors. Convolutions run in float64, exact for the integer
sums involved (far below 2**53).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from nrf_deploy.targets.speck.format import STATE_MAX, STATE_MIN, SpeckLayer, SpeckProgram

from nrf_deploy.trace import Trace


def run_reference(program: SpeckProgram, x: np.ndarray, record_states: bool = True) -> Trace:
    """Run ``x [T, B, *input_shape]`` (event counts). Outputs: spike counts per layer ``[T, B, f,
    h, w]``;
    states: ``v`` after the step and ``saturated`` (1 where the 16-bit state clipped)."""
    steps, batch = x.shape[:2]
    frames = {
        program.input_name: torch.as_tensor(np.asarray(x, dtype=np.int64)).reshape(
            steps * batch, *program.input_chw
        )
    }
    outputs, states = {}, {}
    for L in program.layers:
        drive = _drive(L, frames).reshape(steps, batch, *L.out_shape)
        spikes, v, saturated = _neurons(L, drive)
        frames[L.name] = spikes.reshape(steps * batch, *L.out_shape)
        outputs[L.name] = spikes.cpu().numpy()
        states[L.name] = {"v": v.cpu().numpy(), "saturated": saturated.cpu().numpy()}
    outputs[program.input_name] = np.asarray(x, dtype=np.int64)
    return Trace(outputs, states if record_states else {})


def _drive(L: SpeckLayer, frames: dict[str, torch.Tensor]) -> torch.Tensor:
    """Synaptic input per frame, int64: conv of the (sum-pooled) sources, plus the bias."""
    total = None
    for s in L.sources:
        src = frames[s.name].double()
        if s.pool > 1:
            src = F.avg_pool2d(src, s.pool) * (s.pool * s.pool)
        total = src if total is None else total + src
    out = F.conv2d(
        total,
        torch.as_tensor(L.weight, dtype=torch.float64),
        torch.as_tensor(L.bias, dtype=torch.float64),
        stride=L.stride,
        padding=L.padding,
    )
    return out.round().long()


def _neurons(L: SpeckLayer, drive: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    v = torch.zeros(drive.shape[1:], dtype=torch.int64)
    low = torch.tensor(L.threshold_low, dtype=torch.int64)
    spikes, vs, sat = [], [], []
    for t in range(drive.shape[0]):
        v = v + drive[t]
        sat.append(((v < STATE_MIN) | (v > STATE_MAX)).long())
        v = v.clamp(STATE_MIN, STATE_MAX)
        z = torch.where(
            v > 0, torch.div(v, L.threshold_high, rounding_mode="trunc"), torch.zeros_like(v)
        )
        v = (
            torch.where(z > 0, torch.zeros_like(v), v)
            if L.return_to_zero
            else v - z * L.threshold_high
        )
        v = torch.maximum(v, low)
        spikes.append(z)
        vs.append(v)
    return torch.stack(spikes), torch.stack(vs), torch.stack(sat)
