"""The report a hardware engineer reads at a glance, rendered in headless Chromium (Debian's
package) at 1400 px and 900 px: no sideways scroll at 900 px, a unit in every headline figure,
approximations and real-time violations in the rows they concern, the decoded trajectories.

The exports are small and made here: an untrained tiny RF-SNN (the demo's model family, DSNT
read-out) on generated shapes, exported to Speck with --speck-lif-as-if and a host read-out, to
SpiNNaker and to ONNX (the CPU baseline). SpiNNaker's all-in energy constant is raised so that its
figures must break the chips' peak power: the real-time violation has to show.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest
import torch
from helpers import run_chromium
from nrf_deploy.exporters.nir import export_rf_snn

from nrf_deploy.cli.export import export
from nrf_deploy.data import generate
from nrf_deploy.ir.write import write_nir
from nrf_deploy.models import CONFIGS, RFSNN
from nrf_deploy.report import build_report, summary_table
from nrf_deploy.training import shapes_config

# a figure followed by a unit, or a ratio in words, or the words for a missing figure
UNIT = re.compile(
    r"\d\s?(?:[GMkmµnpf]?(?:s|J|W)|px|%|cores?|chips?)\b|\d× (?:less|more)|r = -?\d|"
    r"about the same|the baseline|not available"
)
PROBE = """<script>
const wide = [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right >
  document.documentElement.clientWidth + 1).map(e => e.tagName + '.' + e.className).slice(0, 8);
document.title = JSON.stringify({scroll: document.documentElement.scrollWidth,
  client: document.documentElement.clientWidth, wide: wide});
</script>"""


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("glance")
    cfg = CONFIGS["tiny"]
    torch.manual_seed(0)
    write_nir(root / "model.nir", export_rf_snn(RFSNN(cfg)))
    events, centres = generate(2, shapes_config(cfg.size, 12), seed=5)
    x = events.swapaxes(0, 1).astype(np.int64)  # [T, B, 2, H, W]
    labels = centres.swapaxes(0, 1)  # [T, B, 3, 2] pixels
    options = {"speck": {"speck_lif_as_if": True, "speck_host_readout": True}}
    for target in ("speck", "spinnaker", "onnx"):
        export(root / "model.nir", target, root / target, options.get(target, {}))
    html_path = root / "glance.html"
    data = build_report(
        [root / t for t in ("speck", "spinnaker", "onnx")],
        html_path,
        x=x,
        labels=labels,
        warmup=2,
        overrides={"spinnaker1": {"synaptic_event_uj": 1e4}},
    )
    return root, html_path, data


def _chromium(root, page, width: int, *args: str) -> subprocess.CompletedProcess:
    return run_chromium(page, root, f"--window-size={width},1200", *args)


class _Headline(HTMLParser):
    """Row groups of the headline table: the text of each numeric cell and of the whole group."""

    def __init__(self) -> None:
        super().__init__()
        self.groups: list[dict] = []
        self.depth = 0
        self.cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and attrs.get("class") == "headline":
            self.depth = 1
        elif self.depth and tag == "tbody":
            self.groups.append({"cells": [], "text": []})
        elif self.depth and tag == "td" and attrs.get("class") == "num":
            self.cell = []

    def handle_endtag(self, tag):
        if tag == "table":
            self.depth = 0
        elif tag == "td" and self.cell is not None:
            self.groups[-1]["cells"].append(" ".join(self.cell))
            self.cell = None

    def handle_data(self, data):
        if self.depth and self.groups:
            self.groups[-1]["text"].append(data)
            if self.cell is not None:
                self.cell.append(data)


def test_no_sideways_scroll_at_900_px_and_a_full_page_at_1400(report):
    root, html_path, _ = report
    probe = html_path.with_name("probe.html")
    probe.write_text(html_path.read_text().replace("</body>", PROBE + "</body>"))
    for width in (900, 1400):
        proc = _chromium(root, probe, width, "--dump-dom")
        assert proc.returncode == 0, proc.stderr[-2000:]
        layout = json.loads(html.unescape(re.search(r"<title>(.*?)</title>", proc.stdout).group(1)))
        assert layout["scroll"] <= layout["client"], (width, layout)
        assert not layout["wide"], (width, layout)
    shot = root / "shot.png"
    proc = _chromium(root, html_path, 900, f"--screenshot={shot}", "--hide-scrollbars")
    assert proc.returncode == 0 and shot.is_file(), proc.stderr[-2000:]


def test_every_headline_figure_has_a_unit_and_flags_sit_in_their_rows(report):
    _, html_path, data = report
    parser = _Headline()
    parser.feed(html_path.read_text())
    groups = {" ".join(g["text"]).split()[0]: g for g in parser.groups}
    assert {"speck", "spinnaker", "onnx"} <= set(groups)
    for name, g in groups.items():
        assert g["cells"], name
        for cell in g["cells"]:
            assert UNIT.search(cell), (name, cell)
    speck = " ".join(groups["speck"]["text"])
    assert "approximation" in speck and "LIF leak dropped" in speck and "host" in speck
    spinnaker = [" ".join(g["text"]) for g in parser.groups if "SpiNNaker 1" in " ".join(g["text"])]
    assert (
        len(spinnaker) == 1
        and "real-time violation" in spinnaker[0]
        and "fall behind real time" in spinnaker[0]
    )
    assert "real-time violation" not in " ".join(groups["onnx"]["text"])
    # the same facts in report.json and in the terminal summary
    rows = {(r["target"], r["chip"]): r for r in data["summary"]}
    assert any(f["kind"] == "real_time" for f in rows[("spinnaker", "spinnaker1")]["flags"])
    assert not any(f["kind"] == "real_time" for f in rows[("spinnaker", "spinnaker2")]["flags"])
    assert {f["kind"] for f in rows[("speck", "speck")]["flags"]} == {"approximation", "host"}
    speck_row = rows[("speck", "speck")]
    # latency per inference for an event-driven chip: the input's duration + the pipeline delay
    assert speck_row["latency_s"] == pytest.approx(12 * CONFIGS["tiny"].dt + 3.36e-6)
    assert speck_row["event_latency_s"] == pytest.approx(3.36e-6)
    terminal = summary_table(data)
    assert "fall behind real time" in terminal and "LIF leak dropped" in terminal
    assert "e+0" not in terminal and "e-0" not in terminal


def test_trajectory_plot_and_readable_json(report):
    _, html_path, data = report
    page = html_path.read_text()
    assert "decoded trajectories of sample 0" in page and "What the chips compute" in page
    accuracy = next(e for e in data["targets"] if e["target"] == "speck")["accuracy"]
    traj = accuracy["trajectory"]  # the steps every target compares
    assert np.asarray(traj["truth"]).shape == (accuracy["compared_steps"], 3, 2)
    assert set(traj["decoded"]) >= {"float", "reference", "emulator"}
    stored = json.loads(html_path.with_suffix(".json").read_text())
    assert not (html_path.parent / "report.json").exists()  # NAME.html -> NAME.json
    assert stored["versions"]["nrf_deploy"] and stored["versions"]["numpy"] == np.__version__

    def keys(obj, path=""):
        if isinstance(obj, dict):
            for k, v in obj.items():
                yield path, k
                yield from keys(v, f"{path}/{k}")
        elif isinstance(obj, list):
            for v in obj:
                yield from keys(v, path)

    bad = [(p, k) for p, k in keys(stored) if re.search(r"\s", k)]
    assert not bad, bad[:5]  # no spaces in any key
