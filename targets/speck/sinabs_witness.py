"""sinabs witness: the quantised layers as sinabs IAF / SumPool layers with integer parameters.

Uses only ``sinabs.layers`` and ``sinabs.activation`` (never ``sinabs.backend.dynapcnn``, which
imports samna). Float32 arithmetic is exact for these integers (|v| < 2**24). sinabs has no
16-bit saturation: the two agree as long as no membrane saturates (verify reports it if one does).
"""
from __future__ import annotations

import numpy as np
import torch

from nrf_deploy.targets.speck.format import SpeckProgram
from nrf_deploy.trace import Trace


def run_sinabs(program: SpeckProgram, x: np.ndarray, record_states: bool = True) -> Trace:
    import sinabs.layers as sl
    from sinabs.activation import MembraneReset, MembraneSubtract, MultiSpike

    steps, batch = x.shape[:2]
    seq = {program.input_name: torch.as_tensor(np.asarray(x, dtype=np.float32)).transpose(0, 1)}  # [B, T, ...]
    outputs, states = {}, {}
    with torch.no_grad():
        for L in program.layers:
            src = seq[L.source]
            src = src if src.ndim == 5 else src.reshape(batch, steps, -1, 1, 1)
            flat = src.reshape(batch * steps, *src.shape[2:])
            if L.input_pool > 1:
                flat = sl.SumPool2d(L.input_pool)(flat)
            conv = torch.nn.Conv2d(L.in_shape[0], L.weight.shape[0], L.weight.shape[-1], L.stride, L.padding)
            conv.weight.data = torch.as_tensor(L.weight, dtype=torch.float32)
            conv.bias.data = torch.as_tensor(L.bias, dtype=torch.float32)
            drive = conv(flat.reshape(batch * steps, *L.in_shape)).reshape(batch, steps, *L.out_shape)
            iaf = sl.IAF(spike_threshold=float(L.threshold_high), spike_fn=MultiSpike,
                         reset_fn=MembraneReset() if L.return_to_zero else MembraneSubtract(),
                         min_v_mem=float(L.threshold_low), record_states=True)
            spikes = iaf(drive)
            seq[L.name] = spikes
            outputs[L.name] = spikes.transpose(0, 1).round().long().numpy()
            states[L.name] = {"v": iaf.recordings["v_mem"].transpose(0, 1).round().long().numpy()}
    outputs[program.input_name] = np.asarray(x, dtype=np.int64)
    return Trace(outputs, states if record_states else {})
