"""--engine ray on a local 2-CPU Ray cluster (one per module): the same verdict, counts and
first divergence as the single-process run, with an injected fault, a worker killed mid-run,
and a shard that fails twice."""

from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import REPO
from faulty_target import FAULT_STEP, FaultySpiNNaker
from test_shard import MARKED, export_dir, sharded_inputs  # noqa: F401 (fixtures)

from nrf_deploy.errors import NrfError
from nrf_deploy.inputset import InputSet
from nrf_deploy.shard import make_plan
from nrf_deploy.verify import verify_deployment

ray = pytest.importorskip("ray", reason="optional extra: pip install 'nrf-deploy[ray]'")


@pytest.fixture(scope="module")
def cluster():
    """Workers import tests/faulty_target.py: they inherit PYTHONPATH from this process."""
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "tests"), old]))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()
    if old is None:
        del os.environ["PYTHONPATH"]
    else:
        os.environ["PYTHONPATH"] = old


@pytest.fixture(scope="module")
def case(tmp_path_factory, export_dir):  # noqa: F811
    """Shard folder (32 samples, MARKED faulty) and the single-process verdict over it."""
    folder = tmp_path_factory.mktemp("ray") / "in"
    x = sharded_inputs(folder, np.random.default_rng(7))
    target = FaultySpiNNaker()
    whole = verify_deployment(target, target.load(export_dir), x, 0, batch_size=4).to_dict()
    (emu,) = whole["comparisons"]
    assert emu["mismatches"] == len(MARKED)
    assert (emu["first"]["sample"], emu["first"]["timestep"]) == (MARKED[0], FAULT_STEP)
    return InputSet.open(folder, (6,)), whole


def _on_ray(export_dir, target, inputs, progress=None):  # noqa: F811
    from nrf_deploy.ray_engine import verify_on_ray

    plan = make_plan(target, target.load(export_dir), 0, 4)
    return verify_on_ray(
        export_dir, target, inputs, plan, shard_size=4, workers=2, progress=progress
    )


def test_two_workers_match_the_single_process_run(cluster, case, export_dir):  # noqa: F811
    inputs, whole = case
    seen = []
    got = _on_ray(export_dir, FaultySpiNNaker(), inputs, lambda *a: seen.append(a))
    assert got.to_dict() == whole
    assert [s[0] for s in seen] == list(range(4, 33, 4)) and seen[-1][1] == 32


def test_killed_worker_is_replaced_and_the_verdict_holds(
    cluster,
    case,
    export_dir,  # noqa: F811
    tmp_path,
):
    inputs, whole = case
    marker = tmp_path / "killed"
    got = _on_ray(export_dir, FaultySpiNNaker(kill_once=str(marker)), inputs)
    assert marker.exists(), "no worker was killed"
    assert got.to_dict() == whole


def test_shard_failing_twice_fails_the_run_naming_its_samples(cluster, case, export_dir):  # noqa: F811
    inputs, _ = case
    with pytest.raises(NrfError, match="failed 2 times") as err:
        _on_ray(export_dir, FaultySpiNNaker(raise_on_marked=True), inputs)
    assert "samples 16..19" in err.value.format() and "[16, 20)" in err.value.format()


def test_bad_input_in_one_shard_is_the_users_error_naming_the_shard(
    cluster,
    case,
    export_dir,  # noqa: F811 (the fixture imported from test_shard)
    tmp_path,
):
    inputs, _ = case
    x = inputs.read(0, inputs.samples)
    x[2, 9, 0] = 2  # SpiNNaker inputs are binary spikes
    np.save(tmp_path / "bad.npy", x)
    with pytest.raises(NrfError, match="binary spikes") as err:
        _on_ray(export_dir, FaultySpiNNaker(), InputSet.open(tmp_path / "bad.npy", (6,)))
    assert "samples 8..11" in err.value.format() and "failed 2 times" not in err.value.format()
