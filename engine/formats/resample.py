"""Resampling a motion track in time (any frame rate to any other): linear for positions, slerp for
quaternions. The output covers the clip's duration; frame 0 stays frame 0.
"""

from __future__ import annotations

import math

import numpy as np

from engine.motion.rotations import quat_slerp


def resample_times(num_frames: int, src_fps: float, dst_fps: float) -> np.ndarray:
    """Fractional source-frame indices of the output frames, covering the clip's duration."""
    duration = (num_frames - 1) / src_fps
    count = int(math.floor(duration * dst_fps + 1e-6)) + 1
    return np.arange(count) * (src_fps / dst_fps)


def resample_positions(positions: np.ndarray, src_fps: float, dst_fps: float) -> np.ndarray:
    """Linear interpolation over frames: `(T, ...)` at src_fps -> `(T', ...)` at dst_fps."""
    positions = np.asarray(positions)
    if abs(src_fps - dst_fps) < 1e-9:
        return positions.copy()
    times = resample_times(len(positions), src_fps, dst_fps)
    lo = np.minimum(np.floor(times).astype(int), len(positions) - 1)
    hi = np.minimum(lo + 1, len(positions) - 1)
    frac = (times - lo).reshape((-1,) + (1,) * (positions.ndim - 1))
    return ((1 - frac) * positions[lo] + frac * positions[hi]).astype(positions.dtype, copy=False)


def resample_quaternions(quats: np.ndarray, src_fps: float, dst_fps: float) -> np.ndarray:
    """Slerp over frames: `(T, ..., 4)` (w, x, y, z) at src_fps -> `(T', ..., 4)` at dst_fps."""
    quats = np.asarray(quats, dtype=np.float64)
    times = resample_times(len(quats), src_fps, dst_fps)
    lo = np.minimum(np.floor(times).astype(int), len(quats) - 1)
    hi = np.minimum(lo + 1, len(quats) - 1)
    frac = (times - lo).reshape((-1,) + (1,) * (quats.ndim - 2))
    return quat_slerp(quats[lo], quats[hi], np.broadcast_to(frac, quats[lo].shape[:-1]))
