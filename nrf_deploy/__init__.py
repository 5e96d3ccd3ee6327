"""nrf-deploy: deploy spiking networks from NIR to neuromorphic chips, verified bit for bit.

The Python API lives in :mod:`nrf_deploy.api` (docs/api.md)::

    from nrf_deploy.api import load, export, verify, run, report

``load``, ``export``, ``load_export`` and ``run`` are also importable from here, with
``verify_export`` and ``write_report`` for ``api.verify`` / ``api.report`` (``nrf_deploy.verify``,
``nrf_deploy.report`` and ``nrf_deploy.targets`` are modules, so those names stay theirs). Heavy
dependencies (torch, the targets' simulators) load
only when a function is first called, so ``import nrf_deploy`` stays fast."""

__version__ = "0.1.0"

_API = {
    "load": "load",
    "export": "export",
    "load_export": "load_export",
    "run": "run",
    "convert": "convert",
    "verify_export": "verify",
    "write_report": "report",
}
__all__ = ["__version__", "export", "load", "load_export", "run", "verify_export", "write_report"]


def __getattr__(name: str):
    if name in _API:
        from nrf_deploy import api

        return getattr(api, _API[name])
    raise AttributeError(f"module 'nrf_deploy' has no attribute '{name}'")
