"""Self-contained HTML report: inline PNG plots (matplotlib, base64), inline CSS, no scripts,
no external resources — it opens from a file, an e-mail attachment or a CI artefact as is.

Layout: the headline table ("at a glance": latency, energy, ratios to the CPU, accuracy,
verification and, in each row, every approximation or real-time violation), the decoded
trajectories, then one section per target. It reads well from 900 px wide (no sideways scroll).
Numbers go through :mod:`nrf_deploy.report.fmt`; JSON keys appear only in report.json.
"""

from __future__ import annotations

import base64
import html
import io
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from nrf_deploy.report.fmt import NOT_AVAILABLE, count, label, metric, percent, plural, ratio, si

FLOAT = "float"
COLOURS = {FLOAT: "#555555", "truth": "#000000"}
_PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
MARKS = {"approximation": "≈", "host": "⇄", "real_time": "!"}
FLAG_TITLES = {
    "approximation": "approximation",
    "host": "host computation",
    "real_time": "real-time violation",
}
STATUS_CLASS = {
    "verified": "good",
    "mismatch": "bad",
    "modified": "bad",
    "stale": "warn",
    "not verified": "warn",
}
FIG_W = 8.6
"""Figure width in inches at 100 dpi: 860 px, the width of the page's content column."""

plt.rcParams.update(
    {
        "font.size": 9,
        "axes.titlesize": 10,
        "axes.labelsize": 9,
        "xtick.labelsize": 8,
        "ytick.labelsize": 8,
        "legend.fontsize": 8,
    }
)


def _e(text: Any) -> str:
    return html.escape(str(text))


class _Raw(str):
    """Already-escaped HTML for a table cell."""


def _png(fig, alt: str, cls: str = "") -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode()
    return (
        f'<figure class="{cls}"><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{html.escape(alt)}</figcaption></figure>"
    )


def _cell(c: Any) -> str:
    return c if isinstance(c, _Raw) else _e(c)


def _table(
    header: list[str], rows: list[list[Any]], cls: str = "", numeric: set[int] = frozenset()
) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td{' class=num' if i in numeric else ''}>{_cell(c)}</td>" for i, c in enumerate(row)
        )
        + "</tr>"
        for row in rows
    )
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _kv(rows: list[tuple[str, Any]]) -> str:
    return (
        "<table class='kv'>"
        + "".join(f"<tr><th>{html.escape(k)}</th><td>{_cell(v)}</td></tr>" for k, v in rows)
        + "</table>"
    )


# ------------------------------------------------------------------------------------- headline


def _bar(value: float | None, top: float, status: str | None) -> str:
    """An inline bar on the column's shared linear axis (0 .. `top`); none for a missing value."""
    if value is None or not top:
        return ""
    width = max(100.0 * value / top, 0.4)
    cls = "bar partial" if status == "partial" else "bar"
    return f"<span class='{cls}' style='width:{width:.1f}%'></span>"


def _headline_rows(report: dict[str, Any]) -> str:
    rows = report["summary"]
    ok = [r for r in rows if r["status"] == "ok"]
    top_l = max([r["latency_s"] for r in ok if r.get("latency_s")] or [0.0])
    top_e = max([r["energy_j"] for r in ok if r.get("energy_j")] or [0.0])
    baseline = report.get("baseline") or {}
    body = []
    for r in rows:
        name = f"<b>{_e(r['target'])}</b>"
        if r["status"] != "ok":
            reason = (r.get("error") or "").strip().splitlines()
            body.append(
                f"<tbody class='row'><tr><td>{name}</td><td colspan='6' class='bad'>"
                f"{_e('refused the model' if r['status'] == 'refused' else 'not available')}: "
                f"{_e(reason[0] if reason else '')}</td></tr></tbody>"
            )
            continue
        flags = r.get("flags") or []
        kinds = {f["kind"] for f in flags}
        status = r["verification_status"]
        chip = f"{name} <span class='chip'>{_e(r.get('title') or r['chip'])}</span>"
        latency = (
            f"{_e(si(r['latency_s'], 's', r.get('latency_status')))}"
            + (
                f" <span class='mark rt'>{MARKS['real_time']}</span>"
                if "real_time" in kinds
                else ""
            )
            + _bar(r.get("latency_s"), top_l, r.get("latency_status"))
            + f"<div class='small'>{_e(r.get('latency_basis') or '')}"
            + (
                f"; per event {_e(si(r['event_latency_s'], 's'))}"
                if r.get("event_latency_s")
                else ""
            )
            + "</div>"
        )
        energy = (
            f"{_e(si(r['energy_j'], 'J', r.get('energy_status')))}"
            + (
                f" <span class='mark rt'>{MARKS['real_time']}</span>"
                if "real_time" in kinds
                else ""
            )
            + _bar(r.get("energy_j"), top_e, r.get("energy_status"))
        )
        if r.get("missing_constants"):
            energy += f"<div class='small'>needs {_e(', '.join(r['missing_constants']))}</div>"
        if r.get("chip") == "cpu":
            versus = "<span class='small'>the baseline</span>"
        elif baseline:
            versus = (
                "latency "
                + _e(ratio(r.get("latency_s"), baseline.get("latency_s"), r.get("latency_status")))
                + "<br>energy "
                + _e(ratio(r.get("energy_j"), baseline.get("energy_j"), r.get("energy_status")))
            )
        else:
            versus = f"<span class='small'>{NOT_AVAILABLE}: no CPU baseline</span>"
        accuracy = _accuracy_cell(r, kinds)
        cores = (
            f"{count(r['cores_used'])} of {count(r['cores_available'])} cores"
            if r.get("cores_used") is not None and r.get("cores_available") is not None
            else (
                f"{plural(r['cores_used'], 'core')}"
                if r.get("cores_used") is not None
                else NOT_AVAILABLE
            )
        )
        if r.get("chips"):
            cores += f"<div class='small'>{_e(plural(r['chips'], 'chip'))}</div>"
        check = f"<span class='status {STATUS_CLASS.get(status, 'warn')}'>{_e(status)}</span>"
        cells = [chip, check, latency, energy, versus, accuracy, cores]
        numeric = {2, 3, 4, 5, 6}
        tr = (
            "<tr>"
            + "".join(
                f"<td{' class=num' if i in numeric else ''}>{c}</td>" for i, c in enumerate(cells)
            )
            + "</tr>"
        )
        notes = "".join(
            f"<div class='flag {f['kind']}'><span class='mark'>{MARKS.get(f['kind'], '!')}</span> "
            f"<b>{_e(FLAG_TITLES.get(f['kind'], f['kind']))}:</b> {_e(f['note'])}</div>"
            for f in flags
        )
        if notes:
            tr += f"<tr class='flags'><td></td><td colspan='6'>{notes}</td></tr>"
        body.append(f"<tbody class='row'>{tr}</tbody>")
    return "".join(body)


def _accuracy_cell(r: dict[str, Any], kinds: set[str]) -> str:
    key = r.get("accuracy_key")
    if not key:
        return NOT_AVAILABLE
    text = _e(metric(key, r.get("accuracy_chip")))
    if "approximation" in kinds:
        text += f" <span class='mark ap'>{MARKS['approximation']}</span>"
    text += f"<div class='small'>{_e(r.get('accuracy_metric') or label(key))}"
    if r.get("accuracy_float") is not None and key in ("median_l2_px", "accuracy"):
        text += f"; float model {_e(metric(key, r['accuracy_float']))}"
    if r.get("accuracy_samples"):
        text += f"; {_e(plural(r['accuracy_samples'], 'sample'))}"
    return text + "</div>"


def headline(report: dict[str, Any]) -> str:
    """The side-by-side table: one row group per (target, chip)."""
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "target · chip",
            "check",
            "latency / inference",
            "energy / inference",
            "vs CPU",
            "accuracy",
            "cores",
        )
    )
    return f"<table class='headline'><thead><tr>{head}</tr></thead>{_headline_rows(report)}</table>"


# ----------------------------------------------------------------------------------------- plots


def plot_trajectories(entries: list[dict[str, Any]]) -> str:
    """Decoded (x, y) of each tracked object over time, per target (its reference backend, i.e.
    the chip's arithmetic) vs the float model and the true centres."""
    groups = [
        (e["target"], e["reference_backend"], e["accuracy"]["trajectory"])
        for e in entries
        if e.get("status") == "ok" and (e.get("accuracy") or {}).get("trajectory")
    ]
    if not groups:
        return ""
    cols = 2 if len(groups) > 1 else 1  # panels large enough to follow a path
    rows = (len(groups) + cols - 1) // cols
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(FIG_W * (0.75 if cols == 2 else 0.45), FIG_W * 0.36 * rows + 0.5),
        squeeze=False,
    )
    for ax in axes.flat[len(groups) :]:
        ax.set_visible(False)
    shapes = ("circle", "square", "triangle")
    styles = {
        "truth": {"lw": 3.2, "alpha": 0.3, "ls": "-"},
        FLOAT: {"lw": 1.0, "ls": ":"},
        "chip": {"lw": 1.3, "ls": "-"},
    }
    for ax, (target, ref, traj) in zip(axes.flat, groups):
        size = traj["image_size"]
        warm = int(traj.get("warmup_steps", 0))
        for name, xy in (
            ("truth", traj.get("truth")),
            (FLOAT, traj["decoded"].get(FLOAT)),
            ("chip", traj["decoded"].get(ref)),
        ):
            if xy is None:
                continue
            xy = np.asarray(xy)  # [T, objects, 2]
            for k in range(xy.shape[1]):
                colour = _PALETTE[k % 8]
                ax.plot(xy[warm:, k, 0], xy[warm:, k, 1], color=colour, **styles[name])
                ax.plot(
                    xy[-1, k, 0],
                    xy[-1, k, 1],
                    "o",
                    color=colour,
                    ms=3 if name != "truth" else 5,
                    alpha=styles[name].get("alpha", 1.0),
                )
                if name == "truth" and xy.shape[1] == len(shapes):
                    ax.annotate(
                        shapes[k],
                        xy[-1, k],
                        fontsize=7,
                        color=colour,
                        xytext=(4, 4),
                        textcoords="offset points",
                    )
        ax.set(xlim=(0, size), ylim=(size, 0), aspect="equal", title=f"{target} ({ref})")
        ax.set_xlabel("x (px)")
        ax.set_ylabel("y (px)")
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color="#444444", **styles[n]) for n in ("truth", FLOAT, "chip")]
    fig.legend(
        handles,
        ["true centre", "float model", "chip (its reference backend)"],
        loc="lower center",
        ncol=3,
        frameon=False,
        bbox_to_anchor=(0.5, -0.02),
    )
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    traj = groups[0][2]
    return _png(
        fig,
        f"decoded trajectories of sample {traj['sample']} (DSNT on the host), after "
        f"{plural(traj.get('warmup_steps', 0), 'warm-up frame')}; dots mark the last frame",
        "wide",
    )


def _grid(n: int, cols: int = 3, height: float = 2.4):
    cols = min(n, cols)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(FIG_W, height * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes


def plot_raster(raster: list[dict[str, Any]], steps: int) -> str:
    if not raster:
        return "<p>No spiking population recorded.</p>"
    fig, axes = _grid(len(raster))
    for ax, pop in zip(axes.flat, raster):
        ids = pop["neuron_ids"]
        ax.scatter(pop["t"], pop["row"], s=5, c="k", marker="|", linewidths=0.8)
        ax.set_xlim(-0.5, steps - 0.5)
        ax.set_ylim(-0.5, max(len(ids), 1) - 0.5)
        ticks = np.unique(
            np.linspace(0, max(len(ids) - 1, 0), min(len(ids), 5)).round().astype(int)
        )
        ax.set_yticks(ticks, [f"{ids[i]:,}" for i in ticks] if ids else [])
        ax.set(xlabel="timestep", ylabel="neuron index")
        ax.set_title(
            f"{pop['population']} ({pop['kind']}): top {len(ids)} of {pop['of']:,}", fontsize=9
        )
    fig.tight_layout()
    return _png(
        fig,
        "spike raster of sample 0: per population, its most active neurons (rows in "
        "neuron-index order; ticks give the index)",
    )


def plot_histograms(hists: list[dict[str, Any]]) -> str:
    if not hists:
        return ""
    fig, axes = _grid(len(hists), height=2.2)
    for ax, h in zip(axes.flat, hists):
        edges = np.asarray(h["bin_edges"])
        ax.bar(
            edges[:-1],
            h["neurons_per_bin"],
            width=np.diff(edges),
            align="edge",
            color="#1f77b4",
            edgecolor="white",
            lw=0.3,
        )
        ax.set_yscale("symlog", linthresh=1)
        ax.set(xlabel="spikes per neuron per inference", ylabel="neurons")
        ax.set_title(
            f"{h['population']} ({h['kind']}): {percent(h['silent_fraction'], 2)} silent",
            fontsize=9,
        )
    fig.tight_layout()
    return _png(
        fig,
        "spike-count histograms per population (neurons per bin, mean over samples; "
        "log scale above 1)",
    )


def plot_core_heatmap(cores: dict[str, Any], dt: float) -> str:
    grid = cores.get("sops_per_core_and_step")
    if not grid:
        return ""
    grid = np.asarray(grid)  # [C, T]
    fig, ax = plt.subplots(figsize=(FIG_W, min(1.2 + 0.12 * grid.shape[0], 3.6)))
    im = ax.imshow(grid, aspect="auto", cmap="viridis", interpolation="nearest")
    ids = cores.get("ids") or list(range(grid.shape[0]))
    ticks = np.unique(np.linspace(0, grid.shape[0] - 1, min(grid.shape[0], 10)).round().astype(int))
    ax.set_yticks(ticks, [str(ids[i]) for i in ticks])
    ax.set(xlabel=f"timestep (dt = {si(dt, 's')})", ylabel="core")
    bar = fig.colorbar(im, ax=ax, pad=0.01)
    bar.set_label("events / step")
    fig.tight_layout()
    busiest = int(np.argmax(grid.sum(axis=1)))
    return _png(
        fig,
        f"per-core load: synaptic events arriving at each core per timestep (mean over samples); "
        f"busiest core {ids[busiest]}; {cores.get('mapping', '')}",
    )


def plot_energy(hardware: list[dict[str, Any]]) -> str:
    chips = [h for h in hardware if h.get("energy_terms") and h.get("energy_j")]
    if not chips:
        return ""
    fig, axes = plt.subplots(len(chips), 1, figsize=(FIG_W, 2.0 * len(chips)), squeeze=False)
    for ax, h in zip(axes[:, 0], chips):
        left = 0.0
        total = h["energy_j"]
        for j, t in enumerate(h["energy_terms"]):
            if t["value"] is None:
                continue
            share = t["value"] / total * 100
            ax.barh(
                0,
                share,
                left=left,
                color=_PALETTE[j % 8],
                label=f"{t['label']}: {si(t['value'], 'J')}",
            )
            left += share
        ax.set(xlim=(0, 100), yticks=[])
        ax.tick_params(axis="x", labelsize=7)
        ax.set_title(
            f"{h.get('title', h['chip'])}: {si(total, 'J', h.get('energy_status'))} per inference "
            "(share of each term, %)",
            fontsize=9,
            loc="left",
        )
        ax.legend(
            fontsize=7.5, loc="upper left", bbox_to_anchor=(0.0, -0.45), ncol=2, frameon=False
        )
    fig.tight_layout(h_pad=0.5)
    return _png(fig, "energy breakdown by term, per chip (terms without a constant are left out)")


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
        return ""
    fig, ax = plt.subplots(figsize=(FIG_W, 0.6 + 0.35 * len(pairs)))
    frac = [u / a for _, u, a in pairs]
    ax.barh(range(len(pairs)), frac, color=["#d62728" if f > 1 else "#ff7f0e" for f in frac])
    ax.set_yticks(range(len(pairs)), [p[0] for p in pairs])
    for i, (_, u, a) in enumerate(pairs):
        ax.text(
            frac[i], i, f" {count(u)} of {count(a)} ({percent(u / a, 2)})", va="center", fontsize=8
        )
    ax.axvline(1.0, color="k", lw=0.8)
    ax.set(xlim=(0, max(1.3, max(frac) * 1.3)), xlabel="used / available")
    ax.invert_yaxis()
    return _png(fig, "resources used vs available")


# --------------------------------------------------------------------------------------- sections


def _terms(h: dict[str, Any], what: str) -> str:
    unit = "J" if what == "energy" else "s"
    rows = [
        [
            t["label"],
            _Raw(
                f"{_e(count(t['count']))} <span class='small'>{_e(label(t['count_name']))}</span>"
            ),
            _Raw(_constant_cell(t)),
            si(t["value"], unit)
            if t["value"] is not None
            else ("not available (required)" if t["required"] else "left out (no constant)"),
            _Raw(f"<span class='src'>{_e(t['source'])}</span> <i>({_e(t['kind'])})</i>"),
        ]
        for t in h.get(f"{what}_terms", [])
    ]
    total = h.get("energy_j" if what == "energy" else "latency_s")
    status = h.get(f"{what}_status", "")
    rows.append(
        [
            _Raw(f"<b>total</b> ({_e(status)})"),
            "",
            "",
            _Raw(f"<b>{_e(si(total, unit, status))}</b>"),
            "",
        ]
    )
    return _table(
        [f"{what} term", "count", "× constant", "=", "source (kind)"], rows, "terms", {1, 3}
    )


def _constant_cell(t: dict[str, Any]) -> str:
    value = "unset" if t["constant_value"] is None else f"{t['constant_value']:g} {t['unit']}"
    return f"{html.escape(value)}<div class='small'><code>{html.escape(t['constant'])}</code></div>"


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
            unit = "J" if t.get("unit", "").endswith("J") or "W" in t.get("unit", "") else "s"
            parts.append(
                f"<p class='small'>{_e(t['label'])}: {_e(si(t['value'], unit))} "
                f"(<code>{_e(t['constant'])}</code>, {_e(t['source'])})</p>"
            )
        elif isinstance(t, (int, float)):
            parts.append(
                f"<p class='small'>{_e(label(key))}: "
                f"{_e(si(t, 's') if key.endswith('_s') else count(t))}</p>"
            )
    for note in h.get("notes") or []:
        parts.append(f"<p class='small'>{_e(note)}</p>")
    if h.get("missing_constants"):
        flags = " ".join(f"--energy-constant {m}=VALUE" for m in h["missing_constants"])
        parts.append(
            f"<p class='warn'>Not available or partial until supplied: <code>{_e(flags)}</code></p>"
        )
    consts = [
        [
            _Raw(f"<code>{_e(k)}</code>"),
            c["description"],
            "unset" if c["value"] is None else f"{c['value']:g} {c['unit']}",
            _Raw(f"<span class='src'>{_e(c['source'])}</span> <i>({_e(c['kind'])})</i>"),
        ]
        for k, c in h.get("constants", {}).items()
    ]
    parts.append(
        "<details><summary>constants and their sources</summary>"
        + _table(["constant", "meaning", "value", "source (kind)"], consts, "consts")
        + "</details>"
    )
    return "".join(parts)


def _neurobench_line(nb: Any) -> str:
    """NeuroBench's own figures on the float model (docs/report.md: where they differ), or why
    not."""
    if not isinstance(nb, dict):
        return str(nb or "not available")
    sampled = ""
    if "samples" in nb:
        sampled = (
            f" (on {nb['samples']} of {nb['of_samples']} samples, {nb['timesteps']} steps, in "
            "its own environment)"
        )
    return (
        f"neurobench {nb['version']}: {count(nb['effective_acs'])} ACs, "
        f"{count(nb['effective_macs'])} MACs, {count(nb['dense_sops'])} dense; activation "
        f"sparsity {percent(nb['activation_sparsity'])}; {si(nb['footprint_bytes'], 'B')}{sampled}"
    )


def _opinion_value(value: float | None, unit: str, kind: str = "ratio") -> str:
    """A figure in its unit: SI prefixes for J, s, B, W; an agreement share as a percentage; a
    correlation (unit ``r``) as itself."""
    if value is None:
        return NOT_AVAILABLE
    if kind == "agreement":
        return f"r = {value:.4g}" if unit == "r" else percent(value)
    unit = "B" if unit == "bytes" else unit
    if unit in ("J", "s", "B", "W"):
        return si(value, unit)
    return count(value) if unit == "" else f"{count(value)} {unit}"


def _opinion_cell(row: dict[str, Any]) -> str:
    """Theirs vs ours: ``"1.3× more"`` for a ratio, the agreement itself otherwise."""
    if row.get("kind") == "agreement":
        return "agreement " + _opinion_value(row.get("theirs"), row.get("unit", ""), "agreement")
    return ratio(row.get("theirs"), row.get("ours"))


def _second_opinions_section(opinions: list[dict[str, Any]]) -> str:
    """Each declared tool's figures beside nrf-deploy's, or why there are none."""
    if not opinions:
        return ""
    rows, notes = [], []
    for o in opinions:
        tool = f"{o['tool']} {o.get('version', '')}".strip()
        if not o.get("available"):
            rows.append([tool, "-", "-", "-", "-", o.get("reason", NOT_AVAILABLE)])
            continue
        for r in o.get("rows") or []:
            kind, unit = r.get("kind", "ratio"), r.get("unit", "")
            theirs = _opinion_value(r.get("theirs"), unit, kind)
            ours = _opinion_value(r.get("ours"), unit, kind)
            rows.append([tool, r["quantity"], ours, theirs, _opinion_cell(r), r.get("note", "")])
        notes += [f"{o['tool']}: {n}" for n in o.get("notes") or []]
    header = ["tool", "quantity", "nrf-deploy", "tool's figure", "tool vs nrf-deploy", "note"]
    return (
        "<h3>Second opinions: the field's own tools</h3>"
        + _table(header, rows, "opinions", {2, 3})
        + "".join(f"<p class='small'>{_e(n)}</p>" for n in notes)
    )


def _layer_table(counts: dict[str, Any]) -> str:
    rows = [
        [
            name,
            v["kind"],
            count(v["neurons"]),
            count(v["spikes"]) if v["spikes"] is not None else "-",
            percent(v["activation_sparsity"]) if v["activation_sparsity"] is not None else "-",
            count(v["sops_in"]),
            count(v["updates"]),
            count(v["active_updates"]),
        ]
        for name, v in counts["layers"].items()
    ]
    proj = [
        [
            p["name"],
            " → ".join(p["ops"]) or "(direct)",
            count(p["synapses"]),
            percent(p["connection_sparsity"]),
            count(p["dense_sops"]),
            count(p["effective_sops"]),
            p["op"],
        ]
        for p in counts["projections"]
    ]
    return _table(
        [
            "population",
            "kind",
            "neurons",
            "spikes / inference",
            "activation sparsity",
            "synaptic events in",
            "neuron updates",
            "active updates",
        ],
        rows,
        "",
        {2, 3, 4, 5, 6, 7},
    ) + _table(
        [
            "projection",
            "ops",
            "synapses",
            "connection sparsity",
            "dense synaptic ops",
            "effective synaptic ops",
            "op",
        ],
        proj,
        "",
        {2, 3, 4, 5},
    )


def _verification(v: dict[str, Any] | None) -> str:
    from nrf_deploy.report import verification_status

    status = verification_status(v)
    head = f"<span class='status {STATUS_CLASS.get(status, 'warn')}'>{_e(status)}</span>"
    if v is None:
        return head + " (run <code>nrf-deploy verify DIR</code>; the demo does)"
    if status not in ("verified", "mismatch") and v.get("detail"):
        head += f": {_e(v['detail'])}"
    if v.get("error"):
        return head + " " + _e(v["error"])
    parts = [
        f"{_e(c['other'])} vs {_e(c['reference'])}: not run — {_e(c['skipped'])}"
        if c.get("skipped")
        else f"{_e(c['other'])} vs {_e(c['reference'])}: {'same' if c['ok'] else 'DIFFERENT'} — "
        f"{_e(plural(c['mismatches'] or 0, 'mismatch', 'mismatches'))} in "
        f"{_e(plural(c['compared_values'] or 0, 'value'))} "
        f"({_e(plural(c['samples'] or 0, 'sample'))} × {_e(plural(c['timesteps'] or 0, 'step'))})"
        for c in v.get("comparisons", [])
    ]
    return head + ("<br>" + "<br>".join(parts) if parts else "")


def _accuracy_table(acc: dict[str, Any], reference: str) -> str:
    backends = acc.get("backends") or {}
    if not backends:
        return "<p>not available</p>"
    keys = [
        k
        for k in (
            "median_l2_px",
            "accuracy",
            "decoded_difference_px",
            "prediction_agreement",
            "count_correlation",
            "count_relative_l1",
            "relative_rms_error",
            "correlation",
            "spikes_per_inference",
            "output_mismatches_vs_reference",
        )
        if any(k in m for m in backends.values())
    ]
    names = {FLOAT: "float model", reference: f"{reference} (the chip's arithmetic)"}
    rows = [
        [names.get(b, b), plural(m.get("samples", 0), "sample")]
        + [metric(k, m[k]) if k in m else "-" for k in keys]
        for b, m in backends.items()
    ]
    note = (
        f"<p class='small'>Compared on output <code>{_e(acc.get('output'))}</code> (population "
        f"<code>{_e(acc.get('source'))}</code>); the chip's output is shifted back by "
        f"{_e(plural(acc.get('delay_steps', 0), 'step'))} and "
        f"{_e(plural(acc.get('compared_steps', 0), 'step'))} "
        "are compared"
        + (
            f"; decoded positions after {plural(acc['warmup_steps'], 'warm-up frame')}"
            if acc.get("warmup_steps")
            else ""
        )
        + ". Output values differing from the reference: 0 means the backend computes exactly the "
        "chip's numbers.</p>"
    )
    return note + _table(
        ["backend", "samples", *[label(k) for k in keys]], rows, "", set(range(1, len(keys) + 2))
    )


def _entry_section(e: dict[str, Any], index: int) -> str:
    title = f"<h2 id='t{index}'>{_e(e['target'])}</h2>"
    if e["status"] != "ok":
        what = "refused the model" if e["status"] == "refused" else "not available"
        return (
            f"<section class='target'>{title}<p "
            f"class='bad'>{what}:</p><pre>{_e(e.get('error', ''))}</pre>"
            + "".join(f"<p class='small'>{_e(n)}</p>" for n in e.get("notes", []))
            + "</section>"
        )
    c, res = e["counts"], e.get("resources") or {}
    flags = (
        "".join(
            f"<div class='flag {f['kind']}'><span class='mark'>{MARKS.get(f['kind'], '!')}</span> "
            f"{_e(f.get('detail') or f['note'])}</div>"
            for f in e.get("flags") or []
        )
        or "none"
    )
    info = _kv(
        [
            ("export", _Raw(f"<code>{_e(e['export_dir'])}</code>")),
            ("number format", e.get("number_format")),
            ("approximations and host work", _Raw(flags)),
            (
                "inputs",
                (
                    f"{plural(e['inputs']['samples'], 'sample')} × "
                    f"{plural(e['inputs']['timesteps'], 'step')} ({e['inputs']['source']}), "
                    f"dt = {si(e.get('dt') or c['dt'], 's')}"
                ),
            ),
            ("backends", f"{', '.join(e['backends'])} (reference: {e['reference_backend']})"),
            ("verification", _Raw(_verification(e.get("verification")))),
            (
                "synaptic ops / inference",
                (
                    f"{count(c['effective_sops'])} effective "
                    f"({count(c['acs'])} ACs, {count(c['macs'])} MACs); "
                    f"{count(c['dense_sops'])} dense"
                ),
            ),
            (
                "spikes / inference",
                (f"{count(c['spikes'])} from neurons, {count(c['input_events'])} input events"),
            ),
            (
                "neuron updates / inference",
                (f"{count(c['neuron_updates'])} ({count(c['active_updates'])} active)"),
            ),
            (
                "sparsity",
                (
                    f"activation {percent(c['activation_sparsity'])}, "
                    f"connection {percent(c['connection_sparsity'])}"
                ),
            ),
            (
                "footprint",
                (
                    f"{count(c['parameters'])} weights and biases; "
                    f"{si(c['footprint_bytes'], 'B')} of float32 parameters"
                ),
            ),
            ("NeuroBench (float model)", _neurobench_line(e.get("neurobench"))),
        ]
    )
    res_rows = [
        [label(k), count(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v]
        for k, v in res.items()
        if isinstance(v, (int, float, str))
    ]
    parts = [
        title,
        info,
        "<h3>Resources and mapping</h3>",
        _table(["resource", "value"], res_rows, "", {1}) if res_rows else "<p>not available</p>",
        plot_resources(res),
        plot_core_heatmap(c.get("cores") or {}, c["dt"]),
        "<h3>Activity</h3>",
        plot_raster(e.get("raster") or [], c["timesteps"]),
        plot_histograms(e.get("spike_histograms") or []),
        _layer_table(c),
        "<h3>Energy and latency</h3>",
        plot_energy(e.get("hardware") or []),
        "".join(_hardware_section(h) for h in e.get("hardware") or []) or "<p>not available</p>",
        _second_opinions_section(e.get("second_opinions") or []),
        "<h3>Accuracy: float model vs the chip's arithmetic vs emulator</h3>",
        _accuracy_table(e.get("accuracy") or {}, e.get("reference_backend", "")),
    ]
    if e.get("notes"):
        parts.append("<h3>Notes</h3>" + "".join(f"<p class='warn'>{_e(n)}</p>" for n in e["notes"]))
    return f"<section class='target'>{''.join(parts)}</section>"


_CSS = """body{font-family:system-ui,sans-serif;max-width:1180px;margin:1.2em auto;padding:0
       14px;color:#222;
line-height:1.35}h1{margin-bottom:.1em}h2{margin-top:1.2em}
table{border-collapse:collapse;margin:.6em 0;
font-size:13px;max-width:100%}td,th{border:1px solid #ccc;padding:3px
6px;text-align:left;vertical-align:top;
overflow-wrap:break-word}th{background:#f2f2f2}td.num{text-align:right}table.kv th{width:14em}
section.target{border-top:3px solid #444;margin-top:2em}figure{margin:.6em
0}img{max-width:100%;height:auto}
figcaption{font-size:12px;color:#555}.bad{color:#b00}.good{color:#070}.warn{color:#8a5a00}
.small{font-size:11.5px;color:#555;margin:.15em 0}code{font-size:12px;overflow-wrap:anywhere}
pre{white-space:pre-wrap;background:#f7f7f7;padding:.5em;overflow-wrap:anywhere}
table.headline{width:100%;font-size:14px}table.headline th{font-size:12.5px}
table.headline tbody.row{border-top:2px solid #999}table.headline td.num{min-width:6.5em}
table.headline .chip{display:block;font-size:12px;color:#555}\ntable.headline
td:first-child{min-width:6.5em}
tr.flags td{border-top:none;background:#fffaf0;font-size:12.5px}.flag{margin:.1em 0}
.flag.real_time{color:#b00}.flag.approximation,.flag.host{color:#7a4a00}
.mark{display:inline-block;min-width:1.1em;font-weight:bold;text-align:center}.mark.rt{color:#b00}
.mark.ap{color:#a06000}.status{font-weight:bold;white-space:nowrap}
.bar{display:block;height:6px;background:#1f77b4;margin-top:3px;margin-left:auto}
.bar.partial{background:repeating-linear-gradient(90deg,#1f77b4 0 3px,#fff 3px 5px)}
.src{font-size:11.5px}table.terms td.num{white-space:nowrap}table.terms
td:nth-child(5),table.consts td:nth-child(4){max-width:26em}
details{margin:.3em 0}summary{cursor:pointer;color:#1f4e79}.legend{font-size:12.5px}"""


def _baseline_targets() -> str:
    """The registered targets that give the CPU baseline (``Capabilities.cpu_baseline``)."""
    from nrf_deploy.targets import available_targets

    names = [t.name for t in available_targets() if t.capabilities.cpu_baseline]
    return " or ".join(names) or "CPU-baseline"


def render(report: dict[str, Any]) -> str:
    """The whole report as one HTML string (no scripts, no external resources)."""
    entries = report["targets"]
    toc = " · ".join(f"<a href='#t{i}'>{_e(e['target'])}</a>" for i, e in enumerate(entries))
    baseline = report.get("baseline")
    base = (
        f"The CPU baseline is the {_e(baseline.get('target', 'CPU'))} export on this machine: "
        f"{si(baseline['latency_s'], 's')} and "
        f"{si(baseline['energy_j'], 'J')} per inference; “3.6× less” means 3.6 times smaller than "
        "the CPU's figure."
        if baseline
        else f"No {_baseline_targets()} export in this report: no CPU baseline ratios."
    )
    versions = ", ".join(f"{k} {v}" for k, v in (report.get("versions") or {}).items())
    trajectories = plot_trajectories(entries)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>nrf-deploy report</title><style>{_CSS}</style></head><body>
<h1 id="title">nrf-deploy report</h1>
<p class="small">model <code>{_e(report["model"])}</code> · targets: {toc}<br>{_e(versions)}</p>
<h2>At a glance</h2>
<p class="legend">Per inference: one input sample of T timesteps. Latency is input to last output
for every
chip (event-driven chips: the input's own duration plus the pipeline delay). {_e(base)}
Bars share one linear axis per column. Marks in a row:
<b>{MARKS["approximation"]}</b> the export approximates the model,
<b>{MARKS["host"]}</b> part of the model runs on the host,
<b class="bad">{MARKS["real_time"]}</b> the figure breaks real time;
“≥” a partial total (a term without a published constant); “not available” a total that needs a
constant
nobody has published (<code>--energy-constant CHIP.NAME=VALUE</code>).
Check: <i>verified</i> = this export's chip files were checked bit for bit against the
reference.</p>
{headline(report)}
<p class="small">{_e(report.get("samples_note", ""))}</p>
{"<h2>What the chips compute</h2>" + trajectories if trajectories else ""}
{"".join(_entry_section(e, i) for i, e in enumerate(entries))}
<section><h2>Definitions and sources</h2>
<p class="small">Counts follow NeuroBench (Yik et al., Nat. Commun. 2025): dense synaptic ops =
every synapse
every step; effective synaptic ops = source events × fan-out; ACs where the source emits events,
MACs where it
emits graded values; activation sparsity = 1 − spikes / neuron updates. Synapses are the nonzero
entries of each
projection's composed matrix. Constant kinds: measured (silicon or this machine), simulated
(pre-silicon),
derived (from other figures or a documented configuration), unpublished (no figure exists), unset
(not collected
from a primary source), user (supplied on the command line). Every number here is in the JSON file
beside this
page, each energy and latency term with its count, constant, source and kind. See docs/report.md and
docs/energy.md.</p></section>
</body></html>
"""
