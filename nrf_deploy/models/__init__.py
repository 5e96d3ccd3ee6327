"""Receptive-field SNN (Pedersen, Conradt & Lindeberg, Nat. Commun. 16:8231, 2025) and baselines."""
from nrf_deploy.models.rf_snn import CONFIGS, ANNBaseline, RFConfig, RFSNN, dsnt, build_model

__all__ = ["CONFIGS", "ANNBaseline", "RFConfig", "RFSNN", "build_model", "dsnt"]
