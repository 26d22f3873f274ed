"""`motion-engine preview IN OUT`: a stick-figure picture of any motion file (.gif animated, .png frame)."""

from __future__ import annotations

import argparse

from engine.errors import InputError
from engine.motion import preview


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("preview", help="draw a motion file as a stick-figure GIF or PNG")
    parser.add_argument("input", help="motion file (.bvh, .npy, .npz)")
    parser.add_argument("output", help="OUT.gif (animated) or OUT.png (one frame, or a filmstrip without --frame)")
    parser.add_argument("--frame", type=int, default=None, help="frame index for a PNG (default: a filmstrip)")
    parser.add_argument("--preset", default=None, help="rig preset of a BVH input (default: detect)")
    parser.add_argument("--size", type=int, default=320, help="picture size in pixels")
    parser.add_argument("--title", default=None, help="a line over the picture (e.g. the prompt)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from engine.formats.canonical import load_motion  # scipy (~0.3 s): only to read a file

    motion = load_motion(args.input, preset=args.preset)
    if args.output.lower().endswith(".gif"):
        path = preview.save_gif(motion.positions, args.output, fps=motion.fps, size=args.size, title=args.title)
    elif args.output.lower().endswith(".png"):
        path = preview.save_png(
            motion.positions, args.output, frame=args.frame, size=args.size, title=args.title, fps=motion.fps
        )
    else:
        raise InputError(f"{args.output}: the preview must be a .gif or a .png file")
    print(f"wrote {path} ({motion.num_frames} frames at {motion.fps:g} fps)")
    return 0
