"""deploy.json records the versions of the core's packages and of those each registered target
declares (``Target.packages``): the core names no target's package."""

from __future__ import annotations

from nrf_deploy.targets.loihi import LoihiTarget

from nrf_deploy.deployment import CORE_PACKAGES, package_versions


def test_recorded_packages_are_the_cores_and_the_targets():
    recorded = package_versions()
    # the core's own (h5py writes .nir files; nir is no dependency) and the targets' packages
    assert set(recorded) == {
        "torch",
        "numpy",
        "h5py",
        "norse",
        "sinabs",
        "lava-nc",
        "onnx",
        "onnxruntime",
    }
    assert list(recorded)[: len(CORE_PACKAGES)] == list(CORE_PACKAGES)


def test_a_package_a_target_declares_is_recorded(monkeypatch):
    monkeypatch.setattr(LoihiTarget, "packages", ("scipy", "nrf-no-such-distribution"))
    recorded = package_versions()
    assert recorded["nrf-no-such-distribution"] == "not installed"
    assert recorded["scipy"] != "not installed"
