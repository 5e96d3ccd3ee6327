"""Validate and normalise a :class:`~nrf_deploy.ir.nodes.NIRGraph` into a
:class:`~nrf_deploy.ir.graph.Graph`.

Checks: supported node types, edges whose endpoints exist, one Input, at least one Output,
cycles only through stateful neurons, shapes consistent along every edge, finite parameters,
positive time constants. Normalises: subgraphs flattened (``outer.inner`` names), parameters as
float64 arrays broadcast to the node's shape, conv/pool geometry as int tuples, metadata as plain
Python values.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from nrf_deploy.errors import GraphError
from nrf_deploy.ir.graph import RESET_MODES, Graph, Node
from nrf_deploy.ir.nodes import Flatten, Input, NIRGraph, NIRNode, Output
from nrf_deploy.ir.spec import KNOWN_UNSUPPORTED, SPECS, TIME_CONSTANTS, Primitive, resolve

Shape = tuple[int, ...]
ShapeRule = Callable[[NIRNode, "Shape | None", str], tuple[NIRNode, Shape, Shape]]
"""A primitive's ``shape_rule`` (spec.py): node, input shape, where -> node, in, out shape."""


def normalise(graph: NIRGraph, source: str = "graph") -> Graph:
    """Validate `graph` and return the normalised :class:`Graph` (raises GraphError)."""
    nodes, edges = _flatten(graph, source)
    _check_kinds(nodes, source)
    _drop_batch_dims(nodes, edges)
    _check_edges(nodes, edges, source)
    input_name, output_names = _find_io(nodes, source)
    delayed = _delayed_edges(nodes, edges)
    schedule = _schedule(nodes, edges, delayed, input_name, source)
    normalised = _infer_shapes(nodes, edges, delayed, schedule, source)
    return Graph(
        nodes=normalised,
        edges=tuple(edges),
        schedule=tuple(schedule),
        delayed_edges=frozenset(delayed),
        input_name=input_name,
        output_names=tuple(output_names),
        metadata=plain_metadata(graph.metadata),
    )


def plain_metadata(meta: dict[str, Any] | None) -> dict[str, Any]:
    """Metadata as plain Python values (HDF5 gives bytes and 0-d arrays back)."""
    out: dict[str, Any] = {}
    for key, value in (meta or {}).items():
        if isinstance(value, bytes):
            value = value.decode("utf8")
        elif isinstance(value, np.ndarray) and value.ndim == 0 or isinstance(value, np.generic):
            value = value.item()
        elif isinstance(value, dict):
            value = plain_metadata(value)
        out[str(key)] = value
    return out


# --- structure ------------------------------------------------------------------------------


def _flatten(graph: NIRGraph, source: str) -> tuple[dict[str, NIRNode], list[tuple[str, str]]]:
    """Inline nested NIRGraph nodes (one Input and one Output each) as ``outer.inner`` nodes."""
    nodes: dict[str, NIRNode] = {}
    edges = [(str(a), str(b)) for a, b in graph.edges]
    for name, node in graph.nodes.items():
        name = str(name)
        if not isinstance(node, NIRGraph):
            nodes[name] = node
            continue
        inner_nodes, inner_edges = _flatten(node, f"{source}/{name}")
        ins = [n for n, v in inner_nodes.items() if isinstance(v, Input)]
        outs = [n for n, v in inner_nodes.items() if isinstance(v, Output)]
        if len(ins) != 1 or len(outs) != 1:
            raise GraphError(
                f"subgraph '{name}' has {len(ins)} inputs and {len(outs)} outputs",
                f"{source}: node '{name}'",
                "subgraphs are inlined only with exactly one Input and one Output; "
                "flatten it before export",
            )
        entry = [f"{name}.{b}" for a, b in inner_edges if a == ins[0]]
        exit_ = [f"{name}.{a}" for a, b in inner_edges if b == outs[0]]
        for inner, value in inner_nodes.items():
            if inner not in (ins[0], outs[0]):
                nodes[f"{name}.{inner}"] = value
        edges = (
            [e for e in edges if name not in e]
            + [(u, e) for (u, v) in edges if v == name for e in entry]
            + [(x, w) for (v, w) in edges if v == name for x in exit_]
            + [
                (f"{name}.{a}", f"{name}.{b}")
                for a, b in inner_edges
                if a != ins[0] and b != outs[0]
            ]
        )
    return nodes, edges


def _check_kinds(nodes: dict[str, NIRNode], source: str) -> None:
    for name, node in nodes.items():
        kind = type(node).__name__
        if kind in KNOWN_UNSUPPORTED:
            raise GraphError(
                f"node '{name}' has type {kind}, which nrf-deploy does not support",
                f"{source}: node '{name}'",
                KNOWN_UNSUPPORTED[kind],
            )
        if kind not in SPECS:
            raise GraphError(
                f"node '{name}' has unsupported type '{kind}'",
                f"{source}: node '{name}'",
                f"supported types: {', '.join(SPECS)}",
            )


def _drop_batch_dims(nodes: dict[str, NIRNode], edges: list[tuple[str, str]]) -> None:
    """Writers built on nirtorch (snnTorch, rockpool) record the Input's shape with the sample's
    batch axis (``[B, n]``); when every consumer is a dense layer of ``n`` inputs, drop it."""
    for name, node in list(nodes.items()):
        if not isinstance(node, Input) or not node.input_type:
            continue
        shape = np.asarray(node.input_type.get("input"))
        if shape.dtype == object or shape.ndim != 1 or shape.size < 2:
            continue
        users = [nodes[v] for u, v in edges if u == name]
        dense = [type(n).__name__ in ("Affine", "Linear") and np.ndim(n.weight) == 2 for n in users]
        if users and all(dense) and all(np.shape(n.weight)[1] == shape[-1] for n in users):
            new = Input(input_type={"input": shape[-1:]})
            new.metadata = {**getattr(node, "metadata", {}), "batch_dims_dropped": shape[:-1]}
            nodes[name] = new


def _check_edges(nodes: dict[str, NIRNode], edges: list[tuple[str, str]], source: str) -> None:
    for u, v in edges:
        for end, label in ((u, "source"), (v, "target")):
            if end not in nodes:
                raise GraphError(
                    f"edge ('{u}', '{v}') has {label} '{end}', which is not a node",
                    f"{source}: edges",
                    "remove the edge or add the missing node",
                )
    seen = set()
    for e in edges:
        if e in seen:
            raise GraphError(
                f"edge {e} appears twice",
                f"{source}: edges",
                "remove the duplicate (inputs over parallel edges would be summed twice)",
            )
        seen.add(e)


def _find_io(nodes: dict[str, NIRNode], source: str) -> tuple[str, list[str]]:
    ins = sorted(n for n, v in nodes.items() if isinstance(v, Input))
    outs = sorted(n for n, v in nodes.items() if isinstance(v, Output))
    if len(ins) != 1:
        raise GraphError(
            f"the graph has {len(ins)} Input nodes ({', '.join(ins) or 'none'}); "
            "nrf-deploy needs exactly one",
            f"{source}: nodes",
            "add one nir.Input node (or merge inputs into one tensor)",
        )
    if not outs:
        raise GraphError(
            "the graph has no Output node",
            f"{source}: nodes",
            "add a nir.Output node fed by the layer whose activity is the result",
        )
    return ins[0], outs


def _reachable(start: str, succ: dict[str, list[str]]) -> set[str]:
    seen, stack = {start}, [start]
    while stack:
        for w in succ.get(stack.pop(), []):
            if w not in seen:
                seen.add(w)
                stack.append(w)
    return seen


def _delayed_edges(nodes: dict[str, NIRNode], edges: list[tuple[str, str]]) -> set[tuple[str, str]]:
    """Edges into a stateful node from a node it can reach: they close a loop and deliver the
    previous step's value."""
    succ: dict[str, list[str]] = {}
    for u, v in edges:
        succ.setdefault(u, []).append(v)
    reach = {n: _reachable(n, succ) for n in nodes if _spec(nodes[n]).stateful}
    return {(u, v) for u, v in edges if v in reach and u in reach[v]}


def _schedule(
    nodes: dict[str, NIRNode],
    edges: list[tuple[str, str]],
    delayed: set[tuple[str, str]],
    input_name: str,
    source: str,
) -> list[str]:
    """Kahn's topological order over undelayed edges (ties broken by insertion order)."""
    live = [(u, v) for u, v in edges if (u, v) not in delayed]
    indeg = {n: 0 for n in nodes}
    succ: dict[str, list[str]] = {n: [] for n in nodes}
    for u, v in live:
        indeg[v] += 1
        succ[u].append(v)
    position = {n: i for i, n in enumerate(nodes)}
    ready = deque(
        sorted(
            (n for n, d in indeg.items() if d == 0), key=lambda n: (n != input_name, position[n])
        )
    )
    order: list[str] = []
    while ready:
        n = ready.popleft()
        order.append(n)
        for w in sorted(succ[n], key=position.__getitem__):
            indeg[w] -= 1
            if indeg[w] == 0:
                ready.append(w)
    if len(order) != len(nodes):
        stuck = sorted(n for n in nodes if n not in order)
        raise GraphError(
            f"cycle without a stateful neuron through nodes {', '.join(stuck)}",
            f"{source}: edges among {', '.join(stuck)}",
            "every loop must pass through a neuron (IF, LIF, LI, CubaLIF, I) "
            "that carries the value to the next timestep",
        )
    fed = {v for _, v in edges}
    for n in order:
        if n != input_name and n not in fed:
            raise GraphError(
                f"node '{n}' has no incoming edge",
                f"{source}: node '{n}'",
                "connect it to the Input (directly or through other nodes) or remove it",
            )
    return order


# --- shapes and parameters ---------------------------------------------------------------------


def _infer_shapes(
    nodes: dict[str, NIRNode],
    edges: list[tuple[str, str]],
    delayed: set[tuple[str, str]],
    schedule: list[str],
    source: str,
) -> dict[str, Node]:
    out: dict[str, Node] = {}
    for name in schedule:
        node = nodes[name]
        where = f"{source}: node '{name}' ({type(node).__name__})"
        preds = [u for u, v in edges if v == name and (u, v) not in delayed]
        in_shape = _incoming_shape(name, preds, out, where)
        rule: ShapeRule = resolve(_spec(node).shape_rule)
        new_node, in_shape, out_shape = rule(node, in_shape, where)
        if new_node is node or not _spec(node).resets:
            new_node.metadata = plain_metadata(getattr(node, "metadata", None))
        _check_finite(new_node, where)
        out[name] = Node(
            name, new_node, tuple(int(i) for i in in_shape), tuple(int(i) for i in out_shape)
        )
    for u, v in delayed:  # delayed inputs must match too, now that every shape is known
        if out[u].out_shape != out[v].in_shape:
            raise GraphError(
                f"recurrent edge ('{u}', '{v}') carries shape {out[u].out_shape} into "
                f"a node expecting {out[v].in_shape}",
                f"{source}: edge ('{u}', '{v}')",
                "make the recurrent weights map back to the neuron shape",
            )
    return out


def _incoming_shape(name: str, preds: list[str], done: dict[str, Node], where: str) -> Shape | None:
    shapes = {u: done[u].out_shape for u in preds}
    if len(set(shapes.values())) > 1:
        listed = ", ".join(f"'{u}' {s}" for u, s in shapes.items())
        raise GraphError(
            f"inputs of different shapes meet at node '{name}': {listed}",
            where,
            "inputs into one node are summed, so their shapes must be equal",
        )
    return next(iter(shapes.values())) if shapes else None


def _arr(value: Any) -> np.ndarray:
    return np.asarray(value, dtype=np.float64)


def neuron_shape(node: NIRNode, in_shape: Shape | None, where: str) -> tuple[NIRNode, Shape, Shape]:
    """Elementwise kinds: parameters broadcast to the input's shape, which is also the output's."""
    params = {p: _arr(getattr(node, p)) for p in _spec(node).params}
    shaped = [a.shape for a in params.values() if a.size > 1]
    target = in_shape if in_shape is not None else (shaped[0] if shaped else None)
    if target is None:
        raise GraphError(
            "cannot infer the neuron shape: scalar parameters and no shaped input",
            where,
            "give the parameters the layer's shape",
        )
    for p, a in params.items():
        try:
            params[p] = np.broadcast_to(a if a.size > 1 else a.reshape(()), target).copy()
        except ValueError:
            raise GraphError(
                f"parameter '{p}' has shape {a.shape}, the input has shape {tuple(target)}",
                f"{where}, field '{p}'",
                "make the parameter scalar, per-neuron or broadcastable to the input shape",
            ) from None
        if p in TIME_CONSTANTS and np.any(params[p] <= 0):
            raise GraphError(
                f"time constant '{p}' must be positive (seconds); found {params[p].min()}",
                f"{where}, field '{p}'",
                "use tau > 0 in seconds",
            )
    new = dataclasses.replace(node, **params)
    new.metadata = _reset_metadata(node, tuple(target), where)
    return new, tuple(target), tuple(target)


def _reset_metadata(node: NIRNode, shape: Shape, where: str) -> dict[str, Any]:
    """The node's reset record: ``reset`` in subtract/zero/value, ``v_reset`` (float64 array of
    the neuron shape) for ``value``; no record means nir 1.0.4's subtraction."""
    meta = plain_metadata(getattr(node, "metadata", None))
    if not _spec(node).resets:
        return meta
    rule = str(meta.get("reset", "subtract"))
    if rule not in RESET_MODES:
        raise GraphError(
            f"reset rule '{rule}' is not one of {', '.join(RESET_MODES)}",
            f"{where}, metadata 'reset'",
            "use subtract, zero or value (+ v_reset)",
        )
    if rule == "value":
        try:
            meta["v_reset"] = np.broadcast_to(_arr(meta.get("v_reset")), shape).copy()
        except ValueError:
            raise GraphError(
                f"v_reset has shape {np.shape(meta.get('v_reset'))}, the neurons "
                f"have shape {shape}",
                f"{where}, field 'v_reset'",
                "give v_reset the layer's shape or a scalar",
            ) from None
        if not np.all(np.isfinite(meta["v_reset"])):
            raise GraphError(
                "v_reset contains NaN or infinity",
                f"{where}, field 'v_reset'",
                "fix the exported reset values",
            )
    meta["reset"] = rule
    return meta


def dense_shape(node: NIRNode, in_shape: Shape | None, where: str) -> tuple[NIRNode, Shape, Shape]:
    w = _arr(node.weight)
    if w.ndim != 2:
        raise GraphError(
            f"weight must be a matrix [out, in], got shape {w.shape}",
            f"{where}, field 'weight'",
            "reshape the weight to two dimensions",
        )
    if in_shape is None:
        in_shape = (w.shape[1],)
    if in_shape != (w.shape[1],):
        hint = (
            "insert a nir.Flatten before it"
            if int(np.prod(in_shape)) == w.shape[1]
            else "the weight's second dimension must equal the input size"
        )
        raise GraphError(
            f"weight expects input ({w.shape[1]},) but receives {in_shape}",
            f"{where}, field 'weight'",
            hint,
        )
    changes: dict[str, Any] = {"weight": w}
    if "bias" in _spec(node).params:  # Affine (Linear has none)
        b = _arr(node.bias)
        if b.size == 1:
            b = np.full(w.shape[0], float(b.reshape(-1)[0]))
        if b.shape != (w.shape[0],):
            raise GraphError(
                f"bias has shape {b.shape}, expected ({w.shape[0]},)",
                f"{where}, field 'bias'",
                "give one bias per output",
            )
        changes["bias"] = b
    return dataclasses.replace(node, **changes), in_shape, (w.shape[0],)


def _pairs(value: Any, dims: int, name: str, where: str) -> tuple[int, ...]:
    a = np.asarray(value).reshape(-1)
    if a.size == 1:
        a = np.repeat(a, dims)
    if a.size != dims or np.any(a < 0):
        raise GraphError(
            f"'{name}' = {value!r} is not {dims} non-negative integers",
            f"{where}, field '{name}'",
            f"give {name} as an int or a {dims}-tuple",
        )
    return tuple(int(i) for i in a)


def conv_shape(node: NIRNode, in_shape: Shape | None, where: str) -> tuple[NIRNode, Shape, Shape]:
    dims = 2 if type(node).__name__ == "Conv2d" else 1
    w = _arr(node.weight)
    groups = int(np.asarray(node.groups))
    if w.ndim != dims + 2:
        raise GraphError(
            f"kernel must have {dims + 2} dimensions, got {w.shape}",
            f"{where}, field 'weight'",
            "use [out_channels, in_channels/groups, *kernel]",
        )
    if in_shape is None:
        if node.input_shape is None:
            raise GraphError("input shape unknown", where, "connect the node to a shaped input")
        in_shape = (w.shape[1] * groups, *_pairs(node.input_shape, dims, "input_shape", where))
    if len(in_shape) != dims + 1 or in_shape[0] != w.shape[1] * groups:
        raise GraphError(
            f"kernel expects {w.shape[1] * groups} input channels in a {dims + 1}-d input, "
            f"receives {in_shape}",
            f"{where}, field 'weight'",
            "check the previous layer's channels (and insert no Flatten before a conv)",
        )
    stride = _pairs(node.stride, dims, "stride", where)
    dilation = _pairs(node.dilation, dims, "dilation", where)
    kernel = w.shape[2:]
    padding = _padding(node.padding, kernel, dilation, stride, dims, where)
    spatial = tuple(
        (s + 2 * p - d * (k - 1) - 1) // st + 1
        for s, p, d, k, st in zip(in_shape[1:], padding, dilation, kernel, stride)
    )
    if min(spatial) < 1:
        raise GraphError(
            f"output would be empty: input {in_shape}, kernel {kernel}, padding {padding}",
            where,
            "use a smaller kernel or more padding",
        )
    b = _arr(node.bias)
    b = np.full(w.shape[0], float(b.reshape(-1)[0])) if b.size <= 1 else b
    if b.shape != (w.shape[0],):
        raise GraphError(
            f"bias has shape {b.shape}, expected ({w.shape[0]},)",
            f"{where}, field 'bias'",
            "give one bias per output channel",
        )
    new = dataclasses.replace(
        node,
        weight=w,
        bias=b,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        input_shape=in_shape[1:] if dims == 2 else in_shape[1],
    )
    return new, in_shape, (w.shape[0], *spatial)


def _padding(
    value: Any, kernel: Shape, dilation: Shape, stride: Shape, dims: int, where: str
) -> Shape:
    if isinstance(value, (str, bytes)):
        mode = value.decode() if isinstance(value, bytes) else value
        if mode == "valid":
            return (0,) * dims
        eff = [d * (k - 1) for d, k in zip(dilation, kernel)]
        if mode == "same" and all(e % 2 == 0 for e in eff) and all(s == 1 for s in stride):
            return tuple(e // 2 for e in eff)
        raise GraphError(
            f"padding '{mode}' needs asymmetric padding here",
            f"{where}, field 'padding'",
            "use explicit symmetric integer padding",
        )
    return _pairs(value, dims, "padding", where)


def pool_shape(node: NIRNode, in_shape: Shape | None, where: str) -> tuple[NIRNode, Shape, Shape]:
    if in_shape is None or len(in_shape) != 3:
        raise GraphError(
            f"pooling needs a [C, H, W] input, receives {in_shape}",
            where,
            "place the pooling after a 2-d convolution or a shaped input",
        )
    k = _pairs(node.kernel_size, 2, "kernel_size", where)
    s = _pairs(node.stride, 2, "stride", where)
    p = _pairs(node.padding, 2, "padding", where)
    if 0 in k or 0 in s:
        raise GraphError("kernel_size and stride must be positive", where, "use sizes >= 1")
    spatial = tuple((i + 2 * pp - kk) // ss + 1 for i, pp, kk, ss in zip(in_shape[1:], p, k, s))
    if min(spatial) < 1:
        raise GraphError(
            f"pooling {k} leaves no output from input {in_shape}",
            where,
            "use a smaller pooling kernel",
        )
    fields = {"kernel_size": np.array(k), "stride": np.array(s), "padding": np.array(p)}
    return dataclasses.replace(node, **fields), in_shape, (in_shape[0], *spatial)


def flatten_shape(
    node: NIRNode, in_shape: Shape | None, where: str
) -> tuple[NIRNode, Shape, Shape]:
    if in_shape is None:
        given = (node.input_type or {}).get("input")
        if given is None:
            raise GraphError("input shape unknown", where, "connect the node to a shaped input")
        in_shape = tuple(int(i) for i in np.asarray(given).reshape(-1))
    nd = len(in_shape)
    start, end = int(np.asarray(node.start_dim)), int(np.asarray(node.end_dim))
    start, end = start % nd if start < 0 else start, end % nd if end < 0 else end
    if not 0 <= start <= end < nd:
        raise GraphError(
            f"start_dim {node.start_dim} / end_dim {node.end_dim} invalid for input {in_shape}",
            f"{where}, field 'start_dim'",
            "dimensions count without the batch axis",
        )
    out = in_shape[:start] + (int(np.prod(in_shape[start : end + 1])),) + in_shape[end + 1 :]
    new = Flatten(input_type={"input": np.array(in_shape)}, start_dim=start, end_dim=end)
    return new, in_shape, out


def input_shape(node: NIRNode, in_shape: Shape | None, where: str) -> tuple[NIRNode, Shape, Shape]:
    shape = np.asarray(node.input_type.get("input") if node.input_type else None)
    if shape.dtype == object or shape.size == 0 or np.any(shape < 1):
        raise GraphError(
            "Input node has no valid shape",
            f"{where}, field 'input_type'",
            "write nir.Input(input_type={'input': np.array([C, H, W])})",
        )
    s = tuple(int(i) for i in shape.reshape(-1))
    return Input(input_type={"input": np.array(s)}), s, s


def output_shape(node: NIRNode, in_shape: Shape | None, where: str) -> tuple[NIRNode, Shape, Shape]:
    if in_shape is None:
        raise GraphError("Output node receives nothing", where, "connect a layer to the Output")
    given = (node.output_type or {}).get("output")
    declared = tuple(int(i) for i in np.asarray(given).reshape(-1)) if given is not None else ()
    if declared[-len(in_shape) :] == tuple(in_shape):  # writers may include the batch axis
        given = None
    if (
        given is not None
        and np.asarray(given).size
        and int(np.prod(given)) != int(np.prod(in_shape))
    ):
        raise GraphError(
            f"Output declares shape {tuple(np.asarray(given))} but receives {in_shape}",
            f"{where}, field 'output_type'",
            "fix the declared output shape",
        )
    return Output(output_type={"output": np.array(in_shape)}), in_shape, in_shape


def _spec(node: NIRNode) -> Primitive:
    return SPECS[type(node).__name__]


def _check_finite(node: NIRNode, where: str) -> None:
    for f in dataclasses.fields(node):
        value = getattr(node, f.name)
        if (
            isinstance(value, np.ndarray)
            and value.dtype.kind == "f"
            and not np.all(np.isfinite(value))
        ):
            raise GraphError(
                f"parameter '{f.name}' contains NaN or infinity",
                f"{where}, field '{f.name}'",
                "retrain or fix the exported parameters",
            )
