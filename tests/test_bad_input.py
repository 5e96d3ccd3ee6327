"""Every malformed model or input: one clear message, exit code 2, no traceback, no output file."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from conftest import CLI
from graphs import lif_chain

from nrf_deploy.errors import GraphError
from nrf_deploy.ir import load_graph
from nrf_deploy.ir import nodes as ir
from nrf_deploy.ir.write import write_nir


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=300)


def _assert_clean_failure(proc: subprocess.CompletedProcess, *fragments: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert proc.stderr.startswith("error: ")
    assert "what to do:" in proc.stderr
    for fragment in fragments:
        assert fragment in proc.stderr, proc.stderr


def _write(graph: ir.NIRGraph, path: Path) -> Path:
    write_nir(path, graph)
    return path


def _bad_graphs() -> dict[str, tuple[ir.NIRGraph, str]]:
    g = lif_chain()
    shape = ir.NIRGraph(
        nodes={**g.nodes, "fc": ir.Affine(np.ones((4, 5)), np.zeros(4))}, edges=g.edges
    )
    dangling = ir.NIRGraph(nodes=g.nodes, edges=[*g.edges, ("fc", "ghost")])
    loop = ir.NIRGraph(
        nodes={**g.nodes, "a": ir.Linear(np.eye(4)), "b": ir.Linear(np.eye(4))},
        edges=[*g.edges, ("lif", "a"), ("a", "b"), ("b", "a")],
    )
    param = ir.NIRGraph(
        nodes={**g.nodes, "lif": ir.LIF(np.full(3, 0.02), np.ones(3), np.zeros(3), np.ones(3))},
        edges=g.edges,
    )
    tau = ir.NIRGraph(
        nodes={**g.nodes, "lif": ir.LIF(np.full(4, -1.0), np.ones(4), np.zeros(4), np.ones(4))},
        edges=g.edges,
    )
    return {
        "shape": (shape, "weight expects input (5,)"),
        "dangling": (dangling, "'ghost', which is not a node"),
        "stateless_cycle": (loop, "cycle without a stateful neuron"),
        "param_shape": (param, "has shape (3,), the input has shape (4,)"),
        "negative_tau": (tau, "time constant 'tau' must be positive"),
    }


@pytest.mark.parametrize("case", sorted(_bad_graphs()))
def test_malformed_graph_is_refused_by_api_and_cli(case, tmp_path):
    graph, fragment = _bad_graphs()[case]
    with pytest.raises(GraphError, match=None) as info:
        load_graph(graph)
    assert fragment in info.value.format()
    path = _write(graph, tmp_path / f"{case}.nir")
    _assert_clean_failure(_cli("inspect", path), fragment)
    out = tmp_path / "out.npz"
    np.save(tmp_path / "x.npy", np.zeros((2, 1, 3)))
    _assert_clean_failure(_cli("run", path, "--input", tmp_path / "x.npy", "-o", out), fragment)
    assert not out.exists() and not list(tmp_path.glob(".out.npz*"))


def test_truncated_file(fixture_path, tmp_path):
    data = fixture_path.read_bytes()
    bad = tmp_path / "truncated.nir"
    bad.write_bytes(data[: len(data) // 3])
    _assert_clean_failure(_cli("inspect", bad), "truncated, corrupt or another format")


def test_not_hdf5(tmp_path):
    bad = tmp_path / "model.nir"
    bad.write_text("this is not a NIR file\n")
    _assert_clean_failure(_cli("inspect", bad), "not a readable NIR")


def test_missing_file(tmp_path):
    _assert_clean_failure(_cli("inspect", tmp_path / "nope.nir"), "does not exist")


def test_unknown_node_type(fixture_path, tmp_path):
    import shutil

    import h5py

    bad = tmp_path / "unknown.nir"
    shutil.copy(fixture_path, bad)
    with h5py.File(bad, "r+") as f:
        del f["node/nodes/5/type"]
        f["node/nodes/5/type"] = "Conv3d"
    _assert_clean_failure(_cli("inspect", bad), "node '5' has unknown type 'Conv3d'")


@dataclass(eq=False)
class Delay(ir.NIRNode):
    """NIR's Delay node (nir 1.0.0-1.0.8 define it; nrf-deploy refuses it)."""

    delay: np.ndarray


def test_delay_node_is_refused_clearly(tmp_path):
    g = lif_chain()
    g = ir.NIRGraph(
        nodes={**g.nodes, "d": Delay(np.ones(4))},
        edges=[("in", "fc"), ("fc", "d"), ("d", "lif"), ("lif", "out")],
    )
    _assert_clean_failure(_cli("inspect", _write(g, tmp_path / "delay.nir")), "Delay")


def test_input_array_of_wrong_shape(fixture_path, tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((5, 1, 2, 32, 32)))
    out = tmp_path / "o.npz"
    _assert_clean_failure(
        _cli("run", fixture_path, "--input", tmp_path / "x.npy", "-o", out),
        "input array has shape (5, 1, 2, 32, 32)",
        "[T, B, 2, 34, 34]",
    )
    assert not out.exists()


def test_input_file_not_numpy(fixture_path, tmp_path):
    (tmp_path / "x.npy").write_text("garbage")
    _assert_clean_failure(
        _cli("run", fixture_path, "--input", tmp_path / "x.npy", "-o", tmp_path / "o.npz"),
        "not a readable .npy",
    )


def test_unknown_target_and_missing_export_dir(fixture_path, tmp_path):
    proc = _cli("export", fixture_path, "--target", "truenorth", "-o", tmp_path / "x")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "truenorth" in proc.stderr
    _assert_clean_failure(_cli("verify", tmp_path / "missing"), "does not exist")
