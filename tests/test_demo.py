"""The README's main command on the smallest settings: train, export everywhere, verify, report."""

from __future__ import annotations

import json
import subprocess

from conftest import CLI
from nrf_deploy.targets import target_names


def test_demo_runs_end_to_end(tmp_path):
    out = tmp_path / "demo"
    proc = subprocess.run(
        [*CLI, "demo", "-o", str(out), "--config", "tiny", "--samples", "3", "--timesteps", "8"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "target" in proc.stdout and "report:" in proc.stdout  # the terminal summary table
    report = json.loads((out / "report.json").read_text())
    entries = {e["target"]: e for e in report["targets"]}
    assert set(entries) == set(target_names())  # every registered target is accounted for
    for name, e in entries.items():
        if e["status"] == "refused":
            assert e["error"].strip(), name  # refused with its reason, not a crash
            continue
        assert e["status"] == "ok", (name, e.get("error"))
        assert e["verification"]["status"] == "verified", name  # bit-exact on held-out data
        assert (out / "exports" / name / "verify-report.json").is_file()
        backends = e["accuracy"]["backends"]
        assert "median_l2_px" in backends["float"]  # the RF-SNN's task metric, from labels
        assert all("median_l2_px" in m for m in backends.values())
        for h in e["hardware"]:
            for term in h["energy_terms"] + h["latency_terms"]:
                assert term["source"] and term["constant"] in h["constants"]
    assert entries["loihi"]["status"] == "ok" and entries["onnx"]["status"] == "ok"
    if (
        "speck" in entries and entries["speck"]["status"] == "refused"
    ):  # leaky neurons: the opt-in was tried too
        assert (
            "LI" in entries["speck"]["error"] and "--speck-lif-as-if" in entries["speck"]["error"]
        )
    assert (out / "report.html").read_text().count("<section class='target'>") == len(entries)
    assert (out / "run" / "model.nir").is_file()


def test_demo_deploys_an_existing_model(fixture_path, tmp_path):
    out = tmp_path / "demo"
    proc = subprocess.run(
        [
            *CLI,
            "demo",
            "-o",
            str(out),
            "--model",
            str(fixture_path),
            "--targets",
            "speck,onnx",
            "--samples",
            "2",
            "--timesteps",
            "5",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert [e["target"] for e in report["targets"]] == ["speck", "onnx"]
    assert all(e["verification"]["status"] == "verified" for e in report["targets"])
    assert not (out / "run").exists()  # no training with --model
    bad = subprocess.run(
        [*CLI, "demo", "-o", str(tmp_path / "x"), "--model", str(tmp_path / "missing.nir")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
