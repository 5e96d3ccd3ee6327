"""Integer PyTorch reference: the Loihi format as batched whole-population tensor ops.

The fast statement of :mod:`targets.loihi.format`: every population is updated at once for all
samples, with tensors laid out ``[neurons, batch]``, and every Lava Dense block is one sparse
matrix product. All values are integers, carried in floating point where that is exact:

* products in float32 when every partial sum of a block is provably below ``2**24`` (binary
  spikes times 8-bit weights: the largest row sum of ``|w|``), float64 otherwise; blocks at least
  20 % dense as a dense GEMM (the bound holds for any summation order), sparser ones as CSR;
* state in float64: every intermediate is an integer far below ``2**53``, so the chip's
  ``sign(c) * (|c| >> 12)`` is exactly ``trunc(c / 4096)`` and an arithmetic ``>> k`` of the
  block sum is exactly ``floor(acc * 2**-k)``.

Recorded values are returned as int64. The emulator (:mod:`targets.loihi.emulator`) is the
independent, integer-typed second reading it is checked against.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from nrf_deploy.targets.loihi.format import (
    ACT_SHIFT,
    DECAY_UNITY,
    SIGN_EXCITATORY,
    SIGN_INHIBITORY,
    SIGN_MIXED,
    UV_MAX,
    VTH_SHIFT,
    Compartments,
    LoihiProgram,
)

from nrf_deploy.inputs import check_binary_spikes
from nrf_deploy.trace import Trace

_FLOAT32_EXACT = 2**24
DENSE_FRACTION = 0.2
"""Blocks at least this dense run as a dense GEMM (faster than torch's sparse product there)."""
_F64 = torch.float64


def lava_effective_weights(weights: np.ndarray, sign_mode: str) -> np.ndarray:
    """What Lava's Dense does to 8-bit weights before use (``clip_weights`` then
    ``truncate_weights``) — the identity for weights the quantiser produced."""
    w = np.asarray(weights, dtype=np.int64)
    if sign_mode == SIGN_MIXED:
        return (np.clip(w, -256, 255) >> 1) << 1
    if sign_mode == SIGN_INHIBITORY:
        return -np.clip(-w, 0, 255)
    return np.clip(w, 0, 255) if sign_mode == SIGN_EXCITATORY else w


def check_binary_input(x: np.ndarray) -> np.ndarray:
    """Loihi's input population sends spikes: refuse anything but 0/1 events."""
    return check_binary_spikes(x, "Loihi", "the input population sends spikes")


@dataclass
class _Block:
    """One Lava Dense block as a ``[n_target, n_source]`` matrix (other blocks' columns empty):
    sparse CSR, or dense when at least :data:`DENSE_FRACTION` of it is nonzero."""

    source: str
    target: str
    matrix: torch.Tensor
    scale: float  # 2**weight_exp
    floor: bool  # negative exponent: arithmetic right shift = floor


@dataclass
class _Population:
    """Per-neuron constants as float64 ``[n, 1]`` columns (broadcast over the batch)."""

    u_factor: torch.Tensor  # (4096 - (du + 1)) / 4096, exact in float64
    v_factor: torch.Tensor  # (4096 - dv) / 4096
    bias: torch.Tensor  # bias_mant << bias_exp
    threshold: torch.Tensor  # vth << 6
    readout: bool


def run_reference(program: LoihiProgram, x: np.ndarray, record_states: bool = True) -> Trace:
    """Run `program` on binary input spikes ``x [T, B, *input_shape]``; int64 trace in chip
    units."""
    x = check_binary_input(x)
    steps, batch = x.shape[:2]
    blocks, pops = _compiled(program)
    inputs = (
        torch.as_tensor(x.reshape(steps, batch, -1), dtype=torch.float32)
        .transpose(1, 2)
        .contiguous()
    )
    spikes = {name: torch.zeros(p.bias.shape[0], batch) for name, p in pops.items()}
    u = {name: torch.zeros(p.bias.shape[0], batch, dtype=_F64) for name, p in pops.items()}
    v = {name: torch.zeros(p.bias.shape[0], batch, dtype=_F64) for name, p in pops.items()}
    rec = {name: [] for name in pops}
    rec_u = {name: [] for name in pops}
    rec_v = {name: [] for name in pops}
    for t in range(steps):
        spikes[program.input_name] = inputs[t - 1] if t else torch.zeros_like(inputs[0])
        a_in = _activations(blocks, spikes)  # spikes of step t-1 arrive at step t
        for name, pop in pops.items():
            u[name], v[name], fired = _lif_step(u[name], v[name], a_in.get(name), pop)
            spikes[name] = fired
            rec[name].append(v[name] if pop.readout else fired)
            if record_states:
                rec_u[name].append(u[name])
                rec_v[name].append(v[name])
    return _trace(program, x, rec, rec_u, rec_v, record_states)


def _activations(blocks: list[_Block], spikes: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Each population's ``a_in``: the sum over its Dense blocks of ``(W · s) << weight_exp``.

    A block's product is exact in its matrix dtype (float32 only where every row sum stays below
    2**24), and so is its scaling by a power of two; sums of several blocks are taken in float64."""
    a_in: dict[str, torch.Tensor] = {}
    for b in blocks:
        s = spikes[b.source].to(b.matrix.dtype)
        acc = torch.sparse.mm(b.matrix, s) if b.matrix.layout != torch.strided else b.matrix @ s
        if b.scale != 1.0:
            acc.mul_(b.scale)
        if b.floor:
            acc.floor_()
        a_in[b.target] = a_in[b.target].to(_F64).add_(acc) if b.target in a_in else acc
    return a_in


def _lif_step(u: torch.Tensor, v: torch.Tensor, a_in: torch.Tensor | None, p: _Population):
    """One PyLifModelBitAcc step for a whole population (float64 holding integers)."""
    u = (u * p.u_factor).trunc_()
    if a_in is not None:
        u.add_(a_in, alpha=2**ACT_SHIFT)
        low, high = torch.aminmax(u)
        if high > UV_MAX or low <= -UV_MAX:  # 24-bit wrap, rare: only then pay for it
            u = torch.where(
                u > UV_MAX, u - 2 * UV_MAX, torch.where(u <= -UV_MAX, u + 2 * UV_MAX, u)
            )
    v = (v * p.v_factor).trunc_().add_(u).add_(p.bias).clamp_(-UV_MAX + 1, UV_MAX - 1)
    fired = v > p.threshold
    return u, v.masked_fill_(fired, 0.0), fired.to(torch.float32)


def _trace(
    program: LoihiProgram, x: np.ndarray, rec: dict, rec_u: dict, rec_v: dict, record_states: bool
) -> Trace:
    steps, batch = x.shape[:2]
    pops = program.populations

    def stacked(values: list[torch.Tensor], shape: tuple[int, ...]) -> np.ndarray:
        # [T, n, B] -> [T, B, *shape], int64
        return (
            torch.stack(values)
            .transpose(1, 2)
            .to(torch.int64)
            .reshape(steps, batch, *shape)
            .cpu()
            .numpy()
        )

    outputs = {program.input_name: x.reshape(steps, batch, *program.input_shape)}
    outputs |= {n: stacked(r, pops[n].shape) for n, r in rec.items()}
    states = {}
    if record_states:
        states = {
            n: {"u": stacked(rec_u[n], pops[n].shape), "v": stacked(rec_v[n], pops[n].shape)}
            for n in pops
        }
    return Trace(outputs, states)


def _compiled(program: LoihiProgram) -> tuple[list[_Block], dict[str, _Population]]:
    """Dense blocks and population constants, built once per program and torch device and cached
    on the program (verify calls the reference batch after batch)."""
    device = torch.get_default_device()
    cached = program.derived.get("reference_compiled")
    if cached is not None and cached[0] == device:
        return cached[1]
    blocks = [
        _block(syn.source, syn.target, syn.weights, cols, syn.weight_exp, syn.sign_mode)
        for syn in program.projections
        for cols in syn.blocks()
    ]
    pops = {name: _population(c) for name, c in program.populations.items()}
    program.derived["reference_compiled"] = (device, (blocks, pops))
    return blocks, pops


def _block(
    source: str,
    target: str,
    weights: sp.csr_matrix,
    cols: np.ndarray,
    weight_exp: int,
    sign_mode: str,
) -> _Block:
    coo = weights.tocsc()[:, cols].tocoo()
    data = lava_effective_weights(coo.data, sign_mode)
    full = sp.csr_matrix((data, (coo.row, cols[coo.col])), shape=weights.shape)
    full.sort_indices()
    row_bound = np.abs(full).sum(axis=1).max() if full.nnz else 0
    dtype = torch.float32 if row_bound < _FLOAT32_EXACT else _F64
    if full.nnz >= DENSE_FRACTION * full.shape[0] * full.shape[1]:
        # a dense GEMM: every partial sum, in any order, is an integer bounded by the row's |w|
        # sum, so the same bound (< 2**24 for float32) keeps it exact
        return _Block(
            source,
            target,
            torch.as_tensor(
                full.toarray().astype(np.float32 if dtype == torch.float32 else np.float64)
            ),
            2.0**weight_exp,
            weight_exp < 0,
        )
    with warnings.catch_warnings():  # torch warns that sparse CSR support is in beta
        warnings.simplefilter("ignore", UserWarning)
        matrix = torch.sparse_csr_tensor(
            torch.as_tensor(full.indptr, dtype=torch.int64),
            torch.as_tensor(full.indices, dtype=torch.int64),
            torch.as_tensor(full.data, dtype=dtype),
            size=full.shape,
        )
    return _Block(source, target, matrix, 2.0**weight_exp, weight_exp < 0)


def _population(c: Compartments) -> _Population:
    def column(values: np.ndarray) -> torch.Tensor:
        flat = np.broadcast_to(np.asarray(values, dtype=np.int64), (c.size,))
        return torch.as_tensor(flat.astype(np.float64).reshape(-1, 1))

    # trunc(x * f / 4096) == trunc(x * (f / 4096)): f / 4096 and x * f (< 2**53) are exact
    return _Population(
        u_factor=column(DECAY_UNITY - (np.asarray(c.du, np.int64) + 1)) / DECAY_UNITY,
        v_factor=column(DECAY_UNITY - np.asarray(c.dv, np.int64)) / DECAY_UNITY,
        bias=column(
            np.left_shift(np.asarray(c.bias_mant, np.int64), np.asarray(c.bias_exp, np.int64))
        ),
        threshold=column(np.left_shift(np.asarray(c.vth, np.int64), VTH_SHIFT)),
        readout=c.readout,
    )
