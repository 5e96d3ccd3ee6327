"""Train the receptive-field SNN on generated shapes from Python, compare it with its baselines,
and (optionally) deploy it to Loihi.

    python examples/train_shapes.py [--config tiny|small] [-o runs/example] [--compare] [--deploy]

* always: generate the data once, train the RF-initialised LIF SNN and write ``OUT/rf`` (model.pt,
  metrics.json, test_data.npz, model.nir — the same as ``nrf-deploy train``);
* ``--compare``: also train the uniform-initialised LIF SNN and the ReLU ANN on the *same* data and
  print a table of held-out median l2 errors (what docs/results.md reports); ``--li`` adds the
  LI variants;
* ``--deploy``: export ``OUT/rf/model.nir`` to Loihi and verify it bit for bit (reference vs
emulator).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import torch

from nrf_deploy.training import check_config, make_data, train, train_config


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", default="small", choices=["tiny", "small", "paper"])
    parser.add_argument("-o", "--output", default="runs/example")
    parser.add_argument("--epochs", type=int, default=None, help="override the preset's epochs")
    parser.add_argument("--seed", type=int, default=None, help="override the preset's seed")
    parser.add_argument(
        "--compare", action="store_true", help="also train the uniform-init SNN and the ANN"
    )
    parser.add_argument(
        "--li", action="store_true", help="with --compare: also the LI (non-spiking) variants"
    )
    parser.add_argument(
        "--deploy", action="store_true", help="export the RF model to Loihi and verify it"
    )
    args = parser.parse_args()
    out = Path(args.output)

    runs = [("rf", "lif")]
    if args.compare:
        runs += [("uniform", "lif"), ("ann", "lif")]
        if args.li:
            runs += [("rf", "li"), ("uniform", "li")]
    base = train_config(args.config, epochs=args.epochs, seed=args.seed)
    data = make_data(base, check_config(base))  # one dataset for every run
    results = []
    for kind, neuron in runs:
        config = train_config(
            args.config, kind=kind, neuron=neuron, epochs=args.epochs, seed=args.seed
        )
        name = kind if neuron == "lif" else f"{kind}-li"
        metrics = train(config, out / name, progress=sys.stderr.isatty(), data=data)
        results.append((name, metrics))
        print(
            f"{name:>10}: median l2 error {metrics['median_l2_px']:.2f} px "
            f"(train {metrics['train_seconds']:.0f} s, {metrics['batches']} batches)",
            flush=True,
        )

    summary = {
        "config": args.config,
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads",
        "centre_guess_px": results[0][1]["centre_guess_px"],
        "runs": {
            name: {
                k: m[k]
                for k in (
                    "median_l2_px",
                    "median_l2_px_per_shape",
                    "mean_l2_px",
                    "train_seconds",
                    "batches",
                    "parameters",
                    "stopped_early",
                )
            }
            for name, m in results
        },
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    print(f"\nguessing the canvas centre: {summary['centre_guess_px']:.2f} px")
    print("| model | median l2 error (px) | training time (s) |\n|---|---|---|")
    for name, m in results:
        print(f"| {name} | {m['median_l2_px']:.2f} | {m['train_seconds']:.0f} |")

    if args.deploy:
        from nrf_deploy.targets import get_target

        from nrf_deploy.cli.export import export
        from nrf_deploy.inputs import random_events
        from nrf_deploy.verify import verify_deployment

        export(str(out / "rf" / "model.nir"), "loihi", out / "loihi", {"loihi_chips": 4})
        target = get_target("loihi")
        deployment = target.load(out / "loihi")
        x = random_events(deployment.input_shape, timesteps=6, batch=8, rate=0.1, seed=0)
        print(verify_deployment(target, deployment, x, witness_samples=0).summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
