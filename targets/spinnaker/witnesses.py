"""Second opinions on a SpiNNaker export from the field's own tools (docs/report.md, "Witnesses").

* :func:`nest_opinion` — the export's ``run_pynn.py``, unmodified, under PyNN 0.13's NEST 3.10
  backend (``--simulator nest``) on the report's input; its spikes against the integer reference
  and the float model. NEST integrates in double precision, so this is agreement, not bit-exactness.
* :func:`spynnaker_mapping_opinion` — the same script through sPyNNaker 7.4.1 on a virtual
  SpiNN-5 board, stopped after mapping; its placement (application cores, chips, planned SDRAM)
  against nrf-deploy's partition (``mapper.py``).

Both start ``pynn_run.py`` in a fresh interpreter inside a temporary folder that is always removed
(NEST's kernel and sPyNNaker's data view are process-wide; sPyNNaker writes its report folders and
reads ``~/.spynnaker.cfg``, so HOME points there too).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
from nrf_deploy.targets.spinnaker.format import MODEL_SOURCE, ONE
from nrf_deploy.targets.spinnaker.pynn import NETWORK_FILE, SCRIPT_FILE

from nrf_deploy.errors import NrfError
from nrf_deploy.opinions import Comparison, Opinion, OpinionContext, pearson, spike_agreement
from nrf_deploy.target import Deployment

NEST_MAX_SAMPLES = 2
"""Samples of the report's input run under NEST: one NEST process each (it builds the whole
network, ~20 s for the 1.1 M synapses of the fixture on one core)."""
RUN_TIMEOUT_S = 600
VIRTUAL_BOARD_CFG = """[Machine]
version = 5
virtual_board = True

[Buffers]
use_auto_pause_and_resume = False
"""
"""sPyNNaker's configuration: one virtual SpiNN-5 board (48 chips), no hardware; recording planned
for the run's own timesteps, as nrf-deploy's mapper counts it (by default sPyNNaker plans
``minimum_auto_time_steps`` = 1000 steps of recording for its auto pause-and-resume)."""


def _run_pynn(mode: str, export_dir: Path, workdir: Path, args: list[str]) -> float:
    """Run ``pynn_run.py MODE <export>/run_pynn.py ARGS`` in `workdir`; seconds it took."""
    script = Path(export_dir) / SCRIPT_FILE
    if not script.is_file():
        raise NrfError(
            f"no {SCRIPT_FILE} in the export", str(export_dir), "re-export with nrf-deploy export"
        )
    env = {**os.environ, "HOME": str(workdir), "XDG_CONFIG_HOME": str(workdir / ".config")}
    started = time.perf_counter()
    command = [sys.executable, "-m", "nrf_deploy.targets.spinnaker.pynn_run", mode, str(script)]
    done = subprocess.run(
        [*command, *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        last = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]
        raise NrfError(f"{SCRIPT_FILE} failed under {mode}: {last}", str(script))
    return time.perf_counter() - started


def _recorded_populations(export_dir: Path, variable: str) -> dict[str, dict[str, Any]]:
    """The neuron populations whose `variable` the script records, spikes first: a read-out's
    ``v`` only where it records no spikes."""
    net = json.loads((Path(export_dir) / NETWORK_FILE).read_text())
    return {
        p["label"]: p
        for p in net["populations"]
        if p["cellclass"] != MODEL_SOURCE
        and variable in p["record"]
        and (variable == "spikes" or "spikes" not in p["record"])
    }


def _run_nest(
    context: OpinionContext, samples: int, steps: int, keys: list[str]
) -> tuple[dict[str, np.ndarray], float]:
    """``{key: [steps, samples, n]}`` of `keys` (``out/<label>``, ``state/<label>/v``) from one
    NEST run of the export's script per sample; seconds in all."""
    runs, seconds = [], 0.0
    with tempfile.TemporaryDirectory(prefix="nrf-nest-") as tmp:
        work = Path(tmp)
        np.save(work / "x.npy", (np.asarray(context.x)[:steps, :samples] > 0).astype(np.uint8))
        for b in range(samples):
            out = work / f"nest_{b}.npz"
            args = ["--input", str(work / "x.npy"), "--sample", str(b), "--output", str(out)]
            seconds += _run_pynn("nest", context.export_dir, work, args)
            with np.load(out) as recorded:
                runs.append({k: recorded[k][:steps] for k in keys})
    stacked = {k: np.stack([r[k] for r in runs], axis=1).astype(np.float64) for k in keys}
    return stacked, seconds


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
    """PyNN on NEST: the export's script on the report's input (<= NEST_MAX_SAMPLES samples)."""
    x = np.asarray(context.x)
    samples = min(int(x.shape[1]), NEST_MAX_SAMPLES)
    populations = _recorded_populations(context.export_dir, "spikes")
    readouts = list(_recorded_populations(context.export_dir, "v"))
    steps = min(int(x.shape[0]), int(deployment.sidecar.get("timesteps") or x.shape[0]))
    keys = [f"out/{k}" for k in populations] + [f"state/{k}/v" for k in readouts]
    recorded, seconds = _run_nest(context, samples, steps, keys)
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
    notes = _nest_notes(samples, steps, seconds, nest_lag, populations)
    details = {
        "samples": samples,
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
    steps: int,
    seconds: float,
    nest_lag: dict[str, int],
    populations: dict[str, dict[str, Any]],
) -> list[str]:
    notes = [
        (
            f"{samples} sample(s) × {steps} steps of the report's input (cap {NEST_MAX_SAMPLES} "
            f"samples: one NEST run each, {seconds:.1f} s in all)"
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


def _versions(*packages: str) -> str:
    return " / ".join(f"{p} {version(p)}" for p in packages)


def spynnaker_mapping_opinion(deployment: Deployment, context: OpinionContext) -> Opinion:
    """sPyNNaker's own mapping of the export's script on a virtual SpiNN-5 board."""
    x = np.asarray(context.x)
    steps = int(deployment.sidecar.get("timesteps") or x.shape[0])
    with tempfile.TemporaryDirectory(prefix="nrf-spynnaker-") as tmp:
        work = Path(tmp)
        (work / ".spynnaker.cfg").write_text(VIRTUAL_BOARD_CFG)
        np.save(work / "x.npy", (x[:steps, :1] > 0).astype(np.uint8))
        placements_file = work / "placements.json"
        args = [str(placements_file), "--input", str(work / "x.npy"), "--sample", "0"]
        seconds = _run_pynn("spinnaker-mapping", context.export_dir, work, args)
        placed = json.loads(placements_file.read_text())
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
            f"network of {steps} steps with sample 0 of the report's input as spike source"
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
