"""The smoke subset CI runs on every supported Python besides the default one (``pytest -m smoke``,
``make smoke PY=3.11``): the whole user path through the command line, no witness environments.

load (inspect) -> export to every target -> verify reference vs emulator -> convert an ONNX MLP ->
report without second opinions. Each step checks what it produced, not only its exit code.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import CLI, FIXTURES, REPO

pytestmark = pytest.mark.smoke

TARGET_INPUTS = {
    "loihi": FIXTURES / "cnn_sinabs.nir",
    "speck": FIXTURES / "cnn_sinabs.nir",
    "spinnaker": FIXTURES / "cnn_sinabs.nir",
    "onnx": FIXTURES / "cnn_sinabs.nir",
    # Xylo takes small recurrent networks, not the CNN: snnTorch's RLeaky file (tests/fixtures)
    "xylo": None,
}


def _cli(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout)


def _model(target: str, repo) -> str:
    path = TARGET_INPUTS[target]
    return str(path if path is not None else repo / "tests/fixtures/interop/snntorch_rleaky.nir")


@pytest.fixture(scope="module")
def exports(tmp_path_factory, fixture_path):
    root = tmp_path_factory.mktemp("smoke")
    made = {}
    for target in TARGET_INPUTS:
        out = root / target
        extra = ["--dt", "1e-4"] if target == "xylo" else []
        proc = _cli("export", _model(target, REPO), "--target", target, "-o", str(out), *extra)
        assert proc.returncode == 0, f"{target}: {proc.stdout}{proc.stderr}"
        made[target] = out
    return made


def test_inspect_reads_the_fixture(fixture_path):
    proc = _cli("inspect", str(fixture_path), "--json")
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    kinds = {n["type"] for n in info["nodes"]}
    assert {"Conv2d", "IF", "SumPool2d", "Affine"} <= kinds


@pytest.mark.parametrize("target", list(TARGET_INPUTS))
def test_export_then_verify_reference_against_emulator(exports, target):
    out = exports[target]
    sidecar = json.loads((out / "deploy.json").read_text())
    assert sidecar["target"] == target
    proc = _cli("verify", str(out), "--samples", "4", "--witness-samples", "0")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads((out / "verify-report.json").read_text())
    compared = [c for c in report["comparisons"] if c.get("compared_values")]
    assert compared and all(c["mismatches"] == 0 for c in compared), report


def test_convert_an_onnx_mlp_and_run_it(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w1, w2 = rng.normal(0, 0.5, (8, 6)), rng.normal(0, 0.5, (3, 8))
    graph = helper.make_graph(
        [
            helper.make_node("Gemm", ["x", "w1", "b1"], ["h"], transB=1),
            helper.make_node("Relu", ["h"], ["r"]),
            helper.make_node("Gemm", ["r", "w2", "b2"], ["y"], transB=1),
        ],
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3])],
        [
            numpy_helper.from_array(w1.astype(np.float32), "w1"),
            numpy_helper.from_array(np.zeros(8, np.float32), "b1"),
            numpy_helper.from_array(w2.astype(np.float32), "w2"),
            numpy_helper.from_array(np.zeros(3, np.float32), "b2"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.save(model, tmp_path / "mlp.onnx")
    np.save(tmp_path / "cal.npy", rng.uniform(0, 1, (32, 6)).astype(np.float32))
    proc = _cli(
        "convert",
        str(tmp_path / "mlp.onnx"),
        "--calibration",
        str(tmp_path / "cal.npy"),
        "-o",
        str(tmp_path / "mlp.nir"),
        "--timesteps",
        "8",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    x = (rng.uniform(0, 1, (8, 2, 6)) < 0.5).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    out = str(tmp_path / "out.npz")
    proc = _cli("run", str(tmp_path / "mlp.nir"), "--input", str(tmp_path / "x.npy"), "-o", out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with np.load(tmp_path / "out.npz") as out:
        assert any(out[k].shape[:2] == (8, 2) for k in out.files)


def test_report_without_second_opinions(exports, tmp_path):
    dirs = [str(exports[t]) for t in ("loihi", "speck", "spinnaker", "onnx")]
    proc = _cli("report", *dirs, "-o", str(tmp_path / "r.html"), "--no-second-opinions")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads((tmp_path / "r.json").read_text())
    assert {t["target"] for t in data["targets"]} >= {"loihi", "speck", "spinnaker", "onnx"}
    assert (tmp_path / "r.html").stat().st_size > 10_000


def test_python_is_a_supported_one():
    assert (3, 11) <= sys.version_info[:2] < (3, 14)
