"""Stick-figure previews of canonical motion: an animated GIF, a single PNG frame, a filmstrip.

Pictures are how a person checks what a model or a converter produced, so every motion the
engine writes can be looked at without Blender. Drawing uses Pillow only (no display, no GL).
Bones of the body's left side are blue, the right side red, the spine and head dark grey; a
legend says so on every picture.

The view follows the body: a camera that tracks the pelvis sideways (smoothed over half a second,
so gait sway does not shake it) at one scale for the whole motion, chosen so that the body's
height fills most of the picture (a runner is most of the frame, not a 60 px figure crossing a
320 px box); floor ticks every half metre show the travel the tracking hides. Each GIF frame and
filmstrip panel is labelled with its time; an optional `title` (e.g. the prompt) heads the picture.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from engine.errors import InputError
from engine.motion import skeleton

LEFT_COLOUR = (40, 90, 200)
RIGHT_COLOUR = (210, 50, 40)
CENTRE_COLOUR = (50, 50, 50)
FLOOR_COLOUR = (200, 200, 200)
TEXT_COLOUR = (30, 30, 30)
LABEL_COLOUR = (110, 110, 110)
BACKGROUND = (255, 255, 255)
VIEW_YAW_DEGREES = 30.0  # a three-quarter view shows both depth and left/right at once
TRACK_SECONDS = 0.5  # the camera follows the pelvis smoothed over this long
FLOOR_TICK_M = 0.5
BODY_SHARE = 0.8  # the tallest the body gets (floor to top) fills this share of the drawing height
MIN_VIEW_M = 1.0  # never zoom in further than a 1 m view (a crawl or a single hand stays in context)


@cache
def _font(pixels: int) -> ImageFont.ImageFont:
    """Pillow's bundled font at `pixels` high (FreeType builds scale it; others get the bitmap font)."""
    try:
        return ImageFont.load_default(size=pixels)
    except (TypeError, OSError):  # Pillow < 10.1 or no FreeType: the fixed bitmap font
        return ImageFont.load_default()


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


def _smooth(values: np.ndarray, frames: int) -> np.ndarray:
    """Centred moving average over `frames`, the window shrinking symmetrically at the ends (so the
    first and last frames are exact and a fast start is not dragged), `(T,)` -> `(T,)`."""
    half = max(0, int(frames) // 2)
    total = np.concatenate([[0.0], np.cumsum(values)])
    index = np.arange(len(values))
    reach = np.minimum(np.minimum(index, len(values) - 1 - index), half)
    return (total[index + reach + 1] - total[index - reach]) / (2 * reach + 1)


class _Camera:
    """Metres to pixels for a `width` x `height` drawing area: one scale for the whole motion, the
    horizontal centre following the (smoothed) pelvis, the floor at a fixed height."""

    def __init__(self, projected: np.ndarray, width: int, height: int, fps: float) -> None:
        self.width, self.height = width, height
        self.floor = min(0.0, float(projected[..., 1].min()))
        self.centre = _smooth(projected[:, 0, 0], round(TRACK_SECONDS * fps))  # (T,) pelvis, sideways
        top = float(projected[..., 1].max()) - self.floor  # the highest any joint gets above the floor
        half_width = float(np.abs(projected[..., 0] - self.centre[:, None]).max())
        view_h = max(top / BODY_SHARE, MIN_VIEW_M)
        view_w = max(2.0 * half_width * 1.1, MIN_VIEW_M * width / height)
        self.scale = min(height / view_h, width / view_w)  # pixels per metre
        self.floor_px = (height + top * self.scale) / 2.0  # floor to the highest point, centred

    def to_pixels(self, points: np.ndarray, frame: int) -> np.ndarray:
        x = self.width / 2.0 + (points[..., 0] - self.centre[frame]) * self.scale
        y = self.floor_px - (points[..., 1] - self.floor) * self.scale
        return np.stack([x, y], axis=-1)


def _draw_pose(draw: ImageDraw.ImageDraw, camera: _Camera, pose_2d: np.ndarray, frame: int, offset: int) -> None:
    pixels = camera.to_pixels(pose_2d, frame) + np.array([0.0, offset])
    size = min(camera.width, camera.height)
    width = max(2, size // 80)
    for joint, parent in enumerate(skeleton.PARENTS):
        if parent >= 0:
            draw.line([tuple(pixels[parent]), tuple(pixels[joint])], fill=_bone_colour(joint), width=width)
    head = pixels[skeleton.JOINT_INDEX["head"]]
    radius = max(3, int(0.07 * camera.scale))  # a head ~14 cm across
    draw.ellipse(
        [head[0] - radius, head[1] - radius, head[0] + radius, head[1] + radius], outline=CENTRE_COLOUR, width=width
    )


def _fit(text: str, font: ImageFont.ImageFont, width: float) -> str:
    """`text`, cut with an ellipsis so that it fits `width` pixels."""
    if font.getlength(text) <= width:
        return text
    while text and font.getlength(text + "...") > width:
        text = text[:-1]
    return text.rstrip() + "..."


def draw_legend(draw: ImageDraw.ImageDraw, right: float, top: float, pixels: int) -> None:
    """'left' in blue and 'right' in red, each after a bone stroke, ending at `right`, from `top`."""
    font = _font(pixels)
    words = (("left", LEFT_COLOUR), ("right", RIGHT_COLOUR))
    x = right - sum(pixels + 3 + font.getlength(word) + pixels // 2 for word, _ in words)
    for word, colour in words:
        middle = top + pixels * 0.6
        draw.line([(x, middle), (x + pixels, middle)], fill=colour, width=max(2, pixels // 5))
        draw.text((x + pixels + 3, top), word, fill=colour, font=font)
        x += pixels + 3 + font.getlength(word) + pixels // 2


def render_frames(
    positions: np.ndarray,
    size: int = 320,
    yaw_degrees: float = VIEW_YAW_DEGREES,
    title: str | None = None,
    fps: float = skeleton.FPS,
    labels: list[str] | None = None,
    legend: bool = True,
    only: list[int] | None = None,
) -> list[Image.Image]:
    """One `size` x `size` picture per frame of `positions` `(T, 22, 3)` metres, Y up (or per frame
    index in `only`; the camera is still set from the whole motion).

    title: a line on top (e.g. the prompt); labels: one text per frame, top-left (default: its
    time in seconds at `fps`, and its frame number); legend: the left/right colour key.
    """
    positions = _check_positions(positions)
    projected = _project(positions, yaw_degrees)
    text_px = max(10, size // 22)
    title_h = int(text_px * 1.6) if title else 0
    camera = _Camera(projected, size, size - title_h, fps)
    if labels is None:
        labels = [f"{t / fps:.2f} s  #{t}" for t in range(len(positions))]
    frames = []
    for index in range(len(projected)) if only is None else only:
        pose_2d = projected[index]
        image = Image.new("RGB", (size, size), BACKGROUND)
        draw = ImageDraw.Draw(image)
        if title:
            draw.text((size / 2, title_h / 2), _fit(title, _font(text_px), size - 8), fill=TEXT_COLOUR,
                      font=_font(text_px), anchor="mm")  # fmt: skip
        _draw_floor(draw, camera, index, title_h)  # the floor and figure sit below the title band
        _draw_pose(draw, camera, pose_2d, index, title_h)
        if labels[index]:
            draw.text((4, title_h + 2), labels[index], fill=LABEL_COLOUR, font=_font(max(9, text_px * 4 // 5)))
        if legend:
            draw_legend(draw, size - 4, title_h + 2, max(9, text_px * 4 // 5))
        frames.append(image)
    return frames


def _draw_floor(draw: ImageDraw.ImageDraw, camera: _Camera, frame: int, offset: int) -> None:
    y = camera.to_pixels(np.array([0.0, camera.floor]), frame)[1] + offset
    draw.line([(0, y), (camera.width, y)], fill=FLOOR_COLOUR, width=1)
    # Ticks fixed on the floor: they slide past as the camera follows the body.
    span = camera.width / camera.scale / 2.0 + FLOOR_TICK_M
    centre = camera.centre[frame]
    tick = max(3, camera.height // 40)
    for mark in np.arange(np.floor((centre - span) / FLOOR_TICK_M), np.ceil((centre + span) / FLOOR_TICK_M) + 1):
        x = camera.width / 2.0 + (mark * FLOOR_TICK_M - centre) * camera.scale
        draw.line([(x, y), (x, y + tick)], fill=FLOOR_COLOUR, width=1)


def save_gif(
    positions: np.ndarray, path: str | Path, fps: float = skeleton.FPS, size: int = 320, title: str | None = None
) -> Path:
    """Write an animated stick-figure GIF of `(T, 22, 3)` positions played at `fps`; `title` on top."""
    frames = render_frames(positions, size=size, title=title, fps=fps)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # GIF delays are in whole centiseconds on most viewers; round to the nearest one.
    duration_ms = int(round(100.0 / fps)) * 10
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=duration_ms, loop=0, optimize=True)
    return path


def filmstrip(
    positions: np.ndarray, count: int = 6, size: int = 200, title: str | None = None, fps: float = skeleton.FPS
) -> Image.Image:
    """Evenly spaced key frames side by side, one camera for all: `(T, 22, 3)` -> an image
    `size * count` wide. Each panel carries its time; the first the left/right legend; `title`
    (e.g. the prompt) runs over the whole strip in a band of its own."""
    positions = _check_positions(positions)
    indices = np.linspace(0, len(positions) - 1, num=min(count, len(positions))).round().astype(int)
    panels = render_frames(
        positions, size=size, fps=fps, labels=[""] * len(positions), legend=False, only=list(indices)
    )
    text_px = max(10, size // 14)
    band = int(text_px * 1.8) if title else 0
    strip = Image.new("RGB", (size * len(indices), size + band), BACKGROUND)
    draw = ImageDraw.Draw(strip)
    if title:
        draw.text((strip.width / 2, band / 2), _fit(title, _font(text_px), strip.width - 8), fill=TEXT_COLOUR,
                  font=_font(text_px), anchor="mm")  # fmt: skip
    label_font = _font(max(9, size // 16))
    for k, index in enumerate(indices):
        strip.paste(panels[k], (k * size, band))
        draw.text((k * size + 4, band + 2), f"{index / fps:.2f} s  #{index}", fill=LABEL_COLOUR, font=label_font)
        if k:
            draw.line([(k * size, band), (k * size, band + size)], fill=FLOOR_COLOUR, width=1)
    draw_legend(draw, strip.width - 4, band + 2, max(9, size // 16))
    return strip


def save_png(
    positions: np.ndarray,
    path: str | Path,
    frame: int | None = None,
    size: int = 320,
    title: str | None = None,
    fps: float = skeleton.FPS,
) -> Path:
    """Write one frame (`frame` index) or, when `frame` is None, a filmstrip of key frames, as PNG;
    `title` (e.g. the prompt) on top."""
    positions = _check_positions(positions)
    if frame is None:
        image = filmstrip(positions, size=size * 2 // 3, title=title, fps=fps)
    else:
        if not -len(positions) <= frame < len(positions):
            raise InputError(f"frame {frame} is outside the motion's {len(positions)} frames")
        index = frame % len(positions)
        image = render_frames(positions, size=size, title=title, fps=fps, only=[index])[0]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


MARK_COLOUR = (240, 160, 0)


def save_before_after_png(
    before: np.ndarray,
    after: np.ndarray,
    path: str | Path,
    size: int = 320,
    title: str | None = None,
    moved_m: float = 0.03,
) -> Path:
    """A pose edit as one PNG: `before` and `after` `(22, 3)` metres side by side under one camera (the
    camera sees both, so heights compare), the joints that moved more than `moved_m` ringed in orange
    on the after panel; `title` (e.g. the command) on top."""
    poses = _check_positions(np.stack([np.asarray(before, np.float64), np.asarray(after, np.float64)]))
    panels = render_frames(poses, size=size, labels=["before", "after"], legend=False)
    text_px = max(10, size // 22)
    band = int(text_px * 1.8) if title else 0
    image = Image.new("RGB", (2 * size, size + band), BACKGROUND)
    draw = ImageDraw.Draw(image)
    if title:
        draw.text((size, band / 2), _fit(title, _font(text_px), 2 * size - 8), fill=TEXT_COLOUR,
                  font=_font(text_px), anchor="mm")  # fmt: skip
    image.paste(panels[0], (0, band))
    image.paste(panels[1], (size, band))
    draw.line([(size, band), (size, band + size)], fill=FLOOR_COLOUR, width=1)
    projected = _project(poses, VIEW_YAW_DEGREES)
    camera = _Camera(projected, size, size, skeleton.FPS)
    moved = np.flatnonzero(np.linalg.norm(poses[1] - poses[0], axis=-1) > moved_m)
    pixels = camera.to_pixels(projected[1], 1) + np.array([size, band])
    radius = max(4, size // 40)
    for joint in moved:
        x, y = pixels[joint]
        draw.ellipse([x - radius, y - radius, x + radius, y + radius], outline=MARK_COLOUR, width=max(2, size // 120))
    draw_legend(draw, 2 * size - 4, band + 2, max(9, text_px * 4 // 5))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path
