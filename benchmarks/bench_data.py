"""Event data generator speed: 1000 samples of 64x64 x 40 frames (goal: under 30 s on 2 cores).

Prints wall-clock and CPU seconds (the CPU figure is the robust one on a shared machine), the
throughput, the event rate, and the time to write and read the dataset in the documented ``.npz``
format. Exit code 1 if the goal is missed.

    python benchmarks/bench_data.py [--samples 1000] [--threads 1] [--no-save]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from nrf_deploy.data import ShapesConfig, generate, load_dataset, save_dataset

GOAL_S = 30.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads for the generator (1: fastest on a shared 2-core machine)",
    )
    parser.add_argument("--no-save", action="store_true", help="skip the save/load timing")
    args = parser.parse_args()
    cfg = ShapesConfig(size=64, frames=40)
    wall, cpu = time.perf_counter(), time.process_time()
    events, centres = generate(args.samples, cfg, seed=0, threads=args.threads)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    scaled = wall * 1000 / args.samples
    print(
        f"generate {args.samples} samples x {cfg.frames} frames x 2x{cfg.size}x{cfg.size} "
        f"({args.threads} threads): {wall:.1f} s wall, {cpu:.1f} s CPU, "
        f"{args.samples / wall:.0f} samples/s, event rate {events.mean():.4f} per "
        "pixel/polarity/frame"
    )
    print(
        f"1000 samples: {scaled:.1f} s (goal < {GOAL_S:.0f} s): "
        f"{'met' if scaled < GOAL_S else 'NOT met'}"
    )
    if not args.no_save:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "shapes.npz"
            start = time.perf_counter()
            save_dataset(path, events, centres, cfg)
            saved = time.perf_counter() - start
            start = time.perf_counter()
            load_dataset(path)
            loaded = time.perf_counter() - start
            print(
                f"save {saved:.1f} s, load {loaded:.1f} s, {path.stat().st_size / 2**20:.1f} MiB "
                "on disk "
                f"({events.nbytes / 2**20:.0f} MiB in memory)"
            )
    return 0 if scaled < GOAL_S else 1


if __name__ == "__main__":
    sys.exit(main())
