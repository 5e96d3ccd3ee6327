"""Sharded verification without Ray: inputs read by range, shard plans, and a merge that gives
exactly what one comparison over all samples gives, whatever the shard order."""

from __future__ import annotations

import itertools
import random
import sys

import numpy as np
import pytest
from faulty_target import FAULT_STEP, FaultySpiNNaker
from graphs import lif_chain

from nrf_deploy.cli import main
from nrf_deploy.errors import NrfError
from nrf_deploy.inputset import InputSet
from nrf_deploy.ir.write import write_nir
from nrf_deploy.shard import (
    Plan,
    make_plan,
    merge,
    merge_comparisons,
    plan_shards,
    shift_samples,
    verify_inputs,
)
from nrf_deploy.trace import Trace
from nrf_deploy.verify import compare, verify_deployment

MARKED = (17, 25)


def sharded_inputs(folder, rng, sizes=(10, 14, 8), timesteps=12, n_in=6):
    """Binary events in .npy/.npz shards of `sizes` samples; samples MARKED (global indices) have
    an all-ones first step, no other sample does. Returns the whole array too."""
    x = (rng.random((timesteps, sum(sizes), n_in)) < 0.3).astype(np.int8)
    x[0, :, 0] = 0
    x[0, list(MARKED)] = 1
    folder.mkdir()
    start = 0
    for i, n in enumerate(sizes):
        part = x[:, start : start + n]
        if i % 2:
            np.savez(folder / f"shard-{i:04d}.npz", events=part)
        else:
            np.save(folder / f"shard-{i:04d}.npy", part)
        start += n
    return x


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("shard")
    write_nir(d / "chain.nir", lif_chain(6, 5))
    assert main(["export", str(d / "chain.nir"), "--target", "spinnaker", "-o", str(d / "sp")]) == 0
    return d / "sp"


def test_input_folder_reads_any_range_like_the_whole_array(tmp_path, rng):
    x = sharded_inputs(tmp_path / "in", rng)
    inputs = InputSet.open(tmp_path / "in", (6,))
    assert (inputs.samples, inputs.timesteps) == (32, 12)
    for start, stop in [(0, 32), (3, 9), (8, 27), (24, 32), (31, 32)]:
        np.testing.assert_array_equal(inputs.read(start, stop), x[:, start:stop])
    assert inputs.limit(5).read(0, 32).shape[1] == 5


def test_npy_input_is_memory_mapped_not_loaded(tmp_path, rng):
    x = (rng.random((4, 50, 6)) < 0.5).astype(np.int8)
    np.save(tmp_path / "x.npy", x)
    inputs = InputSet.open(tmp_path / "x.npy", (6,))
    np.testing.assert_array_equal(inputs.read(10, 20), x[:, 10:20])
    assert isinstance(inputs._load(inputs._parts[0]), np.memmap)
    assert inputs._cache is None, "a kept memory map grows the RSS with every page read"


@pytest.mark.parametrize(
    "bad, message",
    [
        (lambda d: np.save(d / "b.npy", np.zeros((5, 2, 6))), "timesteps"),
        (lambda d: np.save(d / "b.npy", np.zeros((4, 2, 7))), "the model expects"),
        (lambda d: (d / "b.npy").write_bytes(b"not numpy"), "not a readable"),
    ],
)
def test_bad_shard_is_refused_naming_the_file(tmp_path, bad, message):
    d = tmp_path / "in"
    d.mkdir()
    np.save(d / "a.npy", np.zeros((4, 2, 6)))
    bad(d)
    with pytest.raises(NrfError, match=message) as err:
        InputSet.open(d, (6,))
    assert "b.npy" in err.value.format()


def test_empty_folder_is_refused(tmp_path):
    (tmp_path / "in").mkdir()
    with pytest.raises(NrfError, match="no .npy/.npz shards"):
        InputSet.open(tmp_path / "in", (6,))


def test_plan_covers_every_sample_once():
    shards = plan_shards(103, 16)
    assert [s.size for s in shards] == [16] * 6 + [7]
    assert shards[0].start == 0 and shards[-1].stop == 103
    assert all(a.stop == b.start for a, b in itertools.pairwise(shards))


def _random_trace(rng, t=9, b=24):
    return Trace(
        {
            "a": (rng.random((t, b, 5)) < 0.3).astype(np.int64),
            "b": rng.integers(-50, 50, (t, b, 2, 3)),
        },
        {
            "a": {"v": rng.integers(-9, 9, (t, b, 5)), "i": rng.integers(-9, 9, (t, b, 5))},
            "b": {"v": rng.integers(-9, 9, (t, b, 2, 3))},
        },
    )


@pytest.mark.parametrize("seed", range(6))
def test_merge_of_shuffled_shards_equals_one_comparison(seed):
    """compare() over all samples is the oracle; faults land at random places, often several
    at the same timestep in different shards, nodes and variables."""
    rng = np.random.default_rng(seed)
    ref = _random_trace(rng)
    other = Trace(
        {k: v.copy() for k, v in ref.outputs.items()},
        {n: {k: v.copy() for k, v in vs.items()} for n, vs in ref.states.items()},
    )
    arrays = [
        other.outputs["a"],
        other.outputs["b"],
        *[a for vs in other.states.values() for a in vs.values()],
    ]
    for _ in range(int(rng.integers(1, 8))):
        arr = arrays[int(rng.integers(len(arrays)))]
        idx = (
            tuple(int(rng.integers(n)) for n in arr.shape[:1])
            + (int(rng.integers(12, 24)),)
            + tuple(int(rng.integers(n)) for n in arr.shape[2:])
        )
        arr[idx] = 1 - arr[idx] if arr is other.outputs["a"] else arr[idx] + 3
    order = ["b", "a"]
    whole = compare(ref, other, "ref", "emu", order)
    shards = plan_shards(24, int(rng.integers(1, 9)))
    parts = [
        shift_samples(
            compare(
                _slice(ref, s.start, s.stop), _slice(other, s.start, s.stop), "ref", "emu", order
            ),
            s.start,
        )
        for s in shards
    ]
    random.Random(seed).shuffle(parts)
    merged = merge_comparisons(parts)
    assert merged.to_dict() == whole.to_dict()
    assert merged.mismatches > 0 and merged.first == whole.first


def _slice(trace, start, stop):
    return Trace(
        {k: v[:, start:stop] for k, v in trace.outputs.items()},
        {n: {k: v[:, start:stop] for k, v in vs.items()} for n, vs in trace.states.items()},
    )


def test_merge_is_independent_of_finishing_order():
    a, b = plan_shards(8, 4)
    plan = Plan(("ref", "emu"), None, 0, 4)
    rng = np.random.default_rng(3)
    ref = _random_trace(rng, b=8)
    other = _random_trace(rng, b=8)
    results = {
        s: [
            shift_samples(
                compare(
                    _slice(ref, s.start, s.stop), _slice(other, s.start, s.stop), "ref", "emu", []
                ),
                s.start,
            )
        ]
        for s in (a, b)
    }
    forward = merge("t", plan, results).to_dict()
    backward = merge("t", plan, dict(reversed(list(results.items())))).to_dict()
    assert forward == backward


def test_local_sharded_verify_equals_whole_run_with_injected_fault(export_dir, tmp_path, rng):
    """Shard plans of 1, 5 and 32 samples give the verdict of the unsharded verify_deployment
    (full traces, one compare), with the fault the faulty emulator injects on MARKED samples."""
    x = sharded_inputs(tmp_path / "in", rng)
    target = FaultySpiNNaker()
    deployment = target.load(export_dir)
    whole = verify_deployment(target, deployment, x, 0, batch_size=8).to_dict()
    inputs = InputSet.open(tmp_path / "in", (6,))
    plan = make_plan(target, deployment, 0, 8)
    for shard_size in (1, 5, 32):
        got = verify_inputs(target, deployment, inputs, plan, shard_size).to_dict()
        assert got == whole
    (emu,) = whole["comparisons"]
    assert emu["mismatches"] == len(MARKED) and not whole["ok"]
    assert (emu["first"]["sample"], emu["first"]["timestep"], emu["first"]["variable"]) == (
        MARKED[0],
        FAULT_STEP,
        "v",
    )


def test_cli_verifies_a_shard_folder_and_writes_the_diverging_sample(
    export_dir, tmp_path, rng, capsys
):
    sharded_inputs(tmp_path / "in", rng)
    report = tmp_path / "r.json"
    assert (
        main(
            [
                "verify",
                str(export_dir),
                "--input",
                str(tmp_path / "in"),
                "--shard-size",
                "7",
                "--report",
                str(report),
            ]
        )
        == 0
    )
    assert "32 samples x 12 steps, 0 mismatches" in capsys.readouterr().out
    assert (
        main(
            [
                "verify",
                str(export_dir),
                "--input",
                str(tmp_path / "in"),
                "--samples",
                "9",
                "--report",
                str(report),
            ]
        )
        == 0
    )
    assert "9 samples x 12 steps" in capsys.readouterr().out


def test_engine_ray_without_ray_explains_how_to_install(export_dir, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)
    assert main(["verify", str(export_dir), "--samples", "2", "--engine", "ray"]) == 2
    assert "pip install 'nrf-deploy[ray]'" in capsys.readouterr().err


def test_witness_sees_only_its_first_samples_across_shards(export_dir, tmp_path, rng):
    """A backend run as the witness on the first 10 samples: shards of 4 give it samples 0..9
    only (the faulty MARKED samples 17 and 25 are beyond them)."""
    sharded_inputs(tmp_path / "in", rng)
    target = FaultySpiNNaker()
    deployment = target.load(export_dir)
    inputs = InputSet.open(tmp_path / "in", (6,))
    plan = Plan(("reference", "emulator"), "emulator", 10, 4)
    (emu,) = verify_inputs(target, deployment, inputs, plan, 4).comparisons
    assert (emu.samples, emu.mismatches) == (10, 0)
