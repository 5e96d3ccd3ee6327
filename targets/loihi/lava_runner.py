"""The Lava witness's runner: runs in the ``lava`` witness environment (lava-nc 0.10.0), never in
nrf-deploy's own interpreter.

:mod:`nrf_deploy.witness.launch` executes it there (``python -I``, a fresh process); it imports
only the standard library, numpy and, inside the functions, Lava (and scipy, Lava's own
dependency, for sparse weights). The core sends the export's Lava network as its chip files hold it
(lava_network.py's :func:`describe_network`, after the core parsed them): the JSON description
under ``network`` and the arrays under ``net/process/<i>/...`` and ``net/connection/<j>/...``.

:func:`run` builds one ``LIF`` process per described process, one ``Dense``/``Sparse`` per described
connection with its 8-bit weights and ``weight_exp``, a ``RingBuffer`` source for the input spikes
and a sink per LIF, and runs every sample with ``Loihi2SimCfg(select_tag="fixed_pt")`` (in lava-nc
0.10.0: the Loihi 1 bit-accurate models ``PyLifModelBitAcc`` / ``PyDenseModelBitAcc``), step by
step when u and v are read. :func:`check` is the environment's smoke test: a tiny LIF/Dense network
against the same arithmetic written out here in numpy.
"""

from __future__ import annotations

from typing import Any

import numpy as np

INPUT = -1
"""Source index of a connection fed by the input RingBuffer (lava_network.INPUT)."""


class Refusal(Exception):
    """This request cannot run on Lava (the core reports the message)."""


def run(request: dict[str, Any]) -> dict[str, Any]:
    """Run ``x [T, B, n_in]`` (int64 spikes) through the described network, one Lava network per
    sample. Answer: ``s/<population>`` spikes, and ``u/<population>``, ``v/<population>`` after
    every step when `record_states` is set or a read-out population's output is its membrane;
    all int64 ``[T, B, population size]``."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg

    d = request["network"]
    arrays = {k[4:]: v for k, v in request.items() if k.startswith("net/")}
    x = np.asarray(request["x"], dtype=np.int64)
    steps, batch = x.shape[:2]
    sizes = {n: int(np.prod(p["shape"])) for n, p in d["populations"].items()}
    out = {n: np.zeros((steps, batch, s), np.int64) for n, s in sizes.items()}
    us = {n: np.zeros((steps, batch, s), np.int64) for n, s in sizes.items()}
    vs = {n: np.zeros((steps, batch, s), np.int64) for n, s in sizes.items()}
    cfg = Loihi2SimCfg(select_tag="fixed_pt")
    # u and v are read after every step when states are recorded or a read-out population's
    # output is its membrane; otherwise Lava runs all steps in one call (its own throughput)
    per_step = bool(request["record_states"]) or any(
        p["readout"] for p in d["populations"].values()
    )
    for b in range(batch):
        source, groups, _ = build_network(d, arrays, x[:, b])
        try:
            if per_step:
                for t in range(steps):
                    source.run(condition=RunSteps(num_steps=1), run_cfg=cfg)
                    for name, parts in groups.items():
                        for idx, lif, _ in parts:
                            us[name][t, b, idx] = np.asarray(lif.u.get()).astype(np.int64)
                            vs[name][t, b, idx] = np.asarray(lif.v.get()).astype(np.int64)
            else:
                source.run(condition=RunSteps(num_steps=steps), run_cfg=cfg)
            for name, parts in groups.items():
                for idx, _, sink in parts:
                    out[name][:, b, idx] = np.asarray(sink.data.get()).T.astype(np.int64)
        finally:
            source.stop()
    answer: dict[str, Any] = {f"s/{n}": a for n, a in out.items()}
    if per_step:
        answer |= {f"u/{n}": a for n, a in us.items()} | {f"v/{n}": a for n, a in vs.items()}
    return answer


def _weights(arrays: dict[str, np.ndarray], j: int):
    """Connection `j`'s weights as a scipy CSR matrix (int64 ``[target neurons, source
    neurons]``)."""
    import scipy.sparse as sp

    return sp.csr_matrix(
        (
            arrays[f"connection/{j}/data"].astype(np.int64),
            arrays[f"connection/{j}/indices"],
            arrays[f"connection/{j}/indptr"],
        ),
        shape=tuple(int(s) for s in arrays[f"connection/{j}/shape"]),
    )


def build_network(d: dict[str, Any], arrays: dict[str, np.ndarray], x: np.ndarray):
    """Lava processes for one sample ``x [T, n_in]`` of the network described by `d` (the JSON of
    lava_network.json) and `arrays` (lava_network.npz): (source, {population: [(neuron indices,
    LIF, sink)]}, connection processes), one LIF per described process, one Dense/Sparse per
    connection."""
    from lava.proc.dense.process import Dense
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source
    from lava.proc.lif.process import LIF
    from lava.proc.sparse.process import Sparse
    from lava.utils.weightutils import SignMode

    steps = x.shape[0]
    source = Source(data=x.T.astype(np.int32))
    groups: dict[str, list] = {name: [] for name in d["populations"]}
    lifs = []
    for i, p in enumerate(d["processes"]):
        neurons = arrays[f"process/{i}/neurons"].astype(np.int64)
        lif = LIF(
            shape=(neurons.size,),
            du=int(p["du"]),
            dv=int(p["dv"]),
            vth=int(p["vth"]),
            bias_mant=arrays[f"process/{i}/bias_mant"].astype(np.int32),
            bias_exp=arrays[f"process/{i}/bias_exp"].astype(np.int32),
            name=f"{p['population']}[{neurons[0]}]",
        )
        sink = Sink(shape=(neurons.size,), buffer=steps)
        lif.s_out.connect(sink.a_in)
        groups[p["population"]].append((neurons, lif, sink))
        lifs.append(lif)
    denses = []
    for j, c in enumerate(d["connections"]):
        block = _weights(arrays, j)
        # Sparse (same bit-accurate arithmetic) keeps big convolutions affordable
        kind = Sparse if block.nnz < 0.25 * block.shape[0] * block.shape[1] else Dense
        w = block.astype(np.int32) if kind is Sparse else block.toarray().astype(np.int32)
        dense = kind(
            weights=w,
            weight_exp=int(c["weight_exp"]),
            num_message_bits=0,
            sign_mode=SignMode[str(c["sign_mode"]).upper()],
        )
        (source if c["source"] == INPUT else lifs[c["source"]]).s_out.connect(dense.s_in)
        dense.a_out.connect(lifs[c["target"]].a_in)
        denses.append(dense)
    denses += _tie_to_source(d, arrays, source, lifs, x.shape[1])
    return source, groups, denses


def _tie_to_source(d: dict[str, Any], arrays: dict, source, lifs: list, n_in: int) -> list:
    """Lava compiles and runs only the processes connected to the one whose ``run`` is called (the
    source). A LIF process that no connection reaches from the input (e.g. every weight into it
    quantised to zero) would silently never run, so its bias would never integrate. Give each such
    process an all-zero Dense from the source: it adds nothing to ``a_in`` and makes Lava run it."""
    from lava.proc.dense.process import Dense

    reached, frontier = set(), {INPUT}
    while frontier:
        nxt = {c["target"] for c in d["connections"] if c["source"] in frontier} - reached
        reached |= nxt
        frontier = nxt
    ties = []
    for i, lif in enumerate(lifs):
        if i not in reached:
            size = arrays[f"process/{i}/neurons"].size
            tie = Dense(weights=np.zeros((size, n_in), np.int32), num_message_bits=0)
            source.s_out.connect(tie.s_in)
            tie.a_out.connect(lif.a_in)
            ties.append(tie)
    return ties


# --- the environment's check ---------------------------------------------------------------------

CHECK_X = np.array([[1, 0], [1, 1], [0, 1], [1, 1], [0, 0], [1, 0], [1, 1], [0, 1]], np.int64)
"""Input spikes ``[T=8, 2 inputs]`` of the check network."""
CHECK_W = np.array([[6, 20], [13, 1], [0, 25]], np.int64)
"""8-bit excitatory weights ``[3 neurons, 2 inputs]``."""
CHECK_LIF = {"du": 1000, "dv": 600, "vth": 120, "weight_exp": 1}
CHECK_BIAS = (np.array([3, 0, -5], np.int64), np.array([2, 0, 1], np.int64))


def expected_check_trace() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Spikes, u and v ``[T, 3]`` of the check network, by the fixed-point arithmetic of lava-nc
    0.10.0's ``PyLifModelBitAcc`` / ``PyDenseModelBitAcc`` written out in numpy: Dense delivers
    ``(W @ x[t-1]) << weight_exp`` (one step of delay), u decays by ``4096 - (du + 1)`` / 4096
    toward zero and adds ``a << 6`` (24-bit wrap), v decays by ``4096 - dv`` and adds u and
    ``bias_mant << bias_exp`` (clipped to +-(2^23 - 1)), a spike when ``v > vth << 6``, then
    ``v = 0``."""
    steps, n = CHECK_X.shape[0], CHECK_W.shape[0]
    u, v = np.zeros(n, np.int64), np.zeros(n, np.int64)
    bias = CHECK_BIAS[0] << CHECK_BIAS[1]
    limit = 2**23
    spikes, us, vs = (np.zeros((steps, n), np.int64) for _ in range(3))
    for t in range(steps):
        a = (CHECK_W @ CHECK_X[t - 1]) << CHECK_LIF["weight_exp"] if t else np.zeros(n, np.int64)
        c = u * (4096 - (CHECK_LIF["du"] + 1))
        u = np.sign(c) * (np.abs(c) >> 12) + (a << 6)
        u = np.where(u > limit, u - 2 * limit, np.where(u <= -limit, u + 2 * limit, u))
        c = v * (4096 - CHECK_LIF["dv"])
        v = np.clip(np.sign(c) * (np.abs(c) >> 12) + u + bias, -(limit - 1), limit - 1)
        s = v > (CHECK_LIF["vth"] << 6)
        v = np.where(s, 0, v)
        spikes[t], us[t], vs[t] = s, u, v
    return spikes, us, vs


def check(request: dict[str, Any]) -> dict[str, Any]:
    """The environment's smoke test: the check network on Lava equals
    :func:`expected_check_trace` (spikes, u and v at every step). Answer ``{"ok": bool, ...}``."""
    import importlib.metadata
    import sys

    rows, cols = np.nonzero(CHECK_W)
    indptr = np.searchsorted(rows, np.arange(CHECK_W.shape[0] + 1)).astype(np.int64)
    network = {
        "populations": {"p": {"shape": [CHECK_W.shape[0]], "readout": False}},
        "processes": [{"population": "p", **{k: CHECK_LIF[k] for k in ("du", "dv", "vth")}}],
        "connections": [
            {
                "source": INPUT,
                "target": 0,
                "weight_exp": CHECK_LIF["weight_exp"],
                "sign_mode": "excitatory",
            }
        ],
    }
    arrays = {
        "net/process/0/neurons": np.arange(CHECK_W.shape[0], dtype=np.int64),
        "net/process/0/bias_mant": CHECK_BIAS[0],
        "net/process/0/bias_exp": CHECK_BIAS[1],
        "net/connection/0/data": CHECK_W[rows, cols],
        "net/connection/0/indices": cols.astype(np.int64),
        "net/connection/0/indptr": indptr,
        "net/connection/0/shape": np.array(CHECK_W.shape, np.int64),
    }
    got = run({"network": network, "x": CHECK_X[:, None], "record_states": True, **arrays})
    spikes, u, v = expected_check_trace()
    wrong = [
        name
        for name, mine, lava in (
            ("spikes", spikes, got["s/p"]),
            ("u", u, got["u/p"]),
            ("v", v, got["v/p"]),
        )
        if not np.array_equal(mine, lava[:, 0])
    ]
    return {
        "ok": not wrong and int(spikes.sum()) > 0,
        "reason": f"Lava's {', '.join(wrong)} differ from the fixed-point arithmetic"
        if wrong
        else "",
        "spikes": int(spikes.sum()),
        "lava_nc": importlib.metadata.version("lava-nc"),
        "python": sys.version.split()[0],
    }
