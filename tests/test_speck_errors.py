"""Speck: what does not fit or cannot be represented gets one clear error listing everything."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import need_witness
from nrf_deploy.targets.speck import SpeckTarget
from test_speck_graphs import branchy, chain, neuron

from nrf_deploy.errors import DoesNotFitError, GraphError, NrfError
from nrf_deploy.inputs import random_events
from nrf_deploy.ir import load_graph
from nrf_deploy.ir import nodes as ir
from nrf_deploy.ir.write import write_nir

TARGET = SpeckTarget()


def _build(graph: ir.NIRGraph, **options):
    return TARGET.build(load_graph(graph), options)


def test_a_graph_too_big_gets_one_error_listing_every_violation():
    graph = chain(
        [
            {
                "out": 4,
                "kernel": 17,
                "stride": 3,
                "padding": 8,
            },  # kernel, stride, padding, input 140x140
            {"out": 1100, "kernel": 1},  # > 1024 features, output map 48x48 ok
            {"out": 2, "kernel": 1},
        ],
        in_shape=(2, 140, 140),
    )
    with pytest.raises(DoesNotFitError) as info:
        _build(graph)
    text = info.value.format()
    for fragment in (
        "kernel is 17x17 (limit: <= 16x16)",
        "stride (y, x) is (3, 3)",
        "padding (y, x) is (8, 8)",
        "input feature map is 140x140",
        "output features is 1100",
        "input channels is 1100",
        "memory (kernel / neuron entries)",
    ):
        assert fragment in text, f"{fragment!r} missing from:\n{text}"
    assert len(info.value.violations) >= 7 and text.count("\n    - ") == len(info.value.violations)


def test_output_map_fan_out_and_layer_count_limits():
    wide = chain([{"out": 1, "kernel": 1}], in_shape=(2, 70, 70))  # 70x70 neurons > 64x64
    with pytest.raises(DoesNotFitError, match="output feature map is 70x70"):
        _build(wide)
    deep = chain([{"out": 2, "kernel": 1}] * 10)
    with pytest.raises(DoesNotFitError, match=r"number of layers is 10 \(limit: 9 cores\)"):
        _build(deep)
    g = branchy(0, 2, 8, 3)  # n1 feeds n2, n3 and now n5
    nodes, edges = dict(g.nodes), list(g.edges)
    nodes["c5"] = ir.Conv2d((8, 8), np.ones((2, 2, 1, 1)), 1, 0, 1, 1, np.zeros(2))
    nodes["n5"] = neuron((2, 8, 8))
    nodes["out5"] = ir.Output({"output": np.array([2, 8, 8])})
    edges += [("n1", "c5"), ("c5", "n5"), ("n5", "out5")]
    with pytest.raises(DoesNotFitError, match=r"layer 'n1': destinations \(fan-out\) is 3"):
        _build(ir.NIRGraph(nodes=nodes, edges=edges))


def test_cores_too_few_large_ones_are_explained():
    """Three layers each needing 64Ki of kernel memory: only cores 5 and 6 have it."""
    graph = chain(
        [
            {"out": 256, "kernel": 3, "padding": 1},
            {"out": 256, "kernel": 1},
            {"out": 256, "kernel": 1},
        ],
        in_shape=(16, 8, 8),
        seed=1,
    )
    with pytest.raises(DoesNotFitError) as info:
        _build(graph)
    assert "core assignment" in info.value.format() and "all taken by" in info.value.format()
    assert "[5, 6]" in info.value.format()


def test_leaky_neurons_are_refused_with_every_node_named_unless_approximated():
    g = branchy(2, 2, 8, 3, lif_tau=0.004)
    with pytest.raises(GraphError) as info:
        _build(g)
    text = info.value.format()
    for name in ("n1", "n2", "n3", "n4"):
        assert f"layer '{name}': neuron model is LIF" in text
    assert "--speck-lif-as-if" in text and "Apart from these, the layers fit: 4 of 9 cores" in text
    deployment = _build(g, speck_lif_as_if=True)
    [note] = deployment.sidecar["approximations"]
    assert "LIF leak dropped" in note and "'n1'" in note and "prediction agreement" in note
    cost = deployment.sidecar["approximation_cost"]
    assert 0 <= cost["float_model_vs_chip"]["prediction_agreement"] <= 1
    x = random_events(deployment.input_shape, 10, 2, 0.5, 0)
    ref = TARGET.run(deployment, "reference", x)
    assert ref.output().sum() > 0


def test_approximation_is_stated_by_verify(tmp_path, capsys):
    from nrf_deploy.cli import main

    path = tmp_path / "lif.nir"
    write_nir(path, branchy(2, 2, 8, 3, lif_tau=0.004))
    out = str(tmp_path / "e")
    assert main(["export", str(path), "--target", "speck", "-o", out, "--speck-lif-as-if"]) == 0
    assert (
        main(["verify", out, "--samples", "2", "--witness-samples", "1", "--timesteps", "4"]) == 0
    )
    assert "note: this export approximates the model: LIF leak dropped" in capsys.readouterr().out


def test_rf_snn_is_refused_with_the_exact_reasons_or_deploys_with_both_opt_ins(tmp_path):
    """The RF-SNN (LIF hidden layer, LI read-out membrane): refused with both nodes named and both
    opt-ins; with --speck-lif-as-if and --speck-host-readout the hidden layer runs on one core, the
    read-out on the host, and the three backends agree."""
    from nrf_deploy.exporters.nir import export_rf_snn

    from nrf_deploy.cli.export import export
    from nrf_deploy.models.rf_snn import CONFIGS, RFSNN

    graph = export_rf_snn(RFSNN(CONFIGS["tiny"]))
    with pytest.raises(GraphError) as info:
        _build(graph)
    text = info.value.format()
    assert (
        "layer 'lif': neuron model is LIF" in text and "layer 'readout': neuron model is LI" in text
    )
    assert "no membrane can be read out" in text and "--speck-host-readout" in text
    with pytest.raises(GraphError) as info:
        _build(graph, speck_lif_as_if=True)
    assert "'lif'" not in info.value.format() and "'readout'" in info.value.format()

    deployment = export(
        graph, "speck", tmp_path / "rf", {"speck_lif_as_if": True, "speck_host_readout": True}
    )
    assert deployment.sidecar["resources"]["cores_used"] == 1
    assert deployment.sidecar["host_readout"] == [
        {"node": "readout", "source": "lif", "file": "host_0.nir"}
    ]
    loaded = TARGET.load(tmp_path / "rf")
    x = random_events(loaded.input_shape, 12, 2, 0.2, 4)
    ref = TARGET.run(loaded, "reference", x)
    assert (
        ref.output().dtype.kind == "f"
        and ref.output().shape == (12, 2, 3, 8, 8)
        and np.abs(ref.output()).max() > 0
    )
    import json

    config = json.loads((tmp_path / "rf" / "chip_config.json").read_text())
    core = config["core_of_layer"]["lif"]
    assert (
        config["cnn_layers"][core]["monitor_enable"] and config["host_readout"][0]["core"] == core
    )
    for backend in ("emulator", "sinabs"):
        if backend == "sinabs":
            need_witness("sinabs")  # everything above runs without it
        other = TARGET.run(loaded, backend, x)
        assert np.array_equal(other.outputs["lif"], ref.outputs["lif"]) and np.array_equal(
            other.output(), ref.output()
        )


def test_structures_speck_cannot_run():
    base = branchy(0, 2, 8, 3)
    nodes, edges = dict(base.nodes), list(base.edges)
    nodes["c1"] = ir.Conv2d(
        (8, 8), np.ones((2, 2, 3, 5)), 1, (1, 2), 1, 1, np.zeros(2)
    )  # 3x5 kernel
    nodes["p"] = ir.SumPool2d(np.array([4, 4]), np.array([2, 2]), np.array([1, 1]))  # overlapping
    nodes["n1"] = ir.IF(
        np.ones((2, 8, 8)), np.linspace(0.5, 1.0, 128).reshape(2, 8, 8)
    )  # thresholds vary
    with pytest.raises(NrfError) as info:
        _build(ir.NIRGraph(nodes=nodes, edges=edges))
    text = info.value.format()
    assert "kernel is 3x5" in text and "pooling" in text and "v_threshold" in text


def test_conv_pool_before_neuron_and_recurrence_are_refused():
    g = chain([{"out": 2, "kernel": 3, "padding": 1}])
    nodes, edges = dict(g.nodes), [e for e in g.edges if e != ("c0", "n0")]
    nodes["pp"] = ir.SumPool2d(np.array([2, 2]), np.array([2, 2]), np.array([0, 0]))
    nodes["n0"] = neuron((2, 4, 4))
    nodes["out"] = ir.Output({"output": np.array([2, 4, 4])})
    edges += [("c0", "pp"), ("pp", "n0")]
    with pytest.raises(GraphError, match="pool after the neurons"):
        _build(ir.NIRGraph(nodes=nodes, edges=edges))
    g = chain([{"out": 2, "kernel": 1}])
    nodes, edges = dict(g.nodes), list(g.edges)
    nodes["rec"] = ir.Conv2d((8, 8), np.ones((2, 2, 1, 1)), 1, 0, 1, 1, np.zeros(2))
    edges += [("n0", "rec"), ("rec", "c0")]
    with pytest.raises(NrfError, match="recurrent"):
        _build(ir.NIRGraph(nodes=nodes, edges=edges))


def test_bad_inputs_and_corrupt_exports(fixture_path, tmp_path, capsys):
    from nrf_deploy.cli import main

    deployment = _build(chain([{"out": 2, "kernel": 3}]))
    for bad in (
        -np.ones((2, 1, 2, 8, 8)),
        np.full((2, 1, 2, 8, 8), 0.5),
        np.full((2, 1, 2, 8, 8), np.nan),
    ):
        with pytest.raises(NrfError, match="event counts"):
            TARGET.run(deployment, "reference", bad)
    with pytest.raises(NrfError, match="unknown backend"):
        TARGET.run(deployment, "samna", np.zeros((2, 1, 2, 8, 8)))
    out = str(tmp_path / "s")
    assert (
        main(
            [
                "export",
                str(fixture_path),
                "--target",
                "speck",
                "-o",
                out,
                "--speck-threshold-low",
                "zero",
            ]
        )
        == 2
    )
    assert "invalid option" in capsys.readouterr().err
    assert main(["export", str(fixture_path), "--target", "speck", "-o", out]) == 0
    np.save(tmp_path / "x.npy", np.ones((3, 1, 2, 30, 30)))
    assert (
        main(["run", out, "--input", str(tmp_path / "x.npy"), "-o", str(tmp_path / "o.npz")]) == 2
    )
    assert "the model expects [T, B, 2, 34, 34]" in capsys.readouterr().err
    (tmp_path / "s" / "program.npz").write_bytes(b"not an npz")
    assert main(["verify", out, "--samples", "1"]) == 2
    err = capsys.readouterr().err
    assert "program.npz" in err and "re-run nrf-deploy export" in err and "Traceback" not in err
