"""Reports: numbers trace to sourced constants, counts match an independent count, HTML renders."""
from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pytest

from conftest import CLI
from nrf_deploy.cli.export import export
from nrf_deploy.inputs import random_events
from nrf_deploy.report import build_report


@pytest.fixture(scope="module")
def exports(fixture_path, tmp_path_factory):
    root = tmp_path_factory.mktemp("exports")
    for target in ("loihi", "speck"):
        export(fixture_path, target, root / target)
    return root


def test_report_numbers_trace_to_their_sources(exports, tmp_path):
    x = random_events((2, 34, 34), 10, 3, 0.1, 0)
    report = build_report([exports / "loihi", exports / "speck"], tmp_path / "report.html", x=x)
    data = json.loads((tmp_path / "report.json").read_text())
    assert [t["target"] for t in data["targets"]] == ["loihi", "speck"]
    for entry in data["targets"]:
        hw = entry["hardware"]
        for name, constant in hw["constants"].items():
            assert constant["source"] and constant["kind"] in ("measured", "simulated", "derived", "unpublished", "user")
            if constant["kind"] == "unpublished":
                assert constant["value"] is None
        assert hw["energy_j"] > 0 and hw["latency_s"] > 0
    loihi = data["targets"][0]
    c = loihi["hardware"]["constants"]
    parts = loihi["hardware"]["energy_breakdown_j"]
    # the synaptic-op energy is exactly effective SOPs x the published 23.6 pJ
    assert parts["synaptic ops"] == pytest.approx(loihi["counts"]["effective_sops"] * c["sop_energy_pj"]["value"] * 1e-12)
    assert report["summary"][0]["verified"] is None     # not verified yet: the report says so


def test_effective_sops_equal_an_independent_count(exports, tmp_path):
    """Count synaptic events by hand: each input/hidden spike times the nonzero weights it drives."""
    from nrf_deploy.report import analyse_export
    from nrf_deploy.targets.loihi import LoihiTarget

    x = random_events((2, 34, 34), 6, 2, 0.1, 1)
    entry = analyse_export(exports / "loihi", x=x)
    target = LoihiTarget()
    dep = target.load(exports / "loihi")
    trace = target.run(dep, "reference", x, record_states=False)
    expected = 0.0
    for syn in dep.program.projections:
        fan_out = np.diff(syn.weights.tocsc().indptr)   # nonzero *quantised* weights may be fewer
        spikes = trace.outputs[syn.source].reshape(6, 2, -1).sum(axis=0).mean(axis=0)
        expected += float(spikes @ fan_out)
    # the report counts float-graph synapses; quantisation can only zero some of them
    assert entry["counts"]["effective_sops"] >= expected > 0
    assert entry["counts"]["effective_sops"] <= expected * 1.05


def test_user_supplied_constant_is_used_and_labelled(exports, tmp_path):
    proc = subprocess.run([*CLI, "report", str(exports / "loihi"), "-o", str(tmp_path / "r.html"), "--samples", "2",
                           "--energy-constant", "loihi.barrier_sync_ns=1000"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    data = json.loads((tmp_path / "report.json").read_text())
    hw = data["targets"][0]["hardware"]
    assert hw["constants"]["barrier_sync_ns"] == {"value": 1000.0, "unit": "ns", "source": "supplied by the user",
                                                  "kind": "user"}
    assert hw["latency_per_step_s"] >= 1e-6
    bad = subprocess.run([*CLI, "report", str(exports / "loihi"), "--energy-constant", "loihi.nope=1"],
                         capture_output=True, text=True, timeout=600)
    assert bad.returncode == 2 and "unknown constant" in bad.stderr and "Traceback" not in bad.stderr


def test_html_renders_in_headless_chromium(exports, tmp_path):
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is required (scripts/bootstrap.sh installs it as root)"
    build_report([exports / "speck"], tmp_path / "report.html", x=random_events((2, 34, 34), 8, 2, 0.1, 0))
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0"]
    proc = subprocess.run([chromium, *flags, "--dump-dom", (tmp_path / "report.html").as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert '<h1 id="title">nrf-deploy report</h1>' in proc.stdout
    assert proc.stdout.count("data:image/png;base64,") >= 3
    assert "Uncaught" not in proc.stderr and "ERROR:CONSOLE" not in proc.stderr
    assert "http://" not in (tmp_path / "report.html").read_text() and "https://" not in (tmp_path / "report.html").read_text()
