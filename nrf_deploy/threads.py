"""How many threads torch uses while a backend runs (``nrf-deploy --threads N``).

Rule, from ``benchmarks/bench_perf.py`` (docs/performance.md): on a busy machine an extra thread
mostly waits for a core — the float executor at batch 64 ran 12x *slower* with 2 threads than
with 1 on 2 cores at load 15-22 — so the default is **1 thread per process**, and **every core**
(``os.cpu_count()``) only for large batches (:data:`LARGE_BATCH` samples or more) on a machine
whose 1-minute load average is below half its cores. ``--threads N`` overrides the rule.
"""

from __future__ import annotations

import os
import sys

LARGE_BATCH = 64
"""Batch size from which the default uses every core."""

_chosen: int | None = None


def set_threads(n: int | None) -> None:
    """Fix the thread count for the rest of the process (None: back to the batch rule)."""
    global _chosen
    if n is not None and n < 1:
        from nrf_deploy.errors import NrfError

        raise NrfError(f"--threads must be at least 1, got {n}", "--threads", "e.g. --threads 1")
    _chosen = n


def threads_for(batch: int) -> int:
    """Threads for a run of `batch` samples: the --threads choice, else the batch rule."""
    if _chosen is not None:
        return _chosen
    cores = os.cpu_count() or 1
    idle = os.getloadavg()[0] < cores / 2
    return cores if batch >= LARGE_BATCH and idle else 1


def apply_threads(batch: int) -> int:
    """Set torch's intra-op threads for a run of `batch` samples (only if torch is loaded: a
    backend that needs torch imports it before running). Returns the count chosen."""
    n = threads_for(batch)
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n
