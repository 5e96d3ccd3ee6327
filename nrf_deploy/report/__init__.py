"""Reports: is this network worth putting on this chip? Counts, cost models, accuracy, plots.

:func:`build_report` analyses export directories side by side and writes a self-contained
``report.html`` plus ``report.json`` next to it. For each export (:func:`analyse_export`):

1. run the target's reference backend (``backends[0]``), the float model (the export's
   ``source.nir``) and, on a few samples, the emulator, all on the same inputs;
2. count spikes, neuron updates and synaptic operations per layer and step (NeuroBench
   definitions, :mod:`nrf_deploy.report.metrics`) from the reference run;
3. cost them on every chip profile of the target (``targets/<chip>/profile.py``): energy and
   latency terms, each ``count x constant`` with the constant's source and kind;
4. read resources (``target.resources``) and the verification verdict (``verify-report.json``);
5. compare each backend's output with the float model (:mod:`nrf_deploy.report.accuracy`).

It only uses the generic :class:`nrf_deploy.target.Target` interface and the sidecar. Whatever
is missing — a target that is not installed, a backend that fails, a field a sidecar lacks, a
constant nobody has published — is reported as "not available" with the reason, never a crash.
"""

from __future__ import annotations

import json
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from nrf_deploy.deployment import SIDECAR, DeploymentRecord
from nrf_deploy.errors import NrfError
from nrf_deploy.inputs import random_events

REPORT_FORMAT = "nrf-deploy-report/1"
BASELINE_CHIP = "cpu"
SKIPPED = "skipped (--no-second-opinions)"
"""What report.json says for NeuroBench's counts when second opinions are off."""


def analyse_export(
    export_dir: str | Path,
    x: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    samples: int = 8,
    seed: int = 0,
    timesteps: int | None = None,
    emulator_samples: int | None = None,
    overrides: dict[str, dict[str, float]] | None = None,
    input_source: str | None = None,
    traces: dict[str, Any] | None = None,
    warmup: int | None = None,
    window: int | None = None,
    semantics: str = "nir",
    allow_modified: bool = False,
    second_opinions: bool = True,
    witness_memory: float | None = None,
) -> dict[str, Any]:
    """Everything the report says about one export directory (plain JSON types except
    ``counts["cores"]``, which :func:`to_json` summarises).

    `traces` ({backend: Trace}) are runs already made on `x` (e.g. by verification); backends
    found there are not run again. `semantics` names the float model's conventions ("nir" or
    "sinabs", :class:`nrf_deploy.ir.Semantics`). `second_opinions`: run the target's declared
    second-opinion tools (:mod:`nrf_deploy.opinions`; they can take minutes) and NeuroBench's
    counts, each in its own witness environment; `witness_memory`: bytes each tool's process may
    use (default :data:`nrf_deploy.opinions.WITNESS_MEMORY_BYTES`)."""
    from nrf_deploy.deployment import read_sidecar
    from nrf_deploy.seal import load_export

    export_dir = Path(export_dir)
    entry: dict[str, Any] = {
        "export_dir": str(export_dir),
        "target": export_dir.name,
        "status": "ok",
        "notes": [],
        "seconds": {},
    }
    try:
        sidecar = read_sidecar(export_dir)
        entry["target"] = str(sidecar.get("target", export_dir.name))
        loaded = load_export(export_dir, allow_modified)
        target, deployment, seal = loaded.target, loaded.deployment, loaded.seal
    except NrfError as exc:
        return {**entry, "status": "not available", "error": exc.format()}

    except Exception as exc:  # noqa: BLE001 — any failure is reported, the others go on
        return {
            **entry,
            "status": "not available",
            "error": f"target '{entry['target']}' could not be loaded "
            f"({type(exc).__name__}: {exc})",
        }
    graph = _source_graph(export_dir)
    if graph is None:
        return {
            **entry,
            "status": "not available",
            "error": f"{export_dir} has no readable source.nir (the float model the export was "
            "made from); "
            "re-export it with this nrf-deploy version",
        }
    if x is None:
        steps = int(timesteps or deployment.timesteps)
        x = random_events(deployment.input_shape, steps, samples, 0.1, seed)
        input_source = input_source or f"random events, rate 0.1, seed {seed}"
    else:
        from nrf_deploy.inputs import check_input_shape

        x = check_input_shape(x, deployment.input_shape, "--input")
    names = target.backend_names(deployment)
    record = deployment.record
    entry.update(
        {
            "inputs": {
                "timesteps": int(x.shape[0]),
                "samples": int(x.shape[1]),
                "source": input_source or "user-supplied array",
            },
            "backends": list(names),
            "reference_backend": names[0],
            "number_format": record.number_format,
            "approximations": list(record.approximations),
            "quantisation": record.quantisation,
            "dt": sidecar.get("dt"),
        }
    )

    done = dict(traces or {})
    started = time.perf_counter()
    try:
        reference = done.get(names[0]) or target.run(deployment, names[0], x, record_states=False)
    except Exception as exc:  # noqa: BLE001 — NrfError or a target bug: report the others
        text = exc.format() if isinstance(exc, NrfError) else f"{type(exc).__name__}: {exc}"
        return {
            **entry,
            "status": "not available",
            "error": f"the reference backend failed: {text}",
        }
    entry["seconds"]["reference"] = round(time.perf_counter() - started, 3)
    traces = {names[0]: reference}
    emulator = next(
        (b.name for b in target.backends_for(deployment)[1:] if b.role != "vendor"), None
    )
    if emulator_samples is None:
        emulator_samples = int(x.shape[1])
    if emulator and emulator in done:
        traces[emulator] = done[emulator]
    elif emulator and emulator_samples > 0:
        started = time.perf_counter()
        trace = _optional(
            entry,
            f"emulator backend '{emulator}'",
            lambda: target.run(deployment, emulator, x[:, :emulator_samples], record_states=False),
        )
        if trace is not None:
            traces[emulator] = trace
            entry["seconds"][emulator] = round(time.perf_counter() - started, 3)

    from nrf_deploy.ir import Semantics, run_float
    from nrf_deploy.report.accuracy import output_agreement
    from nrf_deploy.report.metrics import activity_counts

    started = time.perf_counter()
    floating = run_float(
        graph, x, dt=sidecar.get("dt"), record_states=False, semantics=Semantics.named(semantics)
    )
    entry["float_semantics"] = semantics
    entry["seconds"]["float_model"] = round(time.perf_counter() - started, 3)
    counts = activity_counts(graph, reference, x, record)
    entry["counts"] = counts
    entry["neurobench"] = SKIPPED
    if second_opinions:
        from nrf_deploy.report.neurobench import report_figures

        entry["neurobench"] = _optional(
            entry,
            "NeuroBench counts",
            lambda: report_figures(graph, x, sidecar.get("dt"), Semantics.named(semantics)),
        )
    entry["resources"] = _optional(entry, "resources", lambda: target.resources(deployment)) or {}
    entry["hardware"] = _hardware(
        entry["target"], counts, entry["resources"], overrides or {}, entry
    )
    entry["accuracy"] = (
        _optional(
            entry,
            "accuracy",
            lambda: output_agreement(
                graph,
                floating,
                traces,
                record,
                labels,
                warmup,
                names[0],
                window,
                float(getattr(target, "tolerance", 0.0) or 0.0),
            ),
        )
        or {}
    )
    if second_opinions and target.second_opinions:
        entry["second_opinions"] = _second_opinions(
            target,
            deployment,
            entry,
            x,
            sidecar.get("dt"),
            reference,
            floating,
            export_dir,
            witness_memory,
        )
    entry["verification"] = _verification(export_dir, seal)
    if seal.modified:
        entry["notes"].append(f"MODIFIED export (--allow-modified): {seal.describe()}")
    entry["raster"] = _raster(graph, reference, x)
    entry["spike_histograms"] = _histograms(graph, reference, x)
    entry["flags"] = model_flags(graph, sidecar, target.capabilities.reset_rules)
    return entry


def model_flags(
    graph, sidecar: dict[str, Any], exact_resets: frozenset[str] | None = None
) -> list[dict[str, str]]:
    """What the export changes or leaves to the host, one line each, for the headline row:
    recorded approximations, a host read-out, a reset rule that differs from the source graph's
    (deploy.json "reset", e.g. Loihi's reset to zero for a subtractive-reset model)."""
    flags = [_approximation_flag(str(a)) for a in sidecar.get("approximations") or []]
    host = sidecar.get("host_readout") or []
    if host:
        nodes = ", ".join(f"'{h.get('node', '?')}'" for h in host if isinstance(h, dict))
        flags.append(
            {
                "kind": "host",
                "note": f"the read-out {nodes} runs on the host CPU, not on the "
                "chip (not in the chip's energy or latency)",
            }
        )
    reset = sidecar.get("reset")
    if isinstance(reset, str) and reset.split():
        chip_reset = reset.split()[0]
        exact = exact_resets if exact_resets is not None else frozenset({chip_reset})
        source = sorted({n.reset for n in graph.nodes.values() if n.reset not in ("none", *exact)})
        mentioned = any("reset" in f["note"] for f in flags)
        if source and not mentioned:
            flags.append(
                {
                    "kind": "approximation",
                    "note": f"reset rule changed: the model resets by {', '.join(source)}, "
                    f'which the chip does not reproduce (deploy.json "reset": {reset})',
                }
            )
    return flags


def _source_graph(export_dir: Path):
    from nrf_deploy.ir import load_graph

    source = export_dir / "source.nir"
    if not source.is_file():
        return None
    try:
        return load_graph(source)
    except NrfError:
        return None


def _optional(entry: dict[str, Any], what: str, fn):
    """Run `fn`; on failure note "what: not available (reason)" in the entry and return None."""
    try:
        return fn()
    except NrfError as exc:
        entry["notes"].append(f"{what}: not available ({exc.format().splitlines()[0]})")
    except Exception as exc:  # noqa: BLE001 — a target still being written must not stop the report
        where = traceback.extract_tb(exc.__traceback__)[-1]
        entry["notes"].append(
            f"{what}: not available ({type(exc).__name__}: {exc} at "
            f"{Path(where.filename).name}:{where.lineno})"
        )
    return None


def _second_opinions(
    target, deployment, entry, x, dt, reference, floating, export_dir, witness_memory=None
) -> list[dict[str, Any]]:
    """Each declared tool's figures beside nrf-deploy's (or why it gave none)."""
    from nrf_deploy.opinions import WITNESS_MEMORY_BYTES, OpinionContext, gather

    started = time.perf_counter()
    context = OpinionContext(
        x=x,
        dt=dt,
        hardware=entry.get("hardware") or [],
        resources=entry.get("resources") or {},
        reference=reference,
        floating=floating,
        export_dir=Path(export_dir),
        memory_bytes=float(witness_memory or WITNESS_MEMORY_BYTES),
    )
    opinions = gather(target.second_opinions, deployment, context)
    entry["seconds"]["second_opinions"] = round(time.perf_counter() - started, 3)
    return opinions


def _hardware(
    target: str,
    counts: dict[str, Any],
    resources: dict[str, Any],
    overrides: dict[str, dict[str, float]],
    entry: dict[str, Any],
) -> list[dict[str, Any]]:
    from nrf_deploy.profile import load_profiles

    profiles = _optional(entry, "hardware profile", lambda: load_profiles(target)) or []
    if not profiles:
        entry["notes"].append(
            f"no hardware profile for '{target}': energy and latency not available"
        )
    out = []
    for profile in profiles:
        profile = profile.with_overrides(overrides.get(profile.chip, {}))
        result = _optional(
            entry, f"{profile.chip} cost model", lambda p=profile: p.evaluate(counts, resources)
        )
        out.append(
            result
            if result is not None
            else {
                "chip": profile.chip,
                "title": profile.title,
                "energy_j": None,
                "latency_s": None,
                "energy_status": "not available",
                "latency_status": "not available",
            }
        )
    return out


VERIFICATION_STATUSES = ("verified", "mismatch", "stale", "not verified", "modified")
"""``entry["verification"]["status"]``: verified (a passing verify-report.json made on exactly
these files), mismatch (made on these files, implementations disagreed), stale (made on other
files: before a re-export, or copied from another export), not verified (none, or unreadable or
incomplete), modified (the export's files changed since export sealed them)."""


def _verification(export_dir: Path, seal) -> dict[str, Any]:
    """The verdict of ``verify-report.json``, bound to the export as it is now (`seal`)."""
    path = export_dir / "verify-report.json"
    if seal.modified:
        return {"status": "modified", "ok": None, "detail": seal.describe()}
    if not path.is_file():
        return {"status": "not verified", "ok": None, "detail": "no verify-report.json"}
    try:
        data = json.loads(path.read_text())
        comparisons = [
            {
                k: c.get(k)
                for k in (
                    "reference",
                    "other",
                    "samples",
                    "timesteps",
                    "compared_values",
                    "mismatches",
                    "ok",
                    "skipped",
                )
            }
            for c in data["comparisons"]
        ]
        ok, bound = data["ok"], data.get("manifest_sha256")
    except (ValueError, KeyError, TypeError, AttributeError):
        return {"status": "not verified", "ok": None, "detail": "verify-report.json is unreadable"}
    out = {"ok": None, "inputs": data.get("inputs", {}), "comparisons": comparisons}
    ran = [c for c in comparisons if not c["skipped"]]
    consistent = (
        isinstance(ok, bool)
        and ran
        and ok == all(c["ok"] is True and c["mismatches"] == 0 for c in ran)
        and all(c["ok"] is None and isinstance(c["skipped"], str) for c in comparisons
                if c["skipped"])
    )
    if not consistent or data.get("modified"):
        return {
            **out,
            "status": "not verified",
            "detail": "verify-report.json is incomplete or inconsistent (not written by verify)"
            if not data.get("modified")
            else "it was made with --allow-modified",
        }
    if bound is None or bound != seal.digest:
        return {
            **out,
            "status": "stale",
            "detail": "verify-report.json was made on other files "
            "(before a re-export, or copied from another export); re-run nrf-deploy verify",
        }
    return {**out, "ok": ok, "status": "verified" if ok else "mismatch"}


def _approximation_flag(text: str, limit: int = 140) -> dict[str, str]:
    """A one-line note for the headline (the first clause, plus the measured relative RMS error
    when the export recorded one) and the full text as the detail."""
    import re

    note = text.splitlines()[0] if text.strip() else text
    if len(note) > limit:
        note = note.split("; ")[0]
        error = re.search(r"relative rms error ([0-9.eE+-]+)", text, re.IGNORECASE)
        if error:
            note += f" (relative RMS error vs the float model {error.group(1)})"
    return {"kind": "approximation", "note": note, "detail": text}


def _raster(graph, trace, x: np.ndarray, limit: int = 64) -> list[dict[str, Any]]:
    """Spike times of sample 0 for the input and every spiking population: the `limit` neurons
    that fire most over that sample (neuron indices are the population's flat indices)."""
    from nrf_deploy.report.metrics import event_activities

    out = []
    for name, act in event_activities(graph, trace, x):
        sample = np.abs(np.asarray(act[:, 0], dtype=np.float64))  # [T, n]
        totals = sample.sum(axis=0)
        chosen = np.sort(np.argsort(-totals, kind="stable")[:limit])
        chosen = chosen[totals[chosen] > 0]
        t, row = np.nonzero(sample[:, chosen])
        out.append(
            {
                "population": name,
                "kind": graph.nodes[name].kind,
                "of": int(sample.shape[1]),
                "neuron_ids": chosen.tolist(),
                "t": t.tolist(),
                "row": row.tolist(),
                "active_neurons": int(np.count_nonzero(totals)),
                "selection": f"the {len(chosen)} most active of {sample.shape[1]:,} neurons",
            }
        )
    return out


def _histograms(graph, trace, x: np.ndarray, bins: int = 20) -> list[dict[str, Any]]:
    """Per spiking population: how many neurons fire k spikes per inference (mean over samples)."""
    from nrf_deploy.report.metrics import event_activities

    out = []
    for name, act in event_activities(graph, trace, x):
        per_neuron = np.abs(np.asarray(act, dtype=np.float64)).sum(axis=0)  # [B, n]
        top = float(per_neuron.max()) if per_neuron.size else 0.0
        edges = (
            np.arange(0, top + 2) - 0.5
            if top <= 2 * bins  # one bar per spike count
            else np.linspace(0, top, bins + 1)
        )
        hist = np.stack([np.histogram(s, edges)[0] for s in per_neuron]).mean(axis=0)
        out.append(
            {
                "population": name,
                "kind": graph.nodes[name].kind,
                "neurons": int(per_neuron.shape[1]),
                "bin_edges": edges.round(4).tolist(),
                "neurons_per_bin": hist.round(3).tolist(),
                "silent_fraction": float(np.mean(per_neuron == 0)),
            }
        )
    return out


VERIFICATION_STATUSES = ("verified", "mismatch", "stale", "not verified", "modified")


def verification_status(verification: dict[str, Any] | None) -> str:
    """One word for the headline: the status verification wrote (bound to the export), else
    derived from its ``ok`` (True: verified, False: mismatch, missing: not verified)."""
    if not verification:
        return "not verified"
    status = verification.get("status")
    if isinstance(status, str) and status:
        return status
    return {True: "verified", False: "mismatch"}.get(verification.get("ok"), "not verified")


def real_time_flags(h: dict[str, Any]) -> list[dict[str, str]]:
    """A real-time violation of one chip's figures: the energy per inference over the real-time
    latency needs more power than the chips' peak (``info["peak_power_bound"]``)."""
    from nrf_deploy.report.fmt import si

    bound = (h.get("info") or {}).get("peak_power_bound")
    energy, latency = h.get("energy_j"), h.get("latency_s")
    if not isinstance(bound, dict) or bound.get("value") is None or energy is None or not latency:
        return []
    if energy <= bound["value"]:
        return []
    return [
        {
            "kind": "real_time",
            "note": f"would fall behind real time: {si(energy, 'J')} in "
            f"{si(latency, 's')} is {si(energy / latency, 'W')}, above the "
            f"{si(bound['value'] / latency, 'W')} peak of its chips; "
            "energy and latency are optimistic",
        }
    ]


def summarise(entries: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """One summary row per (export, chip), with ratios to the CPU baseline where one exists."""
    baseline = next(
        (h for e in entries for h in e.get("hardware", []) if h.get("chip") == BASELINE_CHIP), None
    )
    rows = []
    for e in entries:
        res = e.get("resources") or {}
        acc = e.get("accuracy") or {}
        head = acc.get("headline") or {}
        headline = head.get("key")
        backends = acc.get("backends") or {}
        ref_name = e.get("reference_backend")
        base = {
            "target": e["target"],
            "export_dir": e["export_dir"],
            "status": e["status"],
            "verified": verification_status(e.get("verification")),
            "verification_status": verification_status(e.get("verification")),
            "cores_used": res.get("cores_used"),
            "cores_available": res.get("cores_available"),
            "chips": res.get("chips"),
            "accuracy_metric": head.get("label"),
            "accuracy_key": headline,
            "accuracy_better": head.get("better"),
            "accuracy_samples": (backends.get(ref_name) or {}).get("samples"),
            "accuracy_chip": (backends.get(ref_name) or {}).get(headline) if headline else None,
            "accuracy_float": (backends.get("float") or {}).get(headline) if headline else None,
            "accuracy": {b: m.get(headline) for b, m in backends.items()} if headline else {},
            "flags": list(e.get("flags") or []),
        }
        if e["status"] != "ok":
            rows.append({**base, "chip": None, "error": e.get("error", "")})
            continue
        for h in e.get("hardware") or [{"chip": None, "energy_j": None, "latency_s": None}]:
            row = {
                **base,
                "chip": h.get("chip"),
                "title": h.get("title"),
                "energy_j": h.get("energy_j"),
                "energy_status": h.get("energy_status"),
                "latency_s": h.get("latency_s"),
                "latency_status": h.get("latency_status"),
                "latency_basis": h.get("latency_basis", ""),
                "event_latency_s": (h.get("info") or {}).get("event_latency_s"),
                "missing_constants": h.get("missing_constants", []),
                "flags": base["flags"] + real_time_flags(h),
            }
            for what, key in (("energy", "energy_j"), ("latency", "latency_s")):
                mine, theirs = row[key], (baseline or {}).get(key)
                row[f"{what}_vs_cpu"] = mine / theirs if mine is not None and theirs else None
            rows.append(row)
    return rows, (
        {
            "chip": baseline["chip"],
            "target": next(
                e["target"] for e in entries if any(h is baseline for h in e.get("hardware", []))
            ),
            "energy_j": baseline["energy_j"],
            "latency_s": baseline["latency_s"],
        }
        if baseline
        else None
    )


def to_json(report: dict[str, Any]) -> dict[str, Any]:
    """The report as plain JSON types."""
    from nrf_deploy.report.metrics import json_counts

    targets = []
    for e in report["targets"]:
        e = dict(e)
        if "counts" in e:
            e["counts"] = json_counts(e["counts"])
        targets.append(e)
    return {**report, "targets": targets}


def build_report(
    export_dirs: list[str | Path],
    out_html: str | Path,
    x: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    samples: int = 8,
    timesteps: int | None = None,
    emulator_samples: int | None = None,
    model_name: str = "",
    input_source: str | None = None,
    overrides: dict[str, dict[str, float]] | None = None,
    failures: dict[str, str] | None = None,
    traces: dict[str, dict[str, Any]] | None = None,
    warmup: int | None = None,
    progress=None,
    semantics: str = "nir",
    seed: int = 0,
    allow_modified: bool = False,
    second_opinions: bool = True,
    witness_memory: float | None = None,
) -> dict[str, Any]:
    """Analyse every export, write ``out_html`` and ``NAME.json`` beside it (atomically; NAME
    from ``out_html``), and return the report. `failures` lists targets that refused the model
    (target -> message); `traces` maps an export dir (as given) to runs already made on `x`
    ({backend: Trace}); `progress(target)` is called after each export."""
    from nrf_deploy.fileio import atomic_path, dumps_json
    from nrf_deploy.profile import check_overrides
    from nrf_deploy.report.html import render
    from nrf_deploy.targets import target_names

    overrides = overrides or {}
    check_overrides(
        overrides, sorted(set(target_names()) | {_target_of(d) for d in export_dirs} - {None})
    )
    window = _common_window(export_dirs, x, timesteps)
    entries = []
    for d in export_dirs:
        entries.append(
            analyse_export(
                d,
                x,
                labels,
                samples,
                seed=seed,
                timesteps=timesteps,
                emulator_samples=emulator_samples,
                overrides=overrides,
                input_source=input_source,
                traces=(traces or {}).get(str(d)),
                warmup=warmup,
                window=window,
                semantics=semantics,
                allow_modified=allow_modified,
                second_opinions=second_opinions,
                witness_memory=witness_memory,
            )
        )
        if progress is not None:
            progress(entries[-1]["target"])
    entries += [
        {"target": t, "export_dir": None, "status": "refused", "error": msg, "notes": []}
        for t, msg in (failures or {}).items()
    ]
    summary, baseline = summarise(entries)
    report = to_json(
        {
            "format": REPORT_FORMAT,
            "model": model_name or _model_of(export_dirs),
            "versions": versions(),
            "float_semantics": semantics,
            "samples_note": samples_note(entries),
            "targets": entries,
            "summary": summary,
            "baseline": baseline,
            "overrides": overrides,
        }
    )
    out_html = Path(out_html)
    out_html.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_html) as tmp:
        tmp.write_text(render(report))
    with atomic_path(json_path(out_html)) as tmp:
        tmp.write_text(dumps_json(report))
    return report


def json_path(out_html: str | Path) -> Path:
    """Where report.json goes: ``NAME.json`` beside ``NAME.html``."""
    return Path(out_html).with_suffix(".json")


def versions() -> dict[str, str]:
    """nrf-deploy's version, Python's and the installed versions of the packages a report rests
    on."""
    import platform
    from importlib import metadata

    from nrf_deploy import __version__
    from nrf_deploy.deployment import target_packages

    out = {"nrf_deploy": __version__, "python": platform.python_version()}
    for package in ("h5py", "numpy", "torch", "scipy", *target_packages(), "matplotlib"):
        try:
            out[package.replace("-", "_").lower()] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return out


def samples_note(entries: list[dict[str, Any]]) -> str:
    """One sentence saying which samples the report's figures use."""
    from nrf_deploy.report.fmt import plural

    inputs = [e["inputs"] for e in entries if e.get("inputs")]
    if not inputs:
        return ""
    first = inputs[0]
    same = all(i == first for i in inputs)
    text = (
        f"Every figure uses the same {plural(first['samples'], 'sample')} of "
        f"{plural(first['timesteps'], 'timestep')}: {first['source']}"
        if same
        else "Targets ran different inputs (see each section)"
    )
    emulated = sorted(
        {
            (
                e["target"],
                ((e.get("accuracy") or {}).get("backends") or {}).get(b, {}).get("samples"),
            )
            for e in entries
            for b in e.get("backends", [])[1:]
            if ((e.get("accuracy") or {}).get("backends") or {}).get(b, {}).get("samples")
            not in (None, first["samples"])
        }
    )
    if emulated:
        text += "; emulators ran fewer: " + ", ".join(
            f"{t} {plural(n, 'sample')}" for t, n in emulated
        )
    return text + ". Energy, latency and counts are means per inference (one sample) over them."


def _common_window(
    export_dirs: list[str | Path], x: np.ndarray | None, timesteps: int | None
) -> int | None:
    """Steps every export can compare: T minus the largest output delay among them (None: each
    export uses its own), so side-by-side accuracy figures cover the same float steps."""
    if x is None and timesteps is None:
        return None
    steps = int(x.shape[0]) if x is not None else int(timesteps)
    delays = [0]
    for d in export_dirs:
        try:
            delays += list(
                DeploymentRecord.from_json(
                    json.loads((Path(d) / SIDECAR).read_text())
                ).delays.values()
            )
        except (OSError, ValueError, TypeError, AttributeError):
            continue
    return max(1, steps - max(delays))


def _target_of(export_dir: str | Path) -> str | None:
    try:
        return json.loads((Path(export_dir) / SIDECAR).read_text()).get("target")
    except (OSError, ValueError, AttributeError):
        return None


def _model_of(export_dirs: list[str | Path]) -> str:
    for d in export_dirs:
        try:
            src = json.loads((Path(d) / SIDECAR).read_text()).get("source") or {}
            fingerprint = str(src.get("fingerprint", "?"))[:12]
            return f"{src.get('name') or 'source.nir'} (fingerprint {fingerprint})"
        except (OSError, ValueError, AttributeError):
            continue
    return "unknown"


FLAG_MARKS = {"approximation": "≈", "host": "⇄", "real_time": "!"}
"""Marker of each kind of headline flag (terminal and HTML)."""


def summary_table(report: dict[str, Any]) -> str:
    """The terminal summary: one line per target and chip (fits 100 columns), each approximation
    or real-time violation on its own marked line under its row, then which samples were used."""
    import shutil
    import textwrap

    from nrf_deploy.report.fmt import NOT_AVAILABLE, metric, ratio, si

    width = min(shutil.get_terminal_size((100, 24)).columns, 100) - 1

    rows = report["summary"]
    metrics = sorted({r.get("accuracy_metric") for r in rows if r.get("accuracy_metric")})
    head = (
        f"{'target':<9} {'chip':<10} {'check':<12} {'latency/inf':>12} {'energy/inf':>12} "
        f"{'energy vs CPU':>16}  accuracy"
    )
    lines = [head, "-" * min(len(head), 100)]
    for r in rows:
        if r["status"] != "ok":
            reason = (r.get("error") or "").strip().splitlines()
            lines.append(
                f"{r['target']:<9} {'-':<10} {r['status']:<12} {reason[0][:64] if reason else ''}"
            )
            continue
        energy = si(r["energy_j"], "J", r.get("energy_status")).replace(NOT_AVAILABLE, "n/a")
        latency = si(r["latency_s"], "s", r.get("latency_status")).replace(NOT_AVAILABLE, "n/a")
        vs_cpu = (
            "baseline"
            if r.get("chip") == BASELINE_CHIP
            else ratio(
                r.get("energy_j"),
                (report.get("baseline") or {}).get("energy_j"),
                r.get("energy_status"),
            ).replace(NOT_AVAILABLE, "-")
        )
        acc = (
            metric(r.get("accuracy_key") or "", r.get("accuracy_chip"))
            if r.get("accuracy_key")
            else "-"
        )
        if len(metrics) > 1 and r.get("accuracy_metric"):
            acc = f"{acc} ({r['accuracy_metric']})"
        marks = "".join(sorted({FLAG_MARKS.get(f["kind"], "!") for f in r.get("flags") or []}))
        lines.append(
            f"{r['target']:<9} {r['chip']!s:<10} {r['verification_status']:<12} {latency:>12} "
            f"{energy:>12} {vs_cpu:>16}  {acc} {marks}".rstrip()
        )
        for f in r.get("flags") or []:
            lines += textwrap.wrap(
                f["note"],
                width,
                initial_indent=f"{'':<10}{FLAG_MARKS.get(f['kind'], '!')} ",
                subsequent_indent=" " * 12,
            )
    footer = []
    missing = sorted({m for r in rows for m in r.get("missing_constants") or []})
    if missing:
        footer.append(
            "n/a or ≥ (partial) until supplied (--energy-constant CHIP.NAME=VALUE): "
            + ", ".join(missing)
        )
    if len(metrics) == 1:
        footer.append(f"accuracy: {metrics[0]}, on each chip's arithmetic (its reference backend)")
    if report.get("samples_note"):
        footer.append(report["samples_note"])
    for text in footer:
        lines += textwrap.wrap(text, width, break_on_hyphens=False)
    return "\n".join(lines)
