"""A committed bad-input corpus (issue 13): tampered exports, traversal, forged or stale reports,
``-o`` hazards, unrepresentable values, former exit-3 cases, and interrupts.

Every case asserts the exit code, the message's shape (``error: ...`` with ``where:`` and
``what to do:``, no traceback) and, for the commands that write, that no file outside the
output path changed. Tiny graphs from tests/graphs.py, in-process ``main([...])`` calls; only the
interrupt cases start a subprocess.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from graphs import lif_chain

from nrf_deploy.cli import main
from nrf_deploy.ir import nodes as ir
from nrf_deploy.ir.write import write_nir

REPO = Path(__file__).resolve().parents[1]
FAST_VERIFY = ["--samples", "3", "--witness-samples", "0", "--timesteps", "5"]


# --- helpers ----------------------------------------------------------------------------------


def snapshot(root: Path, skip: Path | None = None) -> dict[str, str]:
    """sha256 of every file under `root` (links recorded by target), except under `skip`."""
    out = {}
    for path in sorted(root.rglob("*")):
        if skip is not None and (path == skip or skip in path.parents):
            continue
        if path.is_symlink():
            out[str(path)] = "link:" + os.readlink(path)
        elif path.is_file():
            out[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            out[str(path)] = "dir"
    return out


def refused(capsys, argv: list[str], *needles: str, code: int = 2) -> str:
    """Run the CLI, require exit `code` and one well-formed error naming every needle."""
    assert main(argv) == code
    err = capsys.readouterr().err
    assert "Traceback" not in err and "internal error" not in err, err
    assert err.count("error: ") == 1 and "\n  where: " in err and "\n  what to do: " in err, err
    for needle in needles:
        assert needle in err, (needle, err)
    return err


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("model") / "chain.nir"
    write_nir(path, lif_chain(3, 4))
    return path


@pytest.fixture(scope="module")
def sealed(tmp_path_factory, model) -> Path:
    """A verified Loihi export of the tiny graph, copied fresh by `export_dir` for each test."""
    out = tmp_path_factory.mktemp("sealed") / "loihi"
    assert main(["export", str(model), "--target", "loihi", "-o", str(out)]) == 0
    assert main(["verify", str(out), *FAST_VERIFY]) == 0
    return out


@pytest.fixture
def export_dir(sealed, tmp_path) -> Path:
    import shutil

    out = tmp_path / "work" / "loihi"
    shutil.copytree(sealed, out)
    return out


# --- 2. sealed exports: tampers ---------------------------------------------------------------


def _zero_weights(npz: Path) -> None:
    data = dict(np.load(npz))
    data = {k: np.zeros_like(v) if "data" in k or "weight" in k else v for k, v in data.items()}
    with open(npz, "wb") as fh:
        np.savez(fh, **data)


def _edit_sidecar(path: Path, key: str, value) -> None:
    data = json.loads(path.read_text())
    data[key] = value
    path.write_text(json.dumps(data))


TAMPERS = {
    "program.npz zeroed": ("program.npz", lambda d: _zero_weights(d / "program.npz")),
    "deploy.json dt": ("deploy.json", lambda d: _edit_sidecar(d / "deploy.json", "dt", 0.5)),
    "deploy.json timesteps": (
        "deploy.json",
        lambda d: _edit_sidecar(d / "deploy.json", "timesteps", 7),
    ),
    "chip file byte": (
        "model.q.nir",
        lambda d: d.joinpath("model.q.nir").write_bytes(
            d.joinpath("model.q.nir").read_bytes() + b"\0"
        ),
    ),
    "README edited": ("README.md", lambda d: d.joinpath("README.md").write_text("edited")),
    "file missing": ("missing: source.nir", lambda d: d.joinpath("source.nir").unlink()),
    "file extra": ("extra: evil.py", lambda d: d.joinpath("evil.py").write_text("x")),
}


@pytest.mark.parametrize("case", sorted(TAMPERS))
def test_a_tampered_export_is_refused_by_every_command(case, export_dir, tmp_path, capsys):
    named, tamper = TAMPERS[case]
    tamper(export_dir)
    before = snapshot(tmp_path)
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((3, 1, 3), np.int64))
    before = snapshot(tmp_path)
    refused(
        capsys, ["verify", str(export_dir), *FAST_VERIFY], "modified", named, "--allow-modified"
    )
    refused(
        capsys,
        ["run", str(export_dir), "--input", str(x), "-o", str(tmp_path / "o.npz")],
        "modified",
        named,
    )
    refused(
        capsys,
        ["report", str(export_dir), "-o", str(tmp_path / "r.html"), "--samples", "1"],
        "modified",
        named,
    )
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    "target,chip_file",
    [
        ("speck", "chip_config.json"),
        ("spinnaker", "connections.npz"),
        ("spinnaker", "run_pynn.py"),
        ("onnx", "model.onnx"),
    ],
)
def test_editing_a_chip_file_of_any_target_is_refused(target, chip_file, tmp_path, capsys):
    from test_speck_graphs import chain

    graph = chain([{"out": 2}], in_shape=(1, 6, 6)) if target == "speck" else lif_chain(3, 4)
    write_nir(tmp_path / "m.nir", graph)
    out = tmp_path / target
    assert main(["export", str(tmp_path / "m.nir"), "--target", target, "-o", str(out)]) == 0
    path = out / chip_file
    path.write_bytes(path.read_bytes().replace(b"1", b"2", 1) + b" ")
    refused(capsys, ["verify", str(out), *FAST_VERIFY], f"changed: {chip_file}")


def test_allow_modified_runs_and_says_so_everywhere(export_dir, tmp_path, capsys):
    _edit_sidecar(export_dir / "deploy.json", "timesteps", 6)
    assert main(["verify", str(export_dir), *FAST_VERIFY, "--allow-modified"]) == 0
    cap = capsys.readouterr()
    assert "MODIFIED" in cap.err and "MODIFIED" in cap.out and "changed: deploy.json" in cap.err
    record = json.loads((export_dir / "verify-report.json").read_text())
    assert record["modified"] == "changed: deploy.json"
    html = tmp_path / "r.html"
    assert (
        main(["report", str(export_dir), "-o", str(html), "--samples", "1", "--allow-modified"])
        == 0
    )
    out = capsys.readouterr().out
    report = json.loads(html.with_suffix(".json").read_text())
    assert report["targets"][0]["verification"]["status"] == "modified"
    assert "modified" in out and "verified " not in out.split("\n", 2)[2]
    assert "modified" in html.read_text()


def test_the_seal_names_a_symlink_and_refuses_it(export_dir, tmp_path, capsys):
    (tmp_path / "elsewhere.txt").write_text("outside")
    (export_dir / "link.txt").symlink_to(tmp_path / "elsewhere.txt")
    refused(capsys, ["verify", str(export_dir), *FAST_VERIFY], "link.txt", "not a plain file")


def test_rebuild_is_byte_identical_and_names_a_differing_file(export_dir, capsys):
    assert main(["verify", str(export_dir), *FAST_VERIFY, "--rebuild"]) == 0
    assert "byte-identical" in capsys.readouterr().out
    # a consistent forgery: program.npz changed and the manifest rewritten to match it
    from nrf_deploy.seal import MANIFEST_KEY, seal_export

    _zero_weights(export_dir / "program.npz")
    options = json.loads((export_dir / "deploy.json").read_text())[MANIFEST_KEY]["options"]
    seal_export(export_dir, None, options)
    refused(
        capsys,
        ["verify", str(export_dir), *FAST_VERIFY, "--rebuild"],
        "different artefacts",
        "program.npz",
    )


# --- 2. file references inside an export ------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["../evil.nir", "/etc/passwd", "sub/host_0.nir", "..", "", None, "a\\..\\b"]
)
def test_file_references_must_be_plain_names_inside_the_export(name, tmp_path):
    from nrf_deploy.errors import NrfError
    from nrf_deploy.seal import file_in_export

    with pytest.raises(NrfError, match="not a plain name inside the export"):
        file_in_export(tmp_path, name, "deploy.json host_readout")
    assert file_in_export(tmp_path, "host_0.nir", "x") == tmp_path / "host_0.nir"


def test_speck_host_readout_pointing_outside_is_refused_even_when_allowed(tmp_path, capsys):
    """Also item 5: a valid Speck graph without dt metadata under --speck-host-readout exports."""
    from nrf_deploy.exporters.nir import export_rf_snn

    from nrf_deploy.models.rf_snn import CONFIGS, RFSNN

    graph = export_rf_snn(RFSNN(CONFIGS["tiny"]))
    graph.metadata = {k: v for k, v in (graph.metadata or {}).items() if k != "dt"}
    path = tmp_path / "nodt.nir"
    write_nir(path, graph)
    out = tmp_path / "speck"
    assert (
        main(
            [
                "export",
                str(path),
                "--target",
                "speck",
                "-o",
                str(out),
                "--speck-lif-as-if",
                "--speck-host-readout",
            ]
        )
        == 0
    )
    capsys.readouterr()
    write_nir(tmp_path / "evil.nir", graph)
    data = json.loads((out / "deploy.json").read_text())
    data["host_readout"][0]["file"] = "../evil.nir"
    (out / "deploy.json").write_text(json.dumps(data))
    refused(capsys, ["verify", str(out), *FAST_VERIFY], "modified")
    refused(
        capsys,
        ["verify", str(out), *FAST_VERIFY, "--allow-modified"],
        "'../evil.nir'",
        "not a plain name inside the export",
    )


def test_onnx_integer_source_must_be_sealed_and_inside_the_export(tmp_path, capsys):
    from test_speck_graphs import chain

    path = tmp_path / "c.nir"
    write_nir(path, chain([{"out": 2}], in_shape=(1, 6, 6)))
    speck, onnx_dir = tmp_path / "speck", tmp_path / "onnx"
    assert main(["export", str(path), "--target", "speck", "-o", str(speck)]) == 0
    argv = [
        "export",
        str(path),
        "--target",
        "onnx",
        "-o",
        str(onnx_dir),
        "--onnx-integer-from",
        str(speck),
    ]
    assert main(argv) == 0
    data = json.loads((onnx_dir / "deploy.json").read_text())
    data["integer_source"]["dir"] = "../speck"
    (onnx_dir / "deploy.json").write_text(json.dumps(data))
    capsys.readouterr()
    refused(
        capsys,
        ["verify", str(onnx_dir), *FAST_VERIFY, "--allow-modified"],
        "'../speck'",
        "not a plain name inside the export",
    )
    _edit_sidecar(speck / "deploy.json", "timesteps", 3)
    refused(
        capsys,
        argv[:4] + ["-o", str(tmp_path / "onnx2")] + argv[6:],
        "modified",
        "changed: deploy.json",
    )
    assert not (tmp_path / "onnx2").exists()


# --- 3. verification results bound to the export ----------------------------------------------


def _status(export_dir: Path) -> str:
    from nrf_deploy.deployment import read_sidecar
    from nrf_deploy.report import _verification
    from nrf_deploy.seal import check_export

    return _verification(export_dir, check_export(export_dir, read_sidecar(export_dir)))["status"]


def test_report_trusts_only_a_verification_of_these_very_files(export_dir, model, tmp_path):
    assert _status(export_dir) == "verified"
    real = (export_dir / "verify-report.json").read_text()
    forged = {"ok": True}
    (export_dir / "verify-report.json").write_text(json.dumps(forged))
    assert _status(export_dir) == "not verified"
    unbound = {k: v for k, v in json.loads(real).items() if k != "manifest_sha256"}
    (export_dir / "verify-report.json").write_text(json.dumps(unbound))
    assert _status(export_dir) == "stale"
    inconsistent = {**json.loads(real), "comparisons": []}
    (export_dir / "verify-report.json").write_text(json.dumps(inconsistent))
    assert _status(export_dir) == "not verified"
    (export_dir / "verify-report.json").unlink()
    assert _status(export_dir) == "not verified"
    # a report copied from another export (same graph, other options) is stale
    other = tmp_path / "other"
    assert (
        main(["export", str(model), "--target", "loihi", "-o", str(other), "--timesteps", "9"]) == 0
    )
    (other / "verify-report.json").write_text(real)
    assert _status(other) == "stale"
    # a leftover from before a re-export (into the same path, with other options) is stale
    assert (
        main(
            ["export", str(model), "--target", "loihi", "-o", str(export_dir), "--timesteps", "11"]
        )
        == 0
    )
    assert not (export_dir / "verify-report.json").exists()
    (export_dir / "verify-report.json").write_text(real)
    assert _status(export_dir) == "stale"


def test_the_report_command_shows_the_status_word(export_dir, tmp_path, capsys):
    (export_dir / "verify-report.json").write_text(json.dumps({"ok": True}))
    html = tmp_path / "r.html"
    assert main(["report", str(export_dir), "-o", str(html), "--samples", "1"]) == 0
    out = capsys.readouterr().out
    assert "not verified" in out and "not verified" in html.read_text()
    assert "bit-exact" not in html.read_text().split("<h2", 1)[0]


# --- 4. output paths that never lose data ------------------------------------------------------


def test_o_refuses_a_folder_that_is_not_a_previous_export(model, tmp_path, capsys):
    user = model.parent / "mine.txt"
    user.write_text("precious")
    before = snapshot(model.parent)
    refused(
        capsys,
        ["export", str(model), "--target", "loihi", "-o", str(model.parent)],
        "non-empty directory that is not an nrf-deploy export",
    )
    refused(
        capsys,
        ["export", str(model), "--target", "loihi", "-o", str(model)],
        "exists and is not a directory",
    )
    assert snapshot(model.parent) == before
    user.unlink()


def test_o_keeps_a_users_dot_old_folder_and_replaces_only_exports(export_dir, model, capsys):
    parent = export_dir.parent
    mine = parent / f".{export_dir.name}.old"
    mine.mkdir()
    (mine / "keep.txt").write_text("mine")
    empty = parent / "empty"
    empty.mkdir()
    before = snapshot(parent, skip=export_dir)
    assert main(["export", str(model), "--target", "loihi", "-o", str(export_dir)]) == 0
    assert main(["export", str(model), "--target", "loihi", "-o", str(empty)]) == 0
    assert snapshot(parent, skip=export_dir) == {
        **before,
        **{k: v for k, v in snapshot(parent).items() if k.startswith(str(empty))},
    }
    assert (mine / "keep.txt").read_text() == "mine"
    assert "not removed" in capsys.readouterr().err  # reported, never deleted
    assert sorted(p.name for p in parent.iterdir()) == sorted([export_dir.name, mine.name, "empty"])


def test_run_and_report_refuse_an_output_that_is_an_input(export_dir, tmp_path, capsys):
    x = tmp_path / "x.npz"
    np.savez(x, x=np.zeros((3, 1, 3), np.int64))
    before = snapshot(tmp_path)
    refused(
        capsys, ["run", str(export_dir), "--input", str(x), "-o", str(x)], "lies inside the input"
    )
    refused(
        capsys,
        ["run", str(export_dir), "--input", str(x), "-o", str(export_dir / "o.npz")],
        "lies inside the input",
    )
    refused(
        capsys,
        ["report", str(export_dir), "-o", str(export_dir / "r.html")],
        "lies inside the input",
    )
    refused(
        capsys,
        ["report", str(export_dir), "--input", str(x), "-o", str(tmp_path / "x.npz")],
        "lies inside the input",
    )
    refused(
        capsys, ["verify", str(export_dir), "--report", str(export_dir / "program.npz")], "--report"
    )
    assert snapshot(tmp_path) == before


def test_debris_of_a_killed_run_is_cleaned_or_restored(model, tmp_path, capsys):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    out = tmp_path / "out"
    tmp = tmp_path / f".out.nrf-tmp.{dead.pid}.abc123"
    (tmp / "half").mkdir(parents=True)
    alive = tmp_path / f".out.nrf-tmp.{os.getpid()}.zzz"  # a running process's: left alone
    alive.mkdir()
    backup = tmp_path / f".out.nrf-old.{dead.pid}.def456"
    assert main(["export", str(model), "--target", "loihi", "-o", str(backup)]) == 0
    capsys.readouterr()
    # killed between the two renames: the export is only in the backup; the next run restores it
    assert main(["export", str(model), "--target", "onnx", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "restored" in err and "removed" in err
    assert not tmp.exists() and not backup.exists() and alive.exists()
    assert json.loads((out / "deploy.json").read_text())["target"] == "onnx"


def test_output_under_a_file_is_exit_2(model, tmp_path, capsys):
    (tmp_path / "f").write_text("a file")
    refused(
        capsys,
        ["export", str(model), "--target", "loihi", "-o", str(tmp_path / "f" / "o")],
        "cannot create the folder",
    )
    np.save(tmp_path / "x.npy", np.zeros((3, 1, 3)))
    refused(
        capsys,
        [
            "run",
            str(model),
            "--input",
            str(tmp_path / "x.npy"),
            "-o",
            str(tmp_path / "f" / "o.npz"),
        ],
        "cannot create the folder",
    )


def test_unwritable_output_folder_is_exit_2(model, tmp_path, capsys):
    if os.geteuid() == 0:
        pytest.skip("root ignores permissions")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        refused(
            capsys,
            ["export", str(model), "--target", "loihi", "-o", str(locked / "o")],
            "permission denied",
        )
    finally:
        locked.chmod(0o700)


# --- 5. refuse what cannot be represented ------------------------------------------------------


@pytest.mark.parametrize("dt", ["nan", "-0.001", "0", "inf"])
def test_dt_must_be_finite_and_positive(dt, model, tmp_path, capsys):
    refused(
        capsys,
        ["export", str(model), "--target", "loihi", "-o", str(tmp_path / "o"), "--dt", dt],
        "not a finite number > 0",
        "--dt",
    )
    assert not (tmp_path / "o").exists()


def test_dt_metadata_must_be_finite_and_positive(tmp_path, capsys):
    graph = lif_chain()
    graph.metadata = {"dt": -1.0}
    write_nir(tmp_path / "m.nir", graph)
    refused(
        capsys,
        ["export", str(tmp_path / "m.nir"), "--target", "onnx", "-o", str(tmp_path / "o")],
        "metadata 'dt'",
    )


@pytest.mark.parametrize(
    "argv,needle",
    [
        (
            ["export", "{m}", "--target", "loihi", "-o", "{t}/o", "--loihi-chips", "0"],
            "--loihi-chips",
        ),
        (["export", "{m}", "--target", "loihi", "-o", "{t}/o", "--timesteps", "0"], "--timesteps"),
        (["verify", "{e}", "--samples", "0"], "--samples"),
        (["verify", "{e}", "--timesteps", "-3"], "--timesteps"),
        (["verify", "{e}", "--seed", "-1"], "--seed"),
        (["verify", "{e}", "--witness-samples", "-1"], "--witness-samples"),
        (["verify", "{e}", "--rate", "nan"], "--rate"),
        (["verify", "{e}", "--samples", "1000000000"], "GiB"),
        (["report", "{e}", "--samples", "0", "-o", "{t}/r.html"], "--samples"),
        (["report", "{e}", "--seed", "-2", "-o", "{t}/r.html"], "--seed"),
    ],
)
def test_counts_are_refused_before_allocating(argv, needle, model, export_dir, tmp_path, capsys):
    argv = [a.format(m=model, t=tmp_path, e=export_dir) for a in argv]
    before = snapshot(tmp_path)
    refused(capsys, argv, needle)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("shape", [(0, 1, 3), (3, 0, 3)])
def test_empty_inputs_are_refused(shape, export_dir, tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros(shape, np.int64))
    refused(
        capsys,
        ["run", str(export_dir), "--input", str(tmp_path / "x.npy"), "-o", str(tmp_path / "o.npz")],
        "at least 1",
    )
    refused(capsys, ["verify", str(export_dir), "--input", str(tmp_path / "x.npy")], "at least 1")


def test_run_output_that_is_a_directory_is_exit_2(model, tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((3, 1, 3)))
    (tmp_path / "d.npz").mkdir()
    refused(
        capsys,
        ["run", str(model), "--input", str(tmp_path / "x.npy"), "-o", str(tmp_path / "d.npz")],
        "is a directory",
    )


@pytest.mark.parametrize("target", ["loihi", "spinnaker"])
def test_weights_that_all_quantise_to_zero_are_refused_unless_allowed(target, tmp_path, capsys):
    graph = lif_chain(3, 4)
    nodes = dict(graph.nodes)
    big = np.zeros((4, 4))
    big[0, 0] = 1.0
    nodes["fc"] = ir.Affine(np.full((4, 3), 1e-12), np.zeros(4))
    nodes["rec"] = ir.Linear(big)  # keeps the threshold scale large
    graph = ir.NIRGraph(nodes=nodes, edges=graph.edges + [("lif", "rec"), ("rec", "lif")])
    write_nir(tmp_path / "tiny.nir", graph)
    argv = ["export", str(tmp_path / "tiny.nir"), "--target", target, "-o", str(tmp_path / "o")]
    refused(capsys, argv, "every weight of this projection into 0", "--allow-zero-weights")
    assert not (tmp_path / "o").exists()
    assert main(argv + ["--allow-zero-weights"]) == 0


def test_declared_sizes_beyond_memory_are_refused_before_reading(tmp_path, capsys):
    path = tmp_path / "huge.nir"
    write_nir(path, lif_chain(3, 4))
    with h5py.File(path, "r+") as f:  # a Linear of 100000 x 100000, never written
        group = f["node/nodes/fc"]
        del group["weight"]
        group.create_dataset(
            "weight", shape=(100000, 100000), dtype="f4", chunks=(1000, 1000), compression="gzip"
        )
    assert path.stat().st_size < 1 << 20
    err = refused(
        capsys,
        ["export", str(path), "--target", "onnx", "-o", str(tmp_path / "o")],
        "GiB",
        "100000",
    )
    assert "fc/weight" in err


# --- 4. interrupts (subprocess) ----------------------------------------------------------------


def _cli(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "nrf_deploy", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("delay", [0.6, 1.5])
def test_ctrl_c_at_start_up_or_during_export_is_one_line_and_exit_130(delay, model, tmp_path):
    """SIGINT while the CLI imports torch & co (start-up) or exports: one line, exit 130."""
    out = tmp_path / "o"
    proc = _cli("export", str(model), "--target", "loihi", "-o", str(out))
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.skip("the export finished before the signal")
    if "init_import_site" in err:  # Python's own start-up, before any nrf-deploy code runs
        pytest.skip("the signal arrived while the interpreter itself was starting")
    assert proc.returncode == 130, err
    assert err.strip() == "interrupted", err
    assert sorted(p.name for p in tmp_path.iterdir()) in ([], ["o"])


def test_sigkill_during_export_leaves_debris_the_next_export_cleans(model, tmp_path):
    out = tmp_path / "o"
    proc = _cli("export", str(model), "--target", "loihi", "-o", str(out))
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if any(p.name.startswith(".o.nrf-") for p in tmp_path.iterdir()):
            break
        time.sleep(0.002)
    proc.kill()
    proc.communicate()
    leftover = [p.name for p in tmp_path.iterdir() if p.name != "o"]
    assert all(name.startswith(".o.nrf-tmp.") for name in leftover), leftover
    assert main(["export", str(model), "--target", "loihi", "-o", str(out)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o"]


# --- 6. ONNX tolerance -------------------------------------------------------------------------


def _traces(v_ref: np.ndarray, v_other: np.ndarray, s_ref: np.ndarray, s_other: np.ndarray):
    from nrf_deploy.trace import Trace

    return (
        Trace({"n": s_ref}, {"n": {"v": v_ref}}, ("n",)),
        Trace({"n": s_other}, {"n": {"v": v_other}}, ("n",)),
    )


def test_onnx_tolerance_accepts_summation_order_differences_and_nothing_more():
    """The README example's values (-37.22199 vs -37.22198, 3 float32 ULPs, in a variable of range
    76.6) pass; a 1e-4 relative error of the range, a flipped spike or an integer off by one
    fail."""
    from nrf_deploy.targets.onnx import OnnxTarget

    from nrf_deploy.verify import compare

    def mismatches(v_other, s_other=None, v_ref=None):
        if v_ref is None:
            v_ref = np.array([[[-37.22199249267578, 76.6, 0.5]]], np.float32)
        spikes = np.array([[[1.0, 0.0, 1.0]]], np.float32)
        ref, other = _traces(
            v_ref, np.asarray(v_other, v_ref.dtype), spikes, spikes if s_other is None else s_other
        )
        return compare(
            ref,
            other,
            "float",
            "onnxruntime",
            ["n"],
            OnnxTarget.tolerance,
            spiking=frozenset({"n"}),
            rel_tolerance=OnnxTarget.rel_tolerance,
        ).mismatches

    assert mismatches([[[-37.221981048583984, 76.6, 0.5]]]) == 0
    assert mismatches([[[-37.22199249267578, 76.6, 0.5 + 76.6e-4]]]) == 1
    flipped = np.array([[[1.0, 1.0, 1.0]]], np.float32)
    assert mismatches([[[-37.22199249267578, 76.6, 0.5]]], flipped) == 1
    ints = np.array([[[5, 100000, 7]]], np.int64)
    assert mismatches(ints + np.array([[[0, 0, 1]]]), v_ref=ints) == 1
