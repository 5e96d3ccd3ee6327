"""Target-independent lowering: a graph as populations joined by linear projections.

Chips hold neuron *populations* and the *projections* (synapses) between them. A population is the
Input node or a stateful/spiking node (IF, LIF, LI, CubaLIF, I, Threshold). A projection is the
chain of stateless nodes (Conv, Affine, Linear, Scale, pooling, Flatten) on one path from a source
population to a target population or Output. Every target quantises these two things; the
projection's dense/sparse matrix and constant bias are computed here once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from nrf_deploy.ir.graph import Graph, Node

if TYPE_CHECKING:
    import torch

    from nrf_deploy.ir.executor import _Runner


def is_population(node: Node) -> bool:
    """The Input, or a stateful or spiking node (spec.py): where projections start and end."""
    return node.kind == "Input" or node.stateful or node.spiking


@dataclass(frozen=True)
class Projection:
    """Stateless path ``source -> ops... -> target``; `delayed` if it closes a recurrent loop."""

    source: str
    target: str
    ops: tuple[Node, ...]
    delayed: bool
    source_shape: tuple[int, ...]
    target_shape: tuple[int, ...]
    graph: Graph

    @property
    def name(self) -> str:
        return f"{self.source}->{self.target}"

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(op.kind for op in self.ops)

    def apply(self, x: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Apply the chain to ``x [B, *source_shape]`` in float64 (bias included)."""
        import torch

        from nrf_deploy.ir.executor import float_update

        runner = _chain_runner(self.graph)
        h = torch.as_tensor(
            np.asarray(x) if not isinstance(x, torch.Tensor) else x, dtype=torch.float64
        )
        for op in self.ops:
            h = float_update(op.kind)(runner, op, h)
        return h

    @cached_property
    def bias(self) -> np.ndarray:
        """Constant input per step at the target, float64, shaped like the target (zeros if
        none)."""
        zero = np.zeros((1, *self.source_shape))
        return self.apply(zero)[0].numpy().reshape(self.target_shape)

    @cached_property
    def matrix(self) -> sp.csr_matrix:
        """The linear part as a sparse ``[target_size, source_size]`` float64 matrix (bias removed,
        int32 indices while they fit). Built from the weights directly when the chain is one
        Affine/Linear with Flatten/Scale around it; other chains (conv, pooling) are probed with
        identity blocks of the source."""
        direct = self._direct_factors()
        if direct is None:
            return self._probed_matrix()
        blocks = [blk for _start, blk in self.row_blocks()]
        shape = (int(np.prod(self.target_shape)), int(np.prod(self.source_shape)))
        return _vstack_csr(blocks, shape)

    def row_blocks(self, rows: int = 1024):
        """Yield ``(first_row, csr block [rows, source_size])`` of :attr:`matrix`, float64, built
        from the weights block by block when the chain is direct (memory: one block at a time)."""
        direct = self._direct_factors()
        n_out = int(np.prod(self.target_shape))
        if direct is None:
            full = self.matrix
            for start in range(0, n_out, rows):
                yield start, full[start : start + rows]
            return
        weight, pre, post = direct
        for start in range(0, n_out, rows):
            stop = min(start + rows, n_out)
            if weight is None:  # only Flatten/Scale: a diagonal
                diag = pre[start:stop] * post[start:stop]
                idx = np.arange(start, stop, dtype=np.int32)
                blk = sp.csr_matrix(
                    (diag, idx, np.arange(stop - start + 1, dtype=np.int32)),
                    shape=(stop - start, pre.size),
                )
                blk.eliminate_zeros()
                yield start, blk
                continue
            dense = np.asarray(weight[start:stop], dtype=np.float64)
            if pre is not None:  # the order of the executor: (x * pre) @ W.T
                dense = dense * pre[None, :]
            yield start, _dense_to_csr(dense * post[start:stop, None])

    def _direct_factors(self):
        """``(W or None, column scale, row scale)`` when the chain is Scale* Affine/Linear? Scale*
        with Flatten anywhere (so matrix = diag(row) @ W @ diag(column)); None otherwise."""
        n_src = int(np.prod(self.source_shape))
        n_out = int(np.prod(self.target_shape))
        weight, pre, post = None, np.ones(n_src), np.ones(n_out)
        for op in self.ops:
            kind = op.kind
            if kind == "Flatten":
                continue
            if kind == "Scale":
                scale = np.asarray(op.nir_node.scale, dtype=np.float64).reshape(-1)
                if weight is None:
                    if scale.size != n_src:
                        return None
                    pre = pre * scale
                else:
                    if scale.size != n_out:
                        return None
                    post = post * scale
                continue
            if kind in ("Affine", "Linear") and weight is None:
                weight = op.nir_node.weight
                if weight.ndim != 2 or weight.shape != (n_out, n_src):
                    return None
                continue
            return None
        if weight is None and n_src != n_out:
            return None
        return weight, (None if weight is not None and np.all(pre == 1) else pre), post

    def _probed_matrix(self) -> sp.csr_matrix:
        n_src = int(np.prod(self.source_shape))
        blocks = []
        for start in range(0, n_src, 512):
            stop = min(start + 512, n_src)
            eye = np.zeros((stop - start, n_src))
            eye[np.arange(stop - start), np.arange(start, stop)] = 1.0
            cols = self.apply(eye.reshape(-1, *self.source_shape)).numpy().reshape(stop - start, -1)
            cols -= self.bias.reshape(1, -1)
            blocks.append(sp.csr_matrix(cols))
        return sp.vstack(blocks).T.tocsr()

    @property
    def has_bias(self) -> bool:
        return bool(np.any(self.bias != 0))


@dataclass(frozen=True)
class Lowered:
    """Populations in schedule order and every projection between them."""

    graph: Graph
    populations: tuple[Node, ...]
    projections: tuple[Projection, ...]

    def into(self, population: str) -> list[Projection]:
        return [p for p in self.projections if p.target == population]

    def out_of(self, population: str) -> list[Projection]:
        return [p for p in self.projections if p.source == population]

    def longest_lags(
        self, first: int, arrival: Callable[[Projection], int]
    ) -> tuple[dict[str, int], bool]:
        """Timesteps each population lags the input: the longest path where a projection `p`
        adds ``arrival(p)`` and every population other than the input starts at `first`.
        Relaxed once per population (plus one); also says whether the lags settled (they do
        unless a cycle adds up to a positive lag)."""
        names = [n.name for n in self.populations if n.kind != "Input"]
        lags = {self.graph.input_name: 0, **{n: first for n in names}}
        for _ in range(len(names) + 1):
            changed = False
            for name in names:
                for p in self.into(name):
                    need = lags[p.source] + arrival(p)
                    if need > lags[name]:
                        lags[name], changed = need, True
            if not changed:
                return lags, True
        return lags, False

    @property
    def outputs(self) -> dict[str, str]:
        """Output node -> population feeding it (only where the path has no stateless ops)."""
        return {
            p.target: p.source
            for p in self.projections
            if self.graph.nodes[p.target].kind == "Output" and not p.ops
        }


def _dense_to_csr(dense: np.ndarray) -> sp.csr_matrix:
    """CSR of a dense block without scipy's int64 COO detour (int32 indices)."""
    mask = dense != 0
    indptr = np.zeros(dense.shape[0] + 1, np.int64)
    np.cumsum(np.count_nonzero(mask, axis=1), out=indptr[1:])
    rows_idx, cols_idx = np.nonzero(mask)
    del rows_idx
    index_dtype = np.int32 if max(dense.shape[1], indptr[-1]) < 2**31 else np.int64
    return sp.csr_matrix(
        (dense[mask], cols_idx.astype(index_dtype), indptr.astype(index_dtype)), shape=dense.shape
    )


def _vstack_csr(blocks: list[sp.csr_matrix], shape: tuple[int, int]) -> sp.csr_matrix:
    """Stack CSR row blocks into one matrix, copying each array once (int32 indices if they fit)."""
    nnz = sum(b.nnz for b in blocks)
    index_dtype = np.int32 if max(shape[1], nnz) < 2**31 else np.int64
    data = np.empty(nnz, np.float64)
    indices = np.empty(nnz, index_dtype)
    indptr = np.zeros(shape[0] + 1, index_dtype)
    at, row = 0, 0
    for b in blocks:
        data[at : at + b.nnz] = b.data
        indices[at : at + b.nnz] = b.indices
        indptr[row + 1 : row + 1 + b.shape[0]] = b.indptr[1:] + at
        at, row = at + b.nnz, row + b.shape[0]
    return sp.csr_matrix((data, indices, indptr), shape=shape)


def check_spike_routed(lowered: Lowered, chip: str, outputs: str) -> None:
    """Refuse what a chip that routes only spikes between cores cannot hold: Threshold nodes, an
    Output fed through stateless ops, and a non-spiking (LI/I) population feeding another one.
    `chip` names the hardware in the messages; `outputs` says what its outputs are."""
    from nrf_deploy.errors import GraphError

    graph = lowered.graph
    for node in lowered.populations:
        if node.kind == "Threshold":
            raise GraphError(
                f"node '{node.name}' is a Threshold, which {chip} cannot express",
                f"node '{node.name}'",
                "replace it by an IF/LIF neuron",
            )
    for proj in lowered.projections:
        src, tgt = graph.nodes[proj.source], graph.nodes[proj.target]
        if tgt.kind == "Output":
            if proj.ops:
                raise GraphError(
                    f"Output '{tgt.name}' is fed through {', '.join(proj.kinds)}: "
                    f"{chip} outputs are {outputs}",
                    f"node '{tgt.name}'",
                    "end the graph with a neuron (LIF, or LI for a read-out)",
                )
            continue
        if src.stateful and not src.spiking:  # a read-out (spec.READOUT_KINDS)
            raise GraphError(
                f"non-spiking population '{src.name}' ({src.kind}) feeds '{tgt.name}': "
                f"{chip} sends only spikes between cores",
                f"edge from '{src.name}'",
                "use LI/CubaLI/Integrator only as the final read-out",
            )


def lower(graph: Graph) -> Lowered:
    """Split `graph` into populations and projections (every path through stateless nodes)."""
    pops = tuple(graph.nodes[n] for n in graph.schedule if is_population(graph.nodes[n]))
    projections: list[Projection] = []
    ends = [
        n
        for n in graph.schedule
        if (is_population(graph.nodes[n]) or graph.nodes[n].kind == "Output")
        and graph.nodes[n].kind != "Input"
    ]
    for end in ends:
        for source, ops, delayed in _paths_into(graph, end):
            projections.append(
                Projection(
                    source,
                    end,
                    tuple(graph.nodes[o] for o in ops),
                    delayed,
                    graph.nodes[source].out_shape,
                    graph.nodes[end].in_shape,
                    graph,
                )
            )
    return Lowered(graph, pops, tuple(projections))


def _paths_into(graph: Graph, end: str) -> list[tuple[str, list[str], bool]]:
    """(source population, stateless nodes in forward order, delayed?) for every path into `end`."""
    found = []

    def walk(node: str, chain: list[str], delayed: bool) -> None:
        for u in graph.predecessors(node):
            d = delayed or graph.is_delayed((u, node))
            if is_population(graph.nodes[u]):
                found.append((u, list(reversed(chain)), d))
            else:
                walk(u, chain + [u], d)

    walk(end, [], False)
    return found


def _chain_runner(graph: Graph) -> _Runner:
    """A float64 runner holding the graph's parameters, for applying stateless ops."""
    import torch

    from nrf_deploy.ir.executor import _Runner

    if "chain_runner" not in graph.derived:
        graph.derived["chain_runner"] = _Runner(graph, 1.0, _default_semantics(), torch.float64, 1)
    return graph.derived["chain_runner"]


def _default_semantics():
    from nrf_deploy.ir.executor import Semantics

    return Semantics()
