"""The PyNN artefacts of a SpiNNaker export: the script names only PyNN API calls, and run against a
stand-in ``pyNN.spiNNaker`` it builds exactly the exported network (sizes, cell parameters that
sPyNNaker's initialisation turns into the program's words, weights, delays, spike times)."""

from __future__ import annotations

import ast
import json
import runpy
import sys
import types

import numpy as np
import pytest
from graphs import recurrent_cubalif
from nrf_deploy.targets.spinnaker.format import ONE, U032_ONE, ring_buffer_shift

from nrf_deploy.cli.export import export
from nrf_deploy.inputs import random_events
from nrf_deploy.ir import nodes as ir

# PyNN 0.9+ API (pyNN.spiNNaker) names a user's script may take from the simulator module
PYNN_NAMES = {
    "setup",
    "end",
    "run",
    "run_until",
    "reset",
    "Population",
    "Projection",
    "Assembly",
    "PopulationView",
    "IF_curr_exp",
    "IF_curr_delta",
    "IF_cond_exp",
    "IF_curr_alpha",
    "SpikeSourceArray",
    "SpikeSourcePoisson",
    "FromListConnector",
    "OneToOneConnector",
    "AllToAllConnector",
    "StaticSynapse",
    "get_time_step",
    "set_number_of_neurons_per_core",
    "record",
    "get_data",
    "initialize",
}


def _readout_graph() -> ir.NIRGraph:
    g = recurrent_cubalif(n_in=4, n=6, seed=3)
    rng = np.random.default_rng(3)
    nodes = dict(g.nodes)
    nodes |= {
        "fc2": ir.Affine(rng.normal(0, 1, (2, 6)), np.array([0.1, -0.2])),
        "ro": ir.LI(np.array([0.004, 0.008]), np.ones(2), np.zeros(2)),
        "out": ir.Output({"output": np.array([2])}),
    }
    edges = [e for e in g.edges if e != ("cuba", "out")] + [
        ("cuba", "fc2"),
        ("fc2", "ro"),
        ("ro", "out"),
    ]
    return ir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": 1e-3})


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    out = tmp_path_factory.mktemp("pynn") / "export"
    deployment = export(
        _readout_graph(), "spinnaker", out, {"spinnaker_neurons_per_core": 4, "timesteps": 12}
    )
    return out, deployment


def test_script_is_python_naming_only_pynn_api(exported):
    out, _ = exported
    source = (out / "run_pynn.py").read_text()
    tree = ast.parse(source)
    compile(tree, "run_pynn.py", "exec")
    imports = [
        (a.name, a.asname) for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
    ]
    assert ("pyNN.spiNNaker", "sim") in imports and ("pyNN.nest", "sim") in imports
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    used = {
        n.attr
        for n in ast.walk(tree)
        if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "sim"
    }
    assert used and used <= PYNN_NAMES, used - PYNN_NAMES
    called = {
        n.func.attr
        for n in ast.walk(tree)
        if isinstance(n, ast.Call)
        and isinstance(n.func, ast.Attribute)
        and isinstance(n.func.value, ast.Name)
        and n.func.value.id == "sim"
    }
    assert {
        "setup",
        "Population",
        "Projection",
        "FromListConnector",
        "StaticSynapse",
        "run",
        "end",
    } <= called
    bare = [
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.Name) and n.id in ("eval", "exec", "getattr", "__import__")
    ]
    assert not bare, "the script must name the API explicitly"


class _Recorder:
    """A stand-in for ``pyNN.spiNNaker`` that records what the script asks for."""

    def __init__(self):
        self.calls: list[tuple] = []
        self.populations: dict[str, dict] = {}
        self.projections: list[dict] = []
        module = types.ModuleType("pyNN.spiNNaker")
        rec = self

        class Cell:
            def __init__(self, **params):
                self.params = params

        def cell(name):
            return type(name, (Cell,), {})

        class Population:
            def __init__(self, size, celltype, label=None, additional_parameters=None):
                self.entry = {
                    "size": size,
                    "cell": type(celltype).__name__,
                    "params": celltype.params,
                    "extra": additional_parameters,
                    "record": None,
                    "init": None,
                }
                rec.populations[label] = self.entry

            def initialize(self, **values):
                self.entry["init"] = values

            def record(self, variables):
                self.entry["record"] = variables

            def get_data(self, variables):
                n, steps = self.entry["size"], rec.steps
                signal = types.SimpleNamespace(magnitude=np.zeros((steps, n)))
                segment = types.SimpleNamespace(
                    spiketrains=[], filter=lambda name: [signal] if name == "v" else []
                )
                return types.SimpleNamespace(segments=[segment])

        class FromListConnector:
            def __init__(self, conn_list, column_names=None):
                self.conn_list, self.column_names = conn_list, column_names

        class Projection:
            def __init__(self, pre, post, connector, synapse_type=None, receptor_type=None):
                rec.projections.append(
                    {
                        "pre": pre,
                        "post": post,
                        "list": connector.conn_list,
                        "columns": connector.column_names,
                        "receptor": receptor_type,
                        "synapse": type(synapse_type).__name__,
                    }
                )

        for name in ("IF_curr_delta", "IF_curr_exp", "SpikeSourceArray", "StaticSynapse"):
            setattr(module, name, cell(name))
        module.Population, module.Projection, module.FromListConnector = (
            Population,
            Projection,
            FromListConnector,
        )
        module.setup = lambda **kw: rec.calls.append(("setup", kw))
        module.set_number_of_neurons_per_core = lambda cls, n: rec.calls.append(
            ("per_core", cls.__name__, n)
        )
        module.run = lambda t: rec.calls.append(("run", t))
        module.end = lambda: rec.calls.append(("end",))
        self.module = module
        self.steps = 0


def test_script_builds_the_exported_network(exported, tmp_path, monkeypatch):
    out, deployment = exported
    program = deployment.program
    net = json.loads((out / "network.json").read_text())
    rec = _Recorder()
    rec.steps = net["timesteps"]
    package = types.ModuleType("pyNN")
    package.spiNNaker = rec.module
    monkeypatch.setitem(sys.modules, "pyNN", package)
    monkeypatch.setitem(sys.modules, "pyNN.spiNNaker", rec.module)
    x = random_events(program.input_shape, net["timesteps"], 2, 0.4, seed=2)
    np.save(tmp_path / "x.npy", x)
    monkeypatch.setattr(
        sys,
        "argv",
        [
            "run_pynn.py",
            "--input",
            str(tmp_path / "x.npy"),
            "--sample",
            "1",
            "--output",
            str(tmp_path / "o.npz"),
        ],
    )
    runpy.run_path(str(out / "run_pynn.py"), run_name="__main__")

    assert rec.calls[0] == ("setup", {"timestep": 1.0, "min_delay": 1.0})
    assert ("per_core", "IF_curr_exp", 4) in rec.calls and rec.calls[-2:] == [
        ("run", 12.0),
        ("end",),
    ]
    source = rec.populations["in"]
    times = source["params"]["spike_times"]
    assert [len(t) for t in times] == list(x[:, 1].sum(axis=0)) and times[0] == [
        float(t) for t in np.flatnonzero(x[:, 1, 0])
    ]
    dt_ms = program.dt * 1e3
    for name, pop in program.populations.items():
        got = rec.populations[name]
        assert got["cell"] == pop.model and got["size"] == pop.size and got["init"] == {"v": 0.0}
        p = {
            k: np.broadcast_to(np.asarray(v, dtype=float), (pop.size,))
            for k, v in got["params"].items()
        }
        for key, words in (
            ("v_thresh", pop.v_thresh),
            ("v_reset", pop.v_reset),
            ("v_rest", pop.v_rest),
            ("i_offset", pop.i_offset),
        ):
            assert np.array_equal(p[key] * ONE, words), key  # exact s16.15 values
        # what sPyNNaker's neuron_model_initialise computes from tau_m and cm (in exact arithmetic)
        assert np.array_equal(np.floor(np.exp(-dt_ms / p["tau_m"]) * ONE + 0.5), pop.exp_tc)
        assert np.allclose(p["tau_m"] / p["cm"] * ONE, pop.r_membrane, rtol=1e-12)
        if pop.exponential:
            assert np.array_equal(
                np.floor(np.exp(-dt_ms / p["tau_syn_E"]) * U032_ONE + 0.5), pop.syn_decay
            )
        shifts = [ring_buffer_shift(w) for w in got["extra"]["max_expected_summed_weight"]]
        assert tuple(shifts) == pop.shifts
        assert got["record"] == (["v"] if pop.readout else ["spikes", "v"])
    assert sum(len(p["list"]) for p in rec.projections) == sum(
        p.synapses for p in program.projections
    )
    for i, proj in enumerate(program.projections):
        shifts = program.populations[proj.target].shifts
        for kind, receptor in ((0, "excitatory"), (1, "inhibitory")):
            made = [
                p
                for p in rec.projections
                if p["pre"] is not None
                and p["receptor"] == receptor
                and rec_label(rec, p["post"]) == proj.target
                and rec_label(rec, p["pre"]) == proj.source
            ]
            want = proj.weights(kind).tocoo()
            if want.nnz == 0:
                assert not made
                continue
            rows = np.array(made[0]["list"])
            assert (
                made[0]["columns"] == ["weight", "delay"] and made[0]["synapse"] == "StaticSynapse"
            )
            # PyNN's sign convention (inhibitory current weights < 0); sPyNNaker takes numpy.abs
            assert np.all(rows[:, 2] < 0) if receptor == "inhibitory" else np.all(rows[:, 2] > 0)
            ints = np.rint(np.abs(rows[:, 2]) * 2.0 ** (15 - shifts[kind]))  # synapse_io
            got = np.zeros(want.shape)
            got[rows[:, 1].astype(int), rows[:, 0].astype(int)] = ints
            assert np.array_equal(got, want.toarray()) and np.all(rows[:, 3] == proj.delay * dt_ms)
    saved = np.load(tmp_path / "o.npz")
    assert saved["state/ro/v"].shape == (12, 2) and "out/cuba" in saved.files


def rec_label(rec: _Recorder, population) -> str:
    """The label the script gave a stand-in population object."""
    return next(label for label, entry in rec.populations.items() if entry is population.entry)


def test_description_counts_match_the_program(exported):
    out, deployment = exported
    net = json.loads((out / "network.json").read_text())
    assert (
        net["format"] == "nrf-deploy/pynn-1"
        and net["timesteps"] == 12
        and net["neurons_per_core"] == 4
    )
    assert [p["label"] for p in net["populations"]] == ["in", "cuba", "ro"]
    assert [p["cellclass"] for p in net["populations"]] == [
        "SpikeSourceArray",
        "IF_curr_exp",
        "IF_curr_delta",
    ]
    assert sum(p["n_connections"] for p in net["projections"]) == sum(
        p.synapses for p in deployment.program.projections
    )
    with np.load(out / "connections.npz") as conns:
        assert {k for k in conns.files} >= {
            p["connections"].split(":")[1] for p in net["projections"]
        }
