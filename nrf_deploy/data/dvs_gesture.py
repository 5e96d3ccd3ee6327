"""Read user-supplied DVS128 Gesture recordings with tonic 1.7 (``pip install
'nrf-deploy[gesture]'``) and bin them into the gesture CNN's event frames.

**Layout** (tonic 1.7.0 ``tonic/datasets/dvsgesture.py``, its preprocessed release): under
``ROOT/DVSGesture/`` the archive ``ibmGestureTrain.tar.gz`` (``ibmGestureTest.tar.gz``) and the
folder ``ibmGestureTrain/`` (``ibmGestureTest/``) with one sub-folder per recording,
``user<NN>_<lighting>/``, holding one ``<label>.npy`` per gesture: an array ``[n_events, 4]`` of
``(x, y, p, t)`` with ``t`` in milliseconds (tonic multiplies it by 1000) and ``p`` 1 for ON.
tonic accepts a split only when the archive file is present and the folder holds at least 100
``.npy`` files; otherwise it would download the data set, which nrf-deploy refuses (one clear
error instead). ``ROOT`` may be given as the folder holding ``DVSGesture/`` or as
``DVSGesture/`` itself.

**Binning**: tonic's ``ToFrame(time_window=dt)`` from the recording's first event, the first
``frames`` windows of ``dt`` seconds (a shorter recording is padded with empty frames), every
count clipped to 1 (the model sees at most one event per pixel, polarity and frame, as in the
generated data), and the polarity channels swapped to nrf-deploy's order (channel 0 ON, 1 OFF;
tonic puts ``p = 0``, OFF, in channel 0). Labels are tonic's class indices (11 classes).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from nrf_deploy.errors import NrfError

SENSOR_SIZE = (128, 128, 2)  # tonic's (x, y, p)
CLASSES = 11


def _tonic():
    try:
        import tonic
    except ImportError:
        raise NrfError(
            "reading DVS128 Gesture recordings needs tonic 1.7",
            "--dataset",
            "install it with pip install 'nrf-deploy[gesture]' (scripts/bootstrap.sh does)",
        ) from None
    return tonic


def _save_to(root: str | os.PathLike) -> Path:
    """tonic's ``save_to``: the folder that holds ``DVSGesture/``."""
    root = Path(root)
    if not root.is_dir():
        raise NrfError(
            f"'{root}' is not a folder",
            "--dataset",
            "pass the folder holding DVSGesture/ (tonic 1.7's layout, docs/gesture.md)",
        )
    return root.parent if root.name == "DVSGesture" else root


def open_split(root: str | os.PathLike, train: bool):
    """tonic's ``DVSGesture`` for one split of the recordings under `root` (never downloads)."""
    tonic = _tonic()
    save_to = _save_to(root)
    split = "ibmGestureTrain" if train else "ibmGestureTest"

    class DVSGesture(tonic.datasets.DVSGesture):  # tonic reads the folder from the name
        def download(self) -> None:  # tonic calls this when its check of the folder fails
            raise NrfError(
                f"'{save_to}/DVSGesture' holds no complete {split} split",
                str(save_to),
                f"tonic 1.7 needs DVSGesture/{split}.tar.gz and at least 100 .npy recordings "
                f"under DVSGesture/{split}/user<NN>_<lighting>/ (nrf-deploy never downloads)",
            )

    try:
        return DVSGesture(str(save_to), train=train)
    except (ValueError, OSError) as exc:
        raise NrfError(
            f"'{save_to}/DVSGesture/{split}' is not in tonic's DVSGesture layout ({exc})",
            str(save_to),
            "name the recording folders user<NN>_<lighting> and the files <label>.npy",
        ) from None


def bin_events(events: np.ndarray, frames: int, dt: float) -> np.ndarray:
    """tonic's structured events (``x, y, p, t`` in microseconds) -> uint8 ``[frames, 2, 128,
    128]`` 0/1 frames of `dt` seconds from the first event, channel 0 ON."""
    tonic = _tonic()
    out = np.zeros((frames, 2, SENSOR_SIZE[1], SENSOR_SIZE[0]), dtype=np.uint8)
    if len(events) == 0:
        return out
    window = round(dt * 1e6)
    start = int(events["t"][0])
    to_frame = tonic.transforms.ToFrame(
        sensor_size=SENSOR_SIZE,
        time_window=window,
        start_time=start,
        end_time=start + frames * window,
    )
    binned = np.minimum(to_frame(events), 1)[:frames, ::-1]
    out[: len(binned)] = binned
    return out


def read_dvs_gesture(
    root: str | os.PathLike, train: bool, frames: int, dt: float, limit: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Events uint8 ``[N, frames, 2, 128, 128]`` and labels int64 ``[N]`` of one split (the first
    `limit` recordings in tonic's order when given); `dt` in seconds per frame."""
    dataset = open_split(root, train)
    n = len(dataset) if limit is None else min(limit, len(dataset))
    events = np.zeros((n, frames, 2, SENSOR_SIZE[1], SENSOR_SIZE[0]), dtype=np.uint8)
    labels = np.zeros(n, dtype=np.int64)
    for i in range(n):
        try:
            recording, labels[i] = dataset[i]
            events[i] = bin_events(recording, frames, dt)
        except (ValueError, OSError, IndexError, TypeError) as exc:
            raise NrfError(
                f"recording '{dataset.data[i]}' cannot be read ({type(exc).__name__}: {exc})",
                str(dataset.data[i]),
                "each file must be an [n_events, 4] array of (x, y, p, t in ms), x and y < 128",
            ) from None
    if n and not 0 <= labels.min() <= labels.max() < CLASSES:
        raise NrfError(
            f"labels {sorted(set(labels.tolist()))} outside 0..{CLASSES - 1}",
            str(root),
            "name each recording <label>.npy with tonic's class index",
        )
    return events, labels


def write_dvs_gesture_recording(path: str | os.PathLike, frames: np.ndarray, dt: float) -> None:
    """Write 0/1 event frames ``[T, 2, 128, 128]`` (channel 0 ON) as one recording in the layout
    above: every event of frame ``k`` at ``k * dt`` (milliseconds, integers), sorted by time.
    For tests and for turning generated data into a tonic-readable folder."""
    t, p, y, x = np.nonzero(np.asarray(frames))
    ms = np.rint(t * dt * 1e3)
    rows = np.stack([x, y, 1 - p, ms], axis=1).astype(np.float64)  # channel 0 (ON) -> p = 1
    np.save(path, rows[np.argsort(rows[:, 3], kind="stable")])
