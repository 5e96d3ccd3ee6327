"""Run every benchmark script in this folder (``make bench``); each prints its figures and ratios.

Benchmarks are never part of the test suite: speed targets are measured here, side by side in one
run, because these machines are noisy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def main() -> int:
    scripts = sorted(p for p in Path(__file__).parent.glob("bench_*.py"))
    failed = []
    for script in scripts:
        print(f"\n=== {script.name} ===", flush=True)
        if subprocess.run([sys.executable, str(script)]).returncode != 0:
            failed.append(script.name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
