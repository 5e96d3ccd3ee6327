"""The command line: help everywhere, inspect's table and JSON, run's output file."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
from conftest import CLI

from nrf_deploy.cli import COMMANDS, build_parser
from nrf_deploy.ir.load import read_nir_file


def _cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=300)


def test_every_registered_command_has_help():
    parser = build_parser()
    available = parser._subparsers._group_actions[0].choices
    assert {"inspect", "run", "export", "verify"} <= set(available)
    for name in available:
        assert name in COMMANDS
        proc = _cli(name, "--help")
        assert proc.returncode == 0 and "usage: nrf-deploy" in proc.stdout


def test_inspect_table_and_json_agree_with_the_file(fixture_path):

    raw = read_nir_file(fixture_path)
    proc = _cli("inspect", fixture_path)
    assert proc.returncode == 0 and "graph check: OK" in proc.stdout
    info = json.loads(_cli("inspect", fixture_path, "--json").stdout)
    assert {n["name"] for n in info["nodes"]} == set(raw.nodes)
    conv0 = next(n for n in info["nodes"] if n["name"] == "0")
    w = raw.nodes["0"].weight
    assert conv0["out_shape"] == [16, 16, 16]
    # dense synapses of a conv: kernel size x input channels x output positions
    assert conv0["synapses"] == w.shape[1] * w.shape[2] * w.shape[3] * 16 * 16 * 16
    assert info["totals"]["neurons"] == sum(
        int(np.prod(n.v_threshold.shape)) for n in raw.nodes.values() if type(n).__name__ == "IF"
    )


@pytest.mark.parametrize("semantics", ["nir", "sinabs"])
def test_run_writes_spikes_and_states(fixture_path, tmp_path, semantics):
    x = (np.random.default_rng(0).random((10, 2, 2, 34, 34)) < 0.2).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "out.npz"
    proc = _cli(
        "run",
        fixture_path,
        "--input",
        tmp_path / "x.npy",
        "-o",
        out,
        "--states",
        "--semantics",
        semantics,
    )
    assert proc.returncode == 0, proc.stderr
    data = np.load(out)
    assert data["output"].shape == (10, 2, 10)
    assert data["state/1/v"].shape == (10, 2, 16, 16, 16)


def test_run_accepts_a_single_unbatched_sample(fixture_path, tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((4, 2, 34, 34)))
    proc = _cli("run", fixture_path, "--input", tmp_path / "x.npy", "-o", tmp_path / "o.npz")
    assert proc.returncode == 0, proc.stderr
    assert np.load(tmp_path / "o.npz")["output"].shape == (4, 1, 10)
