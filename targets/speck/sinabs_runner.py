"""The sinabs witness's runner: runs in the ``sinabs`` witness environment (sinabs 3.1.3, torch,
nir 1.0.4), never in nrf-deploy's own interpreter.

:mod:`nrf_deploy.witness.launch` executes it there (``python -I``, a fresh process). It imports
only the standard library, numpy and, inside the functions, sinabs and torch (sinabs' own
dependency) — ``sinabs.layers`` and ``sinabs.activation`` for the witness, ``sinabs.from_nir`` for
:func:`from_nir`; never ``samna`` nor ``sinabs.backend.dynapcnn`` (which imports samna, whose
registry release is a stub that reaches the network at import). Every answer says which of those
entered ``sys.modules`` (``forbidden_modules``; the core refuses an answer where one did).

:func:`run` rebuilds the export's network from the layers ``DynapcnnNetwork`` deploys to the chip:
``sinabs.layers.SumPool2d`` for each destination's pooling, a ``torch.nn.Conv2d`` holding the
integer kernel and bias, and ``sinabs.layers.IAFSqueeze`` with ``MultiSpike``, ``MembraneSubtract``
(or ``MembraneReset`` for return-to-zero), ``spike_threshold = threshold_high`` and ``min_v_mem =
threshold_low``. sinabs has no 16-bit state: each step the input is limited to the headroom left in
the layer's own ``v_mem`` (``min(drive, state_max - v_mem)``), which is the same as clipping ``v_mem
+ drive``; the lower bound is sinabs' own clamp at ``threshold_low``. Values are float64 (exact for
these integers), one timestep per call.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

FORBIDDEN = ("samna", "sinabs.backend.dynapcnn")
"""Modules that must never be imported (samna's registry release is a network-reaching stub)."""


class Refusal(Exception):
    """This request cannot run on sinabs (the core reports the message)."""


def forbidden_modules() -> list[str]:
    """The modules of :data:`FORBIDDEN` (and their submodules) in ``sys.modules``."""
    return sorted(m for m in sys.modules if any(m == f or m.startswith(f + ".") for f in FORBIDDEN))


def run(request: dict[str, Any]) -> dict[str, Any]:
    """Run ``x [T, B, *input]`` (int64 events) through the described layers. Answer: per layer
    index ``i`` the spikes ``s/<i>`` and (with `record_states`) the membrane ``v/<i>``, int64
    ``[T, B, C, H, W]``; and ``forbidden_modules``."""
    import torch

    x = np.asarray(request["x"])
    steps, batch = x.shape[:2]
    frames = {
        request["input_name"]: torch.as_tensor(x.astype(np.float64)).reshape(
            steps, batch, *request["input_chw"]
        )
    }
    answer: dict[str, Any] = {}
    with torch.no_grad():
        for i, layer in enumerate(request["layers"]):
            weight, bias = request[f"layer/{i}/weight"], request[f"layer/{i}/bias"]
            spikes, v = _run_layer(
                layer, weight, bias, frames, steps, batch, float(request["state_max"])
            )
            frames[layer["name"]] = spikes
            answer[f"s/{i}"] = spikes.round().long().numpy()
            if request["record_states"]:
                answer[f"v/{i}"] = v.round().long().numpy()
    answer["forbidden_modules"] = forbidden_modules()
    return answer


def _run_layer(
    layer: dict[str, Any],
    weight: np.ndarray,
    bias: np.ndarray,
    frames: dict,
    steps: int,
    batch: int,
    state_max: float,
):
    """One conv + IAF core over all steps: (spikes, v_mem), float64 ``[T, B, C, H, W]``."""
    import sinabs.layers as sl
    import torch
    from sinabs.activation import MembraneReset, MembraneSubtract, MultiSpike

    kernel = int(weight.shape[-1])
    conv = torch.nn.Conv2d(
        int(layer["in_shape"][0]),
        int(weight.shape[0]),
        kernel,
        tuple(layer["stride"]),
        tuple(layer["padding"]),
        bias=True,
    ).double()
    conv.weight.data = torch.as_tensor(weight, dtype=torch.float64)
    conv.bias.data = torch.as_tensor(bias, dtype=torch.float64)
    sources = [(str(name), int(pool)) for name, pool in layer["sources"]]
    pools = {name: sl.SumPool2d(pool) for name, pool in sources if pool > 1}
    iaf = sl.IAFSqueeze(
        batch_size=batch,
        spike_threshold=float(layer["threshold_high"]),
        spike_fn=MultiSpike,
        reset_fn=MembraneReset() if layer["return_to_zero"] else MembraneSubtract(),
        min_v_mem=float(layer["threshold_low"]),
    )
    spikes, vs = [], []
    for t in range(steps):
        inp = sum(
            pools[name](frames[name][t]) if name in pools else frames[name][t]
            for name, _ in sources
        )
        drive = conv(inp)
        v_before = iaf.v_mem if iaf.is_state_initialised() else torch.zeros_like(drive)
        drive = torch.minimum(drive, state_max - v_before)
        spikes.append(iaf(drive).double())
        vs.append(iaf.v_mem.clone())
    return torch.stack(spikes), torch.stack(vs)


def from_nir(request: dict[str, Any]) -> dict[str, Any]:
    """sinabs' own reading of a NIR file: ``sinabs.from_nir(nir.read(path), batch_size=B)`` run on
    ``x [T, B, *input]`` (float32) the way sinabs runs it (batch and time flattened). Answer: the
    output ``y [T, B, ...]`` (float32) and ``forbidden_modules``. For cross-checks of nrf-deploy's
    float executor with ``--semantics sinabs``."""
    import nir
    import sinabs
    import torch

    x = np.asarray(request["x"], dtype=np.float32)
    steps, batch = x.shape[:2]
    model = sinabs.from_nir(nir.read(request["path"]), batch_size=batch)
    flat = torch.tensor(x).permute(1, 0, *range(2, x.ndim)).reshape(batch * steps, *x.shape[2:])
    with torch.no_grad():
        out = model(flat)
    out = out[0] if isinstance(out, tuple) else out
    y = out.reshape(batch, steps, *out.shape[1:]).transpose(0, 1).numpy()
    return {"y": y, "forbidden_modules": forbidden_modules()}


# --- the environment's check ---------------------------------------------------------------------


def expected_check_trace(x: np.ndarray, weight: np.ndarray, threshold: int) -> np.ndarray:
    """Spike counts ``[T, n]`` of one integrate-and-fire layer written out in numpy: v += W @ x,
    MultiSpike ``s = (v > 0) * floor(v / threshold)`` when ``v >= threshold``, subtract ``s *
    threshold``, clamp at ``-threshold``."""
    v = np.zeros(weight.shape[0], np.int64)
    out = np.zeros((x.shape[0], weight.shape[0]), np.int64)
    for t in range(x.shape[0]):
        v = v + weight @ x[t]
        s = np.where(v >= threshold, v // threshold, 0)
        v = np.maximum(v - s * threshold, -threshold)
        out[t] = s
    return out


def check(request: dict[str, Any]) -> dict[str, Any]:
    """The environment's smoke test: a 1x1-conv IAF layer on sinabs equals
    :func:`expected_check_trace`, and no forbidden module was imported."""
    import importlib.metadata

    rng = np.random.default_rng(3)
    x = rng.integers(0, 3, size=(12, 4)).astype(np.int64)
    weight = rng.integers(-40, 60, size=(5, 4)).astype(np.int64)
    threshold = 50
    layer = {
        "name": "n",
        "in_shape": [4, 1, 1],
        "stride": [1, 1],
        "padding": [0, 0],
        "threshold_high": threshold,
        "threshold_low": -threshold,
        "return_to_zero": False,
        "sources": [["x", 1]],
    }
    got = run(
        {
            "x": x[:, None, :, None, None],
            "input_name": "x",
            "input_chw": [4, 1, 1],
            "layers": [layer],
            "layer/0/weight": weight[:, :, None, None],
            "layer/0/bias": np.zeros(5, np.int64),
            "state_max": 2**15 - 1,
            "record_states": True,
        }
    )
    expected = expected_check_trace(x, weight, threshold)
    same = np.array_equal(got["s/0"][:, 0, :, 0, 0], expected)
    bad = got["forbidden_modules"]
    return {
        "ok": bool(same and not bad and expected.sum() > 0 and expected.max() > 1),
        "reason": ""
        if same and not bad
        else (f"imported {bad}" if bad else "sinabs' spikes differ from integrate-and-fire"),
        "sinabs": importlib.metadata.version("sinabs"),
        "torch": importlib.metadata.version("torch"),
        "forbidden_modules": bad,
    }
