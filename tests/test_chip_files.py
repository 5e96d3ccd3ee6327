"""Chip files that parse as JSON and .npz but do not describe a network are refused with one
message naming both files and the export to re-run (fileio.parse_chip_files)."""

from __future__ import annotations

import numpy as np
import pytest
from nrf_deploy.targets.loihi.lava_network import read_network
from nrf_deploy.targets.spinnaker.chip_files import read_chip_files

from nrf_deploy.errors import NrfError
from nrf_deploy.fileio import npz_bytes


@pytest.mark.parametrize(
    "read, json_name, npz_name, target",
    [
        (read_network, "lava_network.json", "lava_network.npz", "loihi"),
        (read_chip_files, "network.json", "connections.npz", "spinnaker"),
    ],
)
def test_a_description_without_its_fields_is_refused(read, json_name, npz_name, target):
    with pytest.raises(NrfError) as info:
        read({json_name: b"{}", npz_name: npz_bytes({"a": np.zeros(1)})})
    text = info.value.format()
    assert f"{json_name} / {npz_name} do not describe" in text and "KeyError" in text
    assert f"re-run nrf-deploy export --target {target}" in text
