"""Train the receptive-field SNN (or a baseline) on generated shapes and export ``model.nir``.

``train(config, out_dir)`` generates training and held-out data (different seeds), trains with
BPTT (SuperSpike surrogate gradient) on the DSNT coordinate loss, measures the median l2 error in
pixels on the held-out data, and writes the run directory atomically:

* ``model.pt``      checkpoint: ``state_dict``, ``rf_config``, ``train_config``, ``kind``,
``metrics``
                    (:func:`load_checkpoint` rebuilds the model);
* ``metrics.json``  the metrics (below);
* ``test_data.npz`` the held-out data, time-major: ``events`` uint8 ``[T, N, 2, H, W]``,
                    ``centres`` float32 ``[T, N, 3, 2]`` (x, y pixels);
* ``model.nir``     the deployable graph (SNN kinds only; the ReLU ANN has no NIR form), checked
                    after writing: the float executor runs it on the held-out data and must give the
                    same spikes as the torch model (``metrics["nir_check"]``).

Metric: median over held-out samples, frames ``>= warmup`` and the three shapes of the l2 distance
(pixels) between the DSNT-decoded and the true centre.

The sparse spiking gesture CNN (``train --config gesture``, docs/gesture.md) has its own path:
:func:`train_gesture` (generated gestures or DVS128 Gesture recordings, cross-entropy on output
spike counts, accuracy on held-out samples, ``model.nir`` checked by :func:`gesture_nir_check`)
and :func:`gesture_export_accuracy` (an export's backend classifying held-out samples).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nrf_deploy.data import ShapesConfig, generate
from nrf_deploy.data.gestures import GestureConfig, generate_gestures
from nrf_deploy.errors import NrfError
from nrf_deploy.fileio import atomic_dir, dumps_json
from nrf_deploy.models import CONFIGS, KINDS, NEURONS, RFSNN, RFConfig, build_model, dsnt
from nrf_deploy.models.gesture import (
    GESTURE_NEURONS,
    GestureCNN,
    GestureNetConfig,
    predict_class,
    spike_count_loss,
)
from nrf_deploy.progress import progress_bar


class _Loadable:
    """``from_dict`` for the run configurations: fields a newer version wrote are ignored."""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def _preset(presets: dict[str, Any], name: str, what: str, overrides: dict[str, Any]) -> Any:
    """Preset `name` of `presets` with the given fields replaced (``None`` values are ignored)."""
    if name not in presets:
        raise NrfError(
            f"unknown {what} '{name}'", "--config", f"choose one of {', '.join(presets)}"
        )
    return replace(presets[name], **{k: v for k, v in overrides.items() if v is not None})


def _check_run_numbers(config: Any, where: str) -> None:
    """Samples, batch, epochs and the time budget of a training run."""
    if config.train_samples < 1 or config.test_samples < 1 or config.batch < 1 or config.epochs < 0:
        raise NrfError("samples and batch must be >= 1, epochs >= 0", where, "fix the numbers")
    if config.max_minutes is not None and config.max_minutes <= 0:
        raise NrfError("max_minutes must be positive", "--max-minutes", "give a positive budget")


@dataclass(frozen=True)
class TrainConfig(_Loadable):
    """One training run. Frames are timesteps (``dt`` of the model config each); ``warmup`` frames
    are left out of loss and metric; ``max_minutes`` stops training (not evaluation or export) once
    the budget is spent; ``threads`` torch threads while training."""

    model: str = "small"
    kind: str = "rf"  # rf | uniform | ann
    neuron: str = "lif"  # lif | li (SNN kinds)
    train_samples: int = 256
    test_samples: int = 64
    frames: int = 30
    warmup: int = 6
    epochs: int = 10
    batch: int = 16
    lr: float = 3e-3
    seed: int = 0
    max_minutes: float | None = None
    threads: int = 1


PRESETS: dict[str, TrainConfig] = {
    # seconds: tests and smoke runs
    "tiny": TrainConfig(
        model="tiny", train_samples=48, test_samples=16, frames=16, warmup=4, epochs=2, batch=16
    ),
    # minutes: the demo and docs/results.md
    "small": TrainConfig(),
    # hours on a CPU: the paper-like kernel bank
    "paper": TrainConfig(
        model="paper", train_samples=1024, test_samples=256, frames=40, warmup=8, epochs=20, batch=8
    ),
}


def train_config(preset: str, **overrides: Any) -> TrainConfig:
    """The named preset with the given fields replaced (``None`` values are ignored)."""
    return _preset(PRESETS, preset, "training preset", overrides)


def check_config(config: TrainConfig) -> RFConfig:
    if config.model not in CONFIGS:
        raise NrfError(
            f"unknown model config '{config.model}'",
            "--config",
            f"choose one of {', '.join(CONFIGS)}",
        )
    if config.kind not in KINDS:
        raise NrfError(
            f"unknown model kind '{config.kind}'", "--kind", f"choose one of {', '.join(KINDS)}"
        )
    if config.neuron not in NEURONS:
        raise NrfError(
            f"unknown neuron '{config.neuron}'", "--neuron", f"choose one of {', '.join(NEURONS)}"
        )
    if not 0 <= config.warmup < config.frames:
        raise NrfError(
            f"warmup {config.warmup} must be in [0, frames={config.frames})", "--warmup", "lower it"
        )
    _check_run_numbers(config, "TrainConfig")
    rf = replace(CONFIGS[config.model], neuron=config.neuron)
    rf.validate()
    return rf


def shapes_config(size: int, frames: int) -> ShapesConfig:
    """The data of a run: :class:`ShapesConfig` defaults, radii scaled with the canvas (5-9 px at
    64 px)."""
    return ShapesConfig(size=size, frames=frames, radius=(5.0 * size / 64, 9.0 * size / 64))


def make_data(config: TrainConfig, rf: RFConfig) -> dict[str, np.ndarray]:
    """Training and held-out data (sample-major, uint8 events / float32 centres), seeds differ."""
    shapes = shapes_config(rf.size, config.frames)
    train_e, train_c = generate(config.train_samples, shapes, seed=config.seed)
    test_e, test_c = generate(config.test_samples, shapes, seed=config.seed + 1_000_003)
    return {
        "train_events": train_e,
        "train_centres": train_c,
        "test_events": test_e,
        "test_centres": test_c,
    }


def _batch(events: np.ndarray, centres: np.ndarray, idx) -> tuple[torch.Tensor, torch.Tensor]:
    """Time-major float tensors ``[T, B, 2, H, W]`` and ``[T, B, 3, 2]``."""
    x = torch.from_numpy(np.ascontiguousarray(events[idx].swapaxes(0, 1))).float()
    y = torch.from_numpy(np.ascontiguousarray(centres[idx].swapaxes(0, 1)))
    return x, y


def predict(model: torch.nn.Module, events: np.ndarray, batch: int = 32) -> torch.Tensor:
    """Decoded centres ``[T, N, 3, 2]`` (pixels) for sample-major events ``[N, T, 2, H, W]``."""
    out = []
    model.eval()
    with torch.no_grad():
        for i in range(0, len(events), batch):
            x, _ = _batch(
                events,
                np.zeros((len(events), events.shape[1], 3, 2), np.float32),
                slice(i, i + batch),
            )
            out.append(dsnt(model(x), model.cfg.size))
    return torch.cat(out, dim=1)


def median_error_px(pred: torch.Tensor, centres: torch.Tensor, warmup: int) -> float:
    """Median l2 distance (pixels) between ``pred`` and ``centres`` (both ``[T, N, 3, 2]``) over
    frames ``>= warmup``, samples and shapes."""
    return float(torch.linalg.norm(pred[warmup:] - centres[warmup:], dim=-1).median())


def train(
    config: TrainConfig,
    out_dir: str | Path | None = None,
    progress: bool = True,
    data: dict[str, np.ndarray] | None = None,
) -> dict[str, Any]:
    """Train one model; return its metrics and, with `out_dir`, write the run directory.

    `data` (from :func:`make_data`) lets several runs share one dataset."""
    rf = check_config(config)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(max(1, config.threads))
    try:
        return _train(config, rf, out_dir, progress, data)
    finally:
        torch.set_num_threads(previous_threads)


@dataclass(frozen=True)
class Fitted:
    """What a training loop did: the loss of every batch, whether the time budget stopped it,
    and its wall-clock seconds."""

    losses: list[float]
    stopped_early: bool
    seconds: float


def fit(
    model: torch.nn.Module,
    batch_loss: Callable[[np.ndarray], torch.Tensor],
    n_train: int,
    config: TrainConfig | GestureTrainConfig,
    label: str,
    progress: bool,
) -> Fitted:
    """Adam (``config.lr``) with a cosine learning-rate decay over every batch; each epoch visits
    the `n_train` samples in an order shuffled by ``config.seed``, ``config.batch`` at a time
    (sorted indices, passed to `batch_loss`). Stops after the batch that spends
    ``config.max_minutes``."""
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    total = config.epochs * math.ceil(n_train / config.batch)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / max(total, 1)))
    )
    order_gen = torch.Generator().manual_seed(config.seed)
    budget = None if config.max_minutes is None else 60.0 * config.max_minutes
    bar = progress_bar(total, label, "batch", enabled=progress, leave=False)
    losses: list[float] = []
    start = time.perf_counter()
    for _epoch in range(config.epochs):
        model.train()
        order = torch.randperm(n_train, generator=order_gen).numpy()
        for i in range(0, n_train, config.batch):
            loss = batch_loss(np.sort(order[i : i + config.batch]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.detach().item())
            bar.set_postfix(loss=f"{losses[-1]:.4f}")
            bar.update()
            if budget is not None and time.perf_counter() - start > budget:
                bar.close()
                return Fitted(losses, True, time.perf_counter() - start)
    bar.close()
    return Fitted(losses, False, time.perf_counter() - start)


def _train(config: TrainConfig, rf: RFConfig, out_dir, progress: bool, data) -> dict[str, Any]:
    start = time.perf_counter()
    if data is None:
        data = make_data(config, rf)
    data_seconds = time.perf_counter() - start
    torch.manual_seed(config.seed)
    model = build_model(config.kind, rf)

    def batch_loss(indices: np.ndarray) -> torch.Tensor:
        x, y = _batch(data["train_events"], data["train_centres"], indices)
        pred = dsnt(model(x), rf.size)
        return ((pred[config.warmup :] - y[config.warmup :]) / rf.size).pow(2).mean()

    label = f"train {config.kind}-{config.neuron if config.kind != 'ann' else 'relu'}"
    fitted = fit(model, batch_loss, config.train_samples, config, label, progress)
    losses, train_seconds = fitted.losses, fitted.seconds
    steps_done, stopped_early = len(losses), fitted.stopped_early
    test_c = torch.from_numpy(data["test_centres"].swapaxes(0, 1).copy())
    pred = predict(model, data["test_events"])
    errors = torch.linalg.norm(
        pred[config.warmup :] - test_c[config.warmup :], dim=-1
    )  # [T', N, 3]
    metrics: dict[str, Any] = {
        "kind": config.kind,
        "neuron": config.neuron if config.kind != "ann" else "relu",
        "model_config": config.model,
        "median_l2_px": float(errors.median()),
        "median_l2_px_per_shape": {
            s: float(errors[..., i].median())
            for i, s in enumerate(("circle", "square", "triangle"))
        },
        "mean_l2_px": float(errors.mean()),
        "centre_guess_px": float(
            torch.linalg.norm(test_c[config.warmup :] - rf.size / 2, dim=-1).median()
        ),
        "train_seconds": round(train_seconds, 1),
        "data_seconds": round(data_seconds, 1),
        "batches": steps_done,
        "stopped_early": stopped_early,
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "neurons": rf.neurons if config.kind != "ann" else None,
        "first_loss": losses[0] if losses else None,
        "final_loss": losses[-1] if losses else None,
        "train": asdict(config),
        "rf": rf.to_dict(),
        "test_samples": config.test_samples,
        "frames_scored": f"{config.warmup}..{config.frames - 1}",
    }
    if out_dir is not None:
        _write_run(Path(out_dir), model, config, metrics, data)
    metrics["total_seconds"] = round(time.perf_counter() - start, 1)
    return metrics


def nir_check(
    model: RFSNN, path: str | Path, events: np.ndarray, centres: np.ndarray, warmup: int
) -> dict[str, Any]:
    """Run the written ``model.nir`` in the float executor on sample-major `events` and compare it
    with the torch model: spike mismatches, largest read-out difference, median l2 error (px)."""
    from nrf_deploy.ir import load_graph, run_float

    graph = load_graph(path)
    x, y = _batch(events, centres, slice(None))
    with torch.no_grad():
        out, hidden = model(x, record=True)
    trace = run_float(graph, x)
    node = "lif" if model.cfg.neuron == "lif" else "li"
    exec_hidden = np.asarray(trace.outputs[node])
    exec_out = np.asarray(trace.outputs["readout"])
    check = {
        "samples": int(x.shape[1]),
        "timesteps": int(x.shape[0]),
        "max_readout_diff": float(np.abs(exec_out - out.numpy()).max()),
    }
    if model.cfg.neuron == "lif":
        check["spike_mismatches"] = int((exec_hidden != hidden.numpy()).sum())
        check["spikes"] = int(hidden.sum())
    else:
        check["max_hidden_diff"] = float(np.abs(exec_hidden - hidden.numpy()).max())
    check["median_l2_px"] = median_error_px(
        dsnt(torch.from_numpy(exec_out), model.cfg.size), y, warmup
    )
    return check


def _write_run(
    out_dir: Path,
    model: torch.nn.Module,
    config: TrainConfig,
    metrics: dict[str, Any],
    data: dict[str, np.ndarray],
) -> None:
    from nrf_deploy.exporters.nir import write_rf_snn

    with atomic_dir(out_dir, is_previous_run) as tmp:
        if isinstance(model, RFSNN):
            write_rf_snn(model, tmp / "model.nir")
            check = nir_check(
                model, tmp / "model.nir", data["test_events"], data["test_centres"], config.warmup
            )
            metrics["nir_check"] = check
            if check.get("spike_mismatches", 0) or check["max_readout_diff"] > 1e-4:
                raise RuntimeError(
                    f"the exported model.nir does not reproduce the trained model: {check}"
                )
        torch.save(
            {
                "state_dict": model.state_dict(),
                "rf_config": model.cfg.to_dict(),
                "train_config": asdict(config),
                "kind": config.kind,
                "metrics": metrics,
            },
            tmp / "model.pt",
        )
        (tmp / "metrics.json").write_text(dumps_json(metrics))
        np.savez_compressed(
            tmp / "test_data.npz",
            events=np.ascontiguousarray(data["test_events"].swapaxes(0, 1)),
            centres=np.ascontiguousarray(data["test_centres"].swapaxes(0, 1)),
        )


def is_previous_run(path: Path) -> bool:
    """A directory `nrf-deploy train` wrote (``-o`` replaces only such a one, or an empty one)."""
    return (Path(path) / "model.pt").is_file() and (Path(path) / "metrics.json").is_file()


def load_checkpoint(path: str | Path) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Rebuild the model saved in a run's ``model.pt`` (eval mode); returns ``(model,
    checkpoint)``."""
    path = Path(path)
    if path.is_dir():
        path = path / "model.pt"
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        if ckpt["kind"] == "gesture":
            model = GestureCNN(GestureNetConfig.from_dict(ckpt["gesture_config"]))
        else:
            model = build_model(ckpt["kind"], RFConfig.from_dict(ckpt["rf_config"]))
        model.load_state_dict(ckpt["state_dict"])
    except (OSError, KeyError, RuntimeError, TypeError, ValueError) as exc:
        raise NrfError(
            f"'{path}' is not an nrf-deploy training checkpoint ({type(exc).__name__})",
            str(path),
            "pass the model.pt (or run directory) written by `nrf-deploy train`",
        ) from None
    return model.eval(), ckpt


# --- the sparse spiking gesture CNN (docs/gesture.md) ---------------------------------------


@dataclass(frozen=True)
class GestureTrainConfig(_Loadable):
    """One gesture-CNN run: ``net`` names a :data:`GESTURE_NETS` entry (architecture + generated
    data); ``dataset`` a folder of DVS128 Gesture recordings in tonic's layout used instead of
    generated data (``train_samples``/``test_samples`` then cap the recordings read).
    ``max_minutes`` stops training (not evaluation or export); ``threads`` torch threads."""

    net: str = "gesture"
    neuron: str = "if"
    train_samples: int = 2048
    test_samples: int = 256
    epochs: int = 8
    batch: int = 16
    lr: float = 2e-3
    seed: int = 0
    max_minutes: float | None = None
    threads: int = 1
    dataset: str | None = None


GESTURE_NETS: dict[str, tuple[GestureNetConfig, GestureConfig]] = {
    # DVS128 size: 2x128x128 -> 8x32x32 -> 16x16x16 -> 16x8x8 -> 6 (13.3 k neurons)
    "gesture": (GestureNetConfig(), GestureConfig()),
    # tests: 2x32x32 -> 4x16x16 -> 8x8x8 -> 6 (1.5 k neurons), 8 frames
    "tiny": (
        GestureNetConfig(size=32, channels=(4, 8), kernels=(4, 3), strides=(2, 2), paddings=(1, 1)),
        GestureConfig(size=32, frames=8, radius=(2.5, 3.5), speed=(1.0, 1.5), orbit=(4.0, 6.0)),
    ),
}
GESTURE_PRESETS: dict[str, GestureTrainConfig] = {
    "gesture": GestureTrainConfig(),
    "gesture-tiny": GestureTrainConfig(net="tiny", train_samples=96, test_samples=24, epochs=2),
}


def gesture_train_config(preset: str, **overrides: Any) -> GestureTrainConfig:
    """The named gesture preset with the given fields replaced (``None`` values are ignored)."""
    return _preset(GESTURE_PRESETS, preset, "gesture preset", overrides)


def check_gesture_config(config: GestureTrainConfig) -> tuple[GestureNetConfig, GestureConfig]:
    """The network and data configurations of a run (:class:`NrfError` for bad settings)."""
    if config.net not in GESTURE_NETS:
        raise NrfError(
            f"unknown gesture network '{config.net}'",
            "GestureTrainConfig.net",
            f"choose one of {', '.join(GESTURE_NETS)}",
        )
    if config.neuron not in GESTURE_NEURONS:
        raise NrfError(
            f"unknown neuron '{config.neuron}' for the gesture CNN",
            "--neuron",
            f"choose one of {', '.join(GESTURE_NEURONS)}",
        )
    _check_run_numbers(config, "GestureTrainConfig")
    net, data = GESTURE_NETS[config.net]
    net = replace(net, neuron=config.neuron)
    if config.dataset is not None:
        from nrf_deploy.data.dvs_gesture import CLASSES, SENSOR_SIZE

        if net.size != SENSOR_SIZE[0]:
            raise NrfError(
                f"network '{config.net}' takes {net.size}x{net.size} events, the recordings are "
                f"{SENSOR_SIZE[0]}x{SENSOR_SIZE[1]}",
                "--dataset",
                "use --config gesture with recorded data",
            )
        net = replace(net, classes=CLASSES)
    net.validate()
    data.validate()
    return net, data


@dataclass
class GestureData:
    """Where a run's samples come from: generated on demand per batch (`train_seed`) or held in
    arrays (recordings); the held-out set is always in memory. Events uint8 sample-major."""

    data: GestureConfig
    train_seed: int
    test_events: np.ndarray
    test_labels: np.ndarray
    train_events: np.ndarray | None = None
    train_labels: np.ndarray | None = None

    def train_batch(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.train_events is not None and self.train_labels is not None:
            return self.train_events[indices], self.train_labels[indices]
        return generate_gestures(indices, self.data, seed=self.train_seed)


def make_gesture_data(config: GestureTrainConfig, net: GestureNetConfig) -> GestureData:
    """Generated data (held-out seed differs from training) or the recordings of `dataset`."""
    _, data = GESTURE_NETS[config.net]
    if config.dataset is None:
        test_e, test_l = generate_gestures(config.test_samples, data, seed=config.seed + 1_000_003)
        return GestureData(data, config.seed, test_e, test_l)
    from nrf_deploy.data.dvs_gesture import read_dvs_gesture

    args = (config.dataset, data.frames, net.dt)
    train_e, train_l = read_dvs_gesture(args[0], True, *args[1:], limit=config.train_samples)
    test_e, test_l = read_dvs_gesture(args[0], False, *args[1:], limit=config.test_samples)
    return GestureData(data, config.seed, test_e, test_l, train_e, train_l)


def _time_major(events: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(events.swapaxes(0, 1))).float()


def gesture_outputs(model: GestureCNN, events: np.ndarray, batch: int = 32) -> torch.Tensor:
    """Output spikes ``[T, N, classes]`` of `model` for sample-major events ``[N, T, 2, H, W]``."""
    model.eval()
    with torch.no_grad():
        outs = [model(_time_major(events[i : i + batch])) for i in range(0, len(events), batch)]
    return torch.cat(outs, dim=1)


def train_gesture(
    config: GestureTrainConfig, out_dir: str | Path | None = None, progress: bool = True
) -> dict[str, Any]:
    """Train the gesture CNN; return its metrics and, with `out_dir`, write the run directory
    (``model.pt``, ``metrics.json``, ``test_data.npz`` with ``events`` uint8 ``[T, N, 2, H, W]``
    and ``labels`` int64 ``[N]``, ``model.nir`` checked against the float executor)."""
    net, _ = check_gesture_config(config)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(max(1, config.threads))
    try:
        return _train_gesture(config, net, out_dir, progress)
    finally:
        torch.set_num_threads(previous_threads)


def _train_gesture(config: GestureTrainConfig, net: GestureNetConfig, out_dir, progress: bool):
    start = time.perf_counter()
    data = make_gesture_data(config, net)
    n_train = config.train_samples
    if data.train_labels is not None:
        n_train = len(data.train_labels)
    torch.manual_seed(config.seed)
    model = GestureCNN(net)

    def batch_loss(indices: np.ndarray) -> torch.Tensor:
        events, labels = data.train_batch(indices)
        return spike_count_loss(model(_time_major(events)), torch.from_numpy(labels))

    fitted = fit(model, batch_loss, n_train, config, f"train gesture-{net.neuron}", progress)
    losses, train_seconds, stopped_early = fitted.losses, fitted.seconds, fitted.stopped_early
    out = gesture_outputs(model, data.test_events)
    predicted = predict_class(out).numpy()
    metrics: dict[str, Any] = {
        "kind": "gesture",
        "neuron": net.neuron,
        "net": config.net,
        "accuracy": float((predicted == data.test_labels).mean()),
        "chance": float(np.bincount(data.test_labels).max() / len(data.test_labels)),
        "silent_samples": int((out.sum((0, 2)) == 0).sum()),
        "output_spikes_per_sample": float(out.sum() / out.shape[1]),
        "train_seconds": round(train_seconds, 1),
        "batches": len(losses),
        "stopped_early": stopped_early,
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "neurons": net.neurons,
        "first_loss": losses[0] if losses else None,
        "final_loss": losses[-1] if losses else None,
        "train": asdict(config),
        "gesture_net": net.to_dict(),
        "gesture_data": asdict(data.data),
        "data": "recordings" if config.dataset else "generated",
        "train_samples": n_train,
        "test_samples": len(data.test_labels),
    }
    if out_dir is not None:
        _write_gesture_run(Path(out_dir), model, config, metrics, data)
    metrics["total_seconds"] = round(time.perf_counter() - start, 1)
    return metrics


def gesture_nir_check(
    model: GestureCNN, path: str | Path, events: np.ndarray, batch: int = 32
) -> dict[str, Any]:
    """Run the written ``model.nir`` in the float executor on sample-major `events` (in batches)
    and compare every spiking layer with the torch model: spike mismatches and spike count."""
    from nrf_deploy.exporters.nir import gesture_node_order
    from nrf_deploy.ir import load_graph, run_float

    graph = load_graph(path)
    names = [n for n in gesture_node_order(len(model.convs)) if n.startswith("if")]
    mismatches = spikes = 0
    model.eval()
    for i in range(0, len(events), batch):
        x = _time_major(events[i : i + batch])
        with torch.no_grad():
            out, hidden = model(x, record=True)
        trace = run_float(graph, x)
        for name, mine in zip(names, [*hidden, out]):
            mismatches += int((np.asarray(trace.outputs[name]) != mine.numpy()).sum())
            spikes += int(mine.sum())
    return {
        "samples": len(events),
        "timesteps": int(events.shape[1]),
        "spike_mismatches": mismatches,
        "spikes": spikes,
    }


def _write_gesture_run(
    out_dir: Path,
    model: GestureCNN,
    config: GestureTrainConfig,
    metrics: dict[str, Any],
    data: GestureData,
) -> None:
    from nrf_deploy.exporters.nir import export_gesture_cnn, write_graph

    with atomic_dir(out_dir, is_previous_run) as tmp:
        write_graph(export_gesture_cnn(model), tmp / "model.nir")
        check = gesture_nir_check(model, tmp / "model.nir", data.test_events)
        metrics["nir_check"] = check
        if check["spike_mismatches"]:
            raise RuntimeError(
                f"the exported model.nir does not reproduce the trained model: {check}"
            )
        torch.save(
            {
                "state_dict": model.state_dict(),
                "gesture_config": model.cfg.to_dict(),
                "train_config": asdict(config),
                "kind": "gesture",
                "metrics": metrics,
            },
            tmp / "model.pt",
        )
        (tmp / "metrics.json").write_text(dumps_json(metrics))
        np.savez_compressed(
            tmp / "test_data.npz",
            events=np.ascontiguousarray(data.test_events.swapaxes(0, 1)),
            labels=data.test_labels,
        )


def gesture_export_accuracy(
    export_dir: str | Path,
    events: np.ndarray,
    labels: np.ndarray,
    backend: str | None = None,
    batch: int = 16,
) -> dict[str, Any]:
    """Classify sample-major `events` ``[N, T, 2, H, W]`` with one backend of an export (default:
    its reference) and score it against `labels`. The input is followed by as many empty frames
    as the export's largest population delay (Loihi and SpiNNaker lag one step per synapse), so
    every spike the chip sends for the sample is counted; the float model, fed the same frames,
    gives the same counts as without them (IF and LIF neurons cannot fire without input)."""
    from nrf_deploy.api import load_export

    target, deployment = load_export(export_dir)
    name = backend or target.backend_names(deployment)[0]
    pad = max(deployment.record.delays.values(), default=0)
    predicted = []
    for i in range(0, len(events), batch):
        x = _time_major(events[i : i + batch]).numpy()
        x = np.concatenate([x, np.zeros((pad, *x.shape[1:]), x.dtype)])
        out = target.run(deployment, name, x).output()
        predicted.append(predict_class(out).numpy())
    predicted_all = np.concatenate(predicted)
    return {
        "target": deployment.record.target,
        "backend": name,
        "samples": len(events),
        "timesteps": int(events.shape[1]) + pad,
        "accuracy": float((predicted_all == labels).mean()),
        "predicted": predicted_all.tolist(),
    }
