"""The HTML report renders in headless Chromium (Debian's package) without errors, is self-contained
and shows what it promises: a side-by-side table, the plots and every target's section."""

from __future__ import annotations

import re
import subprocess

import pytest
from helpers import chromium, run_chromium

from nrf_deploy.cli.export import export
from nrf_deploy.inputs import random_events
from nrf_deploy.report import build_report

LOGGING = ("--enable-logging=stderr", "--v=0")


@pytest.fixture(scope="module")
def page(fixture_path, tmp_path_factory):
    chromium()  # fails first, naming the package, when it is missing
    root = tmp_path_factory.mktemp("html")
    for target in ("speck", "onnx"):
        export(fixture_path, target, root / target)
    build_report(
        [root / "speck", root / "onnx"],
        root / "report.html",
        x=random_events((2, 34, 34), 10, 2, 0.1, 0),
        failures={"loihi": "error: does not fit (a test refusal)"},
    )
    return root


def _chromium(root, *args: str) -> subprocess.CompletedProcess:
    return run_chromium(root / "report.html", root, *LOGGING, *args)


def test_report_loads_without_errors_and_shows_every_section(page):
    root = page
    proc = _chromium(root, "--dump-dom")
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = proc.stdout
    assert (
        "<title>nrf-deploy report</title>" in dom and '<h1 id="title">nrf-deploy report</h1>' in dom
    )
    assert "Uncaught" not in proc.stderr and "ERROR:CONSOLE" not in proc.stderr, proc.stderr[-2000:]
    assert dom.count('<section class="target">') == 3  # speck, onnx, the refused loihi
    assert "does not fit (a test refusal)" in dom
    # plots: comparison, accuracy, and per target raster, activity, resources (speck), energy
    assert dom.count("data:image/png;base64,") >= 8
    assert (
        "speck.sop_pj" in dom and "Richter" in dom and "Horowitz" in dom
    )  # constants with their sources


def test_report_is_self_contained(page):
    root = page
    text = (root / "report.html").read_text()
    assert not re.search(r"(?:src|href)\s*=\s*[\"'](?!data:|#)", text), (
        "every resource must be inline"
    )
    assert "http://" not in text and "https://" not in text and "<script src" not in text


def test_screenshot_is_not_blank(page):
    root = page
    shot = root / "shot.png"
    proc = _chromium(root, "--window-size=1280,1600", f"--screenshot={shot}", "--hide-scrollbars")
    assert proc.returncode == 0 and shot.is_file(), proc.stderr[-2000:]
    from PIL import Image  # Pillow comes with matplotlib

    image = Image.open(shot).convert("L")
    assert image.size == (1280, 1600)
    pixels = list(image.tobytes())  # mode "L": one byte per pixel (getdata is deprecated)
    dark = sum(1 for p in pixels if p < 128)
    assert 0.01 < dark / len(pixels) < 0.5, (
        "the page should show text and plots on a light background"
    )
