"""nrf-deploy: deploy spiking networks from NIR to neuromorphic chips, verified bit for bit."""

__version__ = "0.1.0"
