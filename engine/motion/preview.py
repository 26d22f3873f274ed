"""Stick-figure previews of canonical motion: an animated GIF, a single PNG frame, a filmstrip.

Pictures are how a person checks what a model or a converter produced, so every motion the
engine writes can be looked at without Blender. Drawing uses Pillow only (no display, no GL).
Bones of the body's left side are blue, the right side red, the spine and head dark grey.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from engine.errors import InputError
from engine.motion import skeleton

LEFT_COLOUR = (40, 90, 200)
RIGHT_COLOUR = (210, 50, 40)
CENTRE_COLOUR = (50, 50, 50)
FLOOR_COLOUR = (200, 200, 200)
BACKGROUND = (255, 255, 255)
VIEW_YAW_DEGREES = 30.0  # a three-quarter view shows both depth and left/right at once


def _bone_colour(joint: int) -> tuple[int, int, int]:
    name = skeleton.JOINT_NAMES[joint]
    if name.startswith("left"):
        return LEFT_COLOUR
    if name.startswith("right"):
        return RIGHT_COLOUR
    return CENTRE_COLOUR


def _check_positions(positions: np.ndarray) -> np.ndarray:
    positions = np.asarray(positions, dtype=np.float64)
    if positions.ndim == 2:
        positions = positions[None]
    if positions.ndim != 3 or positions.shape[1:] != (skeleton.NUM_JOINTS, 3):
        raise InputError(
            f"a preview needs joint positions of shape (T, 22, 3) or (22, 3), got {positions.shape}; "
            "convert the motion to the SMPL-22 skeleton first (motion-engine convert)"
        )
    if positions.shape[0] == 0 or not np.isfinite(positions).all():
        raise InputError("a preview needs at least one frame of finite joint positions (found none or NaN)")
    return positions


def _project(positions: np.ndarray, yaw_degrees: float) -> np.ndarray:
    """Rotate about Y by the view yaw and drop depth: `(..., 3)` -> `(..., 2)` (right, up) in metres."""
    yaw = np.radians(yaw_degrees)
    # Looking at the body's front (from +Z) puts its left side (+X) on the picture's right.
    x = positions[..., 0] * np.cos(yaw) + positions[..., 2] * np.sin(yaw)
    return np.stack([x, positions[..., 1]], axis=-1)


class _Canvas:
    """Maps metres to pixels for a fixed box that holds every frame of a motion."""

    def __init__(self, projected: np.ndarray, size: int, margin: float = 0.15) -> None:
        low = projected.reshape(-1, 2).min(axis=0)
        high = projected.reshape(-1, 2).max(axis=0)
        low[1] = min(low[1], 0.0)
        extent = float(max(high[0] - low[0], high[1] - low[1], 0.5)) * (1.0 + 2.0 * margin)
        self.centre = (low + high) / 2.0
        self.scale = size / extent
        self.size = size

    def to_pixels(self, points: np.ndarray) -> np.ndarray:
        relative = (points - self.centre) * self.scale
        return np.stack([self.size / 2.0 + relative[..., 0], self.size / 2.0 - relative[..., 1]], axis=-1)


def _draw_pose(draw: ImageDraw.ImageDraw, canvas: _Canvas, pose_2d: np.ndarray, floor_y: float) -> None:
    floor = canvas.to_pixels(np.array([[canvas.centre[0] - 10.0, floor_y], [canvas.centre[0] + 10.0, floor_y]]))
    draw.line([tuple(floor[0]), tuple(floor[1])], fill=FLOOR_COLOUR, width=1)
    pixels = canvas.to_pixels(pose_2d)
    width = max(2, canvas.size // 100)
    for joint, parent in enumerate(skeleton.PARENTS):
        if parent >= 0:
            draw.line([tuple(pixels[parent]), tuple(pixels[joint])], fill=_bone_colour(joint), width=width)
    head = pixels[skeleton.JOINT_INDEX["head"]]
    radius = max(3, canvas.size // 40)
    draw.ellipse(
        [head[0] - radius, head[1] - radius, head[0] + radius, head[1] + radius], outline=CENTRE_COLOUR, width=width
    )


def render_frames(positions: np.ndarray, size: int = 320, yaw_degrees: float = VIEW_YAW_DEGREES) -> list[Image.Image]:
    """One picture per frame, all in the same fixed box. `positions`: `(T, 22, 3)` metres, Y up."""
    positions = _check_positions(positions)
    projected = _project(positions, yaw_degrees)
    canvas = _Canvas(projected, size)
    frames = []
    for pose_2d in projected:
        image = Image.new("RGB", (size, size), BACKGROUND)
        _draw_pose(ImageDraw.Draw(image), canvas, pose_2d, floor_y=0.0)
        frames.append(image)
    return frames


def save_gif(positions: np.ndarray, path: str | Path, fps: float = skeleton.FPS, size: int = 320) -> Path:
    """Write an animated stick-figure GIF of `(T, 22, 3)` positions played at `fps`."""
    frames = render_frames(positions, size=size)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # GIF delays are in whole centiseconds on most viewers; round to the nearest one.
    duration_ms = int(round(100.0 / fps)) * 10
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=duration_ms, loop=0, optimize=True)
    return path


def filmstrip(positions: np.ndarray, count: int = 6, size: int = 200) -> Image.Image:
    """Evenly spaced key frames side by side, in one shared box: `(T, 22, 3)` -> an image."""
    positions = _check_positions(positions)
    indices = np.linspace(0, len(positions) - 1, num=min(count, len(positions))).round().astype(int)
    frames = render_frames(positions[indices], size=size)
    strip = Image.new("RGB", (size * len(frames), size), BACKGROUND)
    for k, frame in enumerate(frames):
        strip.paste(frame, (k * size, 0))
    return strip


def save_png(positions: np.ndarray, path: str | Path, frame: int | None = None, size: int = 320) -> Path:
    """Write one frame (`frame` index) or, when `frame` is None, a filmstrip of key frames, as PNG."""
    positions = _check_positions(positions)
    if frame is None:
        image = filmstrip(positions, size=size * 2 // 3)
    else:
        if not -len(positions) <= frame < len(positions):
            raise InputError(f"frame {frame} is outside the motion's {len(positions)} frames")
        image = render_frames(positions[[frame]], size=size)[0]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path
