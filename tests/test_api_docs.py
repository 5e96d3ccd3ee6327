"""docs/api.md's examples run as written: every ```python block, top to bottom, in one namespace,
from a scratch folder that sees the shared fixtures as ../shared/fixtures."""

from __future__ import annotations

import re

from conftest import FIXTURES, REPO

import nrf_deploy

DOC = REPO / "docs" / "api.md"


def _blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def test_api_doc_examples_run(tmp_path, monkeypatch, capsys):
    work = tmp_path / "work"
    work.mkdir()
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "fixtures").symlink_to(FIXTURES.resolve())
    monkeypatch.chdir(work)
    blocks = _blocks(DOC.read_text())
    assert len(blocks) >= 5, "docs/api.md lost its examples"
    namespace: dict = {}
    for i, code in enumerate(blocks):
        exec(compile(code, f"docs/api.md block {i + 1}", "exec"), namespace)
    assert (work / "build" / "spinnaker" / "deploy.json").is_file()
    assert (work / "build" / "report.html").is_file()
    assert "spinnaker" in capsys.readouterr().out


def test_top_level_names_are_the_api_functions():
    from nrf_deploy import api

    assert nrf_deploy.export is api.export and nrf_deploy.load is api.load
    assert nrf_deploy.verify_export is api.verify and nrf_deploy.write_report is api.report
    import importlib

    importlib.import_module("nrf_deploy.verify")  # the module keeps its own name
    assert nrf_deploy.verify_export is api.verify


def test_api_refuses_a_backend_without_an_export(fixture_path):
    import numpy as np
    import pytest

    from nrf_deploy.errors import NrfError

    with pytest.raises(NrfError, match="needs an export directory"):
        nrf_deploy.run(fixture_path, np.zeros((2, 1, 2, 34, 34)), backend="emulator")
