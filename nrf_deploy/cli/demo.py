"""``nrf-deploy demo -o DIR``: the whole job on built-in defaults, the README's main command.

1. generate shape events and train the small RF-SNN (``nrf_deploy.training``; skipped with
   ``--model PATH``, which deploys an existing .nir instead);
2. export the model to every registered target; a target that refuses it gets its message in the
   report instead of stopping the demo. When a target refuses the plain export and documents an
   opt-in for that case (the target's ``demo_options``, e.g. a host read-out), the demo
   retries with it; the export's sidecar and the report record what was used;
3. verify each export bit for bit on held-out data (reference vs emulator vs, on fewer samples,
   the vendor simulator) and write its ``verify-report.json``;
4. write ``DIR/report.html`` and ``DIR/report.json`` from the verification runs (no second run).

Progress bars (tqdm) show each stage on an interactive terminal; in a log each stage prints a
timestamped line, at least every 20 s (``nrf_deploy.progress``); ``--quiet`` silences both. Exit
code 1 if a verification
fails, 0 otherwise (refusals are results, not failures).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING

from nrf_deploy.errors import NrfError, VerificationFailed

if TYPE_CHECKING:
    import numpy as np


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="train, export to every target, verify and report, in one go",
        description="The README's main command: generate events, train the small RF-SNN, export "
        "it to every registered target, verify each export bit for bit on held-out "
        "data and write DIR/report.html + report.json. Within 15 minutes on 2 cores "
        "on the defaults.",
    )
    p.add_argument(
        "-o",
        "--output",
        required=True,
        help="output directory (run/, exports/<target>/, report.html)",
    )
    p.add_argument(
        "--config",
        default="small",
        choices=["tiny", "small"],
        help="training preset (small: the RF-SNN of the report; tiny: a smoke test)",
    )
    p.add_argument("--model", default=None, help="skip training and deploy this .nir file instead")
    p.add_argument(
        "--samples",
        type=int,
        default=8,
        help="held-out samples run on every target (default 8): verification and every figure of "
        "the report use them",
    )
    p.add_argument(
        "--witness-samples",
        type=int,
        default=1,
        help="of those, samples also run on the vendor simulators (Lava, sinabs; default 1)",
    )
    p.add_argument(
        "--timesteps",
        type=int,
        default=None,
        help="timesteps per sample (default: the held-out data's frames, or 20 for --model)",
    )
    p.add_argument(
        "--targets",
        default=None,
        help="comma-separated subset of targets (default: all registered)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from nrf_deploy.progress import progress_bar, stage
    from nrf_deploy.targets import target_names

    out = Path(args.output)
    if args.samples < 1 or args.witness_samples < 0:
        raise NrfError(
            "--samples must be >= 1 and --witness-samples >= 0", "--samples", "give sensible counts"
        )
    names = _chosen_targets(args.targets, target_names())
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    stages = progress_bar(2 + 2 * len(names), "demo", "stage", position=0)

    stages.set_postfix_str("data + training")
    stage(
        "demo: generating events and training the RF-SNN"
        if not args.model
        else f"demo: deploying {args.model}"
    )
    model, x, labels, source, warmup = _model_and_data(args, out)
    stages.update()
    exported, failures, traces = [], {}, {}
    for name in names:
        stages.set_postfix_str(f"export {name}")
        stage(f"demo: exporting to {name}")
        refusal = _export(model, name, out / "exports" / name)
        if refusal:
            failures[name] = refusal
            stage(f"{name}: not deployed — {refusal.splitlines()[0]}")
            stages.update(2)
            continue
        stages.update()
        stages.set_postfix_str(f"verify {name}")
        stage(f"demo: verifying {name} on {_plural(x.shape[1], 'sample')}")
        result = _verify(name, out / "exports" / name, x, args.witness_samples, source)
        traces[str(out / "exports" / name)] = result.traces
        stage(f"{name}:\n{result.summary()}")
        exported.append(out / "exports" / name)
        stages.update()

    from nrf_deploy.report import build_report, summary_table

    stages.set_postfix_str("report")
    stage(f"demo: writing the report ({_plural(len(exported), 'export')})")
    bar = progress_bar(len(exported), "report", "export", leave=False, position=1)
    report = build_report(
        exported,
        out / "report.html",
        x=x,
        labels=labels,
        failures=failures,
        model_name=str(model),
        input_source=source,
        traces=traces,
        warmup=warmup,
        progress=lambda _name: bar.update(),
    )
    bar.close()
    stages.update()
    stages.close()
    print(summary_table(report))
    print(
        f"report: {out / 'report.html'} (and report.json); demo took "
        f"{time.perf_counter() - started:.0f} s"
    )
    bad = [r["target"] for r in report["summary"] if r.get("verification_status") == "mismatch"]
    if bad:
        raise VerificationFailed(
            f"verification failed for {', '.join(sorted(set(bad)))}",
            str(out),
            "see the report's verification rows and each export's verify-report.json",
        )
    return 0


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _chosen_targets(selection: str | None, registered: list[str]) -> list[str]:
    if not selection:
        return list(registered)
    names = [n.strip() for n in selection.split(",") if n.strip()]
    unknown = [n for n in names if n not in registered]
    if unknown:
        raise NrfError(
            f"unknown target(s): {', '.join(unknown)}",
            "--targets",
            f"choose from {', '.join(registered)}",
        )
    return names


def _model_and_data(
    args: argparse.Namespace, out: Path
) -> tuple[Path, np.ndarray, np.ndarray | None, str, int | None]:
    """(model path, inputs [T, B, ...], labels or None, description of the inputs, warm-up frames
    excluded from the task metric)."""
    import numpy as np

    if args.model:
        from nrf_deploy.inputs import random_events
        from nrf_deploy.ir import load_graph

        model = Path(args.model)
        graph = load_graph(model)  # a clear NrfError for a missing or invalid file
        steps = args.timesteps or 20
        return (
            model,
            random_events(graph.input_shape, steps, args.samples, 0.1, 0),
            None,
            f"random events, rate 0.1, seed 0 ({args.samples} samples x {steps} steps)",
            None,
        )
    from nrf_deploy.training import train, train_config

    metrics = train(train_config(args.config), out / "run", progress=True)
    data = np.load(out / "run" / "test_data.npz")
    held_out = int(data["events"].shape[1])
    print(
        f"trained the RF-SNN ({args.config}) in {metrics['train_seconds']:.0f} s: median l2 error "
        f"{metrics['median_l2_px']:.2f} px over all {_plural(held_out, 'held-out sample')} "
        f"(float model in torch; guessing the centre: {metrics['centre_guess_px']:.2f} px). The "
        "chips "
        f"run the first {_plural(min(args.samples, held_out), 'sample')} (--samples), so the "
        "report's figures are over those."
    )
    steps = args.timesteps or data["events"].shape[0]
    x = data["events"][:steps, : args.samples].astype(np.int64)
    labels = data["centres"][:steps, : args.samples]
    return (
        out / "run" / "model.nir",
        x,
        labels,
        (
            f"held-out generated shapes ({x.shape[1]} samples x {x.shape[0]} frames, "
            "run/test_data.npz)"
        ),
        int(metrics["train"]["warmup"]),
    )


def _export(model: Path, name: str, out_dir: Path) -> str | None:
    """Export with each of the target's attempts in turn; None on success, else every refusal."""
    from nrf_deploy.exporting import export
    from nrf_deploy.targets import get_target

    try:
        target = get_target(name)
    except NrfError as exc:
        return exc.format()
    parser = argparse.ArgumentParser(add_help=False)
    target.add_export_arguments(parser)
    known = {a.dest for a in parser._actions}
    # each target's demo_options, tried in order; options its exporter does not declare are skipped
    attempts = [o for o in target.demo_options if set(o) <= known] or [{}]
    messages = []
    for options in attempts:
        try:
            export(model, name, out_dir, options)
            return None
        except NrfError as exc:
            flags = " ".join(
                f"--{k.replace('_', '-')}" + ("" if v is True else f" {v}")
                for k, v in options.items()
            )
            messages.append((f"with {flags}: " if flags else "") + exc.format())
    return "\n".join(messages)


def _verify(name: str, export_dir: Path, x: np.ndarray, witness_samples: int, source: str):
    from nrf_deploy.fileio import write_json
    from nrf_deploy.progress import progress_bar
    from nrf_deploy.seal import load_export
    from nrf_deploy.verify import verify_deployment

    loaded = load_export(export_dir)
    target, deployment = loaded.target, loaded.deployment
    witness = target.witness_for(deployment)
    total = x.shape[1] * (len(target.backend_names(deployment)) - (1 if witness else 0)) + (
        min(witness_samples, x.shape[1]) if witness else 0
    )
    bar = progress_bar(total, f"verify {name}", "sample", leave=False, position=1)
    result = verify_deployment(
        target, deployment, x, witness_samples, progress=lambda _b, n: bar.update(n)
    )
    bar.close()
    write_json(
        export_dir / "verify-report.json",
        result.record(
            loaded.seal.digest,
            None,
            {"samples": int(x.shape[1]), "timesteps": int(x.shape[0]), "source": source},
            [str(a) for a in deployment.sidecar.get("approximations") or []],
        ),
    )
    return result
