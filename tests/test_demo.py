"""The README's main command, on the smallest settings: train, export everywhere, verify, report."""
from __future__ import annotations

import json
import subprocess

from conftest import CLI


def test_demo_runs_end_to_end(tmp_path):
    out = tmp_path / "demo"
    proc = subprocess.run([*CLI, "demo", "-o", str(out), "--config", "tiny", "--samples", "3", "--timesteps", "4"],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    by_target = {r["target"]: r for r in report["summary"]}
    assert by_target["loihi"]["verified"] is True and by_target["onnx"]["verified"] is True
    assert "LIF" in by_target["speck"]["error"]          # refused, with the reason in the report
    assert (out / "report.html").read_text().count("<section>") == len(by_target)
    assert (out / "run" / "model.nir").is_file()
