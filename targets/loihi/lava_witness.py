"""Lava witness: the export's Lava network (lava_network.json + .npz) run with Lava's bit-accurate
models.

One ``LIF`` process per described process, one ``Dense``/``Sparse`` per described connection with
its 8-bit weights and ``weight_exp`` (lava_network.py). Input spikes come from a ``RingBuffer``
source. Runs with
``Loihi2SimCfg(select_tag="fixed_pt")`` (in lava-nc 0.10.0 that is the Loihi 1 bit-accurate model),
step by step, reading u and v after each step and spikes from sink ring buffers.
"""

from __future__ import annotations

import numpy as np
from nrf_deploy.targets.loihi.lava_network import LavaNetwork, build_network

from nrf_deploy.trace import Trace


def _allow_lava_start_method() -> None:
    """Lava calls ``multiprocessing.set_start_method('fork')`` at import and fails if anything
    (a tqdm lock, torch) already fixed the context; reset it (Linux's default is fork anyway)."""
    import multiprocessing
    import sys

    if "lava.magma.runtime.message_infrastructure.multiprocessing" not in sys.modules:
        multiprocessing.set_start_method(None, force=True)


def run_lava(program: LavaNetwork, x: np.ndarray, record_states: bool = True) -> Trace:
    """Run every sample of ``x [T, B, *input_shape]`` through Lava (one network per sample).

    With ``record_states=False`` and no read-out population, all timesteps run in one Lava call."""
    _allow_lava_start_method()
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg

    steps, batch = x.shape[:2]
    flat = np.asarray(x, dtype=np.int64).reshape(steps, batch, -1)
    pops = program.populations
    out = {n: np.zeros((steps, batch, c.size), np.int64) for n, c in pops.items()}
    us = {n: np.zeros((steps, batch, c.size), np.int64) for n, c in pops.items()}
    vs = {n: np.zeros((steps, batch, c.size), np.int64) for n, c in pops.items()}
    cfg = Loihi2SimCfg(select_tag="fixed_pt")
    # voltages are read after every step when states are recorded or a read-out population's
    # output is its membrane; otherwise Lava runs all steps in one call (its own throughput)
    per_step = record_states or any(c.readout for c in pops.values())
    for b in range(batch):
        source, groups, _ = build_network(program, flat[:, b])
        try:
            if per_step:
                for t in range(steps):
                    source.run(condition=RunSteps(num_steps=1), run_cfg=cfg)
                    for name, parts in groups.items():
                        for idx, lif, _ in parts:
                            us[name][t, b, idx] = np.asarray(lif.u.get()).astype(np.int64)
                            vs[name][t, b, idx] = np.asarray(lif.v.get()).astype(np.int64)
            else:
                source.run(condition=RunSteps(num_steps=steps), run_cfg=cfg)
            for name, parts in groups.items():
                for idx, _, sink in parts:
                    out[name][:, b, idx] = np.asarray(sink.data.get()).T.astype(np.int64)
        finally:
            source.stop()
    outputs = {}
    for name, comp in pops.items():
        data = vs[name] if comp.readout else out[name]
        outputs[name] = data.reshape(steps, batch, *comp.shape)
    outputs[program.input_name] = flat.reshape(steps, batch, *program.input_shape)
    states = (
        {
            n: {
                "u": us[n].reshape(steps, batch, *c.shape),
                "v": vs[n].reshape(steps, batch, *c.shape),
            }
            for n, c in pops.items()
        }
        if record_states
        else {}
    )
    return Trace(outputs, states)
