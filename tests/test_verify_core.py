"""The shared comparison finds every mismatch and reports the earliest one."""

from __future__ import annotations

import numpy as np

from nrf_deploy.trace import Trace
from nrf_deploy.verify import compare


def _trace(rng: np.random.Generator) -> Trace:
    return Trace(
        outputs={"a": rng.integers(0, 2, (6, 3, 4)), "b": rng.integers(0, 2, (6, 3, 2, 2))},
        states={"a": {"v": rng.integers(-100, 100, (6, 3, 4))}},
        output_names=("b",),
    )


def test_identical_traces_have_no_mismatch(rng):
    t = _trace(rng)
    c = compare(t, Trace.from_arrays(t.arrays()), "ref", "emu", ["a", "b"])
    assert c.ok and c.mismatches == 0 and c.first is None
    assert c.compared_values == sum(a.size for a in t.arrays().values())


def test_first_divergence_is_earliest_step_then_schedule_order(rng):
    ref = _trace(rng)
    other = Trace.from_arrays({k: v.copy() for k, v in ref.arrays().items()})
    other.outputs["b"][4, 2, 1, 0] += 1  # later step, earlier... irrelevant
    other.states["a"]["v"][2, 1, 3] -= 7  # step 2: the first divergence
    other.outputs["b"][2, 0, 0, 1] += 1  # same step, node b comes after a
    c = compare(ref, other, "ref", "emu", ["a", "b"])
    assert c.mismatches == 3
    assert (c.first.timestep, c.first.node, c.first.variable, c.first.sample, c.first.neuron) == (
        2,
        "a",
        "v",
        1,
        [3],
    )
    assert c.first.values == {
        "ref": int(ref.states["a"]["v"][2, 1, 3]),
        "emu": int(ref.states["a"]["v"][2, 1, 3]) - 7,
    }
    assert c.per_variable == {"a/v": 1, "b/out": 2}


def test_tolerance_applies_to_values_but_not_to_spikes(rng):
    ref = Trace(outputs={"s": np.array([[[0.0, 1.0]]]), "v": np.array([[[0.5, 0.25]]])}, states={})
    close = Trace(
        outputs={"s": np.array([[[0.0, 1.0]]]), "v": np.array([[[0.5 + 1e-7, 0.25]]])}, states={}
    )
    assert compare(ref, close, "f", "o", ["s", "v"], tolerance=1e-5, spiking=frozenset({"s"})).ok
    flipped = Trace(
        outputs={"s": np.array([[[0.0, 1.0 - 1e-7]]]), "v": ref.outputs["v"]}, states={}
    )
    assert not compare(
        ref, flipped, "f", "o", ["s", "v"], tolerance=1e-5, spiking=frozenset({"s"})
    ).ok


def test_float_tolerance_is_relative_to_the_variables_range():
    """A float32 membrane whose range reaches 256 differs by an ulp (3e-5) between runtimes,
    wherever in that range: within 2^-16 of the range; 1e-2 is a mismatch; exact by default."""

    def v(values):
        return Trace(outputs={"v": np.array([[values]], dtype=np.float64)}, states={})

    ref, rel = v([-256.0, 0.5]), 2.0**-16
    assert compare(ref, v([-256.0 + 3e-5, 0.5]), "f", "o", ["v"], rel_tolerance=rel).ok
    assert compare(ref, v([-256.0, 0.5 + 3e-5]), "f", "o", ["v"], rel_tolerance=rel).ok
    assert compare(ref, v([-256.0, 0.5 + 1e-2]), "f", "o", ["v"], rel_tolerance=rel).mismatches == 1
    assert (
        compare(ref, v([-256.0 + 3e-5, 0.5]), "f", "o", ["v"]).mismatches == 1
    )  # exact by default


def test_shape_difference_counts_as_mismatch(rng):
    ref = _trace(rng)
    other = Trace({"a": ref.outputs["a"][:, :, :3], "b": ref.outputs["b"]}, ref.states)
    assert compare(ref, other, "r", "o", ["a", "b"]).mismatches == ref.outputs["a"].size
