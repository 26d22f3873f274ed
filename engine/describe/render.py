"""Stick-figure pictures of a pose pair (front and side views of A and of B), with Pillow.

Orthographic views of the heading-normalised poses (each faces +Z): "front" looks at the body
from the front (the body's left is on the picture's right), "side" looks from the body's right
(the body faces the picture's right). Left limbs blue, right limbs red, spine grey.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from engine.describe import joints
from engine.motion import skeleton

PANEL = 200  # pixels per view
MARGIN = 16
METRES_VISIBLE = 2.1  # the panel spans this many metres, so 1.7 m people fit with raised hands
COLOURS = {"left": (40, 90, 220), "right": (220, 50, 40), None: (90, 90, 90)}


def _side(joint: int) -> str | None:
    name = skeleton.JOINT_NAMES[joint]
    return "left" if name.startswith("left") else "right" if name.startswith("right") else None


def _draw_view(draw: ImageDraw.ImageDraw, pose: np.ndarray, origin_x: int, axis: int, sign: float) -> None:
    """Draw one view: horizontal = sign * pose[:, axis], vertical = height."""
    scale = (PANEL - 2 * MARGIN) / METRES_VISIBLE
    x0 = origin_x + PANEL / 2
    y0 = PANEL - MARGIN  # the floor
    points = [(x0 + sign * p[axis] * scale, y0 - p[1] * scale) for p in pose]
    draw.line([(origin_x + 8, y0), (origin_x + PANEL - 8, y0)], fill=(200, 200, 200), width=1)
    for child, parent in enumerate(skeleton.PARENTS):
        if parent >= 0:
            draw.line([points[parent], points[child]], fill=COLOURS[_side(child)], width=3)
    head = points[skeleton.JOINT_INDEX["head"]]
    draw.ellipse([head[0] - 7, head[1] - 7, head[0] + 7, head[1] + 7], outline=(90, 90, 90), width=2)


def render_pair(
    pose_a: np.ndarray, pose_b: np.ndarray, path: str | Path, title_a: str = "A", title_b: str = "B"
) -> Path:
    """Write a PNG with A front, A side, B front, B side; poses `(22, 3)` float metres, Y up."""
    posed = joints.normalise(joints.validate_poses(np.stack([pose_a, pose_b]), "pose pair"))
    image = Image.new("RGB", (4 * PANEL, PANEL + 22), "white")
    draw = ImageDraw.Draw(image)
    for k, (pose, title) in enumerate(((posed[0], title_a), (posed[1], title_b))):
        _draw_view(draw, pose, 2 * k * PANEL, axis=0, sign=1.0)
        _draw_view(draw, pose, (2 * k + 1) * PANEL, axis=2, sign=1.0)
        draw.text((2 * k * PANEL + 6, PANEL + 4), f"{title}: front", fill=(0, 0, 0))
        draw.text(((2 * k + 1) * PANEL + 6, PANEL + 4), f"{title}: side", fill=(0, 0, 0))
    draw.line([(2 * PANEL, 0), (2 * PANEL, PANEL + 22)], fill=(0, 0, 0), width=2)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, optimize=True)
    return path
