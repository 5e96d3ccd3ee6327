"""Self-contained HTML report: inline PNG plots (matplotlib), no external resources."""
from __future__ import annotations

import base64
import html
import io
import json
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return f'<img alt="plot" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def _raster(raster: dict[str, Any]) -> str:
    fig, ax = plt.subplots(figsize=(7, 2.6))
    ax.scatter(raster["t"], raster["neuron"], s=2, c="k")
    ax.set(xlabel="timestep", ylabel=f"neuron ({raster['population']})", title="spike raster, sample 0")
    return _png(fig)


def _layer_activity(counts: dict) -> str:
    layers = {k: v for k, v in counts["layers"].items() if v["activation_sparsity"] is not None}
    fig, ax = plt.subplots(figsize=(7, 2.6))
    names = list(layers)
    ax.bar(names, [1 - layers[n]["activation_sparsity"] for n in names], color="tab:blue")
    ax.set(ylabel="spikes / neuron / step", title="per-layer activity")
    return _png(fig)


def _resources(resources: dict) -> str:
    pairs = [(k.replace("_used", ""), resources[k], resources.get(k.replace("_used", "_available")))
             for k in resources if k.endswith("_used") and isinstance(resources[k], (int, float))]
    pairs = [p for p in pairs if p[2]]
    if not pairs:
        return "<p>no capacity figures</p>"
    fig, ax = plt.subplots(figsize=(7, 0.6 + 0.5 * len(pairs)))
    ax.barh([p[0] for p in pairs], [p[1] / p[2] for p in pairs], color="tab:orange")
    ax.set(xlim=(0, max(1.0, max(p[1] / p[2] for p in pairs))), xlabel="fraction of the chip(s) used",
           title="resources")
    return _png(fig)


def _energy(hw: dict) -> str:
    parts = hw.get("energy_breakdown_j") or {}
    if not parts:
        return "<p>no energy breakdown</p>"
    fig, ax = plt.subplots(figsize=(7, 0.6 + 0.45 * len(parts)))
    ax.barh(list(parts), [v * 1e6 for v in parts.values()], color="tab:green")
    ax.set(xlabel="µJ per inference", title="energy breakdown")
    return _png(fig)


def _table(rows: list[tuple[str, Any]]) -> str:
    return "<table>" + "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(_fmt(v))}</td></tr>"
                               for k, v in rows) + "</table>"


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _constants(hw: dict) -> str:
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{_fmt(c['value']) if c['value'] is not None else 'unset'}</td>"
                   f"<td>{html.escape(c['unit'])}</td><td>{html.escape(c['kind'])}</td><td>{html.escape(c['source'])}</td></tr>"
                   for k, c in hw.get("constants", {}).items())
    return f"<table><tr><th>constant</th><th>value</th><th>unit</th><th>kind</th><th>source</th></tr>{rows}</table>"


def render(report: dict[str, Any]) -> str:
    """The whole report as one HTML string."""
    sections = []
    for entry in report["targets"]:
        name = entry["target"]
        if "error" in entry:
            sections.append(f"<section><h2>{html.escape(name)}</h2><p class='bad'>not deployed: "
                            f"{html.escape(entry['error'])}</p></section>")
            continue
        c, hw, acc = entry["counts"], entry.get("hardware", {}), entry.get("accuracy", {})
        verdict = entry.get("verification")
        rows = [("export", entry["export_dir"]),
                ("verification", "not run" if verdict is None else ("bit-exact (0 mismatches)" if verdict["ok"]
                                                                    else "MISMATCH")),
                ("timesteps x samples", f"{c['timesteps']} x {c['samples']}"),
                ("effective synaptic ops / inference", c["effective_sops"]),
                ("dense synaptic ops / inference", c["dense_sops"]),
                ("ACs / MACs", f"{_fmt(c['acs'])} / {_fmt(c['macs'])}"),
                ("activation sparsity", c["activation_sparsity"]),
                ("energy / inference (J)", hw.get("energy_j")),
                ("latency / inference (s)", hw.get("latency_s")),
                ("latency model", hw.get("latency_note", ""))]
        rows += [(f"accuracy: {k}", v) for k, v in acc.items() if not isinstance(v, (dict, list))]
        plots = [_layer_activity(c), _resources(entry.get("resources", {})), _energy(hw)]
        if entry.get("raster"):
            plots.insert(0, _raster(entry["raster"]))
        sections.append(f"<section><h2>{html.escape(name)}</h2>{_table(rows)}"
                        f"<div class='plots'>{''.join(plots)}</div><h3>constants</h3>{_constants(hw)}</section>")
    summary = "".join(f"<tr><td>{html.escape(r['target'])}</td><td>{_fmt(r.get('energy_j'))}</td>"
                      f"<td>{_fmt(r.get('latency_s'))}</td><td>{html.escape(str(r.get('verified')))}</td>"
                      f"<td>{html.escape(str(r.get('resources')))}</td></tr>" for r in report["summary"])
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>nrf-deploy report</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}}table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:left;font-size:14px}}section{{border-top:2px solid #444;margin-top:2em}}
.plots img{{max-width:48%;margin:4px}}.bad{{color:#b00}}</style></head><body>
<h1 id="title">nrf-deploy report</h1><p>model: {html.escape(report['model'])}</p>
<table><tr><th>target</th><th>energy / inference (J)</th><th>latency / inference (s)</th><th>verified</th><th>resources</th></tr>{summary}</table>
{''.join(sections)}
<h2>raw data</h2><p>All numbers above are in report.json next to this file, each energy figure with its constants' sources.</p>
<script type="application/json" id="report-data">{html.escape(json.dumps(report['summary']))}</script>
</body></html>"""
