"""Speck layers onto the 9 cores: per-layer limits, memory formulas, bipartite matching.

:func:`check_limits` lists every violation of the per-core limits; :func:`assign_cores` matches
layers to cores whose kernel, neuron and bias memories hold them (maximum bipartite matching by
augmenting paths, as sinabs' ``get_valid_mapping`` does with Edmonds-Karp flow) and explains a
failed matching by the layers that compete for too few large cores.
"""

from __future__ import annotations

from nrf_deploy.targets.speck.format import (
    BIAS_MEMORY,
    CORES,
    DVS_CHANNELS,
    KERNEL_MEMORY,
    KI,
    MAX_DESTINATIONS,
    MAX_FEATURES,
    MAX_INPUT,
    MAX_KERNEL,
    MAX_OUTPUT,
    MAX_PADDING,
    NEURON_MEMORY,
    POOL_SIZES,
    STRIDES,
    SpeckLayer,
    SpeckProgram,
    Violation,
)


def check_limits(program: SpeckProgram) -> list[Violation]:
    """Every violation of the chip's per-layer limits (empty when all layers are legal)."""
    problems: list[Violation] = []
    if len(program.layers) > CORES:
        problems.append(
            Violation(
                "(network)",
                "number of layers",
                f"{CORES} cores",
                str(len(program.layers)),
                "merge or remove layers: each conv + IAF (+ pooling) needs its own core",
            )
        )
    for L in program.layers:
        problems += _layer_limits(L, program)
    problems += _input_limits(program)
    return problems


def _layer_limits(L: SpeckLayer, program: SpeckProgram) -> list[Violation]:
    c, h, w = L.in_shape
    f, oh, ow = L.out_shape
    k = L.kernel
    checks = [
        (
            k > MAX_KERNEL,
            "kernel",
            f"<= {MAX_KERNEL}x{MAX_KERNEL}",
            f"{k}x{k}",
            "use a smaller kernel"
            + (
                " (a linear layer's kernel is its whole input: pool the map first)"
                if L.padding == (0, 0) and (h, w) == (k, k) and k > 1
                else ""
            ),
        ),
        (
            any(s not in STRIDES for s in L.stride),
            "stride (y, x)",
            f"each one of {STRIDES}",
            str(L.stride),
            "use stride 1, 2, 4 or 8",
        ),
        (
            any(p > MAX_PADDING for p in L.padding),
            "padding (y, x)",
            f"0..{MAX_PADDING}",
            str(L.padding),
            "use less padding (or crop/pad the input map itself)",
        ),
        (
            h > MAX_INPUT or w > MAX_INPUT,
            "input feature map",
            f"<= {MAX_INPUT}x{MAX_INPUT}",
            f"{h}x{w}",
            "pool or crop the input before this layer",
        ),
        (
            oh > MAX_OUTPUT or ow > MAX_OUTPUT,
            "output feature map",
            f"<= {MAX_OUTPUT}x{MAX_OUTPUT}",
            f"{oh}x{ow}",
            "use stride 2 or pool the input",
        ),
        (c > MAX_FEATURES, "input channels", f"<= {MAX_FEATURES}", str(c), "use fewer channels"),
        (f > MAX_FEATURES, "output features", f"<= {MAX_FEATURES}", str(f), "use fewer channels"),
        (
            len(L.destinations) > MAX_DESTINATIONS,
            "destinations (fan-out)",
            f"<= {MAX_DESTINATIONS}",
            f"{len(L.destinations)} ({', '.join(L.destinations)})",
            "feed at most two layers from one layer (chain a copy layer for more)",
        ),
    ]
    problems = [
        Violation(L.name, what, limit, value, hint)
        for bad, what, limit, value, hint in checks
        if bad
    ]
    for s in L.sources:
        if s.pool not in POOL_SIZES:
            problems.append(
                Violation(
                    L.name,
                    f"pooling of '{s.name}'",
                    f"one of {POOL_SIZES}",
                    f"{s.pool}x{s.pool}",
                    "pool by 2 or 4 per destination (a larger pooling needs another layer)",
                )
            )
    return problems


def _input_limits(program: SpeckProgram) -> list[Violation]:
    """Input events go straight into a core; pooling them needs the DVS layer (2 polarities)."""
    c, h, w = program.input_chw
    pools = sorted({p for _, p in program.input_destinations()})
    problems = []
    if any(p > 1 for p in pools):
        if c > DVS_CHANNELS or h > MAX_INPUT or w > MAX_INPUT:
            problems.append(
                Violation(
                    program.input_name,
                    "pooled input",
                    f"the DVS layer: <= {DVS_CHANNELS} channels, <= {MAX_INPUT}x{MAX_INPUT}",
                    f"{c}x{h}x{w}",
                    "pool the events on the host before sending them",
                )
            )
        if len(pools) > 1:
            problems.append(
                Violation(
                    program.input_name,
                    "input pooling",
                    "one pooling for every input destination (the DVS layer has one)",
                    str(pools),
                    "use the same pooling after the input",
                )
            )
    if len(program.input_destinations()) > MAX_DESTINATIONS and any(p > 1 for p in pools):
        problems.append(
            Violation(
                program.input_name,
                "destinations of the pooled input",
                f"<= {MAX_DESTINATIONS} (DVS layer fan-out)",
                str(len(program.input_destinations())),
                "feed fewer layers from the input",
            )
        )
    return problems


def fitting_cores(L: SpeckLayer) -> list[int]:
    """Cores whose kernel, neuron and bias memories hold layer `L`."""
    return [
        core
        for core in range(CORES)
        if L.kernel_memory() <= KERNEL_MEMORY[core] * KI
        and L.neuron_memory() <= NEURON_MEMORY[core] * KI
        and L.bias_memory() <= BIAS_MEMORY[core] * KI
    ]


def _memory_violation(L: SpeckLayer) -> Violation:
    km, nm = L.kernel_memory(), L.neuron_memory()
    pairs = ", ".join(f"{k}Ki/{n}Ki" for k, n in sorted(set(zip(KERNEL_MEMORY, NEURON_MEMORY))))
    f, oh, ow = L.out_shape
    hint = (
        "fewer output features or input channels (kernel memory grows with c x 2^ceil(log2 k²) x "
        "2^ceil(log2 f))"
        if km > max(KERNEL_MEMORY) * KI
        else "a smaller feature map or fewer features (neuron memory is f x 2^ceil(log2 h) x "
        "2^ceil(log2 w))"
        if nm > max(NEURON_MEMORY) * KI
        else "this combination fits no single core: reduce kernel or neuron memory"
    )
    return Violation(
        L.name,
        "memory (kernel / neuron entries)",
        f"one core's kernel/neuron memory: {pairs}",
        f"{km / KI:g}Ki / {nm / KI:g}Ki (kernel {L.kernel}x{L.kernel}, {L.in_shape[0]} -> {f} "
        f"channels, {oh}x{ow} neurons)",
        hint,
    )


def match_cores(program: SpeckProgram) -> tuple[dict[str, int], list[Violation]]:
    """Maximum matching layer -> core (augmenting paths); violations for layers left over."""
    options = {
        L.name: sorted(fitting_cores(L), key=lambda c: (KERNEL_MEMORY[c] + NEURON_MEMORY[c], c))
        for L in program.layers
    }
    problems = [_memory_violation(L) for L in program.layers if not options[L.name]]
    owner: dict[int, str] = {}

    def place(name: str, seen: set[int]) -> bool:
        for core in options[name]:
            if core in seen:
                continue
            seen.add(core)
            if core not in owner or place(owner[core], seen):
                owner[core] = name
                return True
        return False

    for name in sorted(
        options, key=lambda n: (len(options[n]), [L.name for L in program.layers].index(n))
    ):
        if options[name] and not place(name, set()):
            competitors = sorted({owner[c] for c in options[name] if c in owner})
            problems.append(
                Violation(
                    name,
                    "core assignment",
                    f"one free core among {options[name]} (the cores large enough for it)",
                    f"all taken by {', '.join(repr(c) for c in competitors)}",
                    "shrink this or a competing layer so that it fits a smaller core",
                )
            )
    return {name: core for core, name in owner.items()}, problems


def resource_table(program: SpeckProgram) -> dict:
    """Kernel, neuron and bias memory used vs available per core (after the matching)."""
    rows = []
    by_core = {L.core: L for L in program.layers if L.core >= 0}
    for core in range(CORES):
        L = by_core.get(core)
        rows.append(
            {
                "core": core,
                "layer": L.name if L else None,
                "kernel_memory": L.kernel_memory() if L else 0,
                "kernel_memory_available": KERNEL_MEMORY[core] * KI,
                "neuron_memory": L.neuron_memory() if L else 0,
                "neuron_memory_available": NEURON_MEMORY[core] * KI,
                "bias_memory": L.bias_memory() if L else 0,
                "bias_memory_available": BIAS_MEMORY[core] * KI,
            }
        )
    used = [r for r in rows if r["layer"] is not None]
    return {
        "cores_used": len(used),
        "cores_available": CORES,
        "kernel_memory_used": sum(r["kernel_memory"] for r in used),
        "kernel_memory_available": sum(KERNEL_MEMORY) * KI,
        "neuron_memory_used": sum(r["neuron_memory"] for r in used),
        "neuron_memory_available": sum(NEURON_MEMORY) * KI,
        "neurons": sum(L.out_shape[0] * L.out_shape[1] * L.out_shape[2] for L in program.layers),
        "per_core": rows,
    }


def assign_cores(program: SpeckProgram) -> tuple[dict, list[Violation]]:
    """Check every limit and place every layer; sets ``layer.core``. Returns the resource table
    and all violations (the caller raises them together with the quantiser's)."""
    problems = check_limits(program)
    cores, unplaced = match_cores(program)
    if len(program.layers) <= CORES:
        problems += unplaced
    for L in program.layers:
        L.core = cores.get(L.name, -1)
    return resource_table(program), problems
