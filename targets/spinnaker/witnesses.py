"""Second opinions on a SpiNNaker export from the field's own tools (docs/report.md, "Witnesses").

* :func:`nest_opinion` — the network under PyNN 0.13's NEST 3.10 backend (``--simulator nest``)
  on the report's input; its spikes against the integer reference and the float model. NEST
  integrates in double precision, so this is agreement, not bit-exactness.
* :func:`spynnaker_mapping_opinion` — the same network through sPyNNaker 7.4.1 on a virtual
  SpiNN-5 board, stopped after mapping; its placement (application cores, chips, planned SDRAM)
  against nrf-deploy's partition (``mapper.py``).

**An export is data, never code.** Both run the PyNN script nrf-deploy generates itself, at run
time, from the export's chip data (``network.json`` + ``connections.npz`` as the deployment holds
them, checked against the seal): :func:`generated_script` (``pynn.py:pynn_script``, the generator
``export`` uses). The export's own ``run_pynn.py`` is read and compared with it, never executed;
when it differs the opinions refuse with the first differing line.

Both run in the witness environment ``pynn`` (``nrf-deploy witnesses install pynn``: PyNN, NEST and
sPyNNaker co-install on Python 3.12), one fresh process per run (NEST's kernel and sPyNNaker's data
view are process-wide) inside a temporary folder that is also its HOME (sPyNNaker reads
``~/.spynnaker.cfg`` and writes report folders there), always removed: ``pynn_runner.py``.
"""

from __future__ import annotations

import difflib
import json
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from nrf_deploy.targets.spinnaker.format import MODEL_SOURCE, ONE
from nrf_deploy.targets.spinnaker.pynn import (
    CONNECTIONS_FILE,
    NETWORK_FILE,
    SCRIPT_FILE,
    pynn_script,
)

from nrf_deploy.errors import NrfError
from nrf_deploy.opinions import Comparison, Opinion, OpinionContext, pearson, spike_agreement
from nrf_deploy.target import Deployment
from nrf_deploy.witness import InstallStep, WitnessEnv, call

RUNNER = Path(__file__).with_name("pynn_runner.py")
PYNN_PINS = (
    "PyNN==0.13.0",
    "nest-simulator==3.10.0",
    "sPyNNaker==1!7.4.1",
    "numpy==2.5.5",
    # what they resolve to on Python 3.12 (uv pip compile), pinned for a reproducible environment
    "appdirs==1.4.4",
    "attrs==26.1.0",
    "certifi==2026.10.19.post1",
    "charset-normalizer==3.5.3",
    "contourpy==1.4.0",
    "csa==0.1.13",
    "cycler==0.12.1",
    "cython==3.3.2",
    "deprecated==3.0.1",
    "docstring-parser==0.18.0",
    "ebrains-drive==0.7.0",
    "fonttools==4.69.1",
    "idna==3.21",
    "jsonschema==4.26.0",
    "jsonschema-specifications==2025.9.1",
    "kiwisolver==1.5.1",
    "lazyarray==0.7.0",
    "matplotlib==3.11.2",
    "neo==0.14.6",
    "packaging==26.4",
    "pillow==13.0.0",
    "pyparsing==3.3.3",
    "python-dateutil==4.0.0",
    "pyyaml==6.0.4",
    "quantities==0.16.4",
    "referencing==0.37.0",
    "requests==2.34.2",
    "rpds-py==2026.9.1",
    "scipy==1.18.1",
    "spalloc==1!7.4.1",
    "SpiNNaker_PACMAN==1!7.4.1",
    "SpiNNFrontEndCommon==1!7.4.1",
    "SpiNNMachine==1!7.4.1",
    "SpiNNMan==1!7.4.1",
    "SpiNNUtilities==1!7.4.1",
    "tqdm==4.70.1",
    "typing-extensions==4.16.0",
    "tzdata==2026.6",
    "urllib3==2.8.0",
    "websocket-client==1.9.2",
    "wrapt==2.5.2",
)
PYNN_ENV = WitnessEnv(
    "pynn",
    "PyNN 0.13 on NEST 3.10 and sPyNNaker 7.4.1's mapper (SpiNNaker second opinions)",
    "3.12",
    (InstallStep(PYNN_PINS),),
    imports=("pyNN.nest", "pyNN.spiNNaker", "spynnaker.pyNN.data", "numpy"),
    versions_of=("PyNN", "nest-simulator", "sPyNNaker", "numpy"),
    check=(str(RUNNER), "check"),
    serves=("spinnaker: PyNN on NEST, sPyNNaker mapping (report)",),
    notes=(
        (
            "one environment: sPyNNaker 7.4.1 requires pynn>=0.11,!=0.12.0 and co-installs with "
            "PyNN 0.13.0 and nest-simulator 3.10.0 (all wheels, nothing compiled)"
        ),
    ),
)
"""PyNN, NEST and sPyNNaker in one environment (their pins agree)."""
NEST_MAX_SAMPLES = 2
"""Samples of the report's input run under NEST: one NEST process each (it builds the whole
network, ~20 s for the 1.1 M synapses of the fixture on one core)."""
NEST_BUDGET_S = 60.0
"""No further NEST sample starts after this many seconds (the first always runs): PyNN connects
the RF-SNN's 3.8 M synapses neuron by neuron, about 2 minutes per sample here."""
RUN_TIMEOUT_S = 600
NEST_BYTES = (0.22e9, 400.0)
"""NEST's process (base, per synapse): PyNN builds every connection in Python before NEST stores
it. Measured peaks: 0.67 GB for the fixture's 1.12 M synapses, 2.27 GB for the RF-SNN's 5.08 M."""
MAPPING_BYTES = (0.2e9, 155.0)
"""sPyNNaker's mapping process (base, per synapse): 0.33 GB for the fixture, 0.99 GB for the
RF-SNN."""
MEMORY_MARGIN = 1.1


def _within_memory(what: str, model: tuple[float, float], synapses: int, bound: float) -> None:
    """NotRun when `what` would need more memory than a second opinion may use (`bound`)."""
    from nrf_deploy.opinions import NotRun

    need = MEMORY_MARGIN * (model[0] + model[1] * synapses)
    if need > bound:
        raise NotRun(
            f"not run: {what} would need about {need / 1e9:.1f} GB for the export's "
            f"{synapses:,} synapses, more than the {bound / 1e9:.1f} GB a second opinion may use "
            "(report --witness-memory GB)"
        )


def _synapses(network: str) -> int:
    return sum(int(q["n_connections"]) for q in json.loads(network)["projections"])


def generated_script(deployment: Deployment, export_dir: Path | None) -> dict[str, Any]:
    """What the witnesses run: the PyNN script generated from the deployment's ``network.json``
    (with that file's text and the bytes of ``connections.npz``). NrfError when the export's own
    ``run_pynn.py`` differs from it — the toolchain never runs a file from an export, and says
    where the shipped one differs."""
    from nrf_deploy.targets import get_target

    files = get_target("spinnaker").chip_files_of(deployment)
    text = files[NETWORK_FILE].decode()
    try:
        description = json.loads(text)
    except ValueError as exc:
        raise NrfError(f"{NETWORK_FILE} is not JSON ({exc})", NETWORK_FILE, "re-export") from None
    script = pynn_script(description)
    if export_dir is not None:
        _same_as_shipped(script, Path(export_dir) / SCRIPT_FILE)
    connections = np.frombuffer(files[CONNECTIONS_FILE], dtype=np.uint8)
    return {"script": script, "network": text, "connections": connections}


def _same_as_shipped(script: str, shipped: Path) -> None:
    try:
        theirs = shipped.read_text(errors="replace")
    except OSError:
        theirs = None
    if theirs == script:
        return
    ours_lines, their_lines = script.splitlines(), (theirs or "").splitlines()
    diff = difflib.unified_diff(ours_lines, their_lines, lineterm="", n=0)
    changed = sum(1 for ln in diff if ln[:1] in "+-" and not ln.startswith(("+++", "---")))
    first = next(
        (i for i, (a, b) in enumerate(zip(ours_lines, their_lines)) if a != b),
        min(len(ours_lines), len(their_lines)),
    )
    found = their_lines[first] if first < len(their_lines) else "(end of file)"
    what = (
        "is missing"
        if theirs is None
        else f"differs from the script nrf-deploy generates from its {NETWORK_FILE} (line "
        f"{first + 1}: {found.strip()[:200]!r}; {changed} line(s) differ)"
    )
    raise NrfError(
        f"the export's {SCRIPT_FILE} {what}: second opinions run only nrf-deploy's own script, "
        "never a file from an export",
        str(shipped),
        "re-export the model, or restore run_pynn.py as nrf-deploy wrote it",
    )


def _run_pynn(
    mode: str, files: dict[str, Any], x: np.ndarray, sample: int, what: str
) -> tuple[dict[str, Any], float]:
    """The generated script in the ``pynn`` environment (`mode` ``nest`` or ``mapping``) on
    sample `sample` of `x` (binary spikes ``[T, B, *shape]``); its answer and seconds."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="nrf-pynn-") as tmp:
        request = {**files, "x": x, "sample": int(sample)}
        home = {"HOME": tmp, "XDG_CONFIG_HOME": str(Path(tmp) / ".config")}
        answer = call(
            PYNN_ENV.name,
            RUNNER,
            mode,
            request,
            what=what,
            timeout_s=RUN_TIMEOUT_S,
            cwd=tmp,
            env_vars=home,
        )
    return answer, time.perf_counter() - started


def _recorded_populations(network: str, variable: str) -> dict[str, dict[str, Any]]:
    """The neuron populations whose `variable` the script records, spikes first: a read-out's
    ``v`` only where it records no spikes (`network`: network.json's text)."""
    net = json.loads(network)
    return {
        p["label"]: p
        for p in net["populations"]
        if p["cellclass"] != MODEL_SOURCE
        and variable in p["record"]
        and (variable == "spikes" or "spikes" not in p["record"])
    }


def _run_nest(
    files: dict[str, Any], x: np.ndarray, samples: int, steps: int, keys: list[str]
) -> tuple[dict[str, np.ndarray], float, int]:
    """``{key: [steps, samples, n]}`` of `keys` (``out/<label>``, ``state/<label>/v``) from one
    NEST run of the generated script per sample; seconds in all; the largest NEST process's peak
    memory (bytes)."""
    runs, seconds, peak = [], 0.0, 0
    spikes = (np.asarray(x)[:steps, :samples] > 0).astype(np.uint8)
    for b in range(samples):
        if b and seconds > NEST_BUDGET_S:
            break
        recorded, took = _run_pynn("nest", files, spikes, b, f"PyNN on NEST, sample {b + 1}")
        seconds += took
        runs.append({k: np.asarray(recorded[k])[:steps] for k in keys})
        peak = max(peak, int(recorded.get("peak_rss_bytes", 0)))
    stacked = {k: np.stack([r[k] for r in runs], axis=1).astype(np.float64) for k in keys}
    return stacked, seconds, peak


def _readout_rows(
    recorded: dict[str, np.ndarray], reference: Any, readouts: list[str], samples: int
) -> tuple[list[Comparison], dict[str, Any]]:
    """Read-out membranes: NEST's v (mV) at the start of step t + 1 + lag against the
    reference's v after step t (s16.15 accum, / 2**15; sPyNNaker's recording convention), with
    the lag (0..MAX_NEST_LAG steps) where they correlate best."""
    if not readouts:
        return [], {}
    best: tuple[float, int, float] = (-2.0, 0, 0.0)
    for lag in range(MAX_NEST_LAG + 1):
        ours, theirs = [], []
        for label in readouts:
            v = recorded[f"state/{label}/v"]
            ref = np.asarray(reference.outputs[label], dtype=np.float64)[:, :samples] / ONE
            steps = min(v.shape[0] - 1 - lag, ref.shape[0])
            theirs.append(v[1 + lag : 1 + lag + steps].reshape(-1))
            ours.append(ref[:steps].reshape(-1))
        a, b = np.concatenate(theirs), np.concatenate(ours)
        if a.size == 0:
            break
        r = pearson(a, b)
        if r > best[0]:
            best = (r, lag, float(np.abs(a - b).max()))
    r, lag, largest = best
    row = Comparison(
        "read-out membrane correlation with the reference",
        "r",
        1.0,
        r,
        "agreement",
        f"largest difference {largest:.3g} mV, NEST {lag} step(s) behind ({', '.join(readouts)})",
    )
    return [row], {"readout_correlation": r, "readout_max_abs_mv": largest, "readout_lag": lag}


def _flat(trace_output: np.ndarray, samples: int, steps: int) -> np.ndarray:
    """``[T, B, *shape]`` -> ``[steps, samples, n]`` (float64 spike counts)."""
    a = np.asarray(trace_output, dtype=np.float64)
    return a[:steps, :samples].reshape(steps, samples, -1)


def nest_opinion(deployment: Deployment, context: OpinionContext) -> Opinion:
    """PyNN on NEST: nrf-deploy's script for the export's network on the report's input
    (<= NEST_MAX_SAMPLES samples)."""
    x = np.asarray(context.x)
    samples = min(int(x.shape[1]), NEST_MAX_SAMPLES)
    files = generated_script(deployment, context.export_dir)
    _within_memory("NEST", NEST_BYTES, _synapses(files["network"]), context.memory_bytes)
    populations = _recorded_populations(files["network"], "spikes")
    readouts = list(_recorded_populations(files["network"], "v"))
    steps = min(int(x.shape[0]), int(deployment.sidecar.get("timesteps") or x.shape[0]))
    keys = [f"out/{k}" for k in populations] + [f"state/{k}/v" for k in readouts]
    recorded, seconds, peak = _run_nest(files, x, samples, steps, keys)
    samples = next(iter(recorded.values())).shape[1] if recorded else samples
    nest = {k: recorded[f"out/{k}"] for k in populations}
    reference = {k: _flat(context.reference.outputs[k], samples, steps) for k in populations}
    floating = {k: _flat(context.floating.outputs[k], samples, steps) for k in populations}
    lags = {k: int(deployment.sidecar.get("delays", {}).get(k, 0)) for k in populations}
    nest_lag = {k: _nest_lag(nest[k], reference[k]) for k in populations}
    vs_reference = _agreement(nest, reference, nest_lag)
    vs_float = _agreement(nest, floating, {k: lags[k] + nest_lag[k] for k in populations})
    reference_vs_float = _agreement(reference, floating, lags)
    rows = _spike_rows(vs_reference, vs_float, reference_vs_float)
    readout_rows, readout_details = _readout_rows(recorded, context.reference, readouts, samples)
    rows += readout_rows
    notes = _nest_notes(samples, int(x.shape[1]), steps, seconds, nest_lag, populations)
    details = {
        "samples": samples,
        "of_samples": int(x.shape[1]),
        "peak_memory_bytes": peak,
        "steps": steps,
        "seconds": round(seconds, 2),
        **readout_details,
        "per_population": {
            k: {
                "nest_spikes": float(nest[k].sum()),
                "reference_spikes": float(reference[k].sum()),
                "nest_lag_steps": nest_lag[k],
                "equal_vs_reference": _agreement({k: nest[k]}, {k: reference[k]}, {k: nest_lag[k]})[
                    "equal"
                ],
            }
            for k in populations
        },
    }
    return Opinion("PyNN on NEST", _versions("PyNN", "nest-simulator"), rows, notes, details)


def _versions(*packages: str) -> str:
    """``"PyNN 0.13.0 / nest-simulator 3.10.0"`` as the ``pynn`` environment records them."""
    from nrf_deploy.witness import ready

    manifest = ready(PYNN_ENV.name).manifest() or {}
    versions = manifest.get("versions") or {}
    return " / ".join(f"{p} {versions.get(p, '?')}" for p in packages)


def _spike_rows(
    vs_reference: dict[str, float], vs_float: dict[str, float], reference_vs_float: dict[str, float]
) -> list[Comparison]:
    """NEST's spike agreement with the reference and with the float model (beside the
    reference's own agreement with the float model)."""
    return [
        Comparison(
            "spikes at the same neuron and step as the reference",
            "share",
            1.0,
            vs_reference["equal"],
            "agreement",
            "2|both| / (|NEST| + |reference|) over every spiking population",
        ),
        Comparison(
            "per-neuron spike-count correlation with the reference",
            "r",
            1.0,
            vs_reference["correlation"],
            "agreement",
        ),
        Comparison(
            "spikes at the same neuron and step as the float model",
            "share",
            reference_vs_float["equal"],
            vs_float["equal"],
            "agreement",
            "ours: the integer reference's own agreement with the float model",
        ),
        Comparison(
            "per-neuron spike-count correlation with the float model",
            "r",
            reference_vs_float["correlation"],
            vs_float["correlation"],
            "agreement",
        ),
        Comparison("spikes per run", "spikes", vs_reference["ours"], vs_reference["theirs"]),
    ]


def _nest_notes(
    samples: int,
    of_samples: int,
    steps: int,
    seconds: float,
    nest_lag: dict[str, int],
    populations: dict[str, dict[str, Any]],
) -> list[str]:
    notes = [
        (
            f"ran on {samples} of {of_samples} samples, {steps} steps of the report's input (at "
            f"most {NEST_MAX_SAMPLES}, none started after {NEST_BUDGET_S:.0f} s: one NEST "
            f"process each, {seconds:.1f} s in all), with "
            f"the PyNN script nrf-deploy generates from the export's {NETWORK_FILE} (equal to "
            f"its {SCRIPT_FILE}, which is never run)"
        ),
        (
            "NEST integrates iaf_psc_delta / iaf_psc_exp in double precision on the PyNN values of "
            "network.json; SpiNNaker's reference in s16.15 accum: equal spikes are agreement, not "
            "bit-exactness"
        ),
        "the float model is compared after each population's chip lag (deploy.json delays)",
    ]
    lagging = {k: s for k, s in nest_lag.items() if s}
    if lagging:
        notes.append(
            "NEST's spikes lag the chip's by "
            + ", ".join(f"{s} step(s) on {k}" for k, s in lagging.items())
            + " (compared after that shift): NEST's iaf_psc_exp integrates a synaptic current "
            "from the step after the spike arrives, sPyNNaker's IF_curr_exp in the same step"
        )
    if any(p["cellclass"] == "IF_curr_delta" for p in populations.values()):
        notes.append(
            "IF_curr_delta: PyNN's standard model (NEST's iaf_psc_delta) jumps v by the weight, "
            "sPyNNaker adds it as a one-step current, v += R·(1 − exp(−dt/τm))·w; on NEST the "
            "script scales each weight by that factor of its target neuron (weight_scale)"
        )
    return notes


MAX_NEST_LAG = 4
"""Largest NEST-behind-chip shift (steps) looked for, one per IF_curr_exp layer on the path."""


def _nest_lag(nest: np.ndarray, reference: np.ndarray) -> int:
    """The shift (0..MAX_NEST_LAG steps, NEST behind the chip) where their spikes agree most;
    0 when no shift does better than none."""
    scores = [
        _agreement({"p": nest}, {"p": reference}, {"p": s})["equal"]
        for s in range(min(MAX_NEST_LAG, nest.shape[0] - 1) + 1)
    ]
    return int(np.argmax(scores))


def _agreement(
    theirs: dict[str, np.ndarray], ours: dict[str, np.ndarray], lags: dict[str, int]
) -> dict[str, float]:
    """Agreement of `theirs` with `ours` over all populations (``[T, B, n]`` each): population k
    of `theirs` at step t + lags[k] is compared with `ours` at step t."""
    pairs = []
    for k, lag in lags.items():
        steps = theirs[k].shape[0] - lag
        pairs.append((theirs[k][lag : lag + steps], ours[k][:steps]))
    return spike_agreement(pairs)


def spynnaker_mapping_opinion(deployment: Deployment, context: OpinionContext) -> Opinion:
    """sPyNNaker's own mapping of nrf-deploy's script for the export's network on a virtual
    SpiNN-5 board."""
    x = np.asarray(context.x)
    steps = int(deployment.sidecar.get("timesteps") or x.shape[0])
    files = generated_script(deployment, context.export_dir)
    synapses = _synapses(files["network"])
    _within_memory("sPyNNaker's mapping", MAPPING_BYTES, synapses, context.memory_bytes)
    spikes = (x[:steps, :1] > 0).astype(np.uint8)
    answer, seconds = _run_pynn("mapping", files, spikes, 0, "sPyNNaker mapping")
    placed = answer["placements"]
    peak = int(answer.get("peak_rss_bytes", 0))
    theirs = _placement_summary(placed)
    ours = _partition_summary(deployment, context.resources)
    rows = [
        Comparison("application cores", "cores", ours["cores"], theirs["cores"]),
        Comparison("chips holding them", "chips", ours["chips"], theirs["chips"]),
        Comparison("SDRAM of the application cores", "bytes", ours["sdram"], theirs["sdram"]),
        Comparison(
            "largest SDRAM on one chip", "bytes", ours["max_chip_sdram"], theirs["max_chip_sdram"]
        ),
    ]
    notes = [
        (
            f"virtual SpiNN-5 board (48 chips), mapping only ({seconds:.1f} s); placement of the "
            f"network of {steps} steps with sample 0 of the report's input as spike source (the "
            f"PyNN script nrf-deploy generates from the export's {NETWORK_FILE}; the export's "
            f"{SCRIPT_FILE} is never run)"
        ),
        f"sPyNNaker adds {theirs['system_cores']} system cores ("
        + ", ".join(f"{n} {v}" for v, n in theirs["system"].items())
        + ") and leaves them out of the application count; nrf-deploy assumes 16 application "
        "cores on every chip, sPyNNaker fills fewer on chips that hold system cores",
        (
            "SDRAM: sPyNNaker's planned bytes per core for a run of the export's timesteps (auto "
            "pause-and-resume off) — synaptic matrix as its synapse_io sizes it, the neuron "
            "builder's data for on-chip generation, parameters, recording, provenance and system "
            "regions (details.sdram_by_region); nrf-deploy's mapper counts the padded matrix "
            "rows of each (source core, target core) block, neuron words and recordings"
        ),
    ]
    largest = list(theirs["sdram_by_region"].items())[:3]
    if largest and theirs["sdram"]:
        notes.append(
            "sPyNNaker's largest SDRAM regions over the application cores: "
            + ", ".join(f"{name} {n / theirs['sdram']:.0%}" for name, n in largest)
        )
    details = {
        "per_population": _per_population(placed, deployment),
        "sdram_by_region": theirs["sdram_by_region"],
        "seconds": round(seconds, 2),
        "peak_memory_bytes": peak,
    }
    return Opinion("sPyNNaker mapping", _versions("sPyNNaker"), rows, notes, details)


def _placement_summary(placed: list[dict[str, Any]]) -> dict[str, Any]:
    app = [p for p in placed if p["population"] is not None]
    chips = Counter()
    for p in app:
        chips[tuple(p["chip"])] += p["sdram_bytes"]
    system = Counter(p["vertex"] for p in placed if p["population"] is None)
    regions: Counter[str] = Counter()
    for p in app:
        regions.update(p.get("sdram_regions") or {})
    return {
        "sdram_by_region": dict(regions.most_common()),
        "cores": len(app),
        "chips": len(chips),
        "sdram": sum(p["sdram_bytes"] for p in app),
        "max_chip_sdram": max(chips.values(), default=0),
        "system_cores": sum(system.values()),
        "system": dict(system),
    }


def _partition_summary(deployment: Deployment, resources: dict[str, Any]) -> dict[str, Any]:
    core_map = deployment.sidecar.get("core_map") or []
    return {
        "cores": resources.get("cores_used", len(core_map)),
        "chips": resources.get("chips"),
        "sdram": sum(int(c["sdram_bytes"]) for c in core_map),
        "max_chip_sdram": resources.get("max_sdram_bytes_per_chip"),
    }


def _per_population(placed: list[dict[str, Any]], deployment: Deployment) -> dict[str, Any]:
    core_map = deployment.sidecar.get("core_map") or []
    out: dict[str, Any] = {}
    for label in dict.fromkeys(c["population"] for c in core_map):
        mine = [c for c in core_map if c["population"] == label]
        theirs = [p for p in placed if p["population"] == label]
        out[label] = {
            "cores": [len(mine), len(theirs)],
            "sdram_bytes": [
                sum(int(c["sdram_bytes"]) for c in mine),
                sum(p["sdram_bytes"] for p in theirs),
            ],
        }
    return out
