"""The sparse spiking gesture CNN (issue #20 item 3): generated gesture events, a tiny training
run whose model.nir reproduces the torch model, export + verify at 0 mismatches on Speck (IF, no
approximation), Loihi and SpiNNaker, DVS128 Gesture recordings read through tonic, and one clear
error (exit 2) for each bad setting."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from nrf_deploy.exporters.nir import export_gesture_cnn, write_graph

import nrf_deploy as nd
from nrf_deploy.cli import main
from nrf_deploy.data.dvs_gesture import read_dvs_gesture, write_dvs_gesture_recording
from nrf_deploy.data.gestures import MOTIONS, GestureConfig, generate_gestures
from nrf_deploy.errors import NrfError
from nrf_deploy.ir.load import read_nir_file
from nrf_deploy.ir.write import write_nir
from nrf_deploy.models.gesture import GestureCNN
from nrf_deploy.training import (
    GESTURE_NETS,
    gesture_export_accuracy,
    gesture_nir_check,
    load_checkpoint,
)

TINY_NET, TINY_DATA = GESTURE_NETS["tiny"]


def test_generator_is_deterministic_with_the_documented_shapes():
    events, labels = generate_gestures(12, TINY_DATA, seed=0)
    assert events.shape == (12, 8, 2, 32, 32) and events.dtype == np.uint8
    assert labels.shape == (12,) and labels.dtype == np.int64
    assert set(np.unique(events)) <= {0, 1} and set(labels) <= set(range(len(MOTIONS)))
    again, again_labels = generate_gestures([7, 3], TINY_DATA, seed=0)
    assert np.array_equal(again, events[[7, 3]]) and np.array_equal(again_labels, labels[[7, 3]])
    other, _ = generate_gestures(12, TINY_DATA, seed=1)
    assert not np.array_equal(other, events)


def _centroids(sample: np.ndarray) -> np.ndarray:
    """(x, y) centre of mass of each frame's events ``[T, 2]``, frames 1.. (frame 0: noise)."""
    ys, xs = np.mgrid[: sample.shape[-2], : sample.shape[-1]]
    mass = sample.sum(1)[1:].astype(float)
    return (
        np.stack([(mass * xs).sum((1, 2)), (mass * ys).sum((1, 2))], -1) / mass.sum((1, 2))[:, None]
    )


def test_motion_classes_are_seen_in_the_events():
    """Measured from the events alone: straight motions move the event centroid the way the
    label says; circular ones turn it clockwise (y down) or counter-clockwise."""
    events, labels = generate_gestures(60, GestureConfig(noise=0.0), seed=4)
    seen = set()
    for sample, label in zip(events, labels):
        c = _centroids(sample)
        motion = MOTIONS[label]
        seen.add(motion)
        dx, dy = c[-1] - c[0]
        if motion in ("left", "right", "up", "down"):
            expected = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}[motion]
            big, small = (dx, dy) if expected[0] else (dy, dx)
            assert np.sign(big) == sum(expected) and abs(big) > 15 and abs(small) < 4, motion
        else:
            steps = np.diff(c, axis=0)
            a, b = steps[:-1], steps[1:]  # the 2-d cross product (numpy 2's np.cross is 3-d only)
            turning = a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]  # > 0: clockwise on screen (y down)
            assert np.sign(np.median(turning)) == (1 if motion == "clockwise" else -1), motion
    assert seen == set(MOTIONS)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gesture") / "run"
    assert main(["train", "--config", "gesture-tiny", "-o", str(out)]) == 0
    return out


def test_tiny_training_writes_a_graph_equal_to_the_torch_model(tiny_run):
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    check = metrics["nir_check"]
    assert check["spike_mismatches"] == 0 and check["spikes"] > 100
    assert metrics["neuron"] == "if" and metrics["neurons"] == TINY_NET.neurons
    graph = read_nir_file(tiny_run / "model.nir")
    assert all(graph.nodes[n].metadata["reset"] == "zero" for n in ("if1", "if2", "if_out"))
    model, _ = load_checkpoint(tiny_run)
    data = np.load(tiny_run / "test_data.npz")
    events = np.ascontiguousarray(data["events"].swapaxes(0, 1))
    assert gesture_nir_check(model, tiny_run / "model.nir", events)["spike_mismatches"] == 0
    # the check can fail: a graph whose first kernel differs gives other spikes
    graph.nodes["conv1"].weight[0, 0] += 0.5
    write_nir(tiny_run.parent / "tampered.nir", graph)
    tampered = gesture_nir_check(model, tiny_run.parent / "tampered.nir", events)
    assert tampered["spike_mismatches"] > 0


@pytest.mark.parametrize("target", ["speck", "loihi", "spinnaker"])
def test_gesture_cnn_verifies_on_every_chip(tiny_run, tmp_path, target):
    x = np.load(tiny_run / "test_data.npz")["events"][:, :6].astype(np.float32)
    nd.export(tiny_run / "model.nir", target, tmp_path / target)
    result = nd.verify_export(tmp_path / target, x=x, witness_samples=1)
    assert result.ok, result.summary()
    assert result.comparisons and sum(c.mismatches for c in result.comparisons) == 0
    ran = [c for c in result.comparisons if not c.skipped]  # a missing witness: skipped
    assert ran and all(c.samples >= 1 and c.timesteps == 8 for c in ran)
    sidecar = json.loads((tmp_path / target / "deploy.json").read_text())
    if target == "speck":  # the IF network as it is: no --speck-lif-as-if, no host read-out
        assert sidecar["approximations"] == [] and sidecar["options"] == {}
    labels = np.load(tiny_run / "test_data.npz")["labels"][:6]
    scored = gesture_export_accuracy(tmp_path / target, x.swapaxes(0, 1).astype(np.uint8), labels)
    lag = max(sidecar["delays"].values())
    assert scored["timesteps"] == 8 + lag and len(scored["predicted"]) == 6
    assert lag == (0 if target == "speck" else 3)  # one step per synapse on Loihi and SpiNNaker


def test_lif_variant_needs_speck_s_approximation(tmp_path):
    torch.manual_seed(0)
    lif = GestureCNN(replace(TINY_NET, neuron="lif"))
    write_graph(export_gesture_cnn(lif), tmp_path / "lif.nir")
    with pytest.raises(NrfError, match="LIF"):
        nd.export(tmp_path / "lif.nir", "speck", tmp_path / "speck")


def _write_split(root: Path, split: str, events: np.ndarray, dt: float) -> list[tuple[int, int]]:
    """100 recordings as tonic 1.7's DVSGesture expects them; returns (user, label) per sample."""
    folder = root / "DVSGesture"
    (folder / f"{split}.tar.gz").parent.mkdir(parents=True, exist_ok=True)
    (folder / f"{split}.tar.gz").write_bytes(b"")
    keys = []
    for i, sample in enumerate(events):
        user, label = i // 10 + 1, i % 10
        path = folder / split / f"user{user:02d}_led"
        path.mkdir(parents=True, exist_ok=True)
        write_dvs_gesture_recording(path / f"{label}.npy", sample, dt)
        keys.append((user, label))
    return keys


def test_tonic_reads_recordings_back_frame_for_frame(tmp_path):
    dt = 0.05
    events, _ = generate_gestures(100, GestureConfig(frames=5), seed=7)
    keys = _write_split(tmp_path, "ibmGestureTest", events, dt)
    read, labels = read_dvs_gesture(tmp_path, train=False, frames=5, dt=dt)
    # tonic's order: per folder, files as listed; match them by (user, label)
    from nrf_deploy.data.dvs_gesture import open_split

    order = [
        keys.index((int(Path(p).parent.name[4:6]), int(Path(p).stem)))
        for p in open_split(tmp_path, train=False).data
    ]
    assert np.array_equal(read, events[order])
    assert np.array_equal(labels, [keys[i][1] for i in order])
    longer, _ = read_dvs_gesture(tmp_path / "DVSGesture", train=False, frames=7, dt=dt, limit=3)
    assert longer.shape == (3, 7, 2, 128, 128) and not longer[:, 5:].any()


def test_train_on_recordings_through_the_cli(tmp_path):
    events, _ = generate_gestures(100, GestureConfig(frames=16), seed=8)
    for split in ("ibmGestureTrain", "ibmGestureTest"):
        _write_split(tmp_path / "data", split, events, 0.05)
    out = tmp_path / "run"
    args = ["train", "--config", "gesture", "--dataset", str(tmp_path / "data")]
    assert main([*args, "--epochs", "1", "--train-samples", "8", "-o", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["data"] == "recordings" and metrics["train_samples"] == 8
    assert metrics["test_samples"] == 100 and metrics["gesture_net"]["classes"] == 11


@pytest.mark.parametrize(
    "args, message",
    [
        (["--config", "gesture-tiny", "--neuron", "li"], "unknown neuron 'li'"),
        (["--config", "gesture-tiny", "--kind", "ann"], "--kind ann applies"),
        (["--config", "gesture", "--dataset", "MISSING"], "is not a folder"),
        (["--config", "gesture", "--dataset", "EMPTY"], "never downloads"),
        (["--config", "gesture", "--dataset", "BROKEN"], "cannot be read"),
        (["--config", "small", "--dataset", "EMPTY"], "use it with --config gesture"),
    ],
)
def test_bad_settings_get_one_message_and_exit_2(tmp_path, capsys, args, message):
    (tmp_path / "EMPTY").mkdir()
    broken = tmp_path / "BROKEN"
    _write_split(broken, "ibmGestureTrain", np.zeros((100, 2, 2, 128, 128), np.uint8), 0.05)
    np.save(broken / "DVSGesture/ibmGestureTrain/user01_led/0.npy", np.zeros((4, 3)))
    args = [str(tmp_path / a) if a in ("MISSING", "EMPTY", "BROKEN") else a for a in args]
    assert main(["train", *args, "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_results_page_keeps_the_other_section_when_one_is_regenerated():
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "scripts" / "make_results.py"
    spec = importlib.util.spec_from_file_location("make_results", path)
    make_results = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_results)
    old = f"{make_results.BEGIN}\nold numbers\n{make_results.END}"
    new = f"{make_results.BEGIN}\nnew numbers\n{make_results.END}"
    page = make_results.splice("# RF-SNN\n\ntable\n", old)
    assert page.startswith("# RF-SNN\n\ntable\n") and "old numbers" in page
    again = make_results.splice(page, new)
    assert "old numbers" not in again and again.count(make_results.BEGIN) == 1
    assert again.startswith("# RF-SNN\n\ntable\n") and "new numbers" in again
