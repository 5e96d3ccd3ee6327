"""Generated event data: GERD-style moving shapes (circle, square, triangle) as event frames, and
hand-like gestures of DVS128 size (:mod:`nrf_deploy.data.gestures`).

See :mod:`nrf_deploy.data.shapes` for the generator and the on-disk format,
:mod:`nrf_deploy.data.dvs_gesture` for reading DVS128 Gesture recordings with tonic."""

from nrf_deploy.data.gestures import MOTIONS, GestureConfig, generate_gestures
from nrf_deploy.data.shapes import (
    FORMAT,
    SHAPES,
    ShapesConfig,
    ShapesDataset,
    generate,
    load_dataset,
    render,
    save_dataset,
    time_major,
)

__all__ = [
    "FORMAT",
    "MOTIONS",
    "SHAPES",
    "GestureConfig",
    "ShapesConfig",
    "ShapesDataset",
    "generate",
    "generate_gestures",
    "load_dataset",
    "render",
    "save_dataset",
    "time_major",
]
