"""Train the receptive-field SNN (and its baselines) on generated shapes; export model.nir.

``train(config, out_dir)`` generates data, trains with BPTT (SuperSpike surrogate) on the DSNT
coordinate loss, evaluates the median l2 error in pixels on held-out data and writes
``model.pt`` (checkpoint), ``metrics.json`` and ``model.nir`` into `out_dir` (atomically).
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import nir
import numpy as np
import torch
from tqdm import tqdm

from nrf_deploy.data import ShapesConfig, generate
from nrf_deploy.errors import NrfError
from nrf_deploy.fileio import atomic_dir, dumps_json
from nrf_deploy.models import CONFIGS, RFConfig, build_model, dsnt


@dataclass(frozen=True)
class TrainConfig:
    """Training budget. Frames are timesteps; `warmup` frames are excluded from loss and metric."""

    model: str = "small"
    kind: str = "rf"               # rf | uniform | ann
    train_samples: int = 192
    test_samples: int = 48
    frames: int = 30
    warmup: int = 6
    epochs: int = 6
    batch: int = 16
    lr: float = 3e-3
    seed: int = 0


PRESETS = {
    "tiny": TrainConfig(model="tiny", train_samples=48, test_samples=16, frames=16, warmup=4, epochs=2, batch=16),
    "small": TrainConfig(train_samples=256, epochs=12),
    "paper": TrainConfig(model="paper", train_samples=1024, test_samples=256, frames=40, epochs=20),
}


def _data(cfg: TrainConfig, rf: RFConfig, seed: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    events, centres = generate(n, ShapesConfig(size=rf.size, frames=cfg.frames), seed=seed)
    return (torch.from_numpy(events.transpose(1, 0, 2, 3, 4).astype(np.float32)),
            torch.from_numpy(centres.transpose(1, 0, 2, 3)))


def median_error_px(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, warmup: int,
                    image_size: int) -> float:
    """Median l2 distance (pixels) between decoded and true centres over frames >= warmup."""
    with torch.no_grad():
        pred = dsnt(model(x), image_size)
    return float(torch.linalg.norm(pred[warmup:] - y[warmup:], dim=-1).median())


def train(config: TrainConfig, out_dir: str | Path | None = None, progress: bool = True) -> dict[str, Any]:
    """Train one model; return metrics (and write the run directory if `out_dir` is given)."""
    if config.model not in CONFIGS:
        raise NrfError(f"unknown model config '{config.model}'", "--config", f"choose one of {', '.join(CONFIGS)}")
    if config.warmup >= config.frames:
        raise NrfError("warmup must be shorter than the number of frames", "--warmup", "lower it")
    torch.manual_seed(config.seed)
    rf = CONFIGS[config.model]
    model = build_model(config.kind, rf)
    x_train, y_train = _data(config, rf, config.seed, config.train_samples)
    x_test, y_test = _data(config, rf, config.seed + 10_000, config.test_samples)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    scale = float(rf.size)
    start = time.time()
    steps = config.epochs * ((config.train_samples + config.batch - 1) // config.batch)
    bar = tqdm(total=steps, desc=f"train {config.kind}", unit="batch", disable=not progress)
    losses = []
    for epoch in range(config.epochs):
        order = torch.randperm(config.train_samples)
        for i in range(0, config.train_samples, config.batch):
            idx = order[i:i + config.batch]
            pred = dsnt(model(x_train[:, idx]), rf.size)
            loss = ((pred[config.warmup:] - y_train[config.warmup:, idx]) / scale).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss))
            bar.set_postfix(loss=f"{losses[-1]:.4f}")
            bar.update()
    bar.close()
    metrics = {"kind": config.kind, "model_config": config.model,
               "median_l2_px": median_error_px(model, x_test, y_test, config.warmup, rf.size),
               "centre_guess_px": float(torch.linalg.norm(y_test[config.warmup:] - rf.size / 2, dim=-1).median()),
               "train_seconds": round(time.time() - start, 1),
               "parameters": int(sum(p.numel() for p in model.parameters())),
               "final_loss": losses[-1] if losses else None, "train": asdict(config), "rf": asdict(rf)}
    if out_dir is not None:
        _write_run(Path(out_dir), model, metrics, x_test, y_test)
    return metrics


def _write_run(out_dir: Path, model: torch.nn.Module, metrics: dict, x_test: torch.Tensor,
               y_test: torch.Tensor) -> None:
    from nrf_deploy.exporters.nir import export_rf_snn
    from nrf_deploy.models import RFSNN

    with atomic_dir(out_dir) as tmp:
        torch.save({"state_dict": model.state_dict(), "metrics": metrics}, tmp / "model.pt")
        (tmp / "metrics.json").write_text(dumps_json(metrics))
        np.savez_compressed(tmp / "test_data.npz", events=x_test.numpy().astype(np.uint8),
                            centres=y_test.numpy())
        if isinstance(model, RFSNN):
            nir.write(tmp / "model.nir", export_rf_snn(model))


def train_config(preset: str, **overrides: Any) -> TrainConfig:
    if preset not in PRESETS:
        raise NrfError(f"unknown training preset '{preset}'", "--config", f"choose one of {', '.join(PRESETS)}")
    return replace(PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None})
