"""Loihi throughput, side by side in one run: integer reference and emulator against Lava fixed_pt
on the same network and inputs, and the integer reference against the float executor.

Targets (issue 4): emulator >= 100x Lava (aim 1000x); integer reference within 2x of the float
executor. Prints samples*timesteps/s, synaptic events/s and the ratios.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from nrf_deploy.inputs import random_events
from nrf_deploy.ir import load_graph, run_float
from nrf_deploy.targets.loihi import LoihiTarget

FIXTURE = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "cnn_sinabs.nir"


def _time(fn, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main(model: str = str(FIXTURE)) -> None:
    target = LoihiTarget()
    graph = load_graph(model)
    deployment = target.build(graph, {})
    steps, batch = 10, 16
    x = random_events(deployment.input_shape, steps, batch, 0.1, 0)
    ref = target.run(deployment, "reference", x, record_states=False)
    events = sum(float(ref.outputs[s.source].sum()) * s.weights.nnz / s.weights.shape[1]
                 for s in deployment.program.projections)       # approx. synaptic events in the run
    t_ref = _time(lambda: target.run(deployment, "reference", x, record_states=False))
    t_emu = _time(lambda: target.run(deployment, "emulator", x, record_states=False), repeats=1)
    t_float = _time(lambda: run_float(graph, x.astype(np.float32)))
    lava_x = x[:, :1]
    t_lava = _time(lambda: target.run(deployment, "lava", lava_x, record_states=False), repeats=1)
    rate = lambda seconds, n: n * steps / seconds   # noqa: E731  samples*timesteps per second
    print(f"network: {model} ({sum(c.size for c in deployment.program.populations.values())} compartments, "
          f"{sum(s.weights.nnz for s in deployment.program.projections)} synapses); {steps} steps")
    print(f"  float executor     {rate(t_float, batch):10.1f} sample-steps/s")
    print(f"  integer reference  {rate(t_ref, batch):10.1f} sample-steps/s  {events * batch / t_ref / batch:12.0f} syn-events/s")
    print(f"  emulator           {rate(t_emu, batch):10.1f} sample-steps/s  {events / t_emu:12.0f} syn-events/s")
    print(f"  Lava fixed_pt      {rate(t_lava, 1):10.1f} sample-steps/s  (1 sample, incl. process start-up)")
    emu_vs_lava = rate(t_emu, batch) / rate(t_lava, 1)
    ref_vs_float = t_ref / t_float
    print(f"ratio emulator / Lava throughput: {emu_vs_lava:8.1f}x   (must be >= 100x)")
    print(f"ratio reference / float time:     {ref_vs_float:8.2f}x   (must be <= 2x)")


if __name__ == "__main__":
    main(*sys.argv[1:])
