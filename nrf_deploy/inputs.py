"""Generated event inputs for verification when the user supplies none."""

from __future__ import annotations

import numpy as np


def random_events(
    input_shape: tuple[int, ...],
    timesteps: int,
    batch: int,
    rate: float = 0.1,
    seed: int = 0,
    max_count: int = 1,
) -> np.ndarray:
    """Bernoulli event frames shaped ``[timesteps, batch, *input_shape]`` (int64 event counts).

    `rate` is the probability per pixel and timestep; with ``max_count > 1`` each event carries a
    count drawn uniformly from 1..max_count (saturating inputs for stress tests)."""
    from nrf_deploy.errors import NrfError

    check_count(timesteps, "--timesteps")
    check_count(batch, "--samples")
    check_count(seed, "--seed", 0)
    if not 0.0 <= float(rate) <= 1.0:  # also refuses nan
        raise NrfError(
            f"--rate must be a probability in [0, 1], got {rate}", "--rate", "e.g. --rate 0.1"
        )
    check_allocation(
        events_bytes(input_shape, timesteps, batch),
        f"{batch} samples x {timesteps} timesteps of input {tuple(input_shape)}",
        "--samples / --timesteps",
        "use fewer samples or timesteps (verify runs them in batches; the traces of "
        "all of them are kept for the comparison)",
    )
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
        raise NrfError(
            f"input array has shape {tuple(x.shape)}, the model expects "
            f"[T, B, {', '.join(map(str, input_shape))}]",
            source,
            "reshape the array to [timesteps, batch, *input_shape]",
        )
    if x.shape[0] < 1 or x.shape[1] < 1:
        raise NrfError(
            f"input array has shape {tuple(x.shape)}: T = {x.shape[0]} timesteps and "
            f"B = {x.shape[1]} samples, both must be at least 1",
            source,
            "give at least one timestep and one sample",
        )
    if not np.issubdtype(x.dtype, np.number) and x.dtype != np.bool_:
        raise NrfError(
            f"input array has non-numeric dtype {x.dtype}",
            source,
            "save a numeric array (event counts or spikes)",
        )
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
        raise NrfError(
            f"{chip} inputs are binary spikes ({why}); this input has values in "
            f"[{x.min()}, {x.max()}]",
            "input array",
            "binarise the events (x > 0) or spread counts over timesteps",
        )
    return x.astype(np.int64, copy=False)


def available_memory() -> int:
    """Bytes of memory this machine can give (MemAvailable on Linux, else physical memory)."""
    import os

    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 1 << 62


def check_allocation(nbytes: float, what: str, where: str, hint: str) -> None:
    """Refuse, before allocating, a request whose estimate (`nbytes`) exceeds the free memory."""
    from nrf_deploy.errors import NrfError

    free = available_memory()
    if nbytes > free:
        raise NrfError(
            f"{what} needs about {_gib(nbytes)} of memory; this machine has {_gib(free)} available",
            where,
            hint,
        )


def _gib(nbytes: float) -> str:
    return f"{nbytes / 2**30:.3g} GiB"


def check_count(value: int | None, flag: str, minimum: int = 1) -> None:
    """A count given on the command line must be an integer >= `minimum`."""
    from nrf_deploy.errors import NrfError

    if value is not None and value < minimum:
        raise NrfError(
            f"{flag} must be at least {minimum}, got {value}",
            flag,
            f"e.g. {flag} {max(minimum, 16) if minimum else 0}",
        )


def events_bytes(
    input_shape: tuple[int, ...], timesteps: int, batch: int, copies: int = 4
) -> float:
    """Estimated bytes to hold `copies` int64/float64 arrays of ``[T, B, *input_shape]``
    (the inputs plus what the backends keep per input value; a lower bound of a run's needs)."""
    values = float(timesteps) * float(batch) * float(np.prod(input_shape, dtype=np.float64))
    return values * 8 * copies
