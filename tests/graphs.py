"""Small NIR graphs built in code for tests (independent of any exporter under test)."""

from __future__ import annotations

import numpy as np

from nrf_deploy.ir import nodes as ir


def lif_chain(
    n_in: int = 3, n_out: int = 4, tau: float = 0.02, reset: str = "zero", seed: int = 0
) -> ir.NIRGraph:
    """Input -> Affine -> LIF -> Output."""
    rng = np.random.default_rng(seed)
    lif = ir.LIF(
        tau=np.full(n_out, tau),
        r=np.ones(n_out),
        v_leak=np.zeros(n_out),
        v_threshold=np.ones(n_out),
    )
    lif.metadata = {"reset": reset}
    return ir.NIRGraph(
        nodes={
            "in": ir.Input({"input": np.array([n_in])}),
            "fc": ir.Affine(rng.normal(0, 1, (n_out, n_in)), rng.normal(0, 0.1, n_out)),
            "lif": lif,
            "out": ir.Output({"output": np.array([n_out])}),
        },
        edges=[("in", "fc"), ("fc", "lif"), ("lif", "out")],
    )


def random_neuron(
    kind: str,
    h: int,
    tau_steps: float,
    rng: np.random.Generator,
    *,
    dt: float = 1e-3,
    syn_floor_steps: float = 1.0,
    w_in: float = 1.0,
    zero_reset: tuple[str, ...] = ("LIF",),
) -> ir.NIRNode:
    """An IF, LIF or CubaLIF layer of `h` neurons: thresholds uniform in [0.3, 2), LIF leaks
    normal(0, 0.2), membrane time constant `tau_steps` x `dt` (CubaLIF synapse: half of it, at
    least `syn_floor_steps`); kinds in `zero_reset` reset to zero, the others subtract."""
    if kind == "IF":
        neuron = ir.IF(np.full(h, 1.0), rng.uniform(0.3, 2.0, h))
    elif kind == "LIF":
        neuron = ir.LIF(
            np.full(h, tau_steps * dt), np.ones(h), rng.normal(0, 0.2, h), rng.uniform(0.3, 2.0, h)
        )
    else:
        neuron = ir.CubaLIF(
            np.full(h, max(0.5 * tau_steps, syn_floor_steps) * dt),
            np.full(h, tau_steps * dt),
            np.ones(h),
            np.zeros(h),
            rng.uniform(0.3, 2.0, h),
            w_in=np.full(h, w_in),
        )
    if kind in zero_reset:
        neuron.metadata = {"reset": "zero"}
    return neuron


def threshold_chain(n: int = 2) -> ir.NIRGraph:
    """Input -> Linear (identity) -> Threshold -> Output: a spiking node no neuromorphic core
    runs (targets that route only neuron spikes refuse it)."""
    return ir.NIRGraph(
        nodes={
            "in": ir.Input({"input": np.array([n])}),
            "fc": ir.Linear(np.eye(n)),
            "th": ir.Threshold(np.ones(n)),
            "out": ir.Output({"output": np.array([n])}),
        },
        edges=[("in", "fc"), ("fc", "th"), ("th", "out")],
    )


def recurrent_cubalif(n_in: int = 3, n: int = 5, seed: int = 0) -> ir.NIRGraph:
    """Input -> Affine -> CubaLIF, CubaLIF -> Linear(recurrent) -> CubaLIF -> Output."""
    rng = np.random.default_rng(seed)
    neuron = ir.CubaLIF(
        tau_syn=np.full(n, 0.005),
        tau_mem=np.full(n, 0.02),
        r=np.ones(n),
        v_leak=np.zeros(n),
        v_threshold=np.ones(n),
        w_in=np.full(n, 2.0),
    )
    return ir.NIRGraph(
        nodes={
            "in": ir.Input({"input": np.array([n_in])}),
            "fc": ir.Affine(rng.normal(1.5, 3, (n, n_in)), np.zeros(n)),
            "cuba": neuron,
            "rec": ir.Linear(rng.normal(0, 0.5, (n, n))),
            "out": ir.Output({"output": np.array([n])}),
        },
        edges=[("in", "fc"), ("fc", "cuba"), ("cuba", "rec"), ("rec", "cuba"), ("cuba", "out")],
    )


def braille_cubalif(
    reset: str = "subtract",
    seed: int = 0,
    n_in: int = 12,
    n_hidden: int = 38,
    n_out: int = 7,
    dt: float = 1e-4,
) -> ir.NIRGraph:
    """The NIR paper's braille network shape: Input(12) -> Affine -> CubaLIF(38) with a recurrent
    Affine -> Affine -> CubaLIF(7) -> Output, dt = 1e-4 s (time constants of a few ms)."""
    rng = np.random.default_rng(seed)

    def cuba(n: int) -> ir.CubaLIF:
        node = ir.CubaLIF(
            tau_syn=rng.uniform(3e-4, 1.5e-3, n),
            tau_mem=rng.uniform(8e-4, 4e-3, n),
            r=np.ones(n),
            v_leak=np.zeros(n),
            v_threshold=np.ones(n),
            w_in=np.ones(n),
        )
        node.metadata = {"reset": reset}
        return node

    graph = ir.NIRGraph(
        nodes={
            "input": ir.Input({"input": np.array([n_in])}),
            "fc1": ir.Affine(rng.normal(0.6, 1.2, (n_hidden, n_in)), rng.normal(0, 0.05, n_hidden)),
            "lif1": cuba(n_hidden),
            "rec": ir.Affine(rng.normal(0, 0.4, (n_hidden, n_hidden)), np.zeros(n_hidden)),
            "fc2": ir.Affine(rng.normal(0.5, 1.0, (n_out, n_hidden)), np.zeros(n_out)),
            "lif2": cuba(n_out),
            "output": ir.Output({"output": np.array([n_out])}),
        },
        edges=[
            ("input", "fc1"),
            ("fc1", "lif1"),
            ("lif1", "rec"),
            ("rec", "lif1"),
            ("lif1", "fc2"),
            ("fc2", "lif2"),
            ("lif2", "output"),
        ],
    )
    graph.metadata = {"dt": dt, "name": f"braille-{reset}"}
    return graph


def two_recurrent_layers(
    kind: str = "CubaLIF",
    readout: str = "LI",
    reset: str = "subtract",
    seed: int = 0,
    sizes: tuple[int, int, int, int] = (8, 20, 10, 4),
    dt: float = 1e-3,
) -> ir.NIRGraph:
    """Input -> Affine -> A (recurrent Affine) -> Affine -> B (recurrent Linear) -> Affine ->
    read-out (`readout`: LI, I, LIF or CubaLIF) -> Output; A and B are `kind` (CubaLIF/LIF/IF)."""
    rng = np.random.default_rng(seed)
    n_in, n_a, n_b, n_out = sizes

    def neuron(k: str, n: int):
        if k == "CubaLIF":
            node = ir.CubaLIF(
                tau_syn=rng.uniform(2, 6, n) * dt,
                tau_mem=rng.uniform(5, 30, n) * dt,
                r=np.ones(n),
                v_leak=rng.normal(0, 0.05, n),
                v_threshold=rng.uniform(0.5, 1.5, n),
                w_in=rng.uniform(0.8, 1.5, n),
            )
        elif k == "LIF":
            node = ir.LIF(
                tau=rng.uniform(5, 30, n) * dt,
                r=np.ones(n),
                v_leak=np.zeros(n),
                v_threshold=rng.uniform(0.5, 1.5, n),
            )
        elif k == "IF":
            node = ir.IF(r=np.ones(n), v_threshold=rng.uniform(0.5, 1.5, n))
        elif k == "LI":
            return ir.LI(tau=rng.uniform(5, 20, n) * dt, r=np.ones(n), v_leak=np.zeros(n))
        else:
            return ir.I(r=np.ones(n))
        node.metadata = {"reset": reset}
        return node

    graph = ir.NIRGraph(
        nodes={
            "in": ir.Input({"input": np.array([n_in])}),
            "fc_a": ir.Affine(rng.normal(0.8, 1.5, (n_a, n_in)), rng.normal(0, 0.05, n_a)),
            "a": neuron(kind, n_a),
            "rec_a": ir.Affine(rng.normal(0, 0.3, (n_a, n_a)), np.zeros(n_a)),
            "fc_b": ir.Affine(rng.normal(0.5, 1.0, (n_b, n_a)), np.zeros(n_b)),
            "b": neuron(kind, n_b),
            "rec_b": ir.Linear(rng.normal(0, 0.3, (n_b, n_b))),
            "fc_out": ir.Affine(rng.normal(0.3, 1.0, (n_out, n_b)), np.zeros(n_out)),
            "readout": neuron(readout, n_out),
            "out": ir.Output({"output": np.array([n_out])}),
        },
        edges=[
            ("in", "fc_a"),
            ("fc_a", "a"),
            ("a", "rec_a"),
            ("rec_a", "a"),
            ("a", "fc_b"),
            ("fc_b", "b"),
            ("b", "rec_b"),
            ("rec_b", "b"),
            ("b", "fc_out"),
            ("fc_out", "readout"),
            ("readout", "out"),
        ],
    )
    graph.metadata = {"dt": dt, "name": f"two-recurrent-{kind}-{readout}"}
    return graph
