"""Cut long clips into training segments (Bandai dataset-1 clips run up to a minute).

Why: text-to-motion models train on clips of at most 196 frames at 20 fps (9.8 s, HumanML3D's
`max_motion_length`, github.com/EricGuo5513/HumanML3D); a minute-long dance would be cropped at
random there, and one long clip would count as one sample. Clips of at most `max_s` seconds stay
whole. Longer clips are cut into windows of `window_s` seconds, spaced evenly from the start to
the end so that neighbours overlap by at least half a window (`hop_s` at most), and each inner
window start is moved to the calmest frame (lowest mean joint speed) within `snap_s` of it: cuts
fall between repetitions of the action rather than in the middle of one. Every segment keeps its
clip's labels and its source clip id (the split keeps all segments of a clip together).
"""

from __future__ import annotations

import math

import numpy as np

from engine.motion.skeleton import FPS

MAX_WHOLE_S = 9.8  # 196 frames at 20 fps
WINDOW_S = 8.0
HOP_S = 4.0
SNAP_S = 0.5


def segment_bounds(
    positions: np.ndarray,
    fps: float = FPS,
    max_s: float = MAX_WHOLE_S,
    window_s: float = WINDOW_S,
    hop_s: float = HOP_S,
    snap_s: float = SNAP_S,
) -> list[tuple[int, int]]:
    """Frame ranges [start, end) of the segments of one clip.

    positions: `(T, J, 3)` joints in metres at `fps`. A clip of at most `max_s` seconds gives
    [(0, T)]; a longer one gives windows of round(window_s * fps) frames covering all T frames.
    """
    total = int(positions.shape[0])
    window = int(round(window_s * fps))
    if total <= int(round(max_s * fps)) or total <= window:
        return [(0, total)]
    count = math.ceil((total - window) / (hop_s * fps)) + 1
    starts = np.linspace(0, total - window, count).round().astype(int)
    speed = np.linalg.norm(np.diff(positions, axis=0), axis=-1).mean(axis=-1)  # (T-1,) m per frame
    snap = int(round(snap_s * fps))
    bounds = []
    for k, start in enumerate(starts):
        if 0 < k < count - 1 and snap:
            low, high = max(0, start - snap), min(total - window, start + snap)
            start = low + int(np.argmin(speed[low : high + 1]))
        bounds.append((int(start), int(start) + window))
    return bounds
