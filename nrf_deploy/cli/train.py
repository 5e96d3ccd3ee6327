"""``nrf-deploy train [--config tiny|small|paper] -o RUN_DIR``: train the RF-SNN, export model.nir."""
from __future__ import annotations

import argparse

from nrf_deploy.cli.common import progress_enabled


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train the receptive-field SNN on generated events and export it",
                       description="Generate GERD-style shape events, train the RF-SNN (or a baseline) and "
                                   "write model.pt, metrics.json (median l2 error in pixels on held-out "
                                   "data), test_data.npz and model.nir to RUN_DIR.")
    p.add_argument("-o", "--output", required=True, help="run directory (replaced if it exists)")
    p.add_argument("--config", default="small", choices=["tiny", "small", "paper"],
                   help="size preset (small: ~3 min on 2 cores; tiny: under a minute; paper: hours)")
    p.add_argument("--kind", default="rf", choices=["rf", "uniform", "ann"],
                   help="rf: RF-initialised LIF SNN (deployable); uniform: same SNN, default init; ann: ReLU CNN")
    p.add_argument("--epochs", type=int, default=None, help="override the preset's epochs")
    p.add_argument("--seed", type=int, default=None, help="override the preset's seed")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from nrf_deploy.training import train, train_config

    config = train_config(args.config, kind=args.kind, epochs=args.epochs, seed=args.seed)
    metrics = train(config, args.output, progress=progress_enabled())
    print(f"trained {config.kind} ({config.model}) in {metrics['train_seconds']} s: median l2 error "
          f"{metrics['median_l2_px']:.2f} px on {config.test_samples} held-out samples; wrote {args.output}")
    return 0
