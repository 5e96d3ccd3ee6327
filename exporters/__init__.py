"""Output formats, one module each (installed as ``nrf_deploy.exporters``): nir, lava, speck_config,
pynn, onnx."""
