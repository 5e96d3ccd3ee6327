"""Event data generator speed: 1000 samples of 64x64 x 40 frames (goal: under 30 s on 2 cores)."""
from __future__ import annotations

import time

import torch

from nrf_deploy.data import ShapesConfig, generate

if __name__ == "__main__":
    torch.set_num_threads(2)
    start = time.perf_counter()
    events, centres = generate(1000, ShapesConfig(size=64, frames=40), seed=0)
    seconds = time.perf_counter() - start
    print(f"1000 samples x 40 frames x 2x64x64: {seconds:.1f} s ({1000 / seconds:.0f} samples/s); "
          f"event rate {events.mean():.4f}; goal < 30 s: {'met' if seconds < 30 else 'NOT met'}")
