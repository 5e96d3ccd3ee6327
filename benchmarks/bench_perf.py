"""Every backend's throughput and the ratios of issue 16, in one interleaved run, plus the N-scaling
table (3 dense Affine->LIF layers of N neurons on Loihi). docs/performance.md holds the latest
output.

Part 1 (cnn_sinabs.nir, T steps, batch 1/16/64): for each target and batch, one round runs the
float executor and every backend once, in turn; the figure is the median of the rounds, so a
noisy neighbour slows every backend alike. Torch runs with the threads nrf-deploy would choose
(``nrf_deploy.threads``: 1 below batch 64) unless ``--threads`` is given; the float executor gets
the same count. Lava (Loihi's vendor simulator) is timed at batch 1 as a steady state: a long
minus a short run of the same network, so start-up and compilation cancel.

Part 2 (``--scaling 1024,2048,4096,8192``): per N, in subprocesses under ``/usr/bin/time -v``:
export time and peak RSS (bytes per synapse = (peak - peak of a tiny export) / synapses), verify
time (reference vs emulator, 4 samples, no witness), and reference/emulator throughput. Graphs
whose fan-in exceeds a Loihi core's 4096 input axons are refused by the mapper (the refusal's
time and memory are reported). A size is skipped when MemAvailable is below an estimate of what
it needs (the machine is shared).

Usage: ``python benchmarks/bench_perf.py [--steps 20] [--rounds 3] [--batches 1,16,64]
[--targets loihi,speck,spinnaker,onnx] [--no-lava] [--scaling 1024,2048,4096] [--threads N]``
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
FIXTURE = (
    Path(os.environ.get("NRF_FIXTURES", REPO.parent / "shared" / "fixtures")) / "cnn_sinabs.nir"
)
GOALS = {
    "ref/float time": "<= 1.5x",
    "emulator/vendor": ">= 1x (Loihi: >= 1000x Lava at batch 16)",
    "emulator/reference": ">= 0.5x",
}


def machine_load() -> str:
    load = os.getloadavg()
    mem = _meminfo()
    return (
        f"{os.cpu_count()} cores, load average {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f}, "
        f"MemAvailable {mem.get('MemAvailable', 0) / 2**30:.1f} GiB"
    )


def _meminfo() -> dict[str, int]:
    out = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        key, value = line.split(":")
        out[key] = int(value.split()[0]) * 1024
    return out


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def throughput_table(
    model: str,
    targets: list[str],
    batches: list[int],
    steps: int,
    rounds: int,
    lava: bool,
    threads: int | None,
) -> list[dict]:
    import torch
    from nrf_deploy.targets import get_target

    from nrf_deploy.inputs import random_events
    from nrf_deploy.ir import load_graph, run_float
    from nrf_deploy.threads import set_threads, threads_for
    from nrf_deploy.witness import missing

    set_threads(threads)
    graph = load_graph(model)
    rows = []
    for name in targets:
        target = get_target(name)
        options = dict(target.demo_options[0]) if target.demo_options else {}
        deployment = target.build(graph, options)
        # a vendor backend runs in its witness environment (one process per call: its times
        # include the interpreter start and the tool's import); left out when not installed
        backends = [
            b
            for b in target.backends_for(deployment)
            if (b.role != "vendor" or b.name != "lava") and not (b.env and missing(b.env))
        ]
        for batch in batches:
            x = random_events(deployment.input_shape, steps, batch, 0.1, seed=batch)
            torch.set_num_threads(threads_for(batch))
            runs = {"float executor": lambda x=x: run_float(graph, x.astype(np.float32))}
            for b in backends:
                runs[f"{b.name}"] = lambda b=b, target=target, deployment=deployment, x=x: (
                    target.run(deployment, b.name, x, record_states=False)
                )
            for fn in runs.values():  # warm-up (imports, caches)
                fn()
            times: dict[str, list[float]] = {k: [] for k in runs}
            for _ in range(rounds):
                for key, fn in runs.items():  # interleaved: one of each per round
                    times[key].append(_timed(fn))
            med = {k: statistics.median(v) for k, v in times.items()}
            roles = {b.name: b.role for b in backends}
            rows.append(
                {
                    "target": name,
                    "batch": batch,
                    "threads": threads_for(batch),
                    "sample_steps_per_s": {k: steps * batch / v for k, v in med.items()},
                    "roles": roles,
                    "seconds": med,
                }
            )
        if name == "loihi" and lava and not missing("lava"):
            rows.append(_lava_steady_state(target, deployment, steps))
    return rows


def _lava_steady_state(target, deployment, steps: int) -> dict:
    """Lava fixed_pt at batch 1: (long - short run) / extra steps, start-up cancelled."""
    from nrf_deploy.inputs import random_events

    short, long = 5, 5 + steps
    x = random_events(deployment.input_shape, long, 1, 0.1, seed=99)
    t_short = min(
        _timed(lambda: target.run(deployment, "lava", x[:short], False)) for _ in range(2)
    )
    t_long = min(_timed(lambda: target.run(deployment, "lava", x, False)) for _ in range(2))
    per_step = max(t_long - t_short, 1e-9) / (long - short)
    return {
        "target": "loihi",
        "lava_steady_sample_steps_per_s": 1 / per_step,
        "lava_whole_short_run_s": t_short,
    }


def print_throughput(rows: list[dict]) -> None:
    lava = next(
        (
            r["lava_steady_sample_steps_per_s"]
            for r in rows
            if "lava_steady_sample_steps_per_s" in r
        ),
        None,
    )
    print("\n## Throughput (sample-steps/s, median of interleaved rounds)\n")
    print(
        "| target | batch | threads | float | "
        + "backends | ref/float time | emu/ref | emu/vendor |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        if "batch" not in r:
            continue
        sps, roles = r["sample_steps_per_s"], r["roles"]
        ref = next((k for k, v in roles.items() if v == "reference"), None)
        emu = next((k for k, v in roles.items() if v == "emulator"), None)
        vendor = next((k for k, v in roles.items() if v == "vendor"), None)
        cells = ", ".join(f"{k} {v:,.0f}" for k, v in sps.items() if k != "float executor")
        ref_float = f"{r['seconds'][ref] / r['seconds']['float executor']:.2f}x" if ref else "-"
        emu_ref = f"{sps[emu] / sps[ref]:.2f}x" if emu and ref else "-"
        if emu and vendor:
            emu_vendor = f"{sps[emu] / sps[vendor]:.2f}x ({vendor})"
        elif emu and r["target"] == "loihi" and lava:
            emu_vendor = f"{sps[emu] / lava:,.0f}x (Lava steady state)"
        else:
            emu_vendor = "-"
        print(
            f"| {r['target']} | {r['batch']} | {r['threads']} | {sps['float executor']:,.0f} | "
            f"{cells} | {ref_float} | {emu_ref} | {emu_vendor} |"
        )
    if lava:
        whole = next(r["lava_whole_short_run_s"] for r in rows if "lava_whole_short_run_s" in r)
        print(
            f"\nLava fixed_pt steady state: {lava:.2f} sample-steps/s (batch 1); a whole 5-step "
            f"run incl. start-up: {whole:.1f} s"
        )
    print("\nGoals: " + "; ".join(f"{k} {v}" for k, v in GOALS.items()))


def threads_table(model: str, batches: list[int], steps: int, rounds: int) -> None:
    """The thread rule's evidence: Loihi reference and float executor at 1 thread and at every
    core, interleaved, per batch."""
    import torch
    from nrf_deploy.targets import get_target

    from nrf_deploy.inputs import random_events
    from nrf_deploy.ir import load_graph, run_float
    from nrf_deploy.threads import set_threads

    target, graph = get_target("loihi"), load_graph(model)
    deployment = target.build(graph, dict(target.demo_options[0]))
    cores = os.cpu_count() or 1
    print(f"\n## Threads: seconds per run, 1 thread vs {cores} (median of {rounds} interleaved)\n")
    print(f"| batch | float 1 | float {cores} | reference 1 | reference {cores} |")
    print("|---|---|---|---|---|")
    for batch in batches:
        x = random_events(deployment.input_shape, steps, batch, 0.1, seed=batch)
        runs = {
            "float": lambda x=x: run_float(graph, x.astype(np.float32)),
            "reference": lambda x=x: target.run(deployment, "reference", x, record_states=False),
        }
        times = {(k, n): [] for k in runs for n in (1, cores)}
        for _ in range(rounds + 1):
            for (k, n), acc in times.items():
                set_threads(n)  # Target.run applies it; run_float reads torch's
                torch.set_num_threads(n)
                acc.append(_timed(runs[k]))
        med = {key: statistics.median(v[1:]) for key, v in times.items()}  # first: warm-up
        print(
            f"| {batch} | {med[('float', 1)]:.3f} | {med[('float', cores)]:.3f} | "
            f"{med[('reference', 1)]:.3f} | {med[('reference', cores)]:.3f} |"
        )


# -- N scaling ---------------------------------------------------------------------------------

_MAKE_GRAPH = """
import sys, numpy as np
from nrf_deploy.ir import nodes as ir   # nrf-deploy's node classes (nir's fields)
from nrf_deploy.ir.write import write_nir   # writes from the arrays, no copies
n = int(sys.argv[1]); rng = np.random.default_rng(0)
nodes = {"in": ir.Input({"input": np.array([n])})}; edges, prev = [], "in"
for k in range(3):
    w = rng.standard_normal((n, n), dtype=np.float32) * np.float32(1.5 / np.sqrt(n))
    nodes[f"fc{k}"] = ir.Affine(w, np.zeros(n, np.float32))
    nodes[f"lif{k}"] = ir.LIF(tau=np.full(n, 0.02), r=np.ones(n), v_leak=np.zeros(n),
                               v_threshold=np.ones(n))
    edges += [(prev, f"fc{k}"), (f"fc{k}", f"lif{k}")]; prev = f"lif{k}"
nodes["out"] = ir.Output({"output": np.array([n])}); edges.append((prev, "out"))
write_nir(sys.argv[2], ir.NIRGraph(nodes=nodes, edges=edges))
"""

_THROUGHPUT = """
import json, sys, time, torch
from pathlib import Path
from nrf_deploy.inputs import random_events
from nrf_deploy.targets import get_target
torch.set_num_threads(1)
t = get_target("loihi"); d = t.load(Path(sys.argv[1])); out = {}
x = random_events(d.input_shape, 5, 16, 0.1, 0)
for b in ("reference", "emulator"):
    t.run(d, b, x[:1], False); s = time.perf_counter(); t.run(d, b, x, False)
    out[b] = 5 * 16 / (time.perf_counter() - s)
print(json.dumps(out))
"""


def _time_v(cmd: list[str]) -> tuple[int, float, int, str]:
    """(exit code, wall seconds, peak RSS bytes, output) of `cmd` under /usr/bin/time -v."""
    proc = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True)
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", proc.stderr)
    secs = (
        (int(wall.group(1) or 0) * 3600 + int(wall.group(2)) * 60 + float(wall.group(3)))
        if wall
        else 0
    )
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
    return proc.returncode, secs, int(rss.group(1)) * 1024 if rss else 0, proc.stdout + proc.stderr


def scaling_table(sizes: list[int]) -> list[dict]:
    py = sys.executable
    rows = []
    with tempfile.TemporaryDirectory(prefix="nrf-scaling-") as tmp:
        base_rss = None
        for n in [64, *sizes]:
            synapses = 3 * n * n
            # graph as float32 + float64 while loading, the int16/int32 program (fan-in <= 4096)
            need = synapses * (12 if n > 4096 else 18) + 2 * 2**30
            available = _meminfo().get("MemAvailable", 0)
            if n != 64 and available < need:
                rows.append(
                    {
                        "N": n,
                        "synapses": synapses,
                        "skipped": f"needs ~{need / 2**30:.0f} GiB, "
                        f"{available / 2**30:.0f} GiB available",
                    }
                )
                continue
            model, out = Path(tmp) / f"n{n}.nir", Path(tmp) / f"n{n}"
            subprocess.run([py, "-c", _MAKE_GRAPH, str(n), str(model)], check=True)
            cmd = [
                py,
                "-m",
                "nrf_deploy",
                "export",
                str(model),
                "--target",
                "loihi",
                "-o",
                str(out),
                "--loihi-chips",
                "1024",
            ]
            rc, secs, rss, text = _time_v(cmd)
            model.unlink()
            if n == 64:
                base_rss = rss
                continue
            row = {
                "N": n,
                "synapses": synapses,
                "export_s": secs,
                "peak_rss_gib": rss / 2**30,
                "bytes_per_synapse": (rss - base_rss) / synapses,
            }
            if rc != 0:
                row["refused"] = " ".join(text.split())[:160]
                rows.append(row)
                continue
            rc, secs, _, text = _time_v(
                [
                    py,
                    "-m",
                    "nrf_deploy",
                    "verify",
                    str(out),
                    "--samples",
                    "4",
                    "--witness-samples",
                    "0",
                    "--timesteps",
                    "5",
                ]
            )
            row["verify_s"] = secs
            row["verify_ok"] = rc == 0
            res = subprocess.run([py, "-c", _THROUGHPUT, str(out)], capture_output=True, text=True)
            if res.returncode == 0:
                row.update(
                    {f"{k}_sps": v for k, v in json.loads(res.stdout.splitlines()[-1]).items()}
                )
            rows.append(row)
            subprocess.run(["rm", "-rf", str(out)])
    return rows


def print_scaling(rows: list[dict]) -> None:
    print("\n## N scaling: 3 dense Affine->LIF layers of N neurons, Loihi\n")
    print(
        "| N | synapses | export s | peak RSS GiB | bytes/synapse | verify s | "
        "reference sample-steps/s | emulator sample-steps/s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        if "skipped" in r:
            print(f"| {r['N']} | {r['synapses']:,} | skipped: {r['skipped']} | | | | | |")
            continue
        if "refused" in r:
            print(
                f"| {r['N']} | {r['synapses']:,} | {r['export_s']:.1f} (refused) | "
                f"{r['peak_rss_gib']:.2f} | {r['bytes_per_synapse']:.1f} | - | - | - |"
            )
            continue
        print(
            f"| {r['N']} | {r['synapses']:,} | {r['export_s']:.1f} | {r['peak_rss_gib']:.2f} | "
            f"{r['bytes_per_synapse']:.1f} | {r['verify_s']:.1f}"
            f"{'' if r['verify_ok'] else ' FAILED'}"
            f" | {r.get('reference_sps', 0):,.0f} | {r.get('emulator_sps', 0):,.0f} |"
        )
    for r in rows:
        if "refused" in r:
            print(f"\nN = {r['N']}: {r['refused']}")
            break


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=str(FIXTURE))
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--batches", default="1,16,64")
    p.add_argument("--targets", default="loihi,speck,spinnaker,onnx")
    p.add_argument("--no-lava", action="store_true")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument(
        "--threads-compare",
        action="store_true",
        help="also time 1 thread against every core (the --threads rule's evidence)",
    )
    p.add_argument(
        "--scaling", default="1024,2048,4096,8192", help="comma-separated N ('' to skip)"
    )
    args = p.parse_args(argv)
    print(
        f"# bench_perf  {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n"
        f"machine: {machine_load()}"
    )
    print(f"model: {args.model}, {args.steps} steps, {args.rounds} interleaved rounds")
    if args.targets:
        rows = throughput_table(
            args.model,
            args.targets.split(","),
            [int(b) for b in args.batches.split(",")],
            args.steps,
            args.rounds,
            not args.no_lava,
            args.threads,
        )
        print_throughput(rows)
    if args.threads_compare:
        from nrf_deploy.threads import set_threads

        set_threads(None)
        threads_table(
            args.model, [int(b) for b in args.batches.split(",")], args.steps, args.rounds
        )
    if args.scaling:
        print_scaling(scaling_table([int(n) for n in args.scaling.split(",")]))
    print(f"\nmachine at the end: {machine_load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
