"""The vendor's witness: SynSense's bit-exact C++ simulator ``xylosim`` 0.1.3 (``xylosim.v2``),
driven directly with the export's specification.

The layer is built as rockpool's ``XyloSim.from_specification``
(``rockpool/devices/xylo/syns61201/xylo_sim.py``) builds it — one ``XyloSynapse(target, synapse,
weight)`` list per source, synapse-1 targets then synapse-2 targets, ``has_bias`` iff a bias is
nonzero — without importing ``rockpool.devices`` (its package import loads samna). Each sample
runs from ``reset_all()``; the recordings ``rec_v_mem``, ``rec_i_syn(2)``, ``rec_recurrent_spikes``
and their ``_out`` twins are the trace.
"""

from __future__ import annotations

import numpy as np
from nrf_deploy.targets.xylo.format import XyloProgram, layer_trace

from nrf_deploy.inputs import check_binary_spikes
from nrf_deploy.trace import Trace


def _synapse_lists(weights: np.ndarray):
    from xylosim.v2 import XyloSynapse

    lists = []
    for row in weights:  # row: [target, synapse]
        entries = []
        for syn in range(row.shape[1]):
            entries += [
                XyloSynapse(int(t), syn, int(row[t, syn])) for t in np.flatnonzero(row[:, syn])
            ]
        lists.append(entries)
    return lists


def build_layer(program: XyloProgram) -> tuple:
    """A ``xylosim.v2.XyloLayer`` holding `program`, and its synapse lists. The layer stores raw
    pointers to the ``XyloSynapse`` objects: the caller must keep the lists alive while it runs."""
    from xylosim.v2 import XyloLayer

    p = program
    dash_syns = [[int(a), int(b)][: p.n_syn] for a, b in zip(p.dash_syn, p.dash_syn_2, strict=True)]
    synapses = (
        _synapse_lists(np.asarray(p.weights_in)),
        _synapse_lists(np.asarray(p.weights_rec)),
        _synapse_lists(np.asarray(p.weights_out)[:, :, None]),
    )
    return XyloLayer(
        synapses_in=synapses[0],
        synapses_rec=synapses[1],
        synapses_out=synapses[2],
        aliases=[list(map(int, a)) for a in p.aliases] or [[] for _ in range(p.n_hidden)],
        threshold=[int(v) for v in p.threshold],
        threshold_out=[int(v) for v in p.threshold_out],
        has_bias=p.has_bias,
        bias=[int(v) for v in p.bias],
        bias_out=[int(v) for v in p.bias_out],
        weight_shift_inp=int(p.weight_shift_in),
        weight_shift_rec=int(p.weight_shift_rec),
        weight_shift_out=int(p.weight_shift_out),
        dash_mem=[int(v) for v in p.dash_mem],
        dash_mem_out=[int(v) for v in p.dash_mem_out],
        dash_syns=dash_syns,
        dash_syns_out=[[int(v)] for v in p.dash_syn_out],
        name="nrf-deploy",
    ), synapses


def run_xylosim(program: XyloProgram, x: np.ndarray, record_states: bool = True) -> Trace:
    """Run every sample of binary ``x [T, B, *input_shape]`` through xylosim; int64 trace."""
    x = check_binary_spikes(x, "Xylo", "each input channel carries spikes of the float model")
    steps, batch = x.shape[:2]
    frames = np.asarray(x, dtype=np.int64).reshape(steps, batch, -1)
    layer, synapses = build_layer(program)
    nh, no = program.n_hidden, program.n_out
    rec = {k: [] for k in ("s_h", "v_h", "i_h", "s_o", "v_o", "i_o")}
    for b in range(batch):
        layer.reset_all()
        layer.evolve(frames[:, b].tolist())
        rec["s_h"].append(_time_major(layer.rec_recurrent_spikes, steps, nh))
        rec["s_o"].append(_time_major(layer.rec_out_spikes, steps, no))
        rec["v_h"].append(_neuron_major(layer.rec_v_mem, steps, nh))
        rec["v_o"].append(_neuron_major(layer.rec_v_mem_out, steps, no))
        syn = [_neuron_major(layer.rec_i_syn, steps, nh)]
        if program.n_syn > 1:
            syn.append(_neuron_major(layer.rec_i_syn2, steps, nh))
        rec["i_h"].append(np.stack(syn, axis=-1))
        rec["i_o"].append(_neuron_major(layer.rec_i_syn_out, steps, no)[..., None])
    del layer, synapses  # the layer first
    stacked = {k: np.stack(v, axis=1) for k, v in rec.items()}  # [T, B, ...]
    return layer_trace(program, x, stacked, record_states)


def _time_major(rows, steps: int, n: int) -> np.ndarray:
    """A recording stored ``[time][neuron]`` as int64 ``[T, n]``."""
    return np.asarray(rows, dtype=np.int64).reshape(steps, n)


def _neuron_major(rows, steps: int, n: int) -> np.ndarray:
    """A recording stored ``[neuron][time]`` as int64 ``[T, n]``."""
    return np.asarray(rows, dtype=np.int64).reshape(n, steps).T
