"""A new target is one folder plus one registry line: a toy chip written in a temporary folder,
registered with one line, goes through export, verify and report with no other file touched."""

from __future__ import annotations

import json
import sys
import textwrap

import numpy as np
import pytest
from nrf_deploy.targets import REGISTRY

from nrf_deploy.cli import main
from nrf_deploy.ir import nodes as ir
from nrf_deploy.ir.write import write_nir

TOY = '''
"""Toy chip: Input -> Affine -> IF, weights in units of 1/16, reset to zero."""
import json
from pathlib import Path

import numpy as np

from nrf_deploy.deployment import base_sidecar
from nrf_deploy.lowering import lower
from nrf_deploy.target import Backend, Capabilities, Deployment, Target
from nrf_deploy.trace import Trace


class ToyTarget(Target):
    name = "toy"
    summary = "a toy IF chip (tests)"
    backend_table = (Backend("reference", "reference", "toychip:run_dense", "matrix product"),
                     Backend("emulator", "emulator", "toychip:run_events", "one event at a time"))
    capabilities = Capabilities(frozenset({"IF"}))

    def build(self, graph, options):
        (proj,) = lower(graph).into("if")
        program = {"w": np.rint(proj.matrix.toarray() * 16).astype(np.int64),
                   "theta": 16, "input": graph.input_name, "pop": proj.target}
        sidecar = base_sidecar(self.name, graph, 1e-3, 6, options)
        sidecar["resources"] = {"neurons": int(program["w"].shape[0])}
        return Deployment(self.name, sidecar, program)

    def write(self, deployment, out_dir):
        (out_dir / "deploy.json").write_text(json.dumps(deployment.sidecar, sort_keys=True))
        np.save(out_dir / "w.npy", deployment.program["w"])

    def load(self, out_dir):
        sidecar = self.read_own_sidecar(out_dir)
        program = {"w": np.load(Path(out_dir) / "w.npy"), "theta": 16,
                   "input": sidecar["input_name"], "pop": sidecar["spiking_nodes"][0]}
        return Deployment(self.name, sidecar, program, Path(out_dir))


def _trace(program, x, spikes, v, record_states):
    states = {program["pop"]: {"v": v}} if record_states else {}
    return Trace({program["input"]: x, program["pop"]: spikes}, states)


def run_dense(program, x, record_states=True):
    steps, batch = x.shape[:2]
    w, theta = program["w"], program["theta"]
    v = np.zeros((batch, w.shape[0]), np.int64)
    spikes, vs = np.zeros((steps, batch, w.shape[0]), np.int64), np.zeros_like(v, shape=(steps,
    batch, w.shape[0]))
    for t in range(steps):
        v = v + x[t].reshape(batch, -1) @ w.T
        spikes[t] = v > theta
        v = np.where(spikes[t] > 0, 0, v)
        vs[t] = v
    return _trace(program, x, spikes, vs, record_states)


def run_events(program, x, record_states=True):
    steps, batch = x.shape[:2]
    w, theta = program["w"], program["theta"]
    spikes = np.zeros((steps, batch, w.shape[0]), np.int64)
    vs = np.zeros_like(spikes)
    for b in range(batch):
        v = [0] * w.shape[0]
        for t in range(steps):
            for i in np.flatnonzero(x[t, b].reshape(-1)):
                for n in range(w.shape[0]):
                    v[n] += int(w[n, i]) * int(x[t, b].reshape(-1)[i])
            for n in range(w.shape[0]):
                if v[n] > theta:
                    spikes[t, b, n], v[n] = 1, 0
                vs[t, b, n] = v[n]
    return _trace(program, x, spikes, vs, record_states)
'''


def _if_graph(path):
    rng = np.random.default_rng(3)
    graph = ir.NIRGraph(
        nodes={
            "in": ir.Input({"input": np.array([6])}),
            "fc": ir.Affine(rng.normal(0.6, 0.8, (4, 6)), np.zeros(4)),
            "if": ir.IF(r=np.ones(4), v_threshold=np.ones(4)),
            "out": ir.Output({"output": np.array([4])}),
        },
        edges=[("in", "fc"), ("fc", "if"), ("if", "out")],
    )
    write_nir(path, graph)
    return path


@pytest.fixture
def toy_registered(tmp_path, monkeypatch):
    pkg = tmp_path / "plugins" / "toychip"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(textwrap.dedent(TOY))
    monkeypatch.syspath_prepend(str(tmp_path / "plugins"))
    monkeypatch.setitem(REGISTRY, "toy", "toychip:ToyTarget")  # the one registry line
    yield
    sys.modules.pop("toychip", None)


def test_a_toy_target_exports_verifies_and_reports(tmp_path, toy_registered, capsys):
    model = _if_graph(tmp_path / "model.nir")
    out = tmp_path / "toy"
    assert main(["export", str(model), "--target", "toy", "-o", str(out)]) == 0
    assert main(["verify", str(out), "--samples", "6"]) == 0
    verdict = json.loads((out / "verify-report.json").read_text())
    assert verdict["ok"] and verdict["comparisons"][0]["compared_values"] > 0
    assert main(["report", str(out), "-o", str(tmp_path / "r.html")]) == 0
    assert (tmp_path / "r.html").is_file()
    assert main(["targets"]) == 0
    assert "toy" in capsys.readouterr().out


def test_the_toy_verification_can_fail(tmp_path, toy_registered):
    """The same flow reports a mismatch when the emulator reads a different weight."""
    model = _if_graph(tmp_path / "model.nir")
    out = tmp_path / "toy"
    assert main(["export", str(model), "--target", "toy", "-o", str(out)]) == 0
    toychip = sys.modules["toychip"]
    original = toychip.run_events

    def skewed(program, x, record_states=True):
        program = {**program, "w": program["w"] + 5}
        return original(program, x, record_states)

    toychip.run_events = skewed
    assert main(["verify", str(out), "--samples", "6"]) == 1


def count_spikes_again(deployment, context):
    """A toy 'second opinion': the float model's spike total vs the reference's."""
    from nrf_deploy.opinions import Comparison, Opinion

    pop = deployment.program["pop"]
    ours = float(np.asarray(context.reference.outputs[pop]).sum())
    theirs = float(np.asarray(context.floating.outputs[pop]).sum())
    return Opinion(
        "spike counter", "0.1", [Comparison("spikes per run", "", ours, theirs)], ["a toy note"]
    )


def broken_tool(deployment, context):
    raise RuntimeError("the tool's own bug")


def test_second_opinions_are_reported_beside_ours_or_say_why_not(
    tmp_path, toy_registered, monkeypatch
):
    from nrf_deploy.opinions import SecondOpinion
    from nrf_deploy.witness import InstallStep, WitnessEnv
    from nrf_deploy.witness.install import HOME_VARIABLE

    model = _if_graph(tmp_path / "model.nir")
    out = tmp_path / "toy"
    assert main(["export", str(model), "--target", "toy", "-o", str(out)]) == 0
    toy = sys.modules["toychip"].ToyTarget
    here = __name__
    monkeypatch.setenv(HOME_VARIABLE, str(tmp_path / "witnesses"))
    never = WitnessEnv("toy-tool", "a tool never installed", "3.12", (InstallStep(("six",)),))
    monkeypatch.setattr(toy, "witness_envs", (never,), raising=False)
    toy.second_opinions = (
        SecondOpinion("spike counter", f"{here}:count_spikes_again"),
        SecondOpinion("absent tool", f"{here}:broken_tool", env="toy-tool"),
        SecondOpinion("broken tool", f"{here}:broken_tool"),
    )
    html = tmp_path / "r.html"
    assert main(["report", str(out), "-o", str(html), "--samples", "4"]) == 0
    entry = json.loads(html.with_suffix(".json").read_text())["targets"][0]
    counter, absent, broken = entry["second_opinions"]
    row = counter["rows"][0]
    assert counter["available"] and row["ours"] > 0 and row["theirs"] is not None
    assert row["ratio"] == pytest.approx(row["theirs"] / row["ours"])
    assert not absent["available"]
    assert absent["reason"] == "not installed: nrf-deploy witnesses install toy-tool"
    assert not broken["available"] and "the tool's own bug" in broken["reason"]
    page = html.read_text()
    assert "Second opinions" in page and "spike counter 0.1" in page and "a toy note" in page
    assert main(["report", str(out), "-o", str(html), "--no-second-opinions"]) == 0
    assert "second_opinions" not in json.loads(html.with_suffix(".json").read_text())["targets"][0]
