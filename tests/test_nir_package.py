"""Working beside the nir package (nir 1.0.8 here, the version today's writers use): the Python
API takes a ``nir.NIRGraph`` object as it takes a file (it is written by the user's own
``nir.write`` and read by nrf-deploy's reader), and the nir package reads what nrf-deploy writes.
nrf-deploy itself never imports nir (tests/test_core_imports.py)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import nrf_deploy as nd
from nrf_deploy.errors import GraphError
from nrf_deploy.inputs import random_events
from nrf_deploy.ir import load_graph, run_float
from nrf_deploy.ir.interop import is_nir_package_graph
from nrf_deploy.ir.write import write_nir

nir = pytest.importorskip("nir")


def _nir_graph() -> nir.NIRGraph:
    """Affine -> LIF (nir >= 1.0.6's ``v_reset``) -> Affine -> CubaLI (nir 1.0.5): nir's classes."""
    rng = np.random.default_rng(8)
    return nir.NIRGraph(
        nodes={
            "in": nir.Input({"input": np.array([3])}),
            "fc": nir.Affine(rng.normal(0, 1, (4, 3)), rng.normal(0, 0.1, 4)),
            "lif": nir.LIF(
                tau=np.full(4, 0.02),
                r=np.ones(4),
                v_leak=np.zeros(4),
                v_threshold=np.ones(4),
                v_reset=np.full(4, -0.25),
            ),
            "fc2": nir.Affine(rng.normal(0, 1, (2, 4)), np.zeros(2)),
            "cubali": nir.CubaLI(
                tau_syn=np.full(2, 0.005),
                tau_mem=np.full(2, 0.01),
                r=np.ones(2),
                v_leak=np.zeros(2),
            ),
            "out": nir.Output({"output": np.array([2])}),
        },
        edges=[("in", "fc"), ("fc", "lif"), ("lif", "fc2"), ("fc2", "cubali"), ("cubali", "out")],
        metadata={"dt": 1e-3},
    )


def test_a_nir_graph_object_loads_as_its_file(tmp_path):
    graph = _nir_graph()
    nir.write(tmp_path / "g.nir", graph)
    from_object, from_file = load_graph(graph), load_graph(tmp_path / "g.nir")
    assert from_object.schedule == from_file.schedule
    assert from_object.nodes["lif"].reset == "value"
    np.testing.assert_array_equal(from_object.nodes["lif"].v_reset, np.full(4, -0.25))
    assert from_object.nodes["cubali"].kind == "CubaLI"
    assert from_object.metadata["nir_version"] == nir.version
    x = random_events((3,), 30, 4, 0.5, seed=2)
    a, b = run_float(from_object, x), run_float(from_file, x)
    np.testing.assert_array_equal(a.output(), b.output())  # the same graph, the same arithmetic
    assert "nir" in sys.modules and is_nir_package_graph(graph)
    assert not is_nir_package_graph(from_object.to_nir())


def test_the_api_exports_and_verifies_a_nir_graph_object(tmp_path):
    graph = _nir_graph()
    nd.export(graph, "spinnaker", tmp_path / "out")
    nir.write(tmp_path / "g.nir", graph)
    # source.nir is the file the user's nir.write makes of the object
    assert (tmp_path / "out" / "source.nir").read_bytes() == (tmp_path / "g.nir").read_bytes()
    result = nd.verify_export(tmp_path / "out", samples=4, witness_samples=0)
    assert result.ok and all(c.mismatches == 0 for c in result.comparisons)
    trace = nd.run(graph, random_events((3,), 10, 2, 0.5, seed=1))
    assert trace.output().shape == (10, 2, 2)


def test_a_graph_nir_cannot_write_is_one_message(monkeypatch):
    def broken(path, graph):
        raise ValueError("scalar parameter shapes")

    monkeypatch.setattr(nir, "write", broken)
    with pytest.raises(GraphError, match="could not write the graph.*scalar parameter shapes"):
        load_graph(_nir_graph())


def test_the_nir_package_reads_what_nrf_deploy_writes(tmp_path, fixture_path):
    """nir 1.0.8's nir.read (with its type inference) accepts the files nrf-deploy writes: the
    fixture's Conv2d/SumPool2d/IF/Flatten/Affine graph, and LIF with a reset record + CubaLI."""
    write_nir(tmp_path / "cnn.nir", load_graph(fixture_path).to_nir())
    cnn = nir.read(tmp_path / "cnn.nir")
    assert {type(n).__name__ for n in cnn.nodes.values()} >= {"Conv2d", "SumPool2d", "IF"}
    write_nir(tmp_path / "chain.nir", load_graph(_nir_graph()).to_nir())
    chain = nir.read(tmp_path / "chain.nir")
    assert type(chain.nodes["cubali"]).__name__ == "CubaLI"
    assert chain.nodes["lif"].metadata["reset"] == "value"  # the reset rule travels in metadata
    np.testing.assert_array_equal(chain.nodes["lif"].metadata["v_reset"], np.full(4, -0.25))
