"""Verification split into sample shards and merged back, independent of where shards run.

:func:`plan_shards` cuts ``[0, N)`` into contiguous sample ranges; :func:`verify_shard` runs a
target's backends on one range and compares them (sample indices global); :func:`merge` joins
the per-shard comparisons into exactly the :class:`VerifyResult` that one comparison over all
samples gives, in any order: counts add up, ``max_abs_error`` is a maximum, and the first
divergence is the minimum of :attr:`Divergence.rank` + (sample, neuron) over shards, which is
the order :func:`nrf_deploy.verify.compare` uses (earliest timestep, then schedule order, then
output before state, then variable order, then lowest sample, then neuron). The local engine
(:func:`verify_inputs`) and the Ray engine (:mod:`nrf_deploy.ray_engine`) share all of it.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nrf_deploy.device import on_device
from nrf_deploy.inputset import InputSet
from nrf_deploy.target import Deployment, Target
from nrf_deploy.trace import Trace
from nrf_deploy.verify import (
    Comparison,
    VerifyResult,
    compare_with_reference,
    run_batched,
    witness_environments,
)


@dataclass(frozen=True, order=True)
class Shard:
    """Samples ``[start, stop)`` of the input set (0-based, stop exclusive)."""

    start: int
    stop: int

    @property
    def size(self) -> int:
        return self.stop - self.start

    def describe(self) -> str:
        return f"samples {self.start}..{self.stop - 1}"


@dataclass(frozen=True)
class Plan:
    """What every shard runs: the backends (reference first), the witness and how many of the
    first samples it sees, the batch size of each backend call (samples) and the torch device of
    the reference (the other backends run on the CPU; docs/scale.md)."""

    backends: tuple[str, ...]
    witness: str | None
    witness_samples: int
    batch_size: int
    device: str = "cpu"
    skipped: dict[str, str] = field(default_factory=dict)
    """Backends not run because their witness environment is missing, with what to do."""
    environments: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The witness environments the other backends run in (their provenance)."""

    def runs(self, name: str, shard: Shard) -> int:
        """Samples of `shard` that backend `name` runs (0: none; a skipped backend runs none)."""
        if name in self.skipped:
            return 0
        if name == self.witness:
            return max(0, min(shard.stop, self.witness_samples) - shard.start)
        return shard.size


def plan_shards(samples: int, shard_size: int) -> list[Shard]:
    """Contiguous shards of at most `shard_size` samples covering ``[0, samples)``."""
    if shard_size < 1:
        raise ValueError("shard_size must be at least 1")
    return [Shard(s, min(s + shard_size, samples)) for s in range(0, samples, shard_size)]


def make_plan(
    target: Target,
    deployment: Deployment,
    witness_samples: int,
    batch_size: int,
    device: str = "cpu",
) -> Plan:
    names = target.backend_names(deployment)
    skipped, environments = witness_environments(target, deployment, names[1:])
    return Plan(
        names,
        target.witness_for(deployment),
        witness_samples,
        batch_size,
        device,
        skipped,
        environments,
    )


def verify_shard(
    target: Target, deployment: Deployment, x: np.ndarray, shard: Shard, plan: Plan
) -> list[Comparison]:
    """Compare every backend with the reference on the shard's inputs ``x [T, size, ...]``; the
    comparisons' sample indices are global. The witness runs only on samples below
    ``plan.witness_samples``; a backend with no sample in this shard gives no comparison."""
    ref_name, others = plan.backends[0], plan.backends[1:]
    with on_device(plan.device):
        ref = run_batched(target, deployment, ref_name, x, plan.batch_size)
    comparisons = []
    for name in others:
        n = plan.runs(name, shard)
        if n <= 0:
            continue
        trace = run_batched(target, deployment, name, x[:, :n], plan.batch_size)
        c = compare_with_reference(target, deployment, ref, trace, ref_name, name)
        comparisons.append(shift_samples(c, shard.start))
    return comparisons


def shift_samples(c: Comparison, offset: int) -> Comparison:
    """`c` with its first divergence's sample moved by `offset` (shard-local -> global)."""
    if c.first is None or offset == 0:
        return c
    return dataclasses.replace(
        c, first=dataclasses.replace(c.first, sample=c.first.sample + offset)
    )


def merge_comparisons(parts: Iterable[Comparison]) -> Comparison:
    """One comparison over the union of the parts' samples (same pair of backends, same T)."""
    parts = list(parts)
    head = parts[0]
    total = Comparison(head.reference, head.other, 0, head.timesteps)
    for c in parts:
        if (c.reference, c.other, c.timesteps) != (head.reference, head.other, head.timesteps):
            raise ValueError(f"cannot merge {c.other} vs {c.reference} into {head.other}")
        total.samples += c.samples
        total.compared_values += c.compared_values
        total.mismatches += c.mismatches
        total.max_abs_error = max(total.max_abs_error, c.max_abs_error)
        for key, count in c.per_variable.items():
            total.per_variable[key] = total.per_variable.get(key, 0) + count
    firsts = [c.first for c in parts if c.first is not None]
    if firsts:
        total.first = min(firsts, key=lambda d: (tuple(d.rank), d.sample, tuple(d.neuron)))
    total.per_variable = dict(sorted(total.per_variable.items()))
    return total


def merge(target_name: str, plan: Plan, per_shard: dict[Shard, list[Comparison]]) -> VerifyResult:
    """The verdict over all shards, in the plan's backend order, whatever order they finished; a
    backend the plan skips (its witness environment is missing) is a skipped comparison where it
    would have run."""
    comparisons = []
    steps = next((c.timesteps for cs in per_shard.values() for c in cs), 0)
    for name in plan.backends[1:]:
        parts = [c for shard in sorted(per_shard) for c in per_shard[shard] if c.other == name]
        if parts:
            comparisons.append(merge_comparisons(parts))
        elif name in plan.skipped and (name != plan.witness or plan.witness_samples > 0):
            comparisons.append(
                Comparison(plan.backends[0], name, 0, steps, skipped=plan.skipped[name])
            )
    ran = {c.other for c in comparisons if not c.skipped}
    environments = {k: v for k, v in plan.environments.items() if k in ran}
    return VerifyResult(target_name, comparisons, environments=environments)


Progress = Callable[[int, int, float], None]
"""``progress(samples_done, samples_total, seconds_since_start)``."""


def verify_inputs(
    target: Target,
    deployment: Deployment,
    inputs: InputSet,
    plan: Plan,
    shard_size: int,
    progress: Progress | None = None,
) -> VerifyResult:
    """The local engine: the shards one after the other in this process (only one shard's
    inputs and traces in memory at a time)."""
    per_shard: dict[Shard, list[Comparison]] = {}
    start, done = time.perf_counter(), 0
    for shard in plan_shards(inputs.samples, shard_size):
        x = inputs.read(shard.start, shard.stop)
        per_shard[shard] = verify_shard(target, deployment, x, shard, plan)
        done += shard.size
        if progress:
            progress(done, inputs.samples, time.perf_counter() - start)
    return merge(target.name, plan, per_shard)


def rerun_sample(
    target: Target, deployment: Deployment, inputs: InputSet, sample: int, backends: Iterable[str]
) -> dict[str, Trace]:
    """Every named backend's trace of one sample (the diff report of a failed verification)."""
    x = inputs.read(sample, sample + 1)
    return {name: target.run(deployment, name, x, record_states=True) for name in backends}
