"""Map Speck layers to the 9 cores: memory formulas, bipartite matching, and every violation."""
from __future__ import annotations

from nrf_deploy.errors import DoesNotFitError
from nrf_deploy.targets.speck.format import (CORES, KERNEL_MEMORY, MAX_CHANNELS, MAX_DESTINATIONS,
                                             MAX_INPUT, MAX_KERNEL, MAX_PADDING, NEURON_MEMORY, STRIDES,
                                             SpeckProgram)

KI = 1024


def check_limits(program: SpeckProgram) -> list[str]:
    """Every per-layer violation of the chip's limits (empty when the layers are legal)."""
    problems = []
    c, h, w = (tuple(program.input_shape) + (1, 1))[:3]
    if h > MAX_INPUT or w > MAX_INPUT:
        problems.append(f"input {h}x{w}: limit {MAX_INPUT}x{MAX_INPUT} (pool or crop the events)")
    if len(program.layers) > CORES:
        problems.append(f"{len(program.layers)} layers: the chip has {CORES} cores")
    for L in program.layers:
        k = L.weight.shape[-1]
        checks = [(k > MAX_KERNEL, f"kernel {k}x{k}", f"<= {MAX_KERNEL}x{MAX_KERNEL}"),
                  (L.stride not in STRIDES, f"stride {L.stride}", f"one of {STRIDES}"),
                  (L.padding > MAX_PADDING, f"padding {L.padding}", f"<= {MAX_PADDING}"),
                  (L.weight.shape[0] > MAX_CHANNELS, f"{L.weight.shape[0]} output channels", f"<= {MAX_CHANNELS}"),
                  (L.in_shape[0] > MAX_CHANNELS, f"{L.in_shape[0]} input channels", f"<= {MAX_CHANNELS}"),
                  (len(L.destinations) > MAX_DESTINATIONS, f"{len(L.destinations)} destinations",
                   f"<= {MAX_DESTINATIONS}"),
                  (L.pool not in (1, 2, 4), f"pooling {L.pool}", "1, 2 or 4")]
        problems += [f"layer '{L.name}': {what} (limit {limit})" for bad, what, limit in checks if bad]
    return problems


def assign_cores(program: SpeckProgram) -> dict:
    """Match layers to cores whose kernel and neuron memories hold them (augmenting paths)."""
    problems = check_limits(program)
    fits = {L.name: [c for c in range(CORES) if L.kernel_memory() <= KERNEL_MEMORY[c] * KI
                     and L.neuron_memory() <= NEURON_MEMORY[c] * KI] for L in program.layers}
    for L in program.layers:
        if not fits[L.name]:
            problems.append(f"layer '{L.name}': kernel memory {L.kernel_memory()} and neuron memory "
                            f"{L.neuron_memory()} entries fit no core (largest: kernel {max(KERNEL_MEMORY)} Ki, "
                            f"neuron {max(NEURON_MEMORY)} Ki) — fewer channels or a smaller feature map")
    owner: dict[int, str] = {}

    def place(name: str, seen: set[int]) -> bool:
        for core in fits[name]:
            if core in seen:
                continue
            seen.add(core)
            if core not in owner or place(owner[core], seen):
                owner[core] = name
                return True
        return False

    if not problems:
        for L in program.layers:
            if not place(L.name, set()):
                problems.append(f"layer '{L.name}': no free core is large enough once the others are placed")
    if problems:
        raise DoesNotFitError("the network does not fit Speck", problems, "speck mapper",
                              "see each line; sinabs' DynapcnnNetwork has the same limits")
    table = []
    for core, name in sorted(owner.items()):
        L = next(layer for layer in program.layers if layer.name == name)
        L.core = core
        table.append({"core": core, "layer": name, "kernel_memory": L.kernel_memory(),
                      "kernel_memory_available": KERNEL_MEMORY[core] * KI, "neuron_memory": L.neuron_memory(),
                      "neuron_memory_available": NEURON_MEMORY[core] * KI})
    return {"cores_used": len(owner), "cores_available": CORES,
            "kernel_memory_used": sum(r["kernel_memory"] for r in table),
            "kernel_memory_available": sum(KERNEL_MEMORY) * KI,
            "neuron_memory_used": sum(r["neuron_memory"] for r in table),
            "neuron_memory_available": sum(NEURON_MEMORY) * KI, "per_core": table}
