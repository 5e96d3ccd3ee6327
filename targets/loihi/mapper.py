"""Partition populations onto Loihi cores: at most 1024 compartments, 64 Ki synapses and 4096
input axons per core, 128 cores per chip. Greedy and contiguous, in schedule order.

Every input axon of a core is one source neuron of one incoming projection whose spikes reach a
compartment of that core. A compartment whose own fan-in exceeds a core's limits (more than 4096
distinct sources, or more than 64 Ki synapses) fits on no core and is refused. Memory: one int32
stamp per source column and the projections' own CSR arrays (no stacked copy when a population
has a single incoming projection, no per-row Python sets)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from nrf_deploy.targets.loihi.format import (
    COMPARTMENTS_PER_CORE,
    CORES_PER_CHIP,
    FAN_IN_AXONS_PER_CORE,
    SYNAPSES_PER_CORE,
    LoihiProgram,
)

from nrf_deploy.errors import DoesNotFitError
from nrf_deploy.lowering import Lowered, Projection


@dataclass(frozen=True)
class CoreLimits:
    """What one Loihi core holds (defaults: Loihi 1)."""

    compartments: int = COMPARTMENTS_PER_CORE
    synapses: int = SYNAPSES_PER_CORE
    axons_in: int = FAN_IN_AXONS_PER_CORE
    cores_per_chip: int = CORES_PER_CHIP


LOIHI_1 = CoreLimits()


@dataclass(frozen=True)
class Chunk:
    """Rows [start, stop) of one population on one core, with the resources they take."""

    start: int
    stop: int
    synapses: int
    axons_in: int


def map_cores(program: LoihiProgram, max_chips: int = 1, limits: CoreLimits = LOIHI_1) -> dict:
    """Assign every population's neurons to cores (fills ``program.cores``); return the resource
    table. Raises DoesNotFitError listing every violation."""
    violations: list[str] = []
    cores: dict[str, list[tuple[int, int, int]]] = {}
    table = []
    next_core = 0
    for name, comp in program.populations.items():
        fan_in = _fan_in(program, name, comp.size)
        too_big = _oversized_rows(name, np.diff(fan_in.indptr), limits)
        if too_big:
            violations.extend(too_big)
            continue
        cores[name] = []
        for chunk in _chunks(fan_in, limits):
            cores[name].append((next_core, chunk.start, chunk.stop))
            table.append(
                {
                    "core": next_core,
                    "population": name,
                    "neurons": chunk.stop - chunk.start,
                    "synapses": chunk.synapses,
                    "axons_in": chunk.axons_in,
                }
            )
            next_core += 1
    per_chip = limits.cores_per_chip
    chips_needed = -(-next_core // per_chip)
    if next_core > max_chips * per_chip:
        violations.append(
            f"needs {next_core} cores ({chips_needed} chips), {max_chips} chip(s) hold "
            f"{max_chips * per_chip}"
        )
    if violations:
        hint = (
            f"allow more chips with --loihi-chips {max(chips_needed, 1)}, or reduce layer sizes "
            f"and fan-in (each core takes at most {limits.axons_in} input axons and "
            f"{limits.synapses} synapses)"
        )
        raise DoesNotFitError("the network does not fit Loihi", violations, "loihi mapper", hint)
    program.cores = cores
    return {
        "cores_used": next_core,
        "chips": max(1, chips_needed),
        "cores_available": max_chips * per_chip,
        "compartments_used": int(sum(c.size for c in program.populations.values())),
        "synapses": int(sum(s.weights.nnz for s in program.projections)),
        "per_core": table,
    }


def check_fan_in(lowered: Lowered, limits: CoreLimits = LOIHI_1) -> None:
    """Refuse, before any quantisation, neurons that fit no core on their own (fan-in above a
    core's input axons or synapses), from the float projections' sparsity: a graph the chip
    cannot hold is refused in one pass over its weights, without building the program."""
    violations: list[str] = []
    for node in lowered.populations:
        incoming = lowered.into(node.name)
        if node.kind == "Input" or not incoming:
            continue
        per_row = sum(_row_nnz(p) for p in incoming)
        violations += _oversized_rows(node.name, per_row, limits)
    if violations:
        raise DoesNotFitError(
            "the network does not fit Loihi",
            violations,
            "loihi mapper",
            f"reduce fan-in: a Loihi core takes at most {limits.axons_in} input "
            f"axons, so no neuron can have more distinct sources",
        )


def _row_nnz(proj: Projection) -> np.ndarray:
    """Nonzero weights per target neuron of a float projection, one row block at a time."""
    rows = max(1, (1 << 21) // max(1, int(np.prod(proj.source_shape))))
    return np.concatenate([np.diff(blk.indptr) for _start, blk in proj.row_blocks(rows)])


def _fan_in(program: LoihiProgram, name: str, rows: int) -> sp.csr_matrix:
    """Incoming synapses [neurons, all source columns]: each column is one potential axon."""
    mats = [s.weights for s in program.into(name)]
    if not mats:
        return sp.csr_matrix((rows, 0), dtype=np.int8)
    if len(mats) == 1:
        return mats[0].tocsr()
    return sp.hstack(mats, format="csr")


def _oversized_rows(name: str, per_row: np.ndarray, limits: CoreLimits) -> list[str]:
    """Violations of neurons that fit no core on their own, from each neuron's synapse count
    (distinct sources = synapses per row, since a CSR row holds each column at most once)."""
    worst = int(per_row.max()) if per_row.size else 0
    out = []
    if worst > limits.synapses:
        out.append(
            f"population '{name}': one neuron has {worst} input synapses, a core holds "
            f"{limits.synapses}"
        )
    if worst > limits.axons_in:
        out.append(
            f"population '{name}': one neuron has {worst} input axons (distinct source "
            f"neurons), a core takes {limits.axons_in}"
        )
    return out


def _chunks(fan_in: sp.csr_matrix, limits: CoreLimits) -> list[Chunk]:
    """Contiguous row ranges within the compartment, synapse and axon limits of one core.

    Greedy: a row joins the current core unless that would break a limit. The axons of the
    current core are the columns whose stamp equals the core's number (int32, reset by
    renumbering, never cleared). Assumes no single row exceeds a limit (see _oversized_rows)."""
    indptr, indices = fan_in.indptr, fan_in.indices
    per_row = np.diff(indptr)
    stamp = np.full(fan_in.shape[1], -1, np.int32)
    chunks: list[Chunk] = []
    core, start, syn, axons = 0, 0, 0, 0
    for row in range(fan_in.shape[0]):
        cols = indices[indptr[row] : indptr[row + 1]]
        fresh_mask = stamp[cols] != core
        fresh = int(np.count_nonzero(fresh_mask))
        full = (
            row - start >= limits.compartments
            or syn + int(per_row[row]) > limits.synapses
            or axons + fresh > limits.axons_in
        )
        if full and row > start:
            chunks.append(Chunk(start, row, syn, axons))
            core += 1
            start, syn, axons = row, 0, 0
            fresh_mask = np.ones(cols.size, bool)
            fresh = cols.size
        stamp[cols[fresh_mask]] = core
        syn += int(per_row[row])
        axons += fresh
    chunks.append(Chunk(start, fan_in.shape[0], syn, axons))
    return chunks
