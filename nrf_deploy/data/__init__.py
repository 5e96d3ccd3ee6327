"""Generated event data: GERD-style moving shapes (circle, square, triangle) as event frames."""
from nrf_deploy.data.shapes import ShapesConfig, ShapesDataset, generate, load_dataset, save_dataset

__all__ = ["ShapesConfig", "ShapesDataset", "generate", "load_dataset", "save_dataset"]
