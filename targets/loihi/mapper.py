"""Partition populations onto Loihi cores: at most 1024 compartments, 64 Ki synapses and 4096
input axons per core, 128 cores per chip. Greedy and contiguous, in schedule order."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from nrf_deploy.errors import DoesNotFitError
from nrf_deploy.targets.loihi.format import (COMPARTMENTS_PER_CORE, CORES_PER_CHIP, FAN_IN_AXONS_PER_CORE,
                                  SYNAPSES_PER_CORE, LoihiProgram)


def map_cores(program: LoihiProgram, max_chips: int = 1) -> dict:
    """Assign every population's neurons to cores (fills ``program.cores``); return the resource
    table. Raises DoesNotFitError listing every violation."""
    violations: list[str] = []
    cores: dict[str, list[tuple[int, int, int]]] = {}
    table = []
    next_core = 0
    for name, comp in program.populations.items():
        incoming = [s.weights for s in program.into(name)]
        fan_in = _stack(incoming, comp.size)
        per_row_syn = np.diff(fan_in.indptr)
        if per_row_syn.size and per_row_syn.max() > SYNAPSES_PER_CORE:
            violations.append(f"population '{name}': one neuron has {per_row_syn.max()} input synapses, "
                              f"a core holds {SYNAPSES_PER_CORE}")
            continue
        chunks = _chunks(fan_in, per_row_syn)
        cores[name] = []
        for start, stop in chunks:
            axons = len(np.unique(fan_in[start:stop].indices))
            cores[name].append((next_core, start, stop))
            table.append({"core": next_core, "population": name, "neurons": stop - start,
                          "synapses": int(per_row_syn[start:stop].sum()), "axons_in": axons})
            next_core += 1
    chips_needed = -(-next_core // CORES_PER_CHIP)
    if next_core > max_chips * CORES_PER_CHIP:
        violations.append(f"needs {next_core} cores ({chips_needed} chips), {max_chips} chip(s) hold "
                          f"{max_chips * CORES_PER_CHIP}")
    if violations:
        hint = (f"allow more chips with --loihi-chips {chips_needed}, or reduce layer sizes and fan-in "
                f"(each core takes at most {FAN_IN_AXONS_PER_CORE} input axons)")
        raise DoesNotFitError("the network does not fit Loihi", violations, "loihi mapper", hint)
    program.cores = cores
    return {"cores_used": next_core, "chips": max(1, -(-next_core // CORES_PER_CHIP)),
            "cores_available": max_chips * CORES_PER_CHIP,
            "compartments_used": int(sum(c.size for c in program.populations.values())),
            "synapses": int(sum(s.weights.nnz for s in program.projections)),
            "per_core": table}


def _stack(mats: list[sp.csr_matrix], rows: int) -> sp.csr_matrix:
    if not mats:
        return sp.csr_matrix((rows, 0), dtype=np.int64)
    return sp.hstack(mats, format="csr")


def _chunks(fan_in: sp.csr_matrix, per_row_syn: np.ndarray) -> list[tuple[int, int]]:
    """Contiguous row ranges within the compartment, synapse and axon limits of one core."""
    chunks, start, syn, axons = [], 0, 0, set()
    for row in range(fan_in.shape[0]):
        cols = fan_in.indices[fan_in.indptr[row]:fan_in.indptr[row + 1]]
        fresh = [c for c in cols.tolist() if c not in axons]
        full = (row - start >= COMPARTMENTS_PER_CORE or syn + per_row_syn[row] > SYNAPSES_PER_CORE
                or len(axons) + len(fresh) > FAN_IN_AXONS_PER_CORE)
        if full and row > start:
            chunks.append((start, row))
            start, syn, axons, fresh = row, 0, set(), cols.tolist()
        syn += int(per_row_syn[row])
        axons.update(fresh)
    chunks.append((start, fan_in.shape[0]))
    return chunks
