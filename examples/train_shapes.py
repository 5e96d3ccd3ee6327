"""Train the receptive-field SNN on generated shapes and deploy it to Loihi, from Python.

    python examples/train_shapes.py [--config tiny|small] [-o runs/example]

The same as `nrf-deploy train` + `nrf-deploy export --target loihi` + `nrf-deploy verify`, written
with the library API so it can be adapted.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from nrf_deploy.cli.export import export
from nrf_deploy.inputs import random_events
from nrf_deploy.targets import get_target
from nrf_deploy.training import train, train_config
from nrf_deploy.verify import verify_deployment


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="small", choices=["tiny", "small"])
    parser.add_argument("-o", "--output", default="runs/example")
    args = parser.parse_args()
    out = Path(args.output)

    metrics = train(train_config(args.config), out / "run")                  # data, BPTT, model.nir
    print(f"median l2 error on held-out data: {metrics['median_l2_px']:.2f} px")

    export(out / "run" / "model.nir", "loihi", out / "loihi", {"loihi_chips": 4})
    target = get_target("loihi")
    deployment = target.load(out / "loihi")
    x = random_events(deployment.input_shape, timesteps=6, batch=8, rate=0.1, seed=0)
    result = verify_deployment(target, deployment, x, witness_samples=0)   # Lava: add samples if you have minutes
    print(result.summary())


if __name__ == "__main__":
    main()
