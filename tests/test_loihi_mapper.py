"""Loihi core mapper: no core exceeds any stated limit, for random layer sizes and fan-ins.

The limits are checked here independently of the mapper: for each core in ``program.cores`` the
compartments, synapses and distinct input axons are recounted from the projections' matrices."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from nrf_deploy.targets.loihi.format import (
    COMPARTMENTS_PER_CORE,
    CORES_PER_CHIP,
    FAN_IN_AXONS_PER_CORE,
    SYNAPSES_PER_CORE,
    Compartments,
    LoihiProgram,
    Synapses,
)
from nrf_deploy.targets.loihi.mapper import map_cores

from nrf_deploy.errors import DoesNotFitError
from nrf_deploy.ir import nodes as ir


def _program(sizes: list[int], densities: list[float], seed: int) -> LoihiProgram:
    """A feed-forward chain input -> p0 -> p1 ... with random sparse weights (+1 entries)."""
    rng = np.random.default_rng(seed)
    pops, projs, prev = {}, [], "in"
    for i, (n, density) in enumerate(zip(sizes[1:], densities)):
        name = f"p{i}"
        z = np.zeros(n, np.int64)
        pops[name] = Compartments(name, "IF", (n,), z, z, z + 1, z, z, 1.0)
        w = sp.random(
            n, sizes[i], density=density, format="csr", random_state=rng, dtype=np.float64
        )
        w.data[:] = 1
        projs.append(Synapses(prev, name, w.astype(np.int64), 0, "excitatory"))
        prev = name
    return LoihiProgram("in", (sizes[0],), pops, projs, 1e-3)


def _recount(program: LoihiProgram, name: str, start: int, stop: int) -> tuple[int, int, int]:
    """(compartments, synapses, distinct input axons) of rows [start, stop) of `name`."""
    synapses, axons = 0, 0
    for syn in program.into(name):
        rows = syn.weights.tocsr()[start:stop]
        synapses += rows.nnz
        axons += np.unique(rows.indices).size
    return stop - start, synapses, axons


def _assert_within_limits(program: LoihiProgram, chips: int) -> None:
    ids = []
    for name, comp in program.populations.items():
        chunks = program.cores[name]
        assert chunks[0][1] == 0 and chunks[-1][2] == comp.size  # covers the population
        assert all(a[2] == b[1] for a, b in itertools.pairwise(chunks))  # contiguous
        for core, start, stop in chunks:
            ids.append(core)
            neurons, synapses, axons = _recount(program, name, start, stop)
            assert 0 < neurons <= COMPARTMENTS_PER_CORE, (name, core, neurons)
            assert synapses <= SYNAPSES_PER_CORE, (name, core, synapses)
            assert axons <= FAN_IN_AXONS_PER_CORE, (name, core, axons)
    assert sorted(ids) == list(range(len(ids)))
    assert len(ids) <= chips * CORES_PER_CHIP


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sizes=st.lists(
        st.one_of(st.integers(1, 1200), st.sampled_from([4095, 4096, 4097, 4600])),
        min_size=2,
        max_size=4,
    ),
    densities=st.lists(st.sampled_from([0.0, 0.001, 0.05, 0.3, 0.95, 1.0]), min_size=3, max_size=3),
    seed=st.integers(0, 1000),
)
@example(sizes=[4600, 8], densities=[1.0, 1.0, 1.0], seed=0)  # the N = 8192 bug, small
@example(sizes=[300, 4097, 300], densities=[1.0, 1.0, 1.0], seed=1)
def test_no_core_exceeds_any_limit(sizes, densities, seed):
    """Either every core is within every limit, or the mapper refuses (never a silent overflow)."""
    nnz = sum(a * b * d for a, b, d in zip(sizes, sizes[1:], densities))
    program = _program(sizes, densities, seed) if nnz < 3e6 else None
    if program is None:
        return
    chips = 64
    try:
        map_cores(program, chips)
    except DoesNotFitError as exc:
        worst = max(int(np.diff(s.weights.indptr).max(initial=0)) for s in program.projections)
        # a refusal is only acceptable when some neuron fits no core on its own, or chips run out
        assert worst > FAN_IN_AXONS_PER_CORE or "chips" in exc.format(), exc.format()
        return
    _assert_within_limits(program, chips)


@pytest.mark.parametrize(
    "fan_in,fits", [(FAN_IN_AXONS_PER_CORE, True), (FAN_IN_AXONS_PER_CORE + 1, False)]
)
def test_dense_fan_in_at_the_axon_limit(fan_in, fits):
    """A dense layer of fan-in 4096 maps (16 neurons per core by synapses); 4097 is refused."""
    program = _program([fan_in, 40], [1.0], 0)
    if fits:
        map_cores(program, 4)
        _assert_within_limits(program, 4)
        assert [c[2] - c[1] for c in program.cores["p0"]] == [16, 16, 8]
    else:
        with pytest.raises(DoesNotFitError, match="input axons"):
            map_cores(program, 4)


def test_sparse_rows_share_a_core_until_their_union_of_axons_is_full():
    """Rows with disjoint 1000-source fan-ins: 4 per core by axons (4 x 1000 <= 4096 < 5000)."""
    n_src, n = 10_000, 10
    rows = np.repeat(np.arange(n), 1000)
    cols = np.arange(n * 1000) % n_src
    w = sp.csr_matrix((np.ones(rows.size, np.int64), (rows, cols)), shape=(n, n_src))
    z = np.zeros(n, np.int64)
    program = LoihiProgram(
        "in",
        (n_src,),
        {"p": Compartments("p", "IF", (n,), z, z, z + 1, z, z, 1.0)},
        [Synapses("in", "p", w, 0, "excitatory")],
        1e-3,
    )
    map_cores(program)
    assert [c[2] - c[1] for c in program.cores["p"]] == [4, 4, 2]
    _assert_within_limits(program, 1)


def test_fan_in_above_the_axon_limit_is_refused_before_quantising():
    """The export refuses a 4097-input dense layer from the float graph (no program built)."""
    from nrf_deploy.targets.loihi import LoihiTarget

    from nrf_deploy.ir import load_graph

    n_in, n = FAN_IN_AXONS_PER_CORE + 1, 3
    g = ir.NIRGraph(
        nodes={
            "in": ir.Input({"input": np.array([n_in])}),
            "fc": ir.Linear(np.full((n, n_in), 0.01)),
            "lif": ir.LIF(
                tau=np.full(n, 0.02), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.ones(n)
            ),
            "out": ir.Output({"output": np.array([n])}),
        },
        edges=[("in", "fc"), ("fc", "lif"), ("lif", "out")],
    )
    with pytest.raises(DoesNotFitError, match="4097 input axons"):
        LoihiTarget().build(load_graph(g), {"loihi_chips": 4})
