"""Lava lowering of a Loihi export: the quantised program as Lava processes.

Populations become ``LIF`` processes, one per distinct (du, dv, vth) since Lava holds those as
scalars; projections become ``Dense`` (or, when sparse, ``Sparse``) blocks between them with the program's 8-bit weights and
``weight_exp``; input spikes come from a ``RingBuffer`` source; each LIF's spikes go to a sink
ring buffer. Use it from your own Lava code::

    from nrf_deploy.targets.loihi import LoihiTarget
    from nrf_deploy.targets.loihi.lava_network import build_network
    program = LoihiTarget().load("build/loihi").program
    source, groups, denses = build_network(program, x)   # x: [T, n_inputs] binary spikes
    source.run(condition=RunSteps(num_steps=T), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))

or run it directly: ``nrf-deploy run build/loihi --backend lava --input x.npy -o out.npz``.
"""
from __future__ import annotations

import numpy as np



def _groups(comp) -> list[np.ndarray]:
    """Neuron indices sharing (du, dv, vth): one Lava LIF process each."""
    from nrf_deploy.targets.loihi.format import neuron_groups

    group = neuron_groups(comp)
    return [np.flatnonzero(group == g) for g in np.unique(group)]


def build_network(program, x: np.ndarray):
    """Lava processes for one sample ``x [T, n_in]``: (source, {pop: [(indices, LIF, sink)]}, denses)."""
    from lava.proc.dense.process import Dense
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source
    from lava.proc.lif.process import LIF
    from lava.proc.sparse.process import Sparse
    from lava.utils.weightutils import SignMode

    steps = x.shape[0]
    source = Source(data=x.T.astype(np.int32))
    groups: dict[str, list] = {}
    for name, comp in program.populations.items():
        groups[name] = []
        for idx in _groups(comp):
            lif = LIF(shape=(idx.size,), du=int(comp.du[idx[0]]), dv=int(comp.dv[idx[0]]),
                      vth=int(comp.vth[idx[0]]), bias_mant=comp.bias_mant[idx].astype(np.int32),
                      bias_exp=comp.bias_exp[idx].astype(np.int32), name=f"{name}[{idx[0]}]")
            sink = Sink(shape=(idx.size,), buffer=steps)
            lif.s_out.connect(sink.a_in)
            groups[name].append((idx, lif, sink))
    denses = []
    for syn in program.projections:
        src_groups = ([(np.arange(program.input_size), source)] if syn.source == program.input_name
                      else [(idx, lif) for idx, lif, _ in groups[syn.source]])
        weights = syn.weights.tocsr()
        for tgt_idx, tgt_lif, _ in groups[syn.target]:
            for src_idx, src_proc in src_groups:
                block = weights[tgt_idx][:, src_idx]
                if block.nnz == 0:
                    continue
                # the projection's sign mode, not the block's: Lava would otherwise derive it per
                # block and clip an all-negative block of a mixed projection to [-255, 0].
                # Sparse (same bit-accurate arithmetic) keeps big convolutions affordable.
                kind = Sparse if block.nnz < 0.25 * block.shape[0] * block.shape[1] else Dense
                w = block.astype(np.int32) if kind is Sparse else block.toarray().astype(np.int32)
                dense = kind(weights=w, weight_exp=int(syn.weight_exp), num_message_bits=0,
                             sign_mode=SignMode[syn.sign_mode.upper()])
                src_proc.s_out.connect(dense.s_in)
                dense.a_out.connect(tgt_lif.a_in)
                denses.append(dense)
    return source, groups, denses


