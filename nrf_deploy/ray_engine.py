"""``nrf-deploy verify --engine ray``: the shards of :mod:`nrf_deploy.shard` on Ray actors.

One actor per worker loads the export once (``Target.load``, with whatever checks it makes) and
runs :func:`nrf_deploy.shard.verify_shard` on the shards it is handed; the driver reads each
shard's inputs from the :class:`~nrf_deploy.inputset.InputSet` only when it hands the shard out
(at most two per worker in flight), so neither side holds the whole set. Results are merged by
:func:`nrf_deploy.shard.merge`, so the verdict is the local engine's whatever the finishing order.
A shard whose actor dies or raises is handed out once more (to a fresh actor if it died); a
second failure stops the run with an :class:`NrfError` naming the shard's sample range.

Ray is optional (``pip install 'nrf-deploy[ray]'``); this module imports it only when called.
"""

from __future__ import annotations

import os
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nrf_deploy.errors import NrfError
from nrf_deploy.inputset import InputSet
from nrf_deploy.shard import Plan, Progress, Shard, merge, plan_shards, verify_shard
from nrf_deploy.target import Target
from nrf_deploy.verify import Comparison, VerifyResult

ATTEMPTS = 2
"""A shard may fail this many times before the run fails."""
IN_FLIGHT_PER_WORKER = 2


def import_ray() -> Any:
    """The ``ray`` module, or an NrfError (exit 2) saying how to install it."""
    try:
        import ray
    except ImportError:
        raise NrfError(
            "--engine ray needs the optional 'ray' package, which is not installed",
            "--engine ray",
            "pip install 'nrf-deploy[ray]' (or scripts/bootstrap.sh), "
            "or use the default --engine local",
        ) from None
    return ray


class ShardWorker:
    """Body of the Ray actor: the export loaded once, then any number of shards."""

    def __init__(self, export_dir: str, target: Target):
        self.target = target
        self.deployment = target.load(Path(export_dir))

    def pid(self) -> int:
        return os.getpid()

    def run(self, x: Any, shard: Shard, plan: Plan) -> list[Comparison]:
        return verify_shard(self.target, self.deployment, x, shard, plan)


@dataclass
class _Pool:
    """Live actors and what each is running: object ref -> (actor, shard, submission number)."""

    make: Any
    actors: list[Any] = field(default_factory=list)
    running: dict[Any, tuple[Any, Shard, int]] = field(default_factory=dict)
    submitted: int = 0

    def load(self, actor: Any) -> int:
        return sum(1 for a, _, _ in self.running.values() if a is actor)


def verify_on_ray(
    export_dir: str | Path,
    target: Target,
    inputs: InputSet,
    plan: Plan,
    shard_size: int,
    address: str | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
) -> VerifyResult:
    """Verify `inputs` on a Ray cluster: `address` ``None`` starts a local Ray with `workers`
    CPUs (default: this machine's cores) for this run and stops it after; ``"auto"`` or
    ``HOST:PORT`` joins a running cluster (then `workers` defaults to its CPU count)."""
    ray = import_ray()
    started = False
    if not ray.is_initialized():
        try:
            if address is None:
                ray.init(
                    num_cpus=workers or os.cpu_count() or 1,
                    include_dashboard=False,
                    log_to_driver=False,
                    configure_logging=False,
                )
            else:
                ray.init(address=address, log_to_driver=False, configure_logging=False)
        except Exception as exc:  # noqa: BLE001 (any failure: one clear message)
            raise NrfError(
                f"could not start or reach Ray ({type(exc).__name__}: {exc})",
                f"--address {address or '(local)'}",
                "start a cluster with 'ray start --head' or omit --address",
            ) from None
        started = True
    try:
        n = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        return _run(
            ray, str(Path(export_dir).resolve()), target, inputs, plan, shard_size, n, progress
        )
    finally:
        if started:
            ray.shutdown()


def _run(
    ray: Any,
    export_dir: str,
    target: Target,
    inputs: InputSet,
    plan: Plan,
    shard_size: int,
    n_workers: int,
    progress: Progress | None,
) -> VerifyResult:
    actor_class = ray.remote(num_cpus=1, max_restarts=0)(ShardWorker)
    pool = _Pool(make=lambda: actor_class.remote(export_dir, target))
    pool.actors = [pool.make() for _ in range(n_workers)]
    pending = deque(plan_shards(inputs.samples, shard_size))
    failures: dict[Shard, int] = {}
    results: dict[Shard, list[Comparison]] = {}
    start, done = time.perf_counter(), 0
    try:
        while pending or pool.running:
            _hand_out(ray, pool, pending, inputs, plan)
            ready, _ = ray.wait(list(pool.running), num_returns=1)
            actor, shard, seq = pool.running.pop(ready[0])
            try:
                results[shard] = ray.get(ready[0])
            except ray.exceptions.RayActorError as exc:
                _actor_died(pool, pending, failures, actor, (seq, shard), exc)
                continue
            except ray.exceptions.RayTaskError as exc:
                _raise_user_error(exc, shard)
                _count_failure(pending, failures, shard, exc)
                continue
            done += shard.size
            if progress:
                progress(done, inputs.samples, time.perf_counter() - start)
    finally:
        for actor in pool.actors:
            ray.kill(actor)
    return merge(target.name, plan, results)


def _hand_out(ray: Any, pool: _Pool, pending: deque, inputs: InputSet, plan: Plan) -> None:
    """Give pending shards to the least busy actors, at most IN_FLIGHT_PER_WORKER each."""
    while pending:
        actor = min(pool.actors, key=pool.load)
        if pool.load(actor) >= IN_FLIGHT_PER_WORKER:
            return
        shard = pending.popleft()
        x = ray.put(inputs.read(shard.start, shard.stop))
        pool.running[actor.run.remote(x, shard, plan)] = (actor, shard, pool.submitted)
        pool.submitted += 1


def _actor_died(
    pool: _Pool,
    pending: deque,
    failures: dict[Shard, int],
    actor: Any,
    popped: tuple[int, Shard],
    exc: Exception,
) -> None:
    """Replace a dead actor; the shard it was running (its earliest submitted) counts a failure,
    the ones queued behind it go back in line uncounted."""
    lost = [popped] + [
        (seq, shard)
        for ref, (a, shard, seq) in list(pool.running.items())
        if a is actor and pool.running.pop(ref)
    ]
    lost.sort()
    if actor in pool.actors:
        pool.actors[pool.actors.index(actor)] = pool.make()
    for _, shard in reversed(lost[1:]):
        pending.appendleft(shard)
    _count_failure(pending, failures, lost[0][1], exc)


def _raise_user_error(exc: Exception, shard: Shard) -> None:
    """An NrfError from a shard (the user's input, e.g. non-binary events) fails the same way on
    any retry: raise it at once, naming the shard."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, NrfError):
        raise NrfError(
            cause.what, f"{cause.where or 'input'}, {shard.describe()}", cause.hint
        ) from None


def _count_failure(
    pending: deque, failures: dict[Shard, int], shard: Shard, exc: Exception
) -> None:
    """Count a failed shard and queue it again (first in line), or stop the run."""
    failures[shard] = failures.get(shard, 0) + 1
    if failures[shard] >= ATTEMPTS:
        cause = getattr(exc, "cause", None) or exc
        raise NrfError(
            f"shard {shard.describe()} failed {ATTEMPTS} times "
            f"(last: {type(cause).__name__}: {str(cause).strip()[-300:]})",
            f"samples [{shard.start}, {shard.stop})",
            "run 'nrf-deploy verify --engine local' on those samples to see the error",
        )
    pending.appendleft(shard)
