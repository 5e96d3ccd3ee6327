"""sinabs witness: the quantised network rebuilt from sinabs layers with the integer parameters.

The layers are those sinabs' ``DynapcnnNetwork`` deploys to the chip: ``sinabs.layers.SumPool2d``
for each destination's pooling, a ``torch.nn.Conv2d`` holding the integer kernel and bias, and
``sinabs.layers.IAFSqueeze`` with ``MultiSpike``, ``MembraneSubtract`` (or ``MembraneReset`` for
return-to-zero), ``spike_threshold = threshold_high`` and ``min_v_mem = threshold_low``. Only
``sinabs.layers`` and ``sinabs.activation`` are imported (``sinabs.backend.dynapcnn`` imports
samna).

sinabs has no 16-bit state. The chip's upper saturation is applied the one way sinabs allows:
each step, the input is limited to the headroom left in the layer's own ``v_mem``
(``min(drive, 2**15 - 1 - v_mem)``), which is the same as clipping ``v_mem + drive``. The lower
bound needs nothing: the state is clamped at ``threshold_low >= -2**15`` after every step anyway.
Values are float64 (exact for these integers), stepping one timestep per call.
"""

from __future__ import annotations

import numpy as np
import torch
from nrf_deploy.targets.speck.format import STATE_MAX, SpeckLayer, SpeckProgram

from nrf_deploy.trace import Trace


def run_sinabs(program: SpeckProgram, x: np.ndarray, record_states: bool = True) -> Trace:
    """Run ``x [T, B, *input_shape]`` through sinabs layers; spikes and ``v_mem`` per layer."""
    steps, batch = x.shape[:2]
    frames = {
        program.input_name: torch.as_tensor(np.asarray(x, dtype=np.float64)).reshape(
            steps, batch, *program.input_chw
        )
    }
    outputs, states = {}, {}
    with torch.no_grad():
        for L in program.layers:
            spikes, v = _run_layer(L, frames, steps, batch)
            frames[L.name] = spikes
            outputs[L.name] = spikes.round().long().numpy()
            states[L.name] = {"v": v.round().long().numpy()}
    outputs[program.input_name] = np.asarray(x, dtype=np.int64)
    return Trace(outputs, states if record_states else {})


def _run_layer(L: SpeckLayer, frames: dict[str, torch.Tensor], steps: int, batch: int):
    import sinabs.layers as sl
    from sinabs.activation import MembraneReset, MembraneSubtract, MultiSpike

    conv = torch.nn.Conv2d(
        L.in_shape[0], L.weight.shape[0], L.kernel, L.stride, L.padding, bias=True
    ).double()
    conv.weight.data = torch.as_tensor(L.weight, dtype=torch.float64)
    conv.bias.data = torch.as_tensor(L.bias, dtype=torch.float64)
    pools = {s.name: sl.SumPool2d(s.pool) for s in L.sources if s.pool > 1}
    iaf = sl.IAFSqueeze(
        batch_size=batch,
        spike_threshold=float(L.threshold_high),
        spike_fn=MultiSpike,
        reset_fn=MembraneReset() if L.return_to_zero else MembraneSubtract(),
        min_v_mem=float(L.threshold_low),
    )
    spikes, vs = [], []
    for t in range(steps):
        inp = sum(
            pools[s.name](frames[s.name][t]) if s.name in pools else frames[s.name][t]
            for s in L.sources
        )
        drive = conv(inp)
        v_before = iaf.v_mem if iaf.is_state_initialised() else torch.zeros_like(drive)
        drive = torch.minimum(drive, STATE_MAX - v_before)
        spikes.append(iaf(drive).double())
        vs.append(iaf.v_mem.clone())
    return torch.stack(spikes), torch.stack(vs)
