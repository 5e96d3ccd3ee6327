"""Integer PyTorch reference for Speck: all samples at once, whole layers as tensor ops."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from nrf_deploy.targets.speck.format import STATE_MAX, STATE_MIN, SpeckProgram
from nrf_deploy.trace import Trace


def run_reference(program: SpeckProgram, x: np.ndarray, record_states: bool = True) -> Trace:
    steps, batch = x.shape[:2]
    inputs = torch.as_tensor(np.asarray(x, dtype=np.int64))
    state = {L.name: torch.zeros(batch, *L.out_shape, dtype=torch.int64) for L in program.layers}
    out = {L.name: [] for L in program.layers}
    vs = {L.name: [] for L in program.layers}
    sat = {L.name: [] for L in program.layers}
    for t in range(steps):
        spikes = {program.input_name: inputs[t]}
        for L in program.layers:
            src = spikes[L.source].reshape(batch, *_source_shape(program, L)).double()
            if L.input_pool > 1:
                src = F.avg_pool2d(src, L.input_pool) * L.input_pool ** 2
            drive = F.conv2d(src.reshape(batch, *L.in_shape), torch.as_tensor(L.weight).double(),
                             torch.as_tensor(L.bias).double(), stride=L.stride, padding=L.padding)
            v = state[L.name] + drive.round().long()
            sat[L.name].append(((v < STATE_MIN) | (v > STATE_MAX)).long())
            v = v.clamp(STATE_MIN, STATE_MAX)
            z = torch.where(v > 0, torch.div(v, L.threshold_high, rounding_mode="trunc"), torch.zeros_like(v))
            v = torch.where(z > 0, torch.zeros_like(v), v) if L.return_to_zero else v - z * L.threshold_high
            state[L.name] = torch.maximum(v, torch.tensor(L.threshold_low))
            spikes[L.name] = z
            out[L.name].append(z)
            vs[L.name].append(state[L.name])
    outputs = {n: torch.stack(o).numpy() for n, o in out.items()}
    outputs[program.input_name] = np.asarray(x, dtype=np.int64)
    states = ({n: {"v": torch.stack(v).numpy(), "saturated": torch.stack(sat[n]).numpy()} for n, v in vs.items()}
              if record_states else {})
    return Trace(outputs, states)


def _source_shape(program: SpeckProgram, layer) -> tuple[int, ...]:
    if layer.source == program.input_name:
        return tuple(program.input_shape)
    return next(L.out_shape for L in program.layers if L.name == layer.source)
