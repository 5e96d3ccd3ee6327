"""SANA-FE's second opinion on a Loihi export's energy and latency per inference.

SANA-FE 2.2.9 (Boyle et al., IEEE TCAD 2025) simulates a spiking network on a described
architecture and costs every event with the description's figures; its packaged Loihi description
(``sanafe/examples/loihi.yaml``, read from the installed package at run time) is calibrated
against Loihi 1. The export is translated as it stands (``program.npz`` + ``deploy.json``):

* each population -> one neuron group on the ``loihi_lif`` soma (SANA-FE's
  ``leaky_integrate_fire``, its Loihi compartment: ``u *= input_decay``, ``v *= leak_decay``,
  ``v += bias + u + input``, fire when ``v > threshold``, hard reset to 0), in chip units / 64
  (Loihi shifts weights and thresholds by 6 bits; SANA-FE quantises ``v`` to 1/64):
  ``threshold = vth``, ``weight = w * 2**weight_exp``, ``bias = bias_mant * 2**bias_exp / 64``,
  ``input_decay = 1 - (du + 1) / 4096`` (Lava's ``ds_offset = 1``), ``leak_decay = 1 - dv / 4096``;
* each projection -> sparse connections with the quantised 8-bit weights (``loihi_sparse_synapse``);
* each neuron -> the core the export's mapper gave it (``deploy.json`` core slices; tile = core //
  4, as in SANA-FE's 4-core tiles);
* the input -> one ``input``-model neuron per input channel, each on its own input soma unit
  (``loihi_inputs[k]``, 1024 per core), on the cores after the export's last one, fed the report's
  events (nonzero -> a spike).

Networks needing more cores than the description's 128 run on a mesh widened at run time (more
rows of the same tiles): that extrapolates SANA-FE's calibration and the opinion says so.
SANA-FE's arithmetic is floating point, not Lava's fixed point, so spikes may differ slightly: the
comparison is of energy and latency per inference (ratio), with event counts beside ours.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from nrf_deploy.targets.loihi.format import DECAY_UNITY, VTH_SHIFT, LoihiProgram
from nrf_deploy.targets.loihi.profile import CORES_PER_TILE

from nrf_deploy.errors import NrfError
from nrf_deploy.opinions import Comparison, Opinion

if TYPE_CHECKING:
    from nrf_deploy.opinions import OpinionContext
    from nrf_deploy.target import Deployment

TOOL = "SANA-FE"
ARCH_FILE = "loihi.yaml"
"""SANA-FE's Loihi description inside the installed package (``sanafe/examples``)."""
MAX_SAMPLES = 8
"""Samples SANA-FE simulates (the report's first ones; its default is 8); nrf-deploy's figures in
the comparison are recomputed on the same samples."""
SIMULATION_BUDGET_S = 60.0
"""No further sample starts after this many seconds of simulation (the demo's RF-SNN: about 50 s
per sample of 20 steps on a shared 2-core machine, after about 100 s of building)."""
INPUTS_PER_CORE = 1024
"""Input soma units per core in the description (``loihi_inputs[0..1023]``)."""
MESH_WIDTH, PACKAGED_ROWS = 8, 4
ENERGY_PARTS = ("synapse", "dendrite", "soma", "network")
"""SANA-FE's energy breakdown (J), kept in the opinion's details."""
SOMA, INPUT_SOMA, SYNAPSE = "loihi_lif", "loihi_inputs[{}]", "loihi_sparse_synapse"


@dataclass
class Architecture:
    """The SANA-FE architecture used and how it relates to the packaged description."""

    arch: Any
    cores: int
    widened: bool


def sanafe_opinion(deployment: Deployment, context: OpinionContext) -> Opinion:
    """SANA-FE's energy and latency per inference on the report's first samples, beside
    nrf-deploy's Loihi 1 cost model on the same samples."""
    program: LoihiProgram = deployment.program
    x = np.asarray(context.x)
    started = time.perf_counter()
    runs, arch = simulate(program, x[:, :MAX_SAMPLES], SIMULATION_BUDGET_S)
    seconds = time.perf_counter() - started
    samples = len(runs)
    theirs = {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}
    ours = _our_figures(deployment, context, samples)
    rows = [
        Comparison("energy per inference", "J", ours["energy_j"], theirs["energy_j"]),
        Comparison("latency per inference", "s", ours["latency_s"], theirs["latency_s"]),
        Comparison(
            "synaptic events per inference",
            "events",
            ours["effective_sops"],
            theirs["synaptic_events"],
            note="SANA-FE: spikes processed by synapses (the chip's stored weights); "
            "nrf-deploy: effective SOPs over the float graph's connectivity, which includes "
            "weights quantised to zero",
        ),
        Comparison(
            "spikes per inference",
            "spikes",
            ours["spikes"] + ours["input_events"],
            theirs["neurons_fired"],
            note="neurons fired, input events included (SANA-FE's input neurons fire them)",
        ),
        Comparison(
            "neuron updates per inference",
            "updates",
            ours["active_updates"],
            theirs["neurons_updated"],
            note="SANA-FE: compartments updated (input, bias or nonzero v); ours: active",
        ),
    ]
    notes = [
        (
            f"SANA-FE {_version()} on its packaged Loihi description "
            f"(sanafe/examples/{ARCH_FILE}); the first {samples} of {x.shape[1]} samples x "
            f"{x.shape[0]} steps (at most {MAX_SAMPLES}, {SIMULATION_BUDGET_S:.0f} s of "
            f"simulation), {seconds:.1f} s; nrf-deploy's figures here are its loihi1 cost model "
            "on the same samples"
        ),
        (
            "SANA-FE integrates in floating point (Lava: fixed point), so spikes may differ "
            "slightly; the comparison is of energy and latency per inference"
        ),
        (
            "input events come from input neurons on extra cores (SANA-FE's input somas cost "
            "nothing, their messages do); nrf-deploy places no input on cores"
        ),
    ]
    if arch.widened:
        notes.append(
            f"the export needs {cores_needed(program)} cores with its inputs, more than the "
            f"description's {MESH_WIDTH * PACKAGED_ROWS * CORES_PER_TILE}: simulated on a mesh "
            f"widened to {arch.cores // CORES_PER_TILE} tiles of the same figures — this "
            "extrapolates SANA-FE's Loihi calibration (one chip's mesh, no chip-to-chip links)"
        )
    details = {
        "samples": samples,
        "timesteps": int(x.shape[0]),
        "seconds": round(seconds, 3),
        "architecture_cores": arch.cores,
        "widened": arch.widened,
        "sanafe_per_inference": theirs,
        "ours_per_inference": ours,
    }
    return Opinion(TOOL, _version(), rows, notes, details)


def _version() -> str:
    from importlib.metadata import version

    return version("sanafe")


def simulate(
    program: LoihiProgram, x: np.ndarray, budget_s: float | None = None
) -> tuple[list[dict[str, float]], Architecture]:
    """Samples ``x`` [T, B, *input_shape] through SANA-FE, one inference each: energy (J),
    latency (s) and its event counts per sample. The network is built and loaded once; between
    samples the chip is reset (potentials, currents, buffers) and the input trains replaced —
    the same figures as a fresh chip per sample (tested), at a fraction of the cost. With
    `budget_s` (seconds of simulation), no further sample starts once it is spent (the first
    always runs)."""
    import sanafe

    spikes = np.asarray(x).reshape(x.shape[0], x.shape[1], -1) != 0
    check_memory(program)
    arch = architecture(cores_needed(program))
    network = translate(program, arch, spikes[:, 0])
    chip = sanafe.SpikingChip(arch.arch)
    chip.load(network)
    del network
    inputs = chip.mapped_neuron_groups[program.input_name]
    runs = []
    started = time.perf_counter()
    for b in range(spikes.shape[1]):
        if b and budget_s is not None and time.perf_counter() - started > budget_s:
            break
        if b:
            chip.reset()
            for i, neuron in enumerate(inputs):
                neuron.set_attributes(model_attributes={"spikes": spikes[:, b, i].tolist()})
        with _quiet_stdout():
            result = chip.sim(int(spikes.shape[0]), timing_model="detailed")
        runs.append(
            {
                "energy_j": float(result["energy"]["total"]),
                **{f"energy_{k}_j": float(result["energy"][k]) for k in ENERGY_PARTS},
                "latency_s": float(result["sim_time"]),
                "synaptic_events": float(result["spikes"]),
                "neurons_fired": float(result["neurons_fired"]),
                "neurons_updated": float(result["neurons_updated"]),
                "packets_sent": float(result["packets_sent"]),
            }
        )
    return runs, arch


BYTES_PER_SYNAPSE = 2500
"""SANA-FE's peak memory per synapse while a network is built and loaded (measured on the
fixture: 2.4 kB; the RF-SNN's 4.9 M synapses peaked at 10.7 GB)."""


def check_memory(program: LoihiProgram) -> None:
    """Refuse a network SANA-FE would need more memory for than this machine has available."""
    synapses = sum(int(s.weights.nnz) for s in program.projections)
    need = synapses * BYTES_PER_SYNAPSE
    available = _available_memory()
    if available is not None and need > available:
        raise NrfError(
            f"SANA-FE would need about {need / 1e9:.1f} GB for {synapses:,} synapses, "
            f"{available / 1e9:.1f} GB are available",
            "SANA-FE second opinion",
            "run the report on a machine with more memory, or skip it with --no-second-opinions",
        )


def _available_memory() -> int | None:
    """MemAvailable from /proc/meminfo in bytes (None where there is none)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def cores_needed(program: LoihiProgram) -> int:
    """The export's cores plus the input cores after them."""
    return _first_input_core(program) + math.ceil(program.input_size / INPUTS_PER_CORE)


def _first_input_core(program: LoihiProgram) -> int:
    used = [core for slices in program.cores.values() for core, _a, _b in slices]
    return max(used) + 1 if used else 0


def translate(program: LoihiProgram, arch: Architecture, spikes: np.ndarray) -> Any:
    """The SANA-FE network (``sanafe.Network``) of `program` with input `spikes` [T, n_inputs]
    (bool), every neuron placed on its core of `arch`."""
    import sanafe

    if not program.cores:
        raise NrfError(
            "the Loihi export records no core placement",
            "deploy.json populations[].cores",
            "re-export the model with this version of nrf-deploy",
        )
    cores = [core for tile in arch.arch.tiles for core in tile.cores]
    net = sanafe.Network()
    groups = {program.input_name: _input_group(net, program, spikes, cores)}
    for name, comp in program.populations.items():
        groups[name] = _population_group(net, comp, program.cores[name], cores)
    for syn in program.projections:
        w = syn.weights.tocoo()
        scale = 2.0**syn.weight_exp
        groups[syn.source].connect_neurons_sparse(
            groups[syn.target],
            {"weight": (w.data.astype(np.float64) * scale).tolist()},
            list(zip(w.col.tolist(), w.row.tolist())),
        )
    return net


def _population_group(net: Any, comp: Any, slices: list, cores: list) -> Any:
    """One neuron group on the LIF soma, attributes shared where uniform, each neuron on the core
    of its slice ``(core, first, stop)``."""
    attributes = _soma_attributes(comp)
    uniform = {k: float(v[0]) for k, v in attributes.items() if np.all(v == v[0])}
    group = net.create_neuron_group(
        comp.name,
        comp.size,
        model_attributes={"reset_mode": "hard", "reset": 0.0, **uniform},
        soma_hw_name=SOMA,
        default_synapse_hw_name=SYNAPSE,
    )
    varying = {k: v for k, v in attributes.items() if k not in uniform}
    if varying:
        for i, neuron in enumerate(group):
            neuron.set_attributes(model_attributes={k: float(v[i]) for k, v in varying.items()})
    for core, first, stop in slices:
        for i in range(first, stop):
            group[i].map_to_core(cores[core])
    return group


def _input_group(net: Any, program: LoihiProgram, spikes: np.ndarray, cores: list) -> Any:
    """One input neuron per channel, each on its own input soma unit, 1024 per core."""
    if spikes.shape[1] != program.input_size:
        raise NrfError(
            f"SANA-FE input has {spikes.shape[1]} channels, the export {program.input_size}",
            "second opinion input",
            "report with an input of the export's shape",
        )
    group = net.create_neuron_group(program.input_name, program.input_size)
    first = _first_input_core(program)
    for i, neuron in enumerate(group):
        neuron.set_attributes(
            soma_hw_name=INPUT_SOMA.format(i % INPUTS_PER_CORE),
            model_attributes={"spikes": spikes[:, i].tolist()},
        )
        neuron.map_to_core(cores[first + i // INPUTS_PER_CORE])
    return group


def _soma_attributes(comp: Any) -> dict[str, np.ndarray]:
    """Loihi integers -> SANA-FE LIF attributes per neuron (flat float arrays), in chip units /
    64."""

    def flat(values: np.ndarray) -> np.ndarray:
        return np.broadcast_to(np.asarray(values, np.float64), (comp.size,)).reshape(-1)

    unity = float(DECAY_UNITY)
    return {
        "threshold": flat(comp.vth),
        "bias": flat(comp.bias_mant) * 2.0 ** flat(comp.bias_exp) / (1 << VTH_SHIFT),
        "input_decay": 1.0 - (flat(comp.du) + 1.0) / unity,
        "leak_decay": 1.0 - flat(comp.dv) / unity,
    }


def architecture(cores: int) -> Architecture:
    """SANA-FE's packaged Loihi description, or the same tiles in more mesh rows when `cores`
    exceeds its 128 (written to a temporary file, never kept)."""
    import sanafe

    packaged = MESH_WIDTH * PACKAGED_ROWS * CORES_PER_TILE
    if cores <= packaged:
        arch = sanafe.load_loihi()
        if len(arch.cores()) != packaged:
            raise NrfError(
                f"SANA-FE's {ARCH_FILE} has {len(arch.cores())} cores, this translation expects "
                f"{packaged}",
                f"sanafe/examples/{ARCH_FILE}",
                "install sanafe==2.2.9 (nrf-deploy[witness])",
            )
        return Architecture(arch, packaged, False)
    rows = math.ceil(cores / (MESH_WIDTH * CORES_PER_TILE))
    text = widened_description(_packaged_text(), rows)
    with tempfile.TemporaryDirectory(prefix="nrf-sanafe-") as tmp:
        path = Path(tmp) / ARCH_FILE
        path.write_text(text)
        arch = sanafe.load_arch(str(path))
    return Architecture(arch, rows * MESH_WIDTH * CORES_PER_TILE, True)


def _packaged_text() -> str:
    from importlib.resources import files

    return files("sanafe.examples").joinpath(ARCH_FILE).read_text()


def widened_description(text: str, rows: int) -> str:
    """SANA-FE's Loihi YAML with `rows` mesh rows of the same tiles (refused if the file is not
    the 8 x 4 mesh of ``loihi_tile[0..31]`` this was written for)."""
    tiles = MESH_WIDTH * rows
    edits = (
        (rf"(\n\s+width: ){MESH_WIDTH}\n", rf"\g<1>{MESH_WIDTH}\n"),
        (rf"(\n\s+height: ){PACKAGED_ROWS}\n", rf"\g<1>{rows}\n"),
        (r"loihi_tile\[0\.\.31\]", f"loihi_tile[0..{tiles - 1}]"),
    )
    for pattern, replacement in edits:
        text, found = re.subn(pattern, replacement, text)
        if found != 1:
            raise NrfError(
                f"SANA-FE's {ARCH_FILE} is not the 8 x 4 mesh this translation widens",
                f"sanafe/examples/{ARCH_FILE} (pattern {pattern!r})",
                "install sanafe==2.2.9 (nrf-deploy[witness])",
            )
    return text


def _our_figures(deployment: Deployment, context: OpinionContext, samples: int) -> dict:
    """nrf-deploy's loihi1 cost model and counts on the first `samples` samples (user-supplied
    constants of the report kept)."""
    from nrf_deploy.targets.loihi.profile import PROFILES

    from nrf_deploy.report.metrics import activity_counts
    from nrf_deploy.trace import Trace

    graph = deployment.graph
    if graph is None:
        raise NrfError(
            "the export has no source.nir", str(context.export_dir), "re-export the model"
        )
    ref = context.reference
    sliced = Trace({k: v[:, :samples] for k, v in ref.outputs.items()}, {}, ref.output_names)
    counts = activity_counts(graph, sliced, context.x[:, :samples], deployment.record)
    profile = next(p for p in PROFILES if p.chip == "loihi1")
    reported = next((h for h in context.hardware if h.get("chip") == "loihi1"), {})
    user = {
        key.split(".", 1)[1]: c["value"]
        for key, c in (reported.get("constants") or {}).items()
        if c.get("kind") == "user"
    }
    result = profile.with_overrides(user).evaluate(counts, context.resources)
    return {
        "energy_j": result["energy_j"],
        "latency_s": result["latency_s"],
        "effective_sops": counts["effective_sops"],
        "spikes": counts["spikes"],
        "input_events": counts["input_events"],
        "active_updates": counts["active_updates"],
        "neuron_updates": counts["neuron_updates"],
    }


@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    """Silence SANA-FE's C++ progress line (written to file descriptor 1)."""
    import sys

    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
