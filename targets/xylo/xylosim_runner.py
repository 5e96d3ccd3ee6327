"""The xylosim witness's runner: runs in the ``xylosim`` witness environment (xylosim 0.1.3, built
from its source distribution where no wheel fits), never in nrf-deploy's own interpreter.

:mod:`nrf_deploy.witness.launch` executes it there (``python -I``, a fresh process); it imports
only the standard library, numpy and, inside the functions, ``xylosim.v2``.

:func:`run` builds the layer as rockpool's ``XyloSim.from_specification``
(``rockpool/devices/xylo/syns61201/xylo_sim.py``) builds it — one ``XyloSynapse(target, synapse,
weight)`` list per source, synapse-1 targets then synapse-2 targets, ``has_bias`` iff a bias is
nonzero — without rockpool (``rockpool.devices`` imports samna at package import). The C++ layer
keeps raw pointers to the ``XyloSynapse`` objects: their Python lists stay referenced until the
layer is deleted. Each sample runs from ``reset_all()``; the recordings ``rec_v_mem``,
``rec_i_syn(2)``, ``rec_recurrent_spikes`` and their ``_out`` twins are the answer.
"""

from __future__ import annotations

from typing import Any

import numpy as np

SPEC = (
    "weights_in",
    "weights_rec",
    "weights_out",
    "dash_mem",
    "dash_mem_out",
    "dash_syn",
    "dash_syn_2",
    "dash_syn_out",
    "threshold",
    "threshold_out",
    "bias",
    "bias_out",
)
"""Arrays of the specification (int64, chip units; shapes as xylo/format.py's XyloProgram)."""


class Refusal(Exception):
    """This request cannot run on xylosim (the core reports the message)."""


def _synapse_lists(weights: np.ndarray) -> list:
    """One ``XyloSynapse`` list per source row ``[target, synapse]``: synapse-1 targets, then
    synapse-2 targets."""
    from xylosim.v2 import XyloSynapse

    lists = []
    for row in weights:
        entries = []
        for syn in range(row.shape[1]):
            entries += [
                XyloSynapse(int(t), syn, int(row[t, syn])) for t in np.flatnonzero(row[:, syn])
            ]
        lists.append(entries)
    return lists


def build_layer(spec: dict[str, Any]) -> tuple:
    """A ``xylosim.v2.XyloLayer`` holding the specification `spec` (the request's arrays, shifts
    and aliases) and its synapse lists. The layer stores raw pointers to the ``XyloSynapse``
    objects: the caller keeps the lists alive while it runs."""
    from xylosim.v2 import XyloLayer

    n_hidden = spec["weights_rec"].shape[0]
    n_syn = spec["weights_in"].shape[2]
    dash_syns = [[int(a), int(b)][:n_syn] for a, b in zip(spec["dash_syn"], spec["dash_syn_2"])]
    synapses = (
        _synapse_lists(np.asarray(spec["weights_in"])),
        _synapse_lists(np.asarray(spec["weights_rec"])),
        _synapse_lists(np.asarray(spec["weights_out"])[:, :, None]),
    )
    has_bias = bool(np.any(spec["bias"] != 0) or np.any(spec["bias_out"] != 0))
    layer = XyloLayer(
        synapses_in=synapses[0],
        synapses_rec=synapses[1],
        synapses_out=synapses[2],
        aliases=[list(map(int, a)) for a in spec["aliases"]] or [[] for _ in range(n_hidden)],
        threshold=[int(v) for v in spec["threshold"]],
        threshold_out=[int(v) for v in spec["threshold_out"]],
        has_bias=has_bias,
        bias=[int(v) for v in spec["bias"]],
        bias_out=[int(v) for v in spec["bias_out"]],
        weight_shift_inp=int(spec["weight_shift_in"]),
        weight_shift_rec=int(spec["weight_shift_rec"]),
        weight_shift_out=int(spec["weight_shift_out"]),
        dash_mem=[int(v) for v in spec["dash_mem"]],
        dash_mem_out=[int(v) for v in spec["dash_mem_out"]],
        dash_syns=dash_syns,
        dash_syns_out=[[int(v)] for v in spec["dash_syn_out"]],
        name="nrf-deploy",
    )
    return layer, synapses


def run(request: dict[str, Any]) -> dict[str, Any]:
    """Run every sample of binary ``x [T, B, n_in]`` (int64). Answer, int64 ``[T, B, ...]``: hidden
    spikes ``s_h``, membranes ``v_h``, synaptic currents ``i_h [T, B, Nhid, Nsyn]`` and the same for
    the read-out layer (``s_o``, ``v_o``, ``i_o [T, B, Nout, 1]``)."""
    x = np.asarray(request["x"], dtype=np.int64)
    steps, batch = x.shape[:2]
    layer, synapses = build_layer(request)
    nh, no = request["weights_rec"].shape[0], request["weights_out"].shape[1]
    n_syn = request["weights_in"].shape[2]
    rec: dict[str, list] = {k: [] for k in ("s_h", "v_h", "i_h", "s_o", "v_o", "i_o")}
    for b in range(batch):
        layer.reset_all()
        layer.evolve(x[:, b].tolist())
        rec["s_h"].append(_time_major(layer.rec_recurrent_spikes, steps, nh))
        rec["s_o"].append(_time_major(layer.rec_out_spikes, steps, no))
        rec["v_h"].append(_neuron_major(layer.rec_v_mem, steps, nh))
        rec["v_o"].append(_neuron_major(layer.rec_v_mem_out, steps, no))
        syn = [_neuron_major(layer.rec_i_syn, steps, nh)]
        if n_syn > 1:
            syn.append(_neuron_major(layer.rec_i_syn2, steps, nh))
        rec["i_h"].append(np.stack(syn, axis=-1))
        rec["i_o"].append(_neuron_major(layer.rec_i_syn_out, steps, no)[..., None])
    del layer, synapses  # the layer first: it points into the synapse lists
    return {k: np.stack(v, axis=1) for k, v in rec.items()}


def _time_major(rows, steps: int, n: int) -> np.ndarray:
    """A recording stored ``[time][neuron]`` as int64 ``[T, n]``."""
    return np.asarray(rows, dtype=np.int64).reshape(steps, n)


def _neuron_major(rows, steps: int, n: int) -> np.ndarray:
    """A recording stored ``[neuron][time]`` as int64 ``[T, n]``."""
    return np.asarray(rows, dtype=np.int64).reshape(n, steps).T


# --- the environment's check ---------------------------------------------------------------------


def _decay(value: np.ndarray, dash: int) -> np.ndarray:
    """Xylo's bit-shift decay step: ``value >> dash``, at least 1 toward zero."""
    step = value >> dash
    return np.where((step == 0) & (value != 0), np.sign(value), step)


def expected_check_trace(
    x: np.ndarray, w_in: np.ndarray, dash_syn: int, dash_mem: int, threshold: int
) -> tuple[np.ndarray, np.ndarray]:
    """Spike counts and membranes ``[T, n]`` of a feed-forward CubaLIF layer (one synapse, no
    bias, no recurrence, input shift 0, values far from the 16-bit bounds) written out in numpy as
    xylosim's ``XyloLayer::evolve``: input spikes add their weights to i, then i decays by
    :func:`_decay`, v decays by it too and adds i, and the neuron spikes while ``v >= threshold``
    (at most 31 times), subtracting the threshold each time."""
    i = np.zeros(w_in.shape[1], np.int64)
    v = np.zeros(w_in.shape[1], np.int64)
    spikes, vs = (np.zeros((x.shape[0], w_in.shape[1]), np.int64) for _ in range(2))
    for t in range(x.shape[0]):
        i = i + x[t] @ w_in
        i = i - _decay(i, dash_syn)
        v = v - _decay(v, dash_mem) + i
        n = np.clip(np.where(v >= threshold, v // threshold, 0), 0, 31)
        v = v - n * threshold
        spikes[t], vs[t] = n, v
    return spikes, vs


def check(request: dict[str, Any]) -> dict[str, Any]:
    """The environment's smoke test: a 3-input, 4-neuron layer on xylosim equals
    :func:`expected_check_trace` (hidden spikes and membranes at every step)."""
    import importlib.metadata

    rng = np.random.default_rng(5)
    x = (rng.random((16, 3)) < 0.5).astype(np.int64)
    w_in = rng.integers(-60, 120, size=(3, 4)).astype(np.int64)
    nh, no, dash_syn, dash_mem, threshold = 4, 1, 2, 3, 150
    spec = {
        "weights_in": w_in[:, :, None],
        "weights_rec": np.zeros((nh, nh, 1), np.int64),
        "weights_out": np.zeros((nh, no), np.int64),
        "dash_mem": np.full(nh, dash_mem),
        "dash_mem_out": np.full(no, 1),
        "dash_syn": np.full(nh, dash_syn),
        "dash_syn_2": np.full(nh, 1),
        "dash_syn_out": np.full(no, 1),
        "threshold": np.full(nh, threshold),
        "threshold_out": np.full(no, 100),
        "bias": np.zeros(nh, np.int64),
        "bias_out": np.zeros(no, np.int64),
        "weight_shift_in": 0,
        "weight_shift_rec": 0,
        "weight_shift_out": 0,
        "aliases": [],
    }
    got = run({**spec, "x": x[:, None]})
    spikes, v = expected_check_trace(x, w_in, dash_syn, dash_mem, threshold)
    same = np.array_equal(got["s_h"][:, 0], spikes) and np.array_equal(got["v_h"][:, 0], v)
    return {
        "ok": bool(same and spikes.sum() > 0),
        "reason": "" if same else "xylosim's spikes or membranes differ from the CubaLIF step",
        "spikes": int(spikes.sum()),
        "xylosim": importlib.metadata.version("xylosim"),
    }
