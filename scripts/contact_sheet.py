"""Contact sheet: stick figures of procedural motions beside real mocap clips, as one PNG.

Each motion gets a row: its caption, then key frames seen from the side (the body's left side
towards the viewer, travel left to right when walking forward) and from the front. Every frame
is drawn at the same scale, centred on its own pelvis, so poses can be compared across rows, and
carries its time. Left-side bones are blue, right-side red (as in engine/motion/preview.py; the
legend heads the sheet).

Run: python scripts/contact_sheet.py --out docs/contact_sheet.png --real-dir ../shared/data/bandai-namco-2
(without --real-dir, or without engine/formats/canonical.py, only procedural motions are drawn).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from engine.formats.canonical import load_motion
from engine.motion.preview import LABEL_COLOUR, draw_legend
from engine.motion.skeleton import FPS, JOINT_NAMES, PARENTS
from trainer.data.procedural import KINDS, sample_kind

CELL_W, CELL_H = 78, 112
PIXELS_PER_METRE = 52.0
LABEL_H = 14
HEADER_H = 20
COLOURS = {"left": (40, 90, 200), "right": (210, 50, 40), "centre": (50, 50, 50)}


def _colour(joint: int) -> tuple[int, int, int]:
    return COLOURS.get(JOINT_NAMES[joint].split("_")[0], COLOURS["centre"])


def _draw_frame(draw: ImageDraw.ImageDraw, pose: np.ndarray, origin: tuple[int, int], view: str) -> None:
    """One stick figure in a cell; `pose` `(22, 3)` metres, Y up; view 'side' (from +X) or 'front' (from +Z)."""
    # Side: seen from the body's right, so walking forward (+Z) goes left to right. Front: seen
    # from +Z, the body's left (+X) is on the picture's right.
    horizontal = pose[:, 2] if view == "side" else pose[:, 0]
    centre = horizontal[0]
    x = origin[0] + CELL_W / 2 + (horizontal - centre) * PIXELS_PER_METRE
    y = origin[1] + CELL_H - 6 - pose[:, 1] * PIXELS_PER_METRE
    draw.line(
        [(origin[0] + 4, origin[1] + CELL_H - 6), (origin[0] + CELL_W - 4, origin[1] + CELL_H - 6)],
        fill=(200, 200, 200),
    )
    for joint, parent in enumerate(PARENTS):
        if parent >= 0:
            draw.line([(x[parent], y[parent]), (x[joint], y[joint])], fill=_colour(joint), width=2)
    draw.ellipse([x[15] - 4, y[15] - 4, x[15] + 4, y[15] + 4], outline=COLOURS["centre"], width=2)


def draw_row(positions: np.ndarray, label: str, frames: int = 6) -> Image.Image:
    """A labelled strip: `frames` key frames from the side, then the same from the front."""
    keys = np.linspace(0, len(positions) - 1, frames).round().astype(int)
    image = Image.new("RGB", (CELL_W * frames * 2 + 8, CELL_H + LABEL_H), "white")
    draw = ImageDraw.Draw(image)
    draw.text((3, 1), label[:120], fill=(0, 0, 0))
    for k, frame in enumerate(keys):
        _draw_frame(draw, positions[frame], (k * CELL_W, LABEL_H), "side")
        _draw_frame(draw, positions[frame], (frames * CELL_W + 8 + k * CELL_W, LABEL_H), "front")
        for left in (k * CELL_W, frames * CELL_W + 8 + k * CELL_W):
            draw.text((left + 3, LABEL_H + 1), f"{frame / FPS:.1f} s", fill=LABEL_COLOUR)
    draw.line([(frames * CELL_W + 4, LABEL_H), (frames * CELL_W + 4, LABEL_H + CELL_H)], fill=(160, 160, 160))
    return image


def procedural_rows(count: int, seed: int) -> list[tuple[np.ndarray, str]]:
    """One sample of each of `count` different kinds (compositions included), with its first caption."""
    rng = np.random.default_rng(seed)
    kinds = list(KINDS)
    picks = [kinds[i] for i in rng.choice(len(kinds), size=min(count, len(kinds)), replace=False)]
    rows = []
    for i, kind in enumerate(picks):
        sample = sample_kind(kind, seed * 1000 + i)
        rows.append((sample.positions, f"[procedural] {sample.captions[0]}"))
    return rows


def _content(path: Path) -> str:
    """Content label of a Bandai clip from its name: 'dataset-2_walk-turn-left_happy_003' -> 'walk-turn-left'."""
    parts = path.stem.split("_")
    return parts[1] if len(parts) > 2 else path.stem


def real_rows(real_dir: Path, count: int, seed: int) -> list[tuple[np.ndarray, str]]:
    """`count` real clips, one per content label first (so the column shows the dataset's range)."""
    clips = sorted((real_dir / "data").glob("*.bvh"))
    rng = np.random.default_rng(seed)
    order = [clips[i] for i in rng.permutation(len(clips))]
    picked: list[Path] = []
    seen: set[str] = set()
    for path in order:  # one clip of each content label, then fill up with the rest
        if _content(path) not in seen:
            seen.add(_content(path))
            picked.append(path)
    picked += [p for p in order if p not in picked]
    rows = []
    for path in picked[:count]:
        motion = load_motion(path)
        positions = np.asarray(getattr(motion, "positions", motion))
        rows.append((positions[:196], f"[real] {path.stem}"))
    return rows


def build_sheet(procedural: list, real: list) -> Image.Image:
    """Procedural rows in the left column, real rows in the right one."""
    columns = [[draw_row(p, label) for p, label in rows] for rows in (procedural, real) if rows]
    row_w = max(r.width for col in columns for r in col)
    row_h = max(r.height for col in columns for r in col)
    height = row_h * max(len(col) for col in columns)
    sheet = Image.new("RGB", (row_w * len(columns) + 12 * (len(columns) - 1), height), "white")
    for c, col in enumerate(columns):
        for r, row in enumerate(col):
            sheet.paste(row, (c * (row_w + 12), r * row_h))
    return sheet


def with_header(sheet: Image.Image) -> Image.Image:
    """The sheet under a band that says how to read it: the views, and the left/right colours."""
    out = Image.new("RGB", (sheet.width, sheet.height + HEADER_H), "white")
    out.paste(sheet, (0, HEADER_H))
    draw = ImageDraw.Draw(out)
    how = "each row: key frames from the side (forward = left to right), then from the front"
    draw.text((3, 4), how, fill=(0, 0, 0))
    draw_legend(draw, out.width - 6, 3, 12)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/contact_sheet.png"))
    parser.add_argument("--real-dir", type=Path, default=None, help="Bandai-Namco dataset-2 folder")
    parser.add_argument("--count", type=int, default=16, help="rows per column")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    procedural = procedural_rows(args.count, args.seed)
    real = []
    if args.real_dir is not None:
        try:
            real = real_rows(args.real_dir, args.count, args.seed)
        except ImportError as error:
            print(f"real clips skipped: {error}", file=sys.stderr)
    sheet = with_header(build_sheet(procedural, real))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    sheet.convert("P", palette=Image.ADAPTIVE, colors=32).save(args.out, optimize=True)
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KB, {len(procedural)} procedural, {len(real)} real)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
