"""Partition populations onto SpiNNaker 1 cores and count what each core holds.

Populations (the spike-source input included) are split into contiguous slices of at most
`neurons_per_core` neurons (sPyNNaker's default 256), one slice per core, 16 application cores per
chip (of 18: one monitor, one spare). Per core the mapper counts, against the budgets below, the
DTCM (64 KiB) that sPyNNaker's neuron executable fills and the SDRAM its synaptic matrix and
recordings take (128 MiB per chip, shared by the chip's cores). The byte counts follow sPyNNaker's
data layout as read in its C sources; the fixed overhead is an estimate and says so.
"""

from __future__ import annotations

import math

import numpy as np
from nrf_deploy.targets.spinnaker.format import (
    APP_CORES_PER_CHIP,
    DTCM_BYTES,
    MAX_NEURONS_PER_CORE,
    MODEL_EXP,
    SDRAM_BYTES_PER_CHIP,
    SpiNNakerProgram,
)

from nrf_deploy.errors import DoesNotFitError, NrfError

NEURON_BYTES = 8 * 4  # neuron_t of neuron_model_lif_impl.h: 8 words
THRESHOLD_BYTES = 4  # threshold_type_static: V_thresh
SYNAPSE_BYTES = {
    "IF_curr_delta": 2 * 4,
    MODEL_EXP: 2 * 3 * 4,
}  # delta: 2 inputs; exp: 2 × (decay, init, value)
RING_ENTRY_BYTES = 2  # weight_t
POP_TABLE_ENTRY_BYTES = 12  # master population table entry + address-list word
SPIKE_BUFFER_BYTES = 256 * 4  # incoming spike buffer (sPyNNaker default: 256 keys)
DTCM_OVERHEAD_BYTES = 12 * 1024  # stack, heap headers, runtime and recording state (estimate)
ROW_HEADER_WORDS = 3  # plastic size, fixed-fixed count, fixed-plastic count


def partition(program: SpiNNakerProgram, neurons_per_core: int, chips: int, timesteps: int) -> dict:
    """Fill ``program.cores`` and return the resource table (raises DoesNotFitError listing every
    broken limit, NrfError for impossible options)."""
    if not 1 <= neurons_per_core <= MAX_NEURONS_PER_CORE:
        raise NrfError(
            f"--spinnaker-neurons-per-core must be in 1..{MAX_NEURONS_PER_CORE}, got "
            f"{neurons_per_core}",
            "--spinnaker-neurons-per-core",
            "sPyNNaker rows address at most 256 neurons per core",
        )
    if chips < 1:
        raise NrfError(
            "--spinnaker-chips must be at least 1", "--spinnaker-chips", "e.g. --spinnaker-chips 4"
        )
    next_core = assign_slices(program, neurons_per_core)
    table = [
        _core_entry(program, name, core, a, b, timesteps)
        for name, chunks in program.cores.items()
        for core, a, b in chunks
    ]
    return _verdict(table, next_core, chips)


def assign_slices(program: SpiNNakerProgram, neurons_per_core: int) -> int:
    """Fill ``program.neurons_per_core`` and ``program.cores`` (input first, then populations in
    order, consecutive core ids); return the number of cores."""
    program.neurons_per_core = neurons_per_core
    cores: dict[str, list[tuple[int, int, int]]] = {}
    next_core = 0
    for name in [program.input_name, *program.populations]:
        slices = _slices(program.size_of(name), neurons_per_core)
        cores[name] = [(next_core + i, a, b) for i, (a, b) in enumerate(slices)]
        next_core += len(slices)
    program.cores = cores
    return next_core


def _slices(size: int, per_core: int) -> list[tuple[int, int]]:
    """Equal contiguous slices (as sPyNNaker's splitter makes them), each <= per_core neurons."""
    n = max(1, math.ceil(size / per_core))
    bounds = [round(i * size / n) for i in range(n + 1)]
    return [(bounds[i], bounds[i + 1]) for i in range(n)]


def location(core: int) -> tuple[int, int]:
    """(chip index, physical core on that chip) of global core `core` (core 0 is the monitor)."""
    return core // APP_CORES_PER_CHIP, 1 + core % APP_CORES_PER_CHIP


def _core_entry(
    program: SpiNNakerProgram, name: str, core: int, first: int, stop: int, timesteps: int
) -> dict:
    chip, on_chip = location(core)
    n = stop - first
    entry = {
        "core": core,
        "chip": chip,
        "core_on_chip": on_chip,
        "population": name,
        "first": first,
        "stop": stop,
        "neurons": n,
    }
    if name == program.input_name:
        spikes = timesteps * 4 * math.ceil(n / 32)  # one spike bit per neuron and step
        return {
            **entry,
            "model": "SpikeSourceArray",
            "incoming_blocks": 0,
            "synaptic_rows": 0,
            "synapses": 0,
            "max_delay": 0,
            "dtcm_bytes": DTCM_OVERHEAD_BYTES + 4 * math.ceil(n / 32),
            "sdram_bytes": spikes,
        }
    pop = program.populations[name]
    blocks, rows, synapses, matrix_bytes, delay = 0, 0, 0, 0, 1
    for proj in program.into(name):
        pattern = (proj.excitatory + proj.inhibitory)[first:stop].tocsc()
        per_source = np.diff(pattern.indptr)
        delay = max(delay, proj.delay)
        for _src_core, a, b in program.cores[proj.source]:
            counts = per_source[a:b]
            if counts.size and counts.max() > 0:
                blocks += 1
                rows += int(np.count_nonzero(counts))
                synapses += int(counts.sum())
                matrix_bytes += (b - a) * (ROW_HEADER_WORDS + int(counts.max())) * 4
    slots = 1 << math.ceil(math.log2(delay + 1))
    ring = 2 * slots * (1 << math.ceil(math.log2(max(n, 1)))) * RING_ENTRY_BYTES
    per_neuron = NEURON_BYTES + THRESHOLD_BYTES + SYNAPSE_BYTES[pop.model]
    dtcm = (
        DTCM_OVERHEAD_BYTES
        + n * per_neuron
        + ring
        + blocks * POP_TABLE_ENTRY_BYTES
        + SPIKE_BUFFER_BYTES
    )
    recording = timesteps * (4 * n + 4 * math.ceil(n / 32))  # v (one word) and spike bits per step
    return {
        **entry,
        "model": pop.model,
        "incoming_blocks": blocks,
        "synaptic_rows": rows,
        "synapses": synapses,
        "max_delay": delay,
        "ring_buffer_slots": slots,
        "dtcm_bytes": int(dtcm),
        "sdram_bytes": int(matrix_bytes + n * per_neuron + recording),
    }


def _verdict(table: list[dict], cores_used: int, chips: int) -> dict:
    violations = []
    for e in table:
        if e["dtcm_bytes"] > DTCM_BYTES:
            violations.append(
                f"core {e['core']} (population '{e['population']}', neurons {e['first']}-"
                f"{e['stop'] - 1}): DTCM {e['dtcm_bytes']} bytes > {DTCM_BYTES}"
            )
    chips_needed = max(1, math.ceil(cores_used / APP_CORES_PER_CHIP))
    sdram = np.zeros(chips_needed, np.int64)
    for e in table:
        sdram[e["chip"]] += e["sdram_bytes"]
    for chip in np.flatnonzero(sdram > SDRAM_BYTES_PER_CHIP):
        violations.append(f"chip {chip}: SDRAM {int(sdram[chip])} bytes > {SDRAM_BYTES_PER_CHIP}")
    if cores_used > chips * APP_CORES_PER_CHIP:
        violations.append(
            f"needs {cores_used} cores ({chips_needed} chips of {APP_CORES_PER_CHIP} application "
            f"cores), {chips} chip(s) offer {chips * APP_CORES_PER_CHIP}"
        )
    if violations:
        raise DoesNotFitError(
            "the network does not fit SpiNNaker",
            violations,
            "spinnaker mapper",
            f"allow more chips with --spinnaker-chips {chips_needed}, or lower "
            "--spinnaker-neurons-per-core to spread DTCM and SDRAM over more cores",
        )
    return {
        "cores_used": cores_used,
        "chips": chips_needed,
        "chips_available": chips,
        "cores_available": chips * APP_CORES_PER_CHIP,
        "neurons": int(sum(e["neurons"] for e in table if e["model"] != "SpikeSourceArray")),
        "synapses": int(sum(e["synapses"] for e in table)),
        "synaptic_rows": int(sum(e["synaptic_rows"] for e in table)),
        "max_dtcm_bytes": int(max(e["dtcm_bytes"] for e in table)),
        "max_sdram_bytes_per_chip": int(sdram.max()),
        "per_core": table,
    }
