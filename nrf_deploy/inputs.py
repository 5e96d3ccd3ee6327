"""Generated event inputs for verification when the user supplies none."""
from __future__ import annotations

import numpy as np


def random_events(input_shape: tuple[int, ...], timesteps: int, batch: int, rate: float = 0.1,
                  seed: int = 0, max_count: int = 1) -> np.ndarray:
    """Bernoulli event frames shaped ``[timesteps, batch, *input_shape]`` (int64 event counts).

    `rate` is the probability per pixel and timestep; with ``max_count > 1`` each event carries a
    count drawn uniformly from 1..max_count (saturating inputs for stress tests)."""
    rng = np.random.default_rng(seed)
    shape = (timesteps, batch, *input_shape)
    events = (rng.random(shape) < rate).astype(np.int64)
    if max_count > 1:
        events *= rng.integers(1, max_count + 1, size=shape)
    return events


def check_input_shape(x: np.ndarray, input_shape: tuple[int, ...], source: str) -> np.ndarray:
    """Validate a user's input array ``[T, B, *input_shape]`` (a single sample ``[T, *shape]`` is
    given a batch axis). Raises NrfError with the expected shape."""
    from nrf_deploy.errors import NrfError

    x = np.asarray(x)
    if x.ndim == len(input_shape) + 1 and tuple(x.shape[1:]) == tuple(input_shape):
        x = x[:, None]
    if x.ndim != len(input_shape) + 2 or tuple(x.shape[2:]) != tuple(input_shape):
        raise NrfError(f"input array has shape {tuple(x.shape)}, the model expects "
                       f"[T, B, {', '.join(map(str, input_shape))}]", source,
                       "reshape the array to [timesteps, batch, *input_shape]")
    if not np.issubdtype(x.dtype, np.number) and x.dtype != np.bool_:
        raise NrfError(f"input array has non-numeric dtype {x.dtype}", source,
                       "save a numeric array (event counts or spikes)")
    return x


def check_binary_spikes(x: np.ndarray, chip: str, why: str) -> np.ndarray:
    """Refuse anything but 0/1 events (no silent clipping) for chips whose inputs are spikes;
    returns `x` as int64. `why` says what sends the spikes on `chip` (for the message)."""
    from nrf_deploy.errors import NrfError

    x = np.asarray(x)
    if x.dtype == np.bool_ or x.size == 0:
        bad = False
    elif np.issubdtype(x.dtype, np.integer):
        bad = x.min() < 0 or x.max() > 1
    else:
        bad = bool(np.any((x != 0) & (x != 1)))
    if bad:
        raise NrfError(f"{chip} inputs are binary spikes ({why}); this input has values in "
                       f"[{x.min()}, {x.max()}]", "input array",
                       "binarise the events (x > 0) or spread counts over timesteps")
    return x.astype(np.int64, copy=False)
