"""Integer PyTorch reference: the Loihi format as batched whole-population tensor ops.

The fast statement of :mod:`targets.loihi.format`: int64 tensors, all samples at once, one sparse
matrix product per projection. The emulator (:mod:`targets.loihi.emulator`) is the independent
second reading it is checked against.
"""
from __future__ import annotations

import warnings

import numpy as np
import torch

from nrf_deploy.errors import NrfError
from nrf_deploy.trace import Trace
from nrf_deploy.targets.loihi.format import (ACT_SHIFT, DECAY_SHIFT, DECAY_UNITY, SIGN_EXCITATORY,
                                  SIGN_INHIBITORY, SIGN_MIXED, UV_MAX, VTH_SHIFT, LoihiProgram)


def lava_effective_weights(weights: torch.Tensor, sign_mode: str) -> torch.Tensor:
    """What Lava's Dense does to 8-bit weights before use (``clip_weights`` then
    ``truncate_weights``) — the identity for weights the quantiser produced."""
    if sign_mode == SIGN_MIXED:
        w = weights.clamp(-256, 255)
        return torch.bitwise_left_shift(torch.bitwise_right_shift(w, 1), 1)
    if sign_mode == SIGN_INHIBITORY:
        return -(-weights).clamp(0, 255)
    return weights.clamp(0, 255) if sign_mode == SIGN_EXCITATORY else weights


def check_binary_input(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.size and (x.min() < 0 or x.max() > 1 or not np.all(np.equal(np.mod(x, 1), 0))):
        raise NrfError(f"Loihi inputs are binary spikes; this input has values in [{x.min()}, {x.max()}]",
                       "input array", "binarise the events (x > 0) or split counts over timesteps")
    return x.astype(np.int64)


def run_reference(program: LoihiProgram, x: np.ndarray, record_states: bool = True) -> Trace:
    """Run `program` on binary input spikes ``x [T, B, *input_shape]``; int64 trace."""
    x = check_binary_input(x)
    steps, batch = x.shape[:2]
    flat_in = torch.as_tensor(x.reshape(steps, batch, -1))
    mats = _compiled(program)
    pops = program.populations
    params = {n: {k: torch.as_tensor(getattr(c, k), dtype=torch.int64)
                  for k in ("du", "dv", "vth", "bias_mant", "bias_exp")} for n, c in pops.items()}
    u = {n: torch.zeros(batch, c.size, dtype=torch.int64) for n, c in pops.items()}
    v = {n: torch.zeros(batch, c.size, dtype=torch.int64) for n, c in pops.items()}
    spikes = {n: torch.zeros(batch, c.size, dtype=torch.int64) for n, c in pops.items()}
    spikes[program.input_name] = torch.zeros(batch, program.input_size, dtype=torch.int64)
    rec_out = {n: [] for n in [program.input_name, *pops]}
    rec_u = {n: [] for n in pops}
    rec_v = {n: [] for n in pops}
    for t in range(steps):
        previous = spikes
        activations = {n: torch.zeros(batch, c.size, dtype=torch.int64) for n, c in pops.items()}
        for syn, blocks in zip(program.projections, mats):
            for cols, mat in blocks:   # the exponent shifts each block's sum (Lava Dense semantics)
                acc = (mat @ previous[syn.source][:, cols].T.double()).T.round().long()
                activations[syn.target] += (torch.bitwise_left_shift(acc, syn.weight_exp) if syn.weight_exp >= 0
                                            else torch.bitwise_right_shift(acc, -syn.weight_exp))
        spikes = {program.input_name: flat_in[t]}
        for name, comp in pops.items():
            p = params[name]
            u[name], v[name], z = _lif_step(u[name], v[name], activations[name], p)
            spikes[name] = z
            rec_out[name].append(v[name].clone() if comp.readout else z)
            rec_u[name].append(u[name].clone())
            rec_v[name].append(v[name].clone())
        rec_out[program.input_name].append(flat_in[t])
    shapes = {n: c.shape for n, c in pops.items()} | {program.input_name: program.input_shape}
    outputs = {n: torch.stack(r).reshape(steps, batch, *shapes[n]).numpy() for n, r in rec_out.items()}
    states = {}
    if record_states:
        states = {n: {"u": torch.stack(rec_u[n]).reshape(steps, batch, *pops[n].shape).numpy(),
                      "v": torch.stack(rec_v[n]).reshape(steps, batch, *pops[n].shape).numpy()}
                  for n in pops}
    return Trace(outputs, states)


def _compiled(program: LoihiProgram) -> list:
    """Per projection: [(source columns, sparse CSR block)] — one per Lava Dense block. Built once
    per program and cached on it (verify calls the reference batch after batch)."""
    cached = getattr(program, "_reference_blocks", None)
    if cached is not None:
        return cached
    mats = []
    for syn in program.projections:
        blocks = []
        for cols in syn.blocks():
            coo = syn.weights[:, cols].tocoo()
            w = lava_effective_weights(torch.as_tensor(coo.data, dtype=torch.int64), syn.sign_mode)
            idx = torch.as_tensor(np.vstack([coo.row, coo.col]), dtype=torch.int64)
            mat = torch.sparse_coo_tensor(idx, w.double(), coo.shape, check_invariants=False).coalesce()
            with warnings.catch_warnings():   # torch warns that CSR invariant checks are off
                warnings.simplefilter("ignore", UserWarning)
                blocks.append((torch.as_tensor(cols), mat.to_sparse_csr()))
        mats.append(blocks)
    program._reference_blocks = mats
    return mats


def _lif_step(u: torch.Tensor, v: torch.Tensor, a_in: torch.Tensor, p: dict[str, torch.Tensor]):
    """One PyLifModelBitAcc step for a whole population (int64 tensors)."""
    c = u * (DECAY_UNITY - (p["du"] + 1))
    u = torch.sign(c) * torch.bitwise_right_shift(c.abs(), DECAY_SHIFT)
    u = u + torch.bitwise_left_shift(a_in, ACT_SHIFT)
    u = torch.where(u > UV_MAX, u - 2 * UV_MAX, torch.where(u <= -UV_MAX, u + 2 * UV_MAX, u))
    d = v * (DECAY_UNITY - p["dv"])
    bias = torch.bitwise_left_shift(p["bias_mant"], p["bias_exp"])
    v = torch.sign(d) * torch.bitwise_right_shift(d.abs(), DECAY_SHIFT) + u + bias
    v = v.clamp(-UV_MAX + 1, UV_MAX - 1)
    z = (v > torch.bitwise_left_shift(p["vth"], VTH_SHIFT)).long()
    return u, torch.where(z.bool(), torch.zeros_like(v), v), z
