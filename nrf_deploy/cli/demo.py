"""``nrf-deploy demo -o DIR``: the whole job on built-in defaults.

Generate shape events, train the small RF-SNN, export it to every registered target, verify each
export bit for bit, and write DIR/report.html (+ report.json). A target that refuses the model
(e.g. a chip without leaky neurons) is listed in the report with its reason.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from nrf_deploy.cli.common import progress_enabled
from nrf_deploy.errors import NrfError, VerificationFailed

EXPORT_OPTIONS = {"loihi": {"loihi_chips": 4}}
"""The small RF-SNN needs 3 Loihi chips (input-axon limit of 4096 per core)."""


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="train, export to every target, verify and report, in one go",
                       description="The README's main command: generate events, train the small RF-SNN "
                                   "(~2 min), export it to every target, verify each export and write "
                                   "DIR/report.html. About 10 minutes on 2 cores.")
    p.add_argument("-o", "--output", required=True, help="output directory")
    p.add_argument("--config", default="small", choices=["tiny", "small"], help="training preset")
    p.add_argument("--model", default=None, help="skip training and deploy this .nir instead")
    p.add_argument("--samples", type=int, default=8, help="verification samples per target")
    p.add_argument("--witness-samples", type=int, default=1, help="samples also run on vendor simulators")
    p.add_argument("--timesteps", type=int, default=4, help="timesteps of the verification inputs")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from nrf_deploy.cli.export import export
    from nrf_deploy.inputs import random_events
    from nrf_deploy.report import build_report, summary_table
    from nrf_deploy.targets import get_target, target_names
    from nrf_deploy.training import train, train_config
    from nrf_deploy.verify import verify_deployment

    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    show = progress_enabled()
    stages = tqdm(total=2 + 2 * len(target_names()), desc="demo", unit="stage", disable=not show)
    x_test = labels = None
    if args.model:
        model = Path(args.model)
    else:
        stages.set_postfix_str("training the RF-SNN")
        metrics = train(train_config(args.config), out / "run", progress=show)
        print(f"trained: median l2 error {metrics['median_l2_px']:.2f} px (held-out), "
              f"{metrics['train_seconds']} s")
        model = out / "run" / "model.nir"
        data = np.load(out / "run" / "test_data.npz")
        x_test, labels = data["events"][:, :8].astype(np.int64), data["centres"][:, :8]
    stages.update()
    exported, failures = [], {}
    for name in target_names():
        stages.set_postfix_str(f"export {name}")
        try:
            deployment = export(model, name, out / "exports" / name, EXPORT_OPTIONS.get(name, {}))
        except NrfError as exc:
            failures[name] = exc.format()
            print(f"{name}: not deployed\n{exc.format()}")
            stages.update(2)
            continue
        stages.update()
        stages.set_postfix_str(f"verify {name}")
        target = get_target(name)
        deployment = target.load(out / "exports" / name)
        x = random_events(deployment.input_shape, args.timesteps, args.samples, 0.1, 0)
        result = verify_deployment(target, deployment, x, args.witness_samples)
        _save_verify(out / "exports" / name, result, x)
        print(f"{name}:\n{result.summary()}")
        exported.append(out / "exports" / name)
        stages.update()
    stages.set_postfix_str("report")
    report = build_report(exported, out / "report.html", x=x_test, labels=labels, failures=failures,
                          model_name=str(model))
    stages.update()
    stages.close()
    print(summary_table(report))
    print(f"report: {out / 'report.html'}")
    bad = [r["target"] for r in report["summary"] if r.get("verified") is False]
    if bad:
        raise VerificationFailed(f"verification failed for {', '.join(bad)}", str(out), "see the report")
    return 0


def _save_verify(export_dir: Path, result, x) -> None:
    from nrf_deploy.fileio import write_json

    write_json(export_dir / "verify-report.json",
               {**result.to_dict(), "inputs": {"samples": int(x.shape[1]), "timesteps": int(x.shape[0]),
                                               "source": "random events rate 0.1 seed 0"}})
