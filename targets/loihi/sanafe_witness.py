"""SANA-FE's second opinion on a Loihi export's energy and latency per inference.

SANA-FE 2.2.9 (Boyle et al., IEEE TCAD 2025) simulates a spiking network on a described
architecture and costs every event with the description's figures; its packaged Loihi description
(``sanafe/examples/loihi.yaml``, read from the installed package at run time) is calibrated
against Loihi 1. SANA-FE runs in its own witness environment (``nrf-deploy witnesses install
sanafe``): this module translates the export (``program.npz`` + ``deploy.json``) into a
declarative request of arrays, :mod:`sanafe_runner <nrf_deploy.targets.loihi.sanafe_runner>`
builds and simulates it there, in a fresh process whose memory is returned when it exits:

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

**Bounded.** SANA-FE holds about 1 kB per synapse and 24 kB per input-model neuron while it
builds and loads a network (:func:`estimate_bytes`), so a network it would need more memory for
than a second opinion may use (``OpinionContext.memory_bytes``, ``report --witness-memory``) is
*sampled*: whole cores of every population, evenly spread, are simulated, and the neurons outside
the sample that feed them are replayed (input-model neurons on their own cores, firing the integer
reference's spikes).
The comparison is then on those cores: SANA-FE's figures against nrf-deploy's ``loihi1`` cost
model evaluated on the same cores. At most :data:`MAX_SAMPLES` input samples and
:data:`SIMULATION_BUDGET_S` of simulation. The opinion's notes say what was sampled.

Networks needing more cores than the description's 128 run on a mesh widened at run time (more
rows of the same tiles): that extrapolates SANA-FE's calibration and the opinion says so.
SANA-FE's arithmetic is floating point, not Lava's fixed point, so spikes may differ slightly: the
comparison is of energy and latency per inference (ratio), with event counts beside ours.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from nrf_deploy.targets.loihi.format import DECAY_UNITY, VTH_SHIFT, LoihiProgram
from nrf_deploy.targets.loihi.profile import CORES_PER_TILE

from nrf_deploy.errors import NrfError
from nrf_deploy.opinions import Comparison, Opinion
from nrf_deploy.witness import InstallStep, WitnessEnv, call

if TYPE_CHECKING:
    from nrf_deploy.opinions import OpinionContext
    from nrf_deploy.target import Deployment

RUNNER = Path(__file__).with_name("sanafe_runner.py")
SANAFE_VERSION = "2.2.9"
SANAFE_ENV = WitnessEnv(
    "sanafe",
    f"SANA-FE {SANAFE_VERSION}: Loihi energy and latency per inference (second opinion)",
    "3.12",
    (InstallStep((f"sanafe=={SANAFE_VERSION}", "numpy==2.5.5")),),
    imports=("sanafe", "numpy"),
    check=(str(RUNNER), "check"),
    serves=("loihi: SANA-FE second opinion (report)",),
    notes=("SANA-FE is a C++ core with pybind11 bindings and no dependencies; wheels 3.11-3.13",),
)
"""SANA-FE's environment: sanafe and numpy, nothing else."""
TOOL = "SANA-FE"
ARCH_FILE = "loihi.yaml"
"""SANA-FE's Loihi description inside the installed package (``sanafe/examples``)."""
MAX_SAMPLES = 8
"""Samples SANA-FE simulates (the report's first ones); nrf-deploy's figures in the comparison
are recomputed on the same samples."""
SIMULATION_BUDGET_S = 60.0
"""No further sample starts after this many seconds of simulation (the first always runs)."""
BYTES_BASE, BYTES_PER_SYNAPSE, BYTES_PER_SOURCE = 60e6, 1.0e3, 24e3
"""SANA-FE's peak memory (its process) ≈ base + per synapse + per input-model neuron (input or
replayed: each holds its own soma unit and spike train), fitted to measurements here
(docs/report.md): fixture whole 1.14 GB (1.09 M synapses, 2 312 inputs); RF-SNN samples 1.08,
1.47, 1.99 GB (0.38, 0.67, 1.20 M synapses; 26 500, 33 200, 33 100 input-model neurons)."""
MEMORY_MARGIN = 1.1
"""Estimates are multiplied by this before they are held against the budget."""
INPUTS_PER_CORE = 1024
"""Input soma units per core in the description (``loihi_inputs[0..1023]``)."""
MESH_WIDTH, PACKAGED_ROWS = 8, 4
ENERGY_PARTS = ("synapse", "dendrite", "soma", "network")
"""SANA-FE's energy breakdown (J), kept in the opinion's details."""


@dataclass(frozen=True)
class Sample:
    """What SANA-FE is given: every core (``cores`` None) or these cores of the export."""

    cores: tuple[int, ...] | None
    synapses: int
    """Synapses into the simulated neurons."""
    total_synapses: int
    per_population: dict[str, tuple[int, int]]
    """Population -> (cores simulated, cores it has)."""
    estimate: float = 0.0
    """SANA-FE's estimated peak memory for it (bytes, :func:`estimate_bytes`)."""
    bound: float = 0.0
    """The memory bound it was chosen under (bytes)."""

    @property
    def whole(self) -> bool:
        return self.cores is None


def sanafe_opinion(deployment: Deployment, context: OpinionContext) -> Opinion:
    """SANA-FE's energy and latency per inference on the report's first samples (and, for a
    network beyond the memory bound, a sample of its cores), beside nrf-deploy's Loihi 1 cost
    model on the same samples and cores."""
    program: LoihiProgram = deployment.program
    x = np.asarray(context.x)
    sample = sample_cores(program, context.memory_bytes)
    answer = simulate(
        program, x[:, :MAX_SAMPLES], SIMULATION_BUDGET_S, sample, context.reference.outputs
    )
    samples = len(answer["energy_j"])
    theirs = {k: float(np.mean(answer[k])) for k in _PER_SAMPLE}
    ours = _our_figures(deployment, context, samples, sample.cores)
    rows = _rows(ours, theirs, sample)
    notes = _notes(program, x, samples, sample, answer)
    details = {
        "samples": samples,
        "of_samples": int(x.shape[1]),
        "timesteps": int(x.shape[0]),
        "seconds": round(float(answer["seconds"]), 3),
        "build_seconds": round(float(answer["build_seconds"]), 3),
        "peak_memory_bytes": int(answer["peak_rss_bytes"]),
        "architecture_cores": int(answer["architecture_cores"]),
        "widened": bool(answer["widened"]),
        "sampled_cores": None if sample.whole else list(sample.cores),
        "synapses_simulated": sample.synapses,
        "synapses": sample.total_synapses,
        "memory_bound_bytes": float(context.memory_bytes),
        "memory_estimate_bytes": sample.estimate,
        "sanafe_per_inference": theirs,
        "ours_per_inference": ours,
    }
    return Opinion(TOOL, str(answer["version"]), rows, notes, details)


_PER_SAMPLE = (
    "energy_j",
    *(f"energy_{k}_j" for k in ENERGY_PARTS),
    "latency_s",
    "synaptic_events",
    "neurons_fired",
    "neurons_updated",
    "packets_sent",
    "source_spikes",
)


def _rows(ours: dict[str, float], theirs: dict[str, float], sample: Sample) -> list[Comparison]:
    """Energy, latency and the event counts behind them (on the sampled cores if sampled)."""
    on = "" if sample.whole else " (sampled cores)"
    fired, updated = theirs["neurons_fired"], theirs["neurons_updated"]
    spikes_note = "neurons fired, input events included (SANA-FE's input neurons fire them)"
    updates_note = "SANA-FE: compartments updated (input, bias or nonzero v); ours: active"
    ours_spikes = ours["spikes"] + ours["input_events"]
    if not sample.whole:  # input-model neurons count one update per spike they fire
        fired -= theirs["source_spikes"]
        updated -= theirs["source_spikes"]
        spikes_note = "spikes of the sampled neurons (replayed and input spikes left out)"
        updates_note += "; the input-model neurons' one update per spike left out"
        ours_spikes = ours["spikes"]
    return [
        Comparison(f"energy per inference{on}", "J", ours["energy_j"], theirs["energy_j"]),
        Comparison(f"latency per inference{on}", "s", ours["latency_s"], theirs["latency_s"]),
        Comparison(
            f"synaptic events per inference{on}",
            "events",
            ours["effective_sops"],
            theirs["synaptic_events"],
            note="SANA-FE: spikes processed by synapses (the chip's stored weights); "
            "nrf-deploy: effective SOPs over the float graph's connectivity, which includes "
            "weights quantised to zero",
        ),
        Comparison(f"spikes per inference{on}", "spikes", ours_spikes, fired, note=spikes_note),
        Comparison(
            f"neuron updates per inference{on}",
            "updates",
            ours["active_updates"],
            updated,
            note=updates_note,
        ),
    ]


def _notes(
    program: LoihiProgram, x: np.ndarray, samples: int, sample: Sample, answer: dict[str, Any]
) -> list[str]:
    notes = [
        (
            f"SANA-FE {answer['version']} on its packaged Loihi description "
            f"(sanafe/examples/{ARCH_FILE}); ran on {samples} of {x.shape[1]} samples, "
            f"{x.shape[0]} steps (at most {MAX_SAMPLES}, {SIMULATION_BUDGET_S:.0f} s of "
            f"simulation), {float(answer['seconds']):.1f} s in its own process (peak "
            f"{int(answer['peak_rss_bytes']) / 1e9:.2f} GB); nrf-deploy's figures here are its "
            "loihi1 cost model on the same samples"
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
    if not sample.whole:
        notes.append(_sample_note(sample))
    if answer["widened"]:
        notes.append(
            f"the export needs {cores_needed(program)} cores with its inputs, more than the "
            f"description's {MESH_WIDTH * PACKAGED_ROWS * CORES_PER_TILE}: simulated on a mesh "
            f"widened to {int(answer['architecture_cores']) // CORES_PER_TILE} tiles of the same "
            "figures — this extrapolates SANA-FE's Loihi calibration (one chip's mesh, no "
            "chip-to-chip links)"
        )
    return notes


def _sample_note(sample: Sample) -> str:
    parts = ", ".join(f"{p} {k} of {n}" for p, (k, n) in sample.per_population.items())
    return (
        f"sampled to bound SANA-FE's memory: {len(sample.cores)} cores ({parts}) with "
        f"{sample.synapses:,} of the export's {sample.total_synapses:,} synapses (about "
        f"{sample.estimate / 1e9:.1f} GB; a second opinion may use "
        f"{sample.bound / 1e9:.1f} GB, report --witness-memory); the neurons outside the sample "
        "that feed it fire the integer "
        "reference's spikes from their own cores (input-model neurons: their messages are "
        "costed, their updates are not); left out: the other cores' synapses, neuron updates "
        "and spikes, and messages to them. nrf-deploy's figures are its loihi1 cost model on "
        "the same cores (barrier time of the whole export)"
    )


# --- what SANA-FE is given ---------------------------------------------------------------------


def synapses_per_core(program: LoihiProgram) -> dict[int, int]:
    """Stored synapses arriving at each core of the export."""
    per_neuron = {name: np.zeros(c.size, np.int64) for name, c in program.populations.items()}
    for syn in program.projections:
        per_neuron[syn.target] += np.diff(syn.weights.tocsr().indptr)
    out: dict[int, int] = {}
    for name, slices in program.cores.items():
        for core, first, stop in slices:
            out[core] = out.get(core, 0) + int(per_neuron[name][first:stop].sum())
    return out


def estimate_bytes(synapses: int, sources: int) -> float:
    """SANA-FE's peak memory (bytes) for a network of `synapses` synapses and `sources`
    input-model neurons (inputs and replayed neurons), margin included."""
    return MEMORY_MARGIN * (BYTES_BASE + BYTES_PER_SYNAPSE * synapses + BYTES_PER_SOURCE * sources)


def sample_cores(program: LoihiProgram, memory_bytes: float) -> Sample:
    """Every core when SANA-FE's estimated memory for the whole export fits `memory_bytes`;
    otherwise the largest even sample of every population's cores (at least one each) that fits.
    NotRun when not even that does."""
    from nrf_deploy.opinions import NotRun

    _require_cores(program)
    per_core = synapses_per_core(program)
    total = sum(per_core.values())
    cores = {name: [c for c, _a, _b in slices] for name, slices in program.cores.items()}
    whole_estimate = estimate_bytes(total, program.input_size)
    if whole_estimate <= memory_bytes:
        whole = {name: (len(c), len(c)) for name, c in cores.items()}
        return Sample(None, total, total, whole, whole_estimate, memory_bytes)

    def cost(chosen: list[int]) -> tuple[float, int]:
        synapses = sum(per_core[c] for c in chosen)
        return estimate_bytes(synapses, _sources_needed(program, chosen)), synapses

    best = _spread(cores, 0.0)
    if cost(best)[0] > memory_bytes:
        raise NotRun(
            f"not run: even one core of each population would need about "
            f"{cost(best)[0] / 1e9:.1f} GB in SANA-FE, more than the {memory_bytes / 1e9:.1f} GB a "
            "second opinion may use (report --witness-memory GB)"
        )
    low, high = 0.0, 1.0
    for _ in range(12):  # bisect the share of each population's cores
        mid = (low + high) / 2
        chosen = _spread(cores, mid)
        if cost(chosen)[0] <= memory_bytes:
            best, low = chosen, mid
        else:
            high = mid
    taken = set(best)
    per_population = {name: (len(taken & set(c)), len(c)) for name, c in cores.items()}
    estimate, kept = cost(best)
    return Sample(tuple(sorted(best)), kept, total, per_population, estimate, memory_bytes)


def _sources_needed(program: LoihiProgram, chosen: list[int]) -> int:
    """Input-model neurons a sample on `chosen` cores needs: the inputs and the replayed ones."""
    keep = {n: np.isin(_core_of(program, n), chosen) for n in program.populations}
    return program.input_size + sum(int(u.sum()) for u in _replayed_sources(program, keep).values())


def _spread(cores: dict[str, list[int]], share: float) -> list[int]:
    """``max(1, round(share * k))`` evenly spaced cores of each population's k cores."""
    chosen = []
    for ids in cores.values():
        k = len(ids)
        m = min(k, max(1, round(share * k)))
        chosen += [ids[min(k - 1, int((i + 0.5) * k / m))] for i in range(m)]
    return chosen


def _require_cores(program: LoihiProgram) -> None:
    if not program.cores:
        raise NrfError(
            "the Loihi export records no core placement",
            "deploy.json populations[].cores",
            "re-export the model with this version of nrf-deploy",
        )


def cores_needed(program: LoihiProgram) -> int:
    """The export's cores plus the input cores after them."""
    return _first_input_core(program) + math.ceil(program.input_size / INPUTS_PER_CORE)


def _first_input_core(program: LoihiProgram) -> int:
    used = [core for slices in program.cores.values() for core, _a, _b in slices]
    return max(used) + 1 if used else 0


def _core_of(program: LoihiProgram, name: str) -> np.ndarray:
    """The core of each neuron of population `name`."""
    where = np.full(program.populations[name].size, -1, np.int64)
    for core, first, stop in program.cores[name]:
        where[first:stop] = core
    return where


def translate(
    program: LoihiProgram,
    spikes: np.ndarray,
    sample: Sample | None = None,
    replay: dict[str, np.ndarray] | None = None,
) -> dict[str, Any]:
    """The request :func:`sanafe_runner.simulate` builds SANA-FE's network from: the input with
    `spikes` ``[T, B, n_inputs]``, every population (or the neurons on `sample`'s cores) and
    the connections into them, each neuron on its export core. Sources outside a sample fire
    ``replay[population]`` ``[T, B, *shape]`` (the integer reference's outputs)."""
    _require_cores(program)
    if spikes.shape[2] != program.input_size:
        raise NrfError(
            f"SANA-FE input has {spikes.shape[2]} channels, the export {program.input_size}",
            "second opinion input",
            "report with an input of the export's shape",
        )
    sample = sample or sample_cores(program, float("inf"))
    chosen = None if sample.whole else set(sample.cores)
    keep = {
        n: np.ones(c.size, bool) if chosen is None else np.isin(_core_of(program, n), list(chosen))
        for n, c in program.populations.items()
    }
    first = _first_input_core(program)
    inputs = first + np.arange(program.input_size) // INPUTS_PER_CORE
    request: dict[str, Any] = {"groups": [], "connections": []}
    index = {program.input_name: _add_source(request, program.input_name, inputs, spikes != 0)}
    for name, comp in program.populations.items():
        index[name] = _add_lif(request, name, comp, _core_of(program, name)[keep[name]], keep[name])
    replayed = _replayed_sources(program, keep)
    for name, used in replayed.items():
        fired = _replay_spikes(program, name, replay, spikes.shape[:2])[:, :, used]
        where = _core_of(program, name)[used]
        index[f"{name}~replay"] = _add_source(request, f"{name}~replay", where, fired)
    for syn in program.projections:
        _add_connections(request, program, syn, keep, replayed, index)
    request["cores"] = max(cores_needed(program), 1)
    return request


def _add_source(request: dict, name: str, where: np.ndarray, spikes: np.ndarray) -> int:
    i = len(request["groups"])
    request["groups"].append({"name": name, "kind": "source"})
    request[f"g{i}/core"] = np.asarray(where, np.int32)
    request[f"g{i}/spikes"] = np.ascontiguousarray(spikes, dtype=bool)
    return i


def _add_lif(request: dict, name: str, comp: Any, where: np.ndarray, keep: np.ndarray) -> int:
    i = len(request["groups"])
    request["groups"].append({"name": name, "kind": "lif"})
    request[f"g{i}/core"] = np.asarray(where, np.int32)
    for key, value in _soma_attributes(comp).items():
        request[f"g{i}/{key}"] = value[keep]
    return i


def _replayed_sources(program: LoihiProgram, keep: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per population: its neurons outside the sample that feed a sampled neuron."""
    out: dict[str, np.ndarray] = {}
    for syn in program.projections:
        if syn.source == program.input_name:
            continue
        rows = syn.weights.tocsr()[keep[syn.target]]
        used = np.zeros(program.populations[syn.source].size, bool)
        used[np.unique(rows.indices)] = True
        used &= ~keep[syn.source]
        if used.any():
            out[syn.source] = out.get(syn.source, np.zeros_like(used)) | used
    return out


def _replay_spikes(
    program: LoihiProgram, name: str, replay: dict[str, np.ndarray] | None, shape: tuple
) -> np.ndarray:
    """``[T, B, n]`` spikes population `name` fired in the integer reference (a read-out never
    fires: its output there is its membrane)."""
    comp = program.populations[name]
    if comp.readout:
        return np.zeros((*shape, comp.size), bool)
    if replay is None or name not in replay:
        raise NrfError(
            f"sampling SANA-FE's network needs the reference's spikes of '{name}'",
            "SANA-FE second opinion",
            "report it (the report passes the reference run)",
        )
    fired = np.asarray(replay[name])[: shape[0], : shape[1]]
    return fired.reshape(*shape, comp.size) != 0


def _add_connections(
    request: dict,
    program: LoihiProgram,
    syn: Any,
    keep: dict[str, np.ndarray],
    replayed: dict[str, np.ndarray],
    index: dict[str, int],
) -> None:
    """The projection's synapses into sampled neurons: from simulated sources, and from replayed
    ones (group-local indices)."""
    w = syn.weights.tocsr()[keep[syn.target]].tocoo()
    post, pre = w.row, w.col
    weight = w.data.astype(np.float64) * 2.0**syn.weight_exp
    if syn.source == program.input_name:
        parts = [(index[syn.source], np.ones(len(pre), bool), np.arange(program.input_size))]
    else:
        simulated = keep[syn.source]
        parts = [(index[syn.source], simulated[pre], np.cumsum(simulated) - 1)]
        if syn.source in replayed:
            used = replayed[syn.source]
            parts.append((index[f"{syn.source}~replay"], used[pre], np.cumsum(used) - 1))
    for group, mask, local in parts:
        if not mask.any():
            continue
        k = len(request["connections"])
        request["connections"].append({"pre": group, "post": index[syn.target]})
        request[f"c{k}/pre"] = local[pre[mask]].astype(np.int32)
        request[f"c{k}/post"] = post[mask].astype(np.int32)
        request[f"c{k}/weight"] = weight[mask]


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


def simulate(
    program: LoihiProgram,
    x: np.ndarray,
    budget_s: float | None = None,
    sample: Sample | None = None,
    replay: dict[str, np.ndarray] | None = None,
) -> dict[str, Any]:
    """Samples ``x`` [T, B, *input_shape] through SANA-FE in its environment, one inference each:
    per-sample arrays ``energy_j`` (and ``energy_<part>_j``), ``latency_s`` (s),
    ``synaptic_events``, ``neurons_fired``, ``neurons_updated``, ``packets_sent`` and
    ``source_spikes`` (spikes the input and replayed neurons were given), plus ``version``,
    ``architecture_cores``, ``widened``, ``peak_rss_bytes`` and ``seconds``. With `budget_s`,
    no further sample starts once that much simulation time is spent (the first always runs).
    Raises WitnessNotInstalled without the ``sanafe`` environment."""
    import time

    spikes = np.asarray(x).reshape(x.shape[0], x.shape[1], -1) != 0
    request = translate(program, spikes, sample, replay)
    request["budget_s"] = float("inf") if budget_s is None else float(budget_s)
    started = time.perf_counter()
    answer = call(SANAFE_ENV.name, RUNNER, "simulate", request, what="SANA-FE")
    answer["seconds"] = time.perf_counter() - started
    runs = len(answer["energy_j"])
    answer["source_spikes"] = np.array(
        [
            sum(float(request[f"g{i}/spikes"][:, b].sum()) for i in _sources(request))
            for b in range(runs)
        ]
    )
    return answer


def _sources(request: dict[str, Any]) -> list[int]:
    return [i for i, g in enumerate(request["groups"]) if g["kind"] == "source"]


def _our_figures(
    deployment: Deployment,
    context: OpinionContext,
    samples: int,
    cores: tuple[int, ...] | None = None,
) -> dict[str, float]:
    """nrf-deploy's loihi1 cost model and counts on the first `samples` samples (user-supplied
    constants of the report kept), on every core or only on `cores`."""
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
    if cores is not None:
        counts = on_cores(counts, cores)
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


def on_cores(counts: dict[str, Any], cores: tuple[int, ...]) -> dict[str, Any]:
    """`counts` restricted to the neurons on `cores`: the synaptic events arriving there, their
    neuron updates (active ones) and spikes, and the per-core loads of those cores only."""
    loads = counts["cores"]
    ids = list(loads["ids"])
    take = [ids.index(c) for c in cores if c in ids]
    batch, steps = int(counts["samples"]), int(counts["timesteps"])
    sops = loads["sops"][:, :, take]
    return {
        **counts,
        "effective_sops": float(sops.sum() / batch),
        "neuron_updates": float(loads["neurons"][take].sum() * steps),
        "active_updates": float(loads["active"][:, :, take].sum() / batch),
        "spikes": float(loads["spikes"][:, :, take].sum() / batch),
        "input_events": 0.0,
        "cores": {**loads, "sops": sops, "neurons": loads["neurons"][take], "ids": list(cores)},
    }
