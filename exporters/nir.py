"""Write the receptive-field SNN as an explicit NIR graph (norse 1.1.0's ``to_nir`` is broken for
real models: Flatten/pooling become None nodes, dt bug norse#411, scalar shapes fail nir.read)."""
from __future__ import annotations

import numpy as np
import nir

from nrf_deploy.models.rf_snn import RFSNN


def _np(t) -> np.ndarray:
    return t.detach().cpu().double().numpy()


def export_rf_snn(model: RFSNN) -> nir.NIRGraph:
    """The deployable graph. Time constants in seconds; ``metadata["dt"]`` is the timestep (s)."""
    cfg = model.cfg
    w1, b1 = model.hidden_weights()
    w2, b2 = model.readout_weights()
    hidden = (w1.shape[0], cfg.hidden_size, cfg.hidden_size)
    maps = (3, cfg.map_size, cfg.map_size)
    ones = np.ones(hidden)
    lif = nir.LIF(tau=np.broadcast_to(_np(model.tau), hidden).copy(), r=ones, v_leak=np.zeros(hidden),
                  v_threshold=np.full(hidden, float(model.theta)))
    lif.metadata = {"reset": "zero"}
    li = nir.LI(tau=np.full(maps, float(model.tau_readout)), r=np.ones(maps), v_leak=np.zeros(maps))
    nodes = {
        "input": nir.Input({"input": np.array([2, cfg.size, cfg.size])}),
        "conv": nir.Conv2d(input_shape=(cfg.size, cfg.size), weight=_np(w1), stride=cfg.stride,
                           padding=cfg.kernel // 2, dilation=1, groups=1, bias=_np(b1)),
        "lif": lif,
        "pool": nir.SumPool2d(kernel_size=np.array([cfg.pool] * 2), stride=np.array([cfg.pool] * 2),
                              padding=np.array([0, 0])),
        "readout_conv": nir.Conv2d(input_shape=(cfg.hidden_size // cfg.pool,) * 2, weight=_np(w2), stride=1,
                                   padding=cfg.readout_kernel // 2, dilation=1, groups=1, bias=_np(b2)),
        "readout": li,
        "output": nir.Output({"output": np.array(maps)}),
    }
    edges = [("input", "conv"), ("conv", "lif"), ("lif", "pool"), ("pool", "readout_conv"),
             ("readout_conv", "readout"), ("readout", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges,
                        metadata={"dt": cfg.dt, "name": "rf-snn", "decoder": "dsnt",
                                  "image_size": cfg.size, "source": "nrf-deploy RF-SNN"})
