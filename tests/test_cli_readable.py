"""What a person sees from the CLI: help texts, `targets` at 80 columns, readable numbers, and
progress that shows up in a log (timestamped lines) but not with --quiet."""

from __future__ import annotations

import re
import time

import pytest

from nrf_deploy import progress
from nrf_deploy.cli import main
from nrf_deploy.report.fmt import count, metric, plural, ratio, si


def _help(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit) as exc:
        main(list(argv))
    assert exc.value.code == 0
    return capsys.readouterr().out


def test_targets_fits_80_columns(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["targets"]) == 0
    out = capsys.readouterr().out
    assert "--speck-lif-as-if" in out and "backends:" in out
    long = [line for line in out.splitlines() if len(line) > 80]
    assert not long, long[:3]


def test_export_help_lists_the_chosen_targets_options(capsys):
    out = _help(capsys, "export", "--target", "speck", "--help")
    assert "options of target 'speck'" in out and "--speck-lif-as-if" in out
    assert "--loihi-chips" not in out  # only the chosen target's
    assert "export --target T --help" in _help(capsys, "export", "--help")


@pytest.mark.parametrize(
    "command", ["train", "report", "demo", "export", "verify", "run", "inspect"]
)
def test_help_has_no_meaningless_defaults(capsys, command):
    out = _help(capsys, command, "--help")
    assert "(default: None)" not in out and "(default: False)" not in out
    assert "--quiet" in out


def test_readable_numbers():
    assert (
        si(3.36e-6, "s") == "3.36 µs"
        and si(0.0134, "s") == "13.4 ms"
        and si(2.3e-6, "J", "partial") == "≥ 2.3 µJ"
    )
    assert (
        si(999.95e-6, "s") == "1 ms"
        and si(None, "J") == "not available"
        and si(1234.5, "s") == "1,230 s"
    )
    assert count(5.761e6) == "5,761,000" and count(2.5) == "2.5"
    assert plural(1, "sample") == "1 sample" and plural(8, "sample") == "8 samples"
    assert (
        ratio(1.0, 3.6) == "3.6× less"
        and ratio(2811.0, 1.0) == "2,800× more"
        and ratio(1.0, 1.01) == "about the same"
    )
    assert metric("median_l2_px", 3.2711) == "3.27 px" and metric("accuracy", 0.875) == "87.5 %"
    assert metric("output_mismatches_vs_reference", 52857) == "52,857 values differ"


def test_log_progress_prints_timestamped_lines_and_a_heartbeat(capsys, monkeypatch):
    monkeypatch.setattr(progress, "on_terminal", lambda: False)
    monkeypatch.setattr(progress, "HEARTBEAT_S", 0.3)
    progress.set_quiet(False)
    with progress.progress_bar(3, "verify x", "sample") as bar:
        bar.update(2)
        time.sleep(1.6)  # one long blocking call
        bar.update()
    progress.stage("demo: writing the report")
    lines = capsys.readouterr().out.splitlines()
    stamped = [line for line in lines if re.match(r"\d\d:\d\d:\d\d ", line)]
    assert stamped == lines and any("still working" in line for line in lines), lines
    assert (
        lines[0].endswith("started") and "3/3 samples" in lines[-2] and lines[-2].endswith("done")
    )
    assert lines[-1].endswith("demo: writing the report")
    progress.set_quiet(True)
    try:
        with progress.progress_bar(3, "quiet", "sample") as bar:
            bar.update(3)
        progress.stage("not shown")
    finally:
        progress.set_quiet(False)
    assert capsys.readouterr().out == ""
