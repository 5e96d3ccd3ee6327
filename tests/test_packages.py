"""deploy.json records the versions of the packages the export was made with: the core's and those
each registered target's export declares (``Target.packages``). Vendor simulators run in witness
environments of their own (verify records their versions), so no vendor package is claimed from
the core's environment."""

from __future__ import annotations

from nrf_deploy.targets import REGISTRY, get_target
from nrf_deploy.targets.loihi import LoihiTarget

from nrf_deploy.deployment import CORE_PACKAGES, package_versions

VENDOR = {"lava-nc", "sinabs", "xylosim", "samna", "rockpool"}


def test_recorded_packages_are_the_cores_and_the_targets():
    recorded = package_versions()
    # the core's own (h5py writes .nir files; nir is no dependency); no vendor simulator
    assert set(recorded) == {"torch", "numpy", "h5py", "norse", "onnx", "onnxruntime"}
    assert list(recorded)[: len(CORE_PACKAGES)] == list(CORE_PACKAGES)


def test_no_vendor_simulator_is_claimed_from_the_cores_environment():
    assert not VENDOR & set(package_versions())
    for name in REGISTRY:
        target = get_target(name)
        assert not VENDOR & set(target.packages), name
        for backend in target.backend_table:
            if backend.role == "vendor":
                assert backend.env, f"{name}/{backend.name} runs in the core's environment"


def test_a_package_a_target_declares_is_recorded(monkeypatch):
    monkeypatch.setattr(LoihiTarget, "packages", ("numpy", "nrf-no-such-distribution"))
    recorded = package_versions()
    assert recorded["nrf-no-such-distribution"] == "not installed"
    assert recorded["numpy"] != "not installed"
