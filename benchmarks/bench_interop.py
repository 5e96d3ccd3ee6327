"""Agreement of the float executor with each NIR writer's own simulation (docs/interop.md).

For every writer fixture in tests/fixtures/interop: the share of output values (spike counts per
neuron, step and sample) equal to the writer's recorded output, with the writer's preset and with
the default ``nir`` preset. Run: ``.venv/bin/python benchmarks/bench_interop.py``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nrf_deploy.ir import Semantics, load_graph, run_float

HERE = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "interop"
PRESET = {"snntorch": "snntorch", "rockpool": "rockpool", "sinabs": "sinabs", "norse": "norse"}


def agreement(name: str, preset: str) -> tuple[float, int, int]:
    """(share of equal values, output values compared, writer's spike count)."""
    data = np.load(HERE / f"{name}.npz")
    graph = load_graph(HERE / f"{name}.nir")
    trace = run_float(graph, data["x"], semantics=Semantics.named(preset))
    node = (
        next(n.name for n in graph.compute_nodes if n.spiking)
        if name.startswith("norse")
        else graph.output_names[0]
    )
    out = trace.outputs[node]
    return float((out == data["spikes"]).mean()), int(out.size), int(data["spikes"].sum())


def main() -> None:
    print(
        f"{'fixture':<22} {'preset':<9} {'values':>7} {'spikes':>7} {'preset agrees':>14} "
        f"{'nir agrees':>11}"
    )
    for path in sorted(HERE.glob("*.npz")):
        name = path.stem
        if np.load(path)["spikes"].size == 0:
            continue
        preset = PRESET[name.split("_")[0]]
        share, values, spikes = agreement(name, preset)
        nir_share, _, _ = agreement(name, "nir")
        print(f"{name:<22} {preset:<9} {values:>7} {spikes:>7} {share:>14.4f} {nir_share:>11.4f}")


if __name__ == "__main__":
    main()
