"""Generated event data: GERD-style moving shapes (circle, square, triangle) as event frames.

See :mod:`nrf_deploy.data.shapes` for the generator and the on-disk format."""

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
    "SHAPES",
    "ShapesConfig",
    "ShapesDataset",
    "generate",
    "load_dataset",
    "render",
    "save_dataset",
    "time_major",
]
