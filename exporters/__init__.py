"""Everything that *produces NIR* (installed as ``nrf_deploy.exporters``): ``nir`` writes a trained
RF-SNN as a NIR graph. Chip files (Lava network, Speck configuration, PyNN script, ONNX model)
belong
to their target in ``targets/<chip>/``; no module here imports a target, and no target imports
from here."""
