"""Reports: is this network worth putting on this chip? Counts, cost models, accuracy, plots.

``build_report(export_dirs, out_html)`` runs each export's reference backend and the float model
on the same inputs, derives NeuroBench-style counts, applies the target's hardware profile
(constants with sources) and writes ``report.html`` plus ``report.json`` next to it.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from nrf_deploy.deployment import read_sidecar
from nrf_deploy.errors import NrfError
from nrf_deploy.fileio import atomic_path, dumps_json
from nrf_deploy.inputs import random_events
from nrf_deploy.profile import load_profile
from nrf_deploy.report.accuracy import output_agreement
from nrf_deploy.report.metrics import activity_counts


def analyse_export(export_dir: str | Path, x: np.ndarray | None = None, labels: np.ndarray | None = None,
                   samples: int = 8, seed: int = 0, overrides: dict[str, dict[str, float]] | None = None
                   ) -> dict[str, Any]:
    """Everything the report says about one export directory."""
    from nrf_deploy.ir import load_graph, run_float
    from nrf_deploy.targets import get_target

    export_dir = Path(export_dir)
    sidecar = read_sidecar(export_dir)
    target = get_target(sidecar["target"])
    deployment = target.load(export_dir)
    source = export_dir / "source.nir"
    if not source.is_file():
        raise NrfError(f"{export_dir} has no source.nir (the float model)", str(export_dir),
                       "re-export with this nrf-deploy version")
    graph = load_graph(source)
    if x is None:
        x = random_events(deployment.input_shape, deployment.timesteps, samples, 0.1, seed)
    chip = target.run(deployment, target.backends[0], x, record_states=False)
    floating = run_float(graph, x, dt=sidecar.get("dt"))
    counts = activity_counts(graph, chip, sidecar)
    counts["dt"] = float(sidecar.get("dt", 1e-3))
    resources = target.resources(deployment)
    entry: dict[str, Any] = {"target": target.name, "export_dir": str(export_dir), "counts": counts,
                             "resources": resources, "accuracy": output_agreement(graph, floating, chip, sidecar, labels),
                             "quantisation": sidecar.get("quantisation", {}), "raster": _raster(graph, chip)}
    profile = load_profile(target.name)
    if profile is not None:
        profile = profile.with_overrides((overrides or {}).get(target.name, {}))
        entry["hardware"] = profile.run(counts, resources)
        entry["hardware"]["notes"] = profile.notes
    verify = export_dir / "verify-report.json"
    entry["verification"] = json.loads(verify.read_text()) if verify.is_file() else None
    return entry


def _raster(graph, trace, limit: int = 400) -> dict[str, Any] | None:
    spiking = [n for n in graph.schedule if graph.nodes[n].spiking and n in trace.outputs]
    if not spiking:
        return None
    name = spiking[0]
    out = trace.outputs[name][:, 0].reshape(trace.outputs[name].shape[0], -1)[:, :limit]
    t, n = np.nonzero(out)
    return {"population": name, "t": t.tolist(), "neuron": n.tolist()}


def build_report(export_dirs: list[str | Path], out_html: str | Path, x: np.ndarray | None = None,
                 labels: np.ndarray | None = None, samples: int = 8, model_name: str = "",
                 overrides: dict[str, dict[str, float]] | None = None,
                 failures: dict[str, str] | None = None) -> dict[str, Any]:
    """Analyse every export, write the HTML and JSON atomically, return the report dict."""
    from nrf_deploy.report.html import render

    entries = [analyse_export(d, x, labels, samples, overrides=overrides) for d in export_dirs]
    entries += [{"target": t, "error": msg} for t, msg in (failures or {}).items()]
    summary = [{"target": e["target"], "energy_j": e.get("hardware", {}).get("energy_j"),
                "latency_s": e.get("hardware", {}).get("latency_s"),
                "verified": None if "error" in e or e.get("verification") is None else e["verification"]["ok"],
                "resources": {k: v for k, v in e.get("resources", {}).items() if isinstance(v, (int, float))},
                **({"error": e["error"]} if "error" in e else {})} for e in entries]
    report = {"model": model_name or (str(Path(export_dirs[0]) / "source.nir") if export_dirs else ""),
              "targets": entries, "summary": summary}
    out_html = Path(out_html)
    with atomic_path(out_html) as tmp:
        tmp.write_text(render(report))
    with atomic_path(out_html.with_name("report.json")) as tmp:
        tmp.write_text(dumps_json({k: v for k, v in report.items()}))
    return report


def summary_table(report: dict[str, Any]) -> str:
    lines = [f"{'target':<11} {'verified':<9} {'energy/inf':>12} {'latency/inf':>12}  resources"]
    for r in report["summary"]:
        if "error" in r:
            lines.append(f"{r['target']:<11} {'-':<9} {'-':>12} {'-':>12}  not deployed: {r['error'].splitlines()[0]}")
            continue
        e = f"{r['energy_j']:.3g} J" if r["energy_j"] is not None else "n/a"
        lat = f"{r['latency_s']:.3g} s" if r["latency_s"] is not None else "n/a"
        res = ", ".join(f"{k} {v}" for k, v in r["resources"].items())
        lines.append(f"{r['target']:<11} {str(r['verified']):<9} {e:>12} {lat:>12}  {res}")
    return "\n".join(lines)
