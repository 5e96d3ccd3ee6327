"""CLI start-up: ``nrf-deploy --help``, ``targets``, an argument error (goal: --help under 0.5 s).

Each command runs in a fresh interpreter, `--repeat` times; the median wall-clock and the
child's CPU seconds (the robust figure on a shared machine) are printed, with whether torch was
imported at all (``-X importtime``; torch alone costs about 2 s of CPU). Exit code 1 if ``--help``
misses the goal on CPU time.

    python benchmarks/bench_cli.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import re
import resource
import statistics
import subprocess
import sys
import time

GOAL_S = 0.5
COMMANDS = {
    "--help": ["--help"],
    "export --help": ["export", "--help"],
    "argument error": ["export"],
    "targets": ["targets"],
}


def _run(args: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child) of ``python -m nrf_deploy ARGS``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "nrf_deploy", *args], capture_output=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def imports_torch(args: list[str]) -> bool:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "nrf_deploy", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    return any(re.search(r"\|\s*torch$", line.rstrip()) for line in proc.stderr.splitlines())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    baseline = [_run_python() for _ in range(args.repeat)]
    print(f"{'command':<16} {'wall (median)':>14} {'CPU (median)':>13}  torch imported")
    print(
        f"{'python -c pass':<16} {statistics.median(w for w, _ in baseline):>12.2f} s "
        f"{statistics.median(c for _, c in baseline):>11.2f} s  -"
    )
    results = {}
    for name, argv in COMMANDS.items():
        runs = [_run(argv) for _ in range(args.repeat)]
        wall, cpu = statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs)
        results[name] = cpu
        print(
            f"{name:<16} {wall:>12.2f} s {cpu:>11.2f} s  {'yes' if imports_torch(argv) else 'no'}"
        )
    ok = results["--help"] < GOAL_S
    print(
        f"nrf-deploy --help: {results['--help']:.2f} s CPU, goal < {GOAL_S} s: "
        f"{'met' if ok else 'MISSED'}"
    )
    return 0 if ok else 1


def _run_python() -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


if __name__ == "__main__":
    sys.exit(main())
