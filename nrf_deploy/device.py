"""``--device cuda``: where the torch backends (integer references, float executor) allocate.

:func:`on_device` makes ``device`` torch's default for tensor factories (``torch.zeros``,
``torch.as_tensor``, ...) while a backend runs; backends that compute in numpy, Lava, sinabs or
xylosim are unaffected (CPU only, docs/scale.md). The integer references hold integers exactly
(int64, or float64/float32 below 2**53/2**24), so a GPU gives the same bits as the CPU; they
call ``.cpu()`` before ``.numpy()`` and key cached tensors by device. The float executor runs in
float32 with TF32 switched off; its sums may still be ordered differently from the CPU's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from nrf_deploy.errors import NrfError

DEVICES = ("cpu", "cuda")


@contextlib.contextmanager
def on_device(device: str = "cpu") -> Iterator[None]:
    """Run the body with `device` as torch's default device (``"cpu"``: no change)."""
    if device == "cpu":
        yield
        return
    import torch

    if device not in DEVICES or not torch.cuda.is_available():
        raise NrfError(
            f"--device {device}: no CUDA GPU is visible to torch",
            "--device",
            "run on a machine with an NVIDIA GPU and a CUDA build of torch, or use --device cpu",
        )
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False  # full float32
    try:
        with torch.device(device):
            yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved
