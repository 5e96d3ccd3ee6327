"""``nrf-deploy inspect MODEL.nir [--json]``: node table and graph check verdict."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nrf_deploy.ir import Graph


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "inspect",
        help="show a NIR graph's nodes and check it",
        description="Validate a NIR file and print its nodes (type, shapes, neurons, "
        "synapses, parameters). Exit 2 if the graph is invalid.",
    )
    p.add_argument("model", help="path to a .nir file")
    p.add_argument(
        "--json", action="store_true", help="print machine-readable JSON instead of a table"
    )
    p.set_defaults(func=run)


def describe(graph: Graph) -> dict[str, Any]:
    """Summary of a graph as plain data (what ``inspect --json`` prints)."""
    import numpy as np

    nodes = []
    for name in graph.schedule:
        node = graph.nodes[name]
        params = sum(
            int(np.asarray(getattr(node.nir_node, f)).size)
            for f in getattr(node.nir_node, "__dataclass_fields__", {})
            if f not in ("input_type", "output_type", "metadata", "input_shape")
            and isinstance(getattr(node.nir_node, f), np.ndarray)
        )
        nodes.append(
            {
                "name": name,
                "type": node.kind,
                "in_shape": list(node.in_shape),
                "out_shape": list(node.out_shape),
                "neurons": node.neurons,
                "synapses": node.synapses,
                "parameters": params,
                **(_reset_fields(node) if node.reset != "none" else {}),
            }
        )
    return {
        "valid": True,
        "nodes": nodes,
        "edges": [list(e) for e in graph.edges],
        "recurrent_edges": sorted(list(e) for e in graph.delayed_edges),
        "input_shape": list(graph.input_shape),
        "outputs": list(graph.output_names),
        "totals": {
            "neurons": sum(n["neurons"] for n in nodes),
            "synapses": sum(n["synapses"] for n in nodes),
            "parameters": sum(n["parameters"] for n in nodes),
        },
        "dt": graph.dt,
        "nir_version": graph.metadata.get("nir_version"),
    }


def _reset_fields(node: Any) -> dict[str, Any]:
    """The node's reset rule (subtract / zero / value), the value(s) and the rule in words."""
    out: dict[str, Any] = {"reset": node.reset, "reset_rule": node.reset_text}
    if node.reset == "value":
        out["v_reset"] = node.v_reset.reshape(-1).tolist()
    return out


def run(args: argparse.Namespace) -> int:
    from nrf_deploy.ir import load_graph

    info = describe(load_graph(args.model))
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    header = (
        f"{'node':<16} {'type':<10} {'input':<16} {'output':<16} {'neurons':>9} "
        f"{'synapses':>11} {'params':>9}"
    )
    print(header)
    print("-" * len(header))
    for n in info["nodes"]:
        print(
            f"{n['name']:<16} {n['type']:<10} {tuple(n['in_shape'])!s:<16} "
            f"{tuple(n['out_shape'])!s:<16} {n['neurons']:>9,} {n['synapses']:>11,} "
            f"{n['parameters']:>9,}"
        )
    t = info["totals"]
    print("-" * len(header))
    print(f"{'total':<60} {t['neurons']:>9,} {t['synapses']:>11,} {t['parameters']:>9,}")
    resets = [f"  {n['name']}: {n['reset_rule']}" for n in info["nodes"] if "reset" in n]
    if resets:
        print("\nreset after a spike:\n" + "\n".join(resets))
    rec = info["recurrent_edges"]
    dt = f"dt = {info['dt']} s" if info["dt"] is not None else "dt not recorded (default 1 ms)"
    print(
        f"\ngraph check: OK — {len(info['nodes'])} nodes, {len(info['edges'])} edges, "
        f"{len(rec)} recurrent edge(s), input {tuple(info['input_shape'])}, {dt}"
        + (f", written by nir {info['nir_version']}" if info["nir_version"] else "")
    )
    return 0
