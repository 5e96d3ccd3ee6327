"""Package layout: the user's top-level folders `targets/` and `exporters/` are installed under the
`nrf_deploy` namespace (`nrf_deploy.targets.loihi`, `nrf_deploy.targets.onnx.model`), so nothing
generic lands at the top of site-packages. Subpackages are discovered, so a new target is just a
new folder (plus its registry line in targets/__init__.py)."""
from setuptools import find_packages, setup

MAPPED = {"nrf_deploy.targets": "targets", "nrf_deploy.exporters": "exporters"}


def _mapped_packages(prefix: str, folder: str) -> list[str]:
    return [prefix] + [f"{prefix}.{name}" for name in find_packages(folder)]


packages = find_packages(include=["nrf_deploy", "nrf_deploy.*"])
for prefix, folder in MAPPED.items():
    packages += _mapped_packages(prefix, folder)

setup(packages=packages, package_dir=MAPPED, include_package_data=True)
