"""Verification at scale on this machine: one process vs Ray with 1 and 2 workers, and the
memory of ``verify --input`` on a 2 GB memory-mapped input (issue 21; docs/scale.md).

For the Loihi and SpiNNaker exports of the sinabs CNN fixture it prints, per engine, the
reference+emulator throughput in sample-timesteps/s (whole run: Ray start-up and actors loading
the export included; and steady: from the first finished shard to the last), the 2-worker over
1-worker ratio, and each worker's peak RSS. Then it writes a 2 GB ``.npy`` of events, runs
``nrf-deploy verify --input`` on it in a child process and reports that child's peak RSS.

Usage: ``python benchmarks/bench_scale.py [--samples N] [--big-gb 2] [--big-samples N]``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from nrf_deploy.targets import get_target

from nrf_deploy.cli import main as cli
from nrf_deploy.inputs import random_events
from nrf_deploy.inputset import InputSet
from nrf_deploy.ray_engine import ShardWorker, import_ray, verify_on_ray
from nrf_deploy.shard import Plan, make_plan, plan_shards, verify_inputs

FIXTURE = Path(
    os.environ.get("NRF_FIXTURES", Path(__file__).resolve().parents[2] / "shared" / "fixtures")
)
MODEL = FIXTURE / "cnn_sinabs.nir"
STEPS, RATE, SHARD = 10, 0.1, 8
# Peak RSS from the child's own VmHWM: getrusage's ru_maxrss would include this (large) parent's
# RSS copied at fork, which Linux carries over exec.
_HWM = (
    "print([int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM')][0], "
    "file=sys.stderr)"
)
PEAK_RSS_CLI = (
    f"import sys; from nrf_deploy.cli import main; rc = main(sys.argv[1:]); {_HWM}; sys.exit(rc)"
)
STREAM_ALL = (
    "import sys; from nrf_deploy.inputset import InputSet; "
    "s = InputSet.open(sys.argv[1], tuple(map(int, sys.argv[2].split(',')))); "
    "total = sum(int(s.read(i, i + 256).sum()) for i in range(0, s.samples, 256)); "
    f"print(total); {_HWM}"
)


def export(target: str, out: Path) -> Path:
    assert cli(["export", str(MODEL), "--target", target, "-o", str(out)]) == 0
    return out


def timed(run, workers: int, samples: int) -> tuple[float, float]:
    """(whole-run sample-steps/s, steady sample-steps/s). Steady counts only the samples finished
    after the first `workers` shards (every worker started and warm) over the time since."""
    marks: list[tuple[float, int]] = []
    start = time.perf_counter()
    run(lambda done, total, seconds: marks.append((time.perf_counter(), done)))
    whole = time.perf_counter() - start
    (t0, d0), (t1, d1) = marks[workers - 1], marks[-1]
    return samples * STEPS / whole, (d1 - d0) * STEPS / (t1 - t0)


def worker_peak_rss_mb(export_dir: Path, target, x: np.ndarray, plan: Plan) -> float:
    """Peak RSS (MB) of one Ray actor after loading the export and verifying one shard."""
    ray = import_ray()
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        actor = ray.remote(num_cpus=1)(ShardWorker).remote(str(export_dir), target)
        shard = plan_shards(x.shape[1], SHARD)[0]
        ray.get(actor.run.remote(x[:, shard.start : shard.stop], shard, plan))
        pid = ray.get(actor.pid.remote())
        return _vm_hwm_mb(pid)
    finally:
        ray.shutdown()


def _vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def bench_target(name: str, workdir: Path, samples: int) -> None:
    export_dir = export(name, workdir / name)
    target = get_target(name)
    deployment = target.load(export_dir)
    x = random_events(deployment.input_shape, STEPS, samples, RATE, seed=0)
    inputs = InputSet.from_array(x, "random")
    plan = make_plan(target, deployment, 0, SHARD)
    rows = [
        (
            "1 process",
            timed(lambda p: verify_inputs(target, deployment, inputs, plan, SHARD, p), 1, samples),
        )
    ]
    for workers in (1, 2):
        rows.append(
            (
                f"ray {workers} worker{'s' * (workers > 1)}",
                timed(
                    lambda p, w=workers: verify_on_ray(
                        export_dir, target, inputs, plan, SHARD, workers=w, progress=p
                    ),
                    workers,
                    samples,
                ),
            )
        )
    print(f"\n{name}: reference + emulator, {samples} samples x {STEPS} steps, shards of {SHARD}")
    for label, (whole, steady) in rows:
        print(
            f"  {label:<14} whole {whole:8.1f} sample-steps/s   steady {steady:8.1f} sample-steps/s"
        )
    one, two = rows[1][1], rows[2][1]
    print(
        f"  ray 2 workers / 1 worker: whole x{two[0] / one[0]:.2f}, steady x{two[1] / one[1]:.2f}"
    )
    print(f"  peak RSS of one worker: {worker_peak_rss_mb(export_dir, target, x, plan):.0f} MB")


def bench_big_input(workdir: Path, gigabytes: float, samples: int) -> None:
    """Peak RSS of ``verify --input`` over the first `samples` of a `gigabytes` GB memmap."""
    export_dir = workdir / "spinnaker"
    shape = tuple(get_target("spinnaker").load(export_dir).input_shape)
    per_sample = STEPS * int(np.prod(shape))
    n = int(gigabytes * 2**30 // per_sample)
    path = workdir / "big.npy"
    big = np.lib.format.open_memmap(path, mode="w+", dtype=np.int8, shape=(STEPS, n, *shape))
    rng = np.random.default_rng(0)
    for start in range(0, n, 1024):  # write events chunk by chunk, all of the file
        stop = min(start + 1024, n)
        big[:, start:stop] = rng.random((STEPS, stop - start, *shape)) < RATE
    big.flush()
    del big
    size_mb = path.stat().st_size / 2**20
    start = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            PEAK_RSS_CLI,
            "verify",
            str(export_dir),
            "--input",
            str(path),
            "--samples",
            str(samples),
            "--witness-samples",
            "0",
            "--report",
            str(workdir / "big.json"),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    seconds = time.perf_counter() - start
    peak_mb = int(done.stderr.strip().splitlines()[-1]) / 1024
    print(
        f"\nverify --input {path.name}: {size_mb:.0f} MB file ({n} samples x {STEPS} steps), "
        f"verified its first {samples} samples in {seconds:.1f} s; peak RSS {peak_mb:.0f} MB "
        f"= {peak_mb / size_mb:.2f} of the file size"
    )
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", STREAM_ALL, str(path), ",".join(map(str, shape))],
        check=True,
        capture_output=True,
        text=True,
    )
    peak_mb = int(done.stderr.strip().splitlines()[-1]) / 1024
    print(
        f"InputSet over all {n} samples, 256 at a time: {time.perf_counter() - start:.1f} s, "
        f"peak RSS {peak_mb:.0f} MB = {peak_mb / size_mb:.2f} of the file size"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--big-gb", type=float, default=2.0)
    parser.add_argument("--big-samples", type=int, default=256)
    parser.add_argument("--targets", default="spinnaker,loihi")
    parser.add_argument("--big-only", action="store_true", help="only the 2 GB input part")
    args = parser.parse_args()
    print(f"bench_scale: {os.cpu_count()} cores; model {MODEL.name}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.targets.split(","):
            if args.big_only:
                export(name, Path(tmp) / name)
            else:
                bench_target(name, Path(tmp), args.samples)
        if "spinnaker" in args.targets and args.big_gb > 0:
            bench_big_input(Path(tmp), args.big_gb, args.big_samples)


if __name__ == "__main__":
    main()
