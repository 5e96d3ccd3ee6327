"""Receptive-field SNN (Pedersen, Conradt & Lindeberg, Nat. Commun. 16:8231, 2025) and baselines.

See :mod:`nrf_deploy.models.rf_snn` and docs/model.md (what runs on chip, what on the host)."""

from nrf_deploy.models.rf_snn import (
    CONFIGS,
    INITS,
    KINDS,
    NEURONS,
    RFSNN,
    ANNBaseline,
    RFConfig,
    build_model,
    dsnt,
    rf_kernels,
)

__all__ = [
    "CONFIGS",
    "INITS",
    "KINDS",
    "NEURONS",
    "RFSNN",
    "ANNBaseline",
    "RFConfig",
    "build_model",
    "dsnt",
    "rf_kernels",
]
