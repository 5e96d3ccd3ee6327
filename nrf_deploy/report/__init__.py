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


def analyse_export(export_dir: str | Path, x: np.ndarray | None = None, labels: np.ndarray | None = None,
                   samples: int = 8, seed: int = 0, timesteps: int | None = None, emulator_samples: int | None = None,
                   overrides: dict[str, dict[str, float]] | None = None, input_source: str | None = None,
                   traces: dict[str, Any] | None = None, warmup: int | None = None,
                   window: int | None = None) -> dict[str, Any]:
    """Everything the report says about one export directory (plain JSON types except
    ``counts["cores"]``, which :func:`to_json` summarises).

    `traces` ({backend: Trace}) are runs already made on `x` (e.g. by verification); backends
    found there are not run again."""
    from nrf_deploy.deployment import read_sidecar
    from nrf_deploy.targets import get_target

    export_dir = Path(export_dir)
    entry: dict[str, Any] = {"export_dir": str(export_dir), "target": export_dir.name, "status": "ok",
                             "notes": [], "seconds": {}}
    try:
        sidecar = read_sidecar(export_dir)
        entry["target"] = str(sidecar.get("target", export_dir.name))
        target = get_target(entry["target"])
        deployment = target.load(export_dir)
    except NrfError as exc:
        return {**entry, "status": "not available", "error": exc.format()}
    except Exception as exc:  # noqa: BLE001 — a broken or half-installed target package: say so, go on
        return {**entry, "status": "not available",
                "error": f"target '{entry['target']}' could not be loaded ({type(exc).__name__}: {exc})"}
    graph = _source_graph(export_dir)
    if graph is None:
        return {**entry, "status": "not available",
                "error": f"{export_dir} has no readable source.nir (the float model the export was made from); "
                         "re-export it with this nrf-deploy version"}
    if x is None:
        steps = int(timesteps or deployment.timesteps)
        x = random_events(deployment.input_shape, steps, samples, 0.1, seed)
        input_source = input_source or f"random events, rate 0.1, seed {seed}"
    else:
        from nrf_deploy.inputs import check_input_shape

        x = check_input_shape(x, deployment.input_shape, "--input")
    names = target.backend_names(deployment)
    record = deployment.record
    entry.update({"inputs": {"timesteps": int(x.shape[0]), "samples": int(x.shape[1]),
                             "source": input_source or "user-supplied array"},
                  "backends": list(names), "reference_backend": names[0],
                  "number_format": record.number_format, "approximations": list(record.approximations),
                  "quantisation": record.quantisation, "dt": sidecar.get("dt")})

    done = dict(traces or {})
    started = time.perf_counter()
    try:
        reference = done.get(names[0]) or target.run(deployment, names[0], x,
                                                                record_states=False)
    except Exception as exc:  # noqa: BLE001 — NrfError or a target bug: report the others
        text = exc.format() if isinstance(exc, NrfError) else f"{type(exc).__name__}: {exc}"
        return {**entry, "status": "not available", "error": f"the reference backend failed: {text}"}
    entry["seconds"]["reference"] = round(time.perf_counter() - started, 3)
    traces = {names[0]: reference}
    emulator = next((b.name for b in target.backends_for(deployment)[1:] if b.role != "vendor"), None)
    if emulator_samples is None:
        emulator_samples = int(x.shape[1])
    if emulator and emulator in done:
        traces[emulator] = done[emulator]
    elif emulator and emulator_samples > 0:
        started = time.perf_counter()
        trace = _optional(entry, f"emulator backend '{emulator}'",
                          lambda: target.run(deployment, emulator, x[:, :emulator_samples], record_states=False))
        if trace is not None:
            traces[emulator] = trace
            entry["seconds"][emulator] = round(time.perf_counter() - started, 3)

    from nrf_deploy.ir import run_float
    from nrf_deploy.report.accuracy import output_agreement
    from nrf_deploy.report.metrics import activity_counts

    started = time.perf_counter()
    floating = run_float(graph, x, dt=sidecar.get("dt"), record_states=False)
    entry["seconds"]["float model"] = round(time.perf_counter() - started, 3)
    counts = activity_counts(graph, reference, x, record)
    entry["counts"] = counts
    entry["resources"] = _optional(entry, "resources", lambda: target.resources(deployment)) or {}
    entry["hardware"] = _hardware(entry["target"], counts, entry["resources"], overrides or {}, entry)
    entry["accuracy"] = _optional(entry, "accuracy", lambda: output_agreement(graph, floating, traces, record,
                                                                               labels, warmup, names[0],
                                                                               window)) or {}
    entry["verification"] = _verification(export_dir)
    entry["raster"] = _raster(graph, reference, x)
    return entry


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
        entry["notes"].append(f"{what}: not available ({type(exc).__name__}: {exc} at "
                              f"{Path(where.filename).name}:{where.lineno})")
    return None


def _hardware(target: str, counts: dict[str, Any], resources: dict[str, Any],
              overrides: dict[str, dict[str, float]], entry: dict[str, Any]) -> list[dict[str, Any]]:
    from nrf_deploy.profile import load_profiles

    profiles = _optional(entry, "hardware profile", lambda: load_profiles(target)) or []
    if not profiles:
        entry["notes"].append(f"no hardware profile for '{target}': energy and latency not available")
    out = []
    for profile in profiles:
        profile = profile.with_overrides(overrides.get(profile.chip, {}))
        result = _optional(entry, f"{profile.chip} cost model", lambda p=profile: p.evaluate(counts, resources))
        out.append(result if result is not None else {"chip": profile.chip, "title": profile.title,
                                                      "energy_j": None, "latency_s": None,
                                                      "energy_status": "not available",
                                                      "latency_status": "not available"})
    return out


def _verification(export_dir: Path) -> dict[str, Any] | None:
    path = export_dir / "verify-report.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        return {"ok": bool(data["ok"]), "inputs": data.get("inputs", {}),
                "comparisons": [{k: c.get(k) for k in ("reference", "other", "samples", "timesteps",
                                                       "compared_values", "mismatches", "ok")}
                                for c in data.get("comparisons", [])]}
    except (ValueError, KeyError, TypeError):
        return {"ok": None, "error": "verify-report.json is unreadable"}


def _raster(graph, trace, x: np.ndarray, limit: int = 256) -> list[dict[str, Any]]:
    """Spike times of sample 0 for the input and every spiking population (first `limit` neurons)."""
    from nrf_deploy.report.metrics import EVENT_KINDS, activity

    out = []
    for name in graph.schedule:
        if graph.nodes[name].kind not in EVENT_KINDS:
            continue
        act = activity(graph, trace, x, name)
        if act is None:
            continue
        t, n = np.nonzero(act[:, 0, :limit])
        out.append({"population": name, "neurons": int(min(act.shape[2], limit)), "of": int(act.shape[2]),
                    "t": t.tolist(), "neuron": n.tolist()})
    return out


def summarise(entries: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """One summary row per (export, chip), with ratios to the CPU baseline where one exists."""
    baseline = next((h for e in entries for h in e.get("hardware", []) if h.get("chip") == BASELINE_CHIP), None)
    rows = []
    for e in entries:
        res = e.get("resources") or {}
        acc = e.get("accuracy") or {}
        headline = (acc.get("headline") or {}).get("key")
        base = {"target": e["target"], "export_dir": e["export_dir"], "status": e["status"],
                "verified": (e.get("verification") or {}).get("ok"),
                "cores_used": res.get("cores_used"), "cores_available": res.get("cores_available"),
                "chips": res.get("chips"),
                "accuracy_metric": (acc.get("headline") or {}).get("label"),
                "accuracy": {b: m.get(headline) for b, m in (acc.get("backends") or {}).items()} if headline else {}}
        if e["status"] != "ok":
            rows.append({**base, "chip": None, "error": e.get("error", "")})
            continue
        for h in e.get("hardware") or [{"chip": None, "energy_j": None, "latency_s": None}]:
            row = {**base, "chip": h.get("chip"), "title": h.get("title"),
                   "energy_j": h.get("energy_j"), "energy_status": h.get("energy_status"),
                   "latency_s": h.get("latency_s"), "latency_status": h.get("latency_status"),
                   "latency_basis": h.get("latency_basis", ""),
                   "missing_constants": h.get("missing_constants", [])}
            for what, key in (("energy", "energy_j"), ("latency", "latency_s")):
                mine, theirs = row[key], (baseline or {}).get(key)
                row[f"{what}_vs_cpu"] = mine / theirs if mine is not None and theirs else None
            rows.append(row)
    return rows, ({"chip": baseline["chip"], "energy_j": baseline["energy_j"], "latency_s": baseline["latency_s"]}
                  if baseline else None)


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


def build_report(export_dirs: list[str | Path], out_html: str | Path, x: np.ndarray | None = None,
                 labels: np.ndarray | None = None, samples: int = 8, timesteps: int | None = None,
                 emulator_samples: int | None = None, model_name: str = "", input_source: str | None = None,
                 overrides: dict[str, dict[str, float]] | None = None,
                 failures: dict[str, str] | None = None, traces: dict[str, dict[str, Any]] | None = None,
                 warmup: int | None = None, progress=None) -> dict[str, Any]:
    """Analyse every export, write ``out_html`` and ``report.json`` beside it (atomically), and
    return the report. `failures` lists targets that refused the model (target -> message);
    `traces` maps an export dir (as given) to runs already made on `x` ({backend: Trace})."""
    from nrf_deploy.fileio import atomic_path, dumps_json
    from nrf_deploy.profile import check_overrides
    from nrf_deploy.report.html import render
    from nrf_deploy.targets import target_names

    overrides = overrides or {}
    check_overrides(overrides, sorted(set(target_names()) |
                                      {_target_of(d) for d in export_dirs} - {None}))
    window = _common_window(export_dirs, x, timesteps)
    entries = []
    for d in export_dirs:
        entries.append(analyse_export(d, x, labels, samples, timesteps=timesteps, emulator_samples=emulator_samples,
                                      overrides=overrides, input_source=input_source,
                                      traces=(traces or {}).get(str(d)), warmup=warmup, window=window))
        if progress is not None:
            progress(entries[-1]["target"])
    entries += [{"target": t, "export_dir": None, "status": "refused", "error": msg, "notes": []}
                for t, msg in (failures or {}).items()]
    summary, baseline = summarise(entries)
    report = to_json({"format": REPORT_FORMAT, "model": model_name or _model_of(export_dirs),
                      "targets": entries, "summary": summary, "baseline": baseline,
                      "overrides": overrides})
    out_html = Path(out_html)
    out_html.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_html) as tmp:
        tmp.write_text(render(report))
    with atomic_path(out_html.with_name("report.json")) as tmp:
        tmp.write_text(dumps_json(report))
    return report


def _common_window(export_dirs: list[str | Path], x: np.ndarray | None, timesteps: int | None) -> int | None:
    """Steps every export can compare: T minus the largest output delay among them (None: each
    export uses its own), so side-by-side accuracy figures cover the same float steps."""
    if x is None and timesteps is None:
        return None
    steps = int(x.shape[0]) if x is not None else int(timesteps)
    delays = [0]
    for d in export_dirs:
        try:
            delays += list(DeploymentRecord.from_json(json.loads((Path(d) / SIDECAR).read_text())).delays.values())
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
            return f"{src.get('name') or 'source.nir'} (fingerprint {str(src.get('fingerprint', '?'))[:12]})"
        except (OSError, ValueError, AttributeError):
            continue
    return "unknown"


def summary_table(report: dict[str, Any]) -> str:
    """The terminal summary: one line per target and chip."""
    from nrf_deploy.report.html import fmt_quantity

    head = f"{'target':<10} {'chip':<11} {'verified':<9} {'energy/inf':>13} {'latency/inf':>13} {'vs CPU (E)':>10}  " \
           f"{'cores':>9}  accuracy"
    lines = [head, "-" * len(head)]
    for r in report["summary"]:
        if r["status"] != "ok":
            lines.append(f"{r['target']:<10} {'-':<11} {'-':<9} {'-':>13} {'-':>13} {'-':>10}  {'-':>9}  "
                         f"{r['status']}: {(r.get('error') or '').splitlines()[0] if r.get('error') else ''}")
            continue
        verified = {True: "yes", False: "MISMATCH", None: "not run"}[r["verified"]]
        energy = fmt_quantity(r["energy_j"], "J", r.get("energy_status"))
        latency = fmt_quantity(r["latency_s"], "s", r.get("latency_status"))
        ratio = f"{r['energy_vs_cpu']:.3g}x" if r.get("energy_vs_cpu") is not None else "-"
        cores = (f"{r['cores_used']}/{r['cores_available']}" if r.get("cores_used") is not None else "-")
        acc = ", ".join(f"{b} {v:.3g}" for b, v in r["accuracy"].items() if isinstance(v, (int, float)))
        lines.append(f"{r['target']:<10} {r['chip']!s:<11} {verified:<9} {energy:>13} {latency:>13} {ratio:>10}  "
                     f"{cores:>9}  {acc}")
    missing = sorted({m for r in report["summary"] for m in r.get("missing_constants") or []})
    if missing:
        lines.append("not available / partial until supplied: " + ", ".join(missing)
                     + "  (--energy-constant CHIP.NAME=VALUE)")
    return "\n".join(lines)
