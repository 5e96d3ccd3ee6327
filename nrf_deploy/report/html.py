"""Self-contained HTML report: inline PNG plots (matplotlib, base64), inline CSS, no scripts,
no external resources — it opens from a file, an e-mail attachment or a CI artefact as is."""
from __future__ import annotations

import base64
import html
import io
import math
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

_PREFIX = ((1e0, ""), (1e-3, "m"), (1e-6, "µ"), (1e-9, "n"), (1e-12, "p"), (1e-15, "f"))
COLOURS = {"float model": "#555555"}
_PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]


def fmt_quantity(value: float | None, unit: str, status: str | None = None) -> str:
    """``2.3e-6, "J"`` -> ``"2.3 µJ"``; None -> ``"n/a"``; a partial total gets a ``≥``."""
    if value is None:
        return "n/a"
    if value == 0:
        return f"0 {unit}"
    scale, prefix = next(((s, p) for s, p in _PREFIX if abs(value) >= s), _PREFIX[-1])
    text = f"{value / scale:.3g} {prefix}{unit}"
    return ("≥ " + text) if status == "partial" else text


def _fmt(v: Any) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        if v != 0 and (abs(v) >= 1e6 or abs(v) < 1e-3):
            return f"{v:.3e}"
        return f"{v:.4g}"
    if isinstance(v, (list, tuple)):
        return ", ".join(_fmt(x) for x in v)
    return str(v)


def _e(text: Any) -> str:
    return html.escape(_fmt(text) if not isinstance(text, str) else text)


def _png(fig, alt: str) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode()
    return f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"></figure>'


def _table(header: list[str], rows: list[list[Any]], cls: str = "") -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c if isinstance(c, _Raw) else _e(c)}</td>" for c in row) + "</tr>"
                   for row in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


class _Raw(str):
    """Already-escaped HTML for a table cell."""


def _kv(rows: list[tuple[str, Any]]) -> str:
    return "<table class='kv'>" + "".join(
        f"<tr><th>{html.escape(k)}</th><td>{v if isinstance(v, _Raw) else _e(v)}</td></tr>" for k, v in rows) + "</table>"


# ----------------------------------------------------------------------------------------- plots

def plot_comparison(summary: list[dict[str, Any]]) -> str:
    rows = [r for r in summary if r["status"] == "ok" and r.get("chip")]
    if not rows:
        return "<p>No target produced figures.</p>"
    labels = [f"{r['target']}\n{r['chip']}" for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(11, 0.9 + 0.45 * len(rows)))
    for ax, key, unit, title in ((axes[0], "energy_j", "J", "energy per inference"),
                                 (axes[1], "latency_s", "s", "latency per inference")):
        vals = [r[key] for r in rows]
        y = np.arange(len(rows))
        ok = [v is not None and v > 0 for v in vals]
        ax.barh(y[ok], [v for v, g in zip(vals, ok) if g], color=[_PALETTE[i % 8] for i in np.flatnonzero(ok)])
        for i, (v, r) in enumerate(zip(vals, rows)):
            status = r.get("energy_status" if key == "energy_j" else "latency_status")
            ax.text(v if v else _floor(vals), i, " " + (fmt_quantity(v, unit, status) if v else "not available"),
                    va="center", fontsize=8)
        ax.set_yticks(y, labels, fontsize=8)
        ax.invert_yaxis()
        ax.set_xscale("log")
        lo, hi = _floor(vals), max([v for v in vals if v] or [1.0])
        ax.set_xlim(lo, hi * 300)
        ax.set(title=title, xlabel=f"{unit} (log scale)")
    fig.tight_layout()
    return _png(fig, "energy and latency per inference, per target and chip")


def _floor(vals: list[float | None]) -> float:
    pos = [v for v in vals if v]
    return 10 ** math.floor(math.log10(min(pos))) / 10 if pos else 1e-12


def plot_accuracy(entries: list[dict[str, Any]]) -> str:
    """Float vs quantised reference vs emulator: the headline error metric per target."""
    groups = [(e["target"], e["accuracy"]) for e in entries if (e.get("accuracy") or {}).get("headline", {}).get("key")]
    if not groups:
        return "<p>Accuracy comparison not available.</p>"
    fig, axes = plt.subplots(1, len(groups), figsize=(3.6 * len(groups) + 1, 2.8), squeeze=False)
    for ax, (target, acc) in zip(axes[0], groups):
        key = acc["headline"]["key"]
        names = [b for b, m in acc["backends"].items() if isinstance(m.get(key), (int, float))]
        vals = [acc["backends"][b][key] for b in names]
        ax.bar(range(len(names)), vals, color=[COLOURS.get(b, _PALETTE[i % 8]) for i, b in enumerate(names)])
        ax.set_xticks(range(len(names)), [f"{b}\n({acc['backends'][b].get('samples', '?')} smp)" for b in names],
                      fontsize=8)
        for i, v in enumerate(vals):
            ax.text(i, v, f"{v:.3g}", ha="center", va="bottom", fontsize=8)
        ax.set_title(f"{target}: {acc['headline']['label']}", fontsize=9)
        ax.margins(y=0.2)
    fig.tight_layout()
    return _png(fig, "accuracy or error of the float model, quantised reference and emulator")


def plot_raster(raster: list[dict[str, Any]], steps: int) -> str:
    if not raster:
        return "<p>No spiking population recorded.</p>"
    fig, axes = plt.subplots(len(raster), 1, figsize=(7, 0.4 + 1.0 * len(raster)), sharex=True, squeeze=False)
    for ax, pop in zip(axes[:, 0], raster):
        ax.scatter(pop["t"], pop["neuron"], s=1.5, c="k", marker="|")
        ax.set_ylabel(f"{pop['population']}\n{pop['neurons']}/{pop['of']}", fontsize=7, rotation=0, ha="right",
                      va="center")
        ax.set_ylim(-1, pop["neurons"])
        ax.set_yticks([])
    axes[-1, 0].set(xlabel="timestep", xlim=(-0.5, steps - 0.5))
    axes[0, 0].set_title("spike raster, sample 0 (input events and each spiking population)", fontsize=9)
    return _png(fig, "spike raster")


def plot_layers(counts: dict[str, Any]) -> str:
    layers = {k: v for k, v in counts["layers"].items() if v.get("spikes_per_step") is not None}
    if not layers:
        return "<p>No per-layer activity.</p>"
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 2.8))
    names = list(layers)
    rate = [v["spikes"] / (v["neurons"] * counts["timesteps"]) for v in layers.values()]
    a.bar(range(len(names)), rate, color="#1f77b4")
    a.set_xticks(range(len(names)), [f"{n}\n{layers[n]['kind']}" for n in names], fontsize=8)
    a.set(ylabel="events / neuron / step", title="per-layer activity")
    for n in names:
        b.plot(layers[n]["spikes_per_step"], label=f"{n} ({layers[n]['kind']})")
    b.set(xlabel="timestep", ylabel="events per step", title="events per step (mean over samples)", yscale="symlog")
    b.legend(fontsize=7)
    fig.tight_layout()
    return _png(fig, "per-layer activity")


def resource_pairs(resources: dict[str, Any]) -> list[tuple[str, float, float]]:
    """(name, used, available) for every ``X_used``/``X_available`` pair a target reports."""
    out = []
    for key, used in resources.items():
        if key.endswith("_used") and isinstance(used, (int, float)):
            avail = resources.get(key[:-5] + "_available")
            if isinstance(avail, (int, float)) and avail > 0:
                out.append((key[:-5].replace("_", " "), float(used), float(avail)))
    return out


def plot_resources(resources: dict[str, Any]) -> str:
    pairs = resource_pairs(resources)
    if not pairs:
        return "<p>No used-vs-available figures reported by this target.</p>"
    fig, ax = plt.subplots(figsize=(7, 0.7 + 0.45 * len(pairs)))
    frac = [u / a for _, u, a in pairs]
    ax.barh(range(len(pairs)), frac, color=["#d62728" if f > 1 else "#ff7f0e" for f in frac])
    ax.set_yticks(range(len(pairs)), [p[0] for p in pairs], fontsize=8)
    for i, (_, u, a) in enumerate(pairs):
        ax.text(frac[i], i, f" {u:g} / {a:g}", va="center", fontsize=8)
    ax.axvline(1.0, color="k", lw=0.8)
    ax.set(xlim=(0, max(1.25, max(frac) * 1.3)), xlabel="used / available", title="resources")
    ax.invert_yaxis()
    return _png(fig, "resources used vs available")


def plot_energy(hardware: list[dict[str, Any]]) -> str:
    chips = [h for h in hardware if h.get("energy_terms")]
    if not chips:
        return ""
    fig, ax = plt.subplots(figsize=(6, 0.9 + 0.5 * len(chips)))
    labels_seen: set[str] = set()
    for i, h in enumerate(chips):
        left = 0.0
        for j, t in enumerate(h["energy_terms"]):
            if t["value"] is None:
                continue
            label = t["label"] if t["label"] not in labels_seen else None
            labels_seen.add(t["label"])
            ax.barh(i, t["value"] * 1e6, left=left, color=_PALETTE[j % 8], label=label)
            left += t["value"] * 1e6
        ax.text(left, i, " " + (fmt_quantity(h["energy_j"], "J", h.get("energy_status"))
                                if h.get("energy_j") is not None else "not available"), va="center", fontsize=8)
    ax.set_yticks(range(len(chips)), [h["chip"] for h in chips])
    ax.set(xlabel="µJ per inference", title="energy breakdown")
    ax.margins(x=0.25)
    ax.invert_yaxis()
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return _png(fig, "energy breakdown")


# --------------------------------------------------------------------------------------- sections

def _terms(h: dict[str, Any], what: str) -> str:
    unit = "J" if what == "energy" else "s"
    rows = [[t["label"], t["count_name"], t["count"], _Raw(_constant_cell(t)),
             fmt_quantity(t["value"], unit) if t["value"] is not None else
             ("not available (required)" if t["required"] else "not included (unset)"), t["source"], t["kind"]]
            for t in h.get(f"{what}_terms", [])]
    total = h.get("energy_j" if what == "energy" else "latency_s")
    status = h.get(f"{what}_status", "")
    rows.append([f"total ({status})", "", "", "", fmt_quantity(total, unit, status), "", ""])
    return _table([what + " term", "count", "value", "constant", "= " + unit, "source", "kind"], rows, "terms")


def _constant_cell(t: dict[str, Any]) -> str:
    value = "unset" if t["constant_value"] is None else f"{t['constant_value']:g} {t['unit']}"
    return f"<code>{html.escape(t['constant'])}</code> = {html.escape(value)}"


def _hardware_section(h: dict[str, Any]) -> str:
    parts = [f"<h4>{_e(h.get('title', h['chip']))} <code>{_e(h['chip'])}</code></h4>"]
    if "energy_terms" not in h:
        return parts[0] + "<p class='bad'>cost model not available (see notes)</p>"
    parts.append(_terms(h, "energy"))
    parts.append(_terms(h, "latency"))
    if h.get("latency_model"):
        parts.append(f"<p class='small'>latency model: {_e(h['latency_model'])}</p>")
    for key, t in (h.get("info") or {}).items():
        if isinstance(t, dict) and "label" in t:
            parts.append(f"<p class='small'>{_e(t['label'])}: {_e(fmt_quantity(t['value'], 'J'))} "
                         f"(<code>{_e(t['constant'])}</code>, {_e(t['source'])})</p>")
        else:
            parts.append(f"<p class='small'>{_e(key)}: {_e(t)}</p>")
    for note in h.get("notes") or []:
        parts.append(f"<p class='small'>{_e(note)}</p>")
    if h.get("missing_constants"):
        flags = " ".join(f"--energy-constant {m}=VALUE" for m in h["missing_constants"])
        parts.append(f"<p class='warn'>Not available or partial until supplied: <code>{_e(flags)}</code></p>")
    consts = [[_Raw(f"<code>{_e(k)}</code>"), c["description"], "unset" if c["value"] is None else c["value"],
               c["unit"], c["kind"], c["source"]] for k, c in h.get("constants", {}).items()]
    parts.append(_table(["constant", "meaning", "value", "unit", "kind", "source"], consts, "consts"))
    return "".join(parts)


def _layer_table(counts: dict[str, Any]) -> str:
    rows = [[name, v["kind"], v["neurons"], v["spikes"], v["activation_sparsity"], v["sops_in"],
             v["updates"], v["active_updates"]] for name, v in counts["layers"].items()]
    proj = [[p["name"], " → ".join(p["ops"]) or "(direct)", p["synapses"], p["connection_sparsity"],
             p["dense_sops"], p["effective_sops"], p["op"]] for p in counts["projections"]]
    return (_table(["population", "kind", "neurons", "events / inference", "activation sparsity",
                    "synaptic events in", "neuron updates", "active updates"], rows)
            + _table(["projection", "ops", "synapses", "connection sparsity", "dense SOPs", "effective SOPs",
                      "op"], proj))


def _verification(v: dict[str, Any] | None) -> str:
    status = (v or {}).get("status", "not verified")
    if status not in ("verified", "mismatch"):
        return (f"<b class='bad'>{_e(status)}</b>: {_e((v or {}).get('detail', ''))} "
                "(run <code>nrf-deploy verify DIR</code>)")
    parts = [f"{_e(c['other'])} vs {_e(c['reference'])}: {'OK' if c['ok'] else 'MISMATCH'}, "
             f"{_e(c['mismatches'])} mismatches in {_e(c['compared_values'])} values "
             f"({_e(c['samples'])} samples × {_e(c['timesteps'])} steps)" for c in v.get("comparisons", [])]
    verdict = ("<b class='good'>verified</b> (bit-exact)" if status == "verified"
               else "<b class='bad'>mismatch</b>")
    return verdict + ("<br>" + "<br>".join(parts) if parts else "")


def _accuracy_table(acc: dict[str, Any]) -> str:
    backends = acc.get("backends") or {}
    if not backends:
        return "<p>not available</p>"
    keys = sorted({k for m in backends.values() for k in m if k != "samples"})
    rows = [[b] + [m.get(k) for k in keys] + [m.get("samples")] for b, m in backends.items()]
    note = (f"<p class='small'>output <code>{_e(acc.get('output'))}</code> (from population "
            f"<code>{_e(acc.get('source'))}</code>), chip output shifted back by {_e(acc.get('delay_steps'))} "
            f"steps; {_e(acc.get('compared_steps'))} steps compared"
            + (f", decoded metrics after {acc['warmup_steps']} warm-up frames" if acc.get("warmup_steps") else "")
            + ".</p>")
    return note + _table(["backend", *keys, "samples"], rows)


def _entry_section(e: dict[str, Any], index: int) -> str:
    title = f"<h2 id='t{index}'>{_e(e['target'])}</h2>"
    if e["status"] != "ok":
        label = "refused the model" if e["status"] == "refused" else "not available"
        return (f"<section class='target'>{title}<p class='bad'>{label}:</p><pre>{_e(e.get('error', ''))}</pre>"
                + "".join(f"<p class='small'>{_e(n)}</p>" for n in e.get("notes", [])) + "</section>")
    c, res = e["counts"], e.get("resources") or {}
    info = _kv([("export", e["export_dir"]), ("number format", e.get("number_format")),
                ("approximations", ", ".join(e.get("approximations") or []) or "none"),
                ("inputs", (f"{e['inputs']['samples']} samples × {e['inputs']['timesteps']} steps "
                           f"({e['inputs']['source']}), dt = {_fmt(e.get('dt'))} s")),
                ("backends", f"{', '.join(e['backends'])} (reference: {e['reference_backend']})"),
                ("verification", _Raw(_verification(e.get("verification")))),
                ("effective synaptic ops / inference", c["effective_sops"]),
                ("dense synaptic ops / inference", c["dense_sops"]),
                ("ACs / MACs (effective)", f"{_fmt(c['acs'])} / {_fmt(c['macs'])}"),
                ("spikes / inference (neurons)", c["spikes"]),
                ("input events / inference", c["input_events"]),
                ("neuron updates (active)", f"{_fmt(c['neuron_updates'])} ({_fmt(c['active_updates'])})"),
                ("activation sparsity", c["activation_sparsity"]),
                ("connection sparsity", c["connection_sparsity"]),
                ("footprint", (f"{c['parameters']} weights + biases; {c['footprint_bytes']} bytes of float32 "
                              "parameters")),
                ("core mapping (latency model)", (c.get("cores") or {}).get("mapping", "n/a"))])
    res_rows = [[k, v] for k, v in res.items() if isinstance(v, (int, float, str))]
    parts = [title, info,
             "<h3>Resources</h3>", _table(["resource", "value"], res_rows) if res_rows else
             "<p>not available</p>", plot_resources(res),
             "<h3>Activity</h3>", plot_raster(e.get("raster") or [], c["timesteps"]), plot_layers(c),
             _layer_table(c),
             "<h3>Energy and latency</h3>", plot_energy(e.get("hardware") or []),
             "".join(_hardware_section(h) for h in e.get("hardware") or []) or "<p>not available</p>",
             "<h3>Accuracy: float model vs quantised reference vs emulator</h3>",
             _accuracy_table(e.get("accuracy") or {})]
    if e.get("notes"):
        parts.append("<h3>Notes</h3>" + "".join(f"<p class='warn'>{_e(n)}</p>" for n in e["notes"]))
    return f"<section class='target'>{''.join(parts)}</section>"


def _summary_table(report: dict[str, Any]) -> str:
    rows = []
    for r in report["summary"]:
        if r["status"] != "ok":
            rows.append([r["target"], "-", r["status"], "-", "-", "-", "-", "-",
                         (r.get("error") or "").splitlines()[0] if r.get("error") else ""])
            continue
        acc = "; ".join(f"{b}: {_fmt(v)}" for b, v in r["accuracy"].items())
        rows.append([r["target"], r["chip"] or "-",
                     r["verified"],
                     fmt_quantity(r.get("energy_j"), "J", r.get("energy_status")),
                     _Raw(_e(fmt_quantity(r.get("latency_s"), "s", r.get("latency_status")))
                          + (f"<br><span class='small'>{_e(r['latency_basis'])}</span>" if r.get("latency_basis") else "")),
                     f"{_fmt(r['energy_vs_cpu'])}× / {_fmt(r['latency_vs_cpu'])}×"
                     if r.get("energy_vs_cpu") is not None or r.get("latency_vs_cpu") is not None else "-",
                     f"{r['cores_used']} / {r['cores_available']}" if r.get("cores_used") is not None else "n/a",
                     r.get("accuracy_metric") or "n/a", acc])
    return _table(["target", "chip", "verified", "energy / inference", "latency / inference",
                   "vs CPU (energy / latency)", "cores used / available", "accuracy metric", "value per backend"],
                  rows, "summary")


_CSS = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:1.5em auto;padding:0 1em;color:#222}
h1{margin-bottom:0}table{border-collapse:collapse;margin:.6em 0;font-size:13px}
td,th{border:1px solid #ccc;padding:2px 7px;text-align:left;vertical-align:top}th{background:#f2f2f2}
table.kv th{width:20em}section.target{border-top:3px solid #444;margin-top:2em}
figure{margin:.4em 0}img{max-width:100%}.bad{color:#b00}.good{color:#070}.warn{color:#8a5a00}
.small{font-size:12px;color:#555;margin:.2em 0}code{font-size:12px}pre{white-space:pre-wrap;background:#f7f7f7;padding:.5em}
table.terms td:nth-child(6),table.consts td:nth-child(6){font-size:11px;max-width:28em}"""


def render(report: dict[str, Any]) -> str:
    """The whole report as one HTML string (no scripts, no external resources)."""
    entries = report["targets"]
    toc = " · ".join(f"<a href='#t{i}'>{_e(e['target'])}</a>" for i, e in enumerate(entries))
    baseline = report.get("baseline")
    base = (f"CPU baseline (ONNX export): {fmt_quantity(baseline['energy_j'], 'J')}, "
            f"{fmt_quantity(baseline['latency_s'], 's')} per inference; ratios are chip / CPU."
            if baseline else "No ONNX export in this report: no CPU baseline ratios.")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>nrf-deploy report</title><style>{_CSS}</style></head><body>
<h1 id="title">nrf-deploy report</h1>
<p>model: <code>{_e(report['model'])}</code> · targets: {toc}</p>
<h2>Side by side</h2>
<p class="small">Per inference (one input sample of T timesteps), averaged over the samples run. {_e(base)}
“≥” marks a partial total (an optional term has no published constant); “n/a” a total that needs a constant
nobody has published — supply it with <code>--energy-constant CHIP.NAME=VALUE</code>.</p>
{_summary_table(report)}
{plot_comparison(report['summary'])}
<h3>Float model vs quantised reference vs emulator</h3>
{plot_accuracy(entries)}
{''.join(_entry_section(e, i) for i, e in enumerate(entries))}
<section><h2>Definitions and sources</h2>
<p class="small">Counts follow NeuroBench (Yik et al., Nat. Commun. 2025): dense SOPs = every synapse every step;
effective SOPs = source events × fan-out; ACs where the source emits events, MACs where it emits graded values;
activation sparsity = 1 − spikes / neuron updates. Synapses are the nonzero entries of each projection's composed
matrix. Constant kinds: measured (silicon or this machine), simulated (pre-silicon), derived (from other figures or
a documented configuration), unpublished (no figure exists), unset (not collected from a primary source), user
(supplied on the command line). Every number here is in report.json, each energy and latency term with its count,
constant, source and kind. See docs/report.md and docs/energy.md.</p></section>
</body></html>
"""
