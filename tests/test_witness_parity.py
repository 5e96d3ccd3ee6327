"""The vendor witnesses in their own environments answer bit for bit what the same runner answers
inside the core's interpreter, where that interpreter still has the vendor package (the Python 3.10
stack the witnesses moved out of): Lava 0.10.0 patched on Python 3.12 vs unpatched on 3.10, sinabs
3.1.3 with torch 2.15 vs 2.13, xylosim 0.1.3 built from its source distribution vs the cp310 wheel.

Skipped where the core's interpreter has no vendor package — the point of the move; the other
tests compare the witnesses with the reference and the emulator everywhere.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from graphs import braille_cubalif, recurrent_cubalif, two_recurrent_layers
from nrf_deploy.targets import get_target
from test_loihi import _extreme_program, _random_graph
from test_speck_graphs import branchy, chain

from nrf_deploy.inputs import random_events
from nrf_deploy.ir import load_graph
from nrf_deploy.quant import zero_weight_policy
from nrf_deploy.target import Deployment
from nrf_deploy.witness import call_many


def _in_process(runner: Path, function: str, request: dict[str, Any]) -> dict[str, Any]:
    """`function(request)` of the runner file imported into this interpreter."""
    spec = importlib.util.spec_from_file_location(f"inproc_{runner.stem}", runner)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, function)(request)


def _needs_in_process(package: str) -> None:
    if importlib.util.find_spec(package) is None:
        pytest.skip(f"the core's interpreter has no {package} (nothing in-process to compare with)")


def _assert_same(env: str, runner: Path, requests: list[dict[str, Any]]) -> int:
    """The environment's answers equal the in-process ones, key for key, value for value (arrays
    with their dtype); returns the number of integers compared."""
    theirs = call_many(env, runner, "run", requests, what=f"{env} parity")
    compared = 0
    for i, request in enumerate(requests):
        ours = _in_process(runner, "run", request)
        assert set(ours) == set(theirs[i]), f"case {i}: keys differ"
        for key, value in ours.items():
            if isinstance(value, np.ndarray):
                other = np.asarray(theirs[i][key])
                assert value.dtype == other.dtype, f"case {i} {key}: {value.dtype} vs {other.dtype}"
                np.testing.assert_array_equal(other, value, err_msg=f"case {i} {key}")
                compared += value.size
            else:
                assert theirs[i][key] == value, f"case {i} {key}"
    return compared


def _requests(target_name: str, backend: str, cases: list) -> tuple[Any, list[dict[str, Any]]]:
    """The witness module and its requests for ``(deployment, x)`` cases (chip files parsed by
    the core, as verify sends them)."""
    target = get_target(target_name)
    spec = target.backend(cases[0][0], backend)
    module = {
        "lava": "nrf_deploy.targets.loihi.lava_witness",
        "sinabs": "nrf_deploy.targets.speck.sinabs_witness",
        "xylosim": "nrf_deploy.targets.xylo.xylosim_witness",
    }[backend]
    module = importlib.import_module(module)
    requests = []
    for deployment, x in cases:
        program = target.program_for(deployment, spec)
        program = getattr(program, "network", program)  # Loihi: the parsed Lava network
        requests.append(module.witness_request(program, target.check_input(deployment, x), True))
    return module, requests


def test_lava_environment_equals_in_process_lava(lava_env, fixture_path):
    _needs_in_process("lava")
    import multiprocessing

    multiprocessing.set_start_method(None, force=True)  # Lava sets 'fork' at import
    target = get_target("loihi")
    cases = []
    for params in [
        (1, "LIF", 5, 7, 1.0, 4.0, True),
        (2, "CubaLIF", 9, 12, 8.0, 40.0, False),
        (3, "IF", 3, 4, 200.0, 1.5, True),
    ]:
        with zero_weight_policy(True):
            deployment = target.build(load_graph(_random_graph(*params)), {})
        cases.append((deployment, random_events(deployment.input_shape, 20, 2, 0.5, params[0])))
    deployment = target.build(load_graph(recurrent_cubalif(n_in=3, n=5)), {"dt": 1e-3})
    cases.append((deployment, random_events(deployment.input_shape, 30, 2, 0.4, seed=1)))
    for du, dv, weight, weight_exp, bias in [(0, 0, 254, 7, 4095), (0, 4095, -256, 7, -4096)]:
        program = _extreme_program(du, dv, weight, weight_exp, bias)
        deployment = Deployment("loihi", {"schedule": ["in", "p"], "output_names": []}, program)
        cases.append((deployment, np.ones((40, 1, 4), dtype=np.int64)))
    deployment = target.build(load_graph(fixture_path), {})
    cases.append((deployment, random_events(deployment.input_shape, 6, 1, 0.2, seed=4)))
    module, requests = _requests("loihi", "lava", cases)
    assert _assert_same("lava", module.RUNNER, requests) > 100_000


def test_sinabs_environment_equals_in_process_sinabs(sinabs_env, fixture_path):
    _needs_in_process("sinabs")
    target = get_target("speck")
    cases = []
    for seed in range(4):
        graph = branchy(
            seed,
            3,
            8,
            3,
            0.4 * (seed - 1),
            1.0,
            0.3 * (seed % 2),
            ("subtract", "zero")[seed % 2],
            (2, 4)[seed % 2],
        )
        deployment = target.build(
            load_graph(graph), {"speck_threshold_low": ("threshold", "min")[seed % 2]}
        )
        cases.append(
            (deployment, random_events(deployment.input_shape, 16, 2, 0.6, seed, max_count=30))
        )
    layers = [
        {"out": 2, "kernel": 5, "stride": 2, "padding": 3, "pool_before": 1},
        {"out": 3, "kernel": 3, "stride": 1, "padding": 1, "pool_before": 2},
    ]
    deployment = target.build(load_graph(chain(layers, (2, 16, 16), 5)), {})
    cases.append((deployment, random_events(deployment.input_shape, 12, 2, 0.4, 5, max_count=30)))
    deployment = target.build(load_graph(fixture_path), {})
    cases.append((deployment, random_events(deployment.input_shape, 10, 2, 0.2, seed=6)))
    module, requests = _requests("speck", "sinabs", cases)
    assert _assert_same("sinabs", module.RUNNER, requests) > 100_000


def test_xylosim_from_source_equals_the_cp310_wheel(xylosim_env):
    _needs_in_process("xylosim")
    target = get_target("xylo")
    cases = []
    for reset in ("subtract", "zero"):
        deployment = target.build(load_graph(braille_cubalif(reset)), {})
        cases.append((deployment, random_events(deployment.input_shape, 40, 8, 0.3, 0)))
    for kind, readout, reset in [
        ("CubaLIF", "LI", "subtract"),
        ("CubaLIF", "CubaLIF", "zero"),
        ("LIF", "I", "zero"),
        ("IF", "LIF", "subtract"),
    ]:
        graph = load_graph(two_recurrent_layers(kind, readout, reset, seed=len(kind)))
        with zero_weight_policy(True):
            deployment = target.build(graph, {})
        cases.append((deployment, random_events(deployment.input_shape, 30, 8, 0.3, 1)))
    module, requests = _requests("xylo", "xylosim", cases)
    assert _assert_same("xylosim", module.RUNNER, requests) > 50_000
