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

from nrf_deploy.errors import DoesNotFitError
from nrf_deploy.targets.loihi.format import (COMPARTMENTS_PER_CORE, CORES_PER_CHIP,
                                             FAN_IN_AXONS_PER_CORE, SYNAPSES_PER_CORE,
                                             LoihiProgram)


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
        too_big = _oversized_rows(name, fan_in, limits)
        if too_big:
            violations.extend(too_big)
            continue
        cores[name] = []
        for chunk in _chunks(fan_in, limits):
            cores[name].append((next_core, chunk.start, chunk.stop))
            table.append({"core": next_core, "population": name,
                          "neurons": chunk.stop - chunk.start, "synapses": chunk.synapses,
                          "axons_in": chunk.axons_in})
            next_core += 1
    per_chip = limits.cores_per_chip
    chips_needed = -(-next_core // per_chip)
    if next_core > max_chips * per_chip:
        violations.append(f"needs {next_core} cores ({chips_needed} chips), {max_chips} chip(s) hold "
                          f"{max_chips * per_chip}")
    if violations:
        hint = (f"allow more chips with --loihi-chips {max(chips_needed, 1)}, or reduce layer sizes "
                f"and fan-in (each core takes at most {limits.axons_in} input axons and "
                f"{limits.synapses} synapses)")
        raise DoesNotFitError("the network does not fit Loihi", violations, "loihi mapper", hint)
    program.cores = cores
    return {"cores_used": next_core, "chips": max(1, chips_needed),
            "cores_available": max_chips * per_chip,
            "compartments_used": int(sum(c.size for c in program.populations.values())),
            "synapses": int(sum(s.weights.nnz for s in program.projections)),
            "per_core": table}


def _fan_in(program: LoihiProgram, name: str, rows: int) -> sp.csr_matrix:
    """Incoming synapses [neurons, all source columns]: each column is one potential axon."""
    mats = [s.weights for s in program.into(name)]
    if not mats:
        return sp.csr_matrix((rows, 0), dtype=np.int8)
    if len(mats) == 1:
        return mats[0].tocsr()
    return sp.hstack(mats, format="csr")


def _oversized_rows(name: str, fan_in: sp.csr_matrix, limits: CoreLimits) -> list[str]:
    """Violations of neurons that fit no core on their own (distinct sources = synapses per row,
    since a CSR row holds each column at most once)."""
    per_row = np.diff(fan_in.indptr)
    worst = int(per_row.max()) if per_row.size else 0
    out = []
    if worst > limits.synapses:
        out.append(f"population '{name}': one neuron has {worst} input synapses, a core holds "
                   f"{limits.synapses}")
    if worst > limits.axons_in:
        out.append(f"population '{name}': one neuron has {worst} input axons (distinct source "
                   f"neurons), a core takes {limits.axons_in}")
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
        cols = indices[indptr[row]:indptr[row + 1]]
        fresh_mask = stamp[cols] != core
        fresh = int(np.count_nonzero(fresh_mask))
        full = (row - start >= limits.compartments or syn + int(per_row[row]) > limits.synapses
                or axons + fresh > limits.axons_in)
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
