"""Export a fixed set of models to every target with the nrf-deploy of the interpreter that runs
this script, so that two stacks (e.g. the retired Python 3.10 / numpy 1 / nir 1.0.4 one and the
current one) can be compared file by file with scripts/compare_exports.py.

    python scripts/export_set.py OUT_DIR [--fixture cnn_sinabs.nir] [--model model.nir]
        [--gesture model.nir] [--interop tests/fixtures/interop]
        [--onnx cnn.onnx --calibration cal.npy]

Writes under OUT_DIR (every path relative to it, so the two sets record the same option values):
``fixture/<target>`` (the fixture on every target; ``onnx-integer`` = the ONNX integer model of
the Speck export), ``model/<target>[-<options>]`` and ``gesture/<target>[-<options>]`` (a
trained RF-SNN and gesture CNN with each of the target's demo options),
``interop/<fixture>/<target>`` (each interop fixture on Loihi and on Xylo), ``convert/cnn.nir`` +
its exports, and ``refusals.txt`` (exit code and message of every export a target refused).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

TARGETS = ("loihi", "speck", "spinnaker", "onnx", "xylo")
DEMO_OPTIONS: dict[str, tuple[tuple[str, ...], ...]] = {
    "loihi": (("--loihi-chips", "4"),),
    "speck": (
        (),
        ("--speck-host-readout",),
        ("--speck-lif-as-if",),
        ("--speck-lif-as-if", "--speck-host-readout"),
    ),
}
"""Each target's ``demo_options`` (targets/*/__init__.py) as flags; others export with none."""


def nrf(args: list[str], out: Path, log: list[str], label: str) -> bool:
    """Run ``python -m nrf_deploy ARGS`` in `out`; record a refusal in `log`."""
    done = subprocess.run(
        [sys.executable, "-m", "nrf_deploy", *args],
        check=False,
        cwd=out,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        message = (done.stdout + done.stderr).strip()
        log.append(f"{label}: exit {done.returncode}:\n{message}\n")
    print(f"{label}: exit {done.returncode}", flush=True)
    return done.returncode == 0


def export(model: Path, target: str, rel: str, flags: tuple[str, ...], out: Path, log: list[str]):
    return nrf(["export", str(model), "--target", target, "-o", rel, "-q", *flags], out, log, rel)


def suffix(flags: tuple[str, ...]) -> str:
    return "".join("-" + f.removeprefix("--") for f in flags if f.startswith("--"))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    p.add_argument("--fixture", type=Path, help="the shared fixture cnn_sinabs.nir")
    p.add_argument("--model", type=Path, help="a trained RF-SNN's model.nir")
    p.add_argument("--gesture", type=Path, help="a trained gesture CNN's model.nir")
    p.add_argument("--interop", type=Path, help="folder of interop .nir fixtures (Loihi, Xylo)")
    p.add_argument("--onnx", type=Path, help="a ReLU CNN for `convert`")
    p.add_argument("--calibration", type=Path, help="calibration inputs for `convert`")
    a = p.parse_args()
    out = a.out.resolve()
    out.mkdir(parents=True, exist_ok=False)
    log: list[str] = []
    if a.fixture:
        for t in TARGETS:
            export(a.fixture.resolve(), t, f"fixture/{t}", (), out, log)
        if (out / "fixture/speck").is_dir():
            flags = ("--onnx-integer-from", "fixture/speck")
            export(a.fixture.resolve(), "onnx", "fixture/onnx-integer", flags, out, log)
    for model, folder in ((a.model, "model"), (a.gesture, "gesture")):
        for t in TARGETS if model else ():
            for flags in DEMO_OPTIONS.get(t, ((),)):
                export(model.resolve(), t, f"{folder}/{t}{suffix(flags)}", flags, out, log)
    if a.interop:
        for f in sorted(a.interop.resolve().glob("*.nir")):
            for t in ("loihi", "xylo"):
                export(f, t, f"interop/{f.stem}/{t}", (), out, log)
    if a.onnx and a.calibration:
        (out / "convert").mkdir()
        args = ["convert", str(a.onnx.resolve()), "--calibration", str(a.calibration.resolve())]
        args += ["-o", "convert/cnn.nir", "--write-input", "convert/x_t.npy", "-q"]
        if nrf(args, out, log, "convert/cnn.nir"):
            for t in ("loihi", "spinnaker", "onnx"):
                export(Path("convert/cnn.nir"), t, f"convert/{t}", (), out, log)
    (out / "refusals.txt").write_text("".join(line + "\n" for line in log))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
