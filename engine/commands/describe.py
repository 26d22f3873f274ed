"""`motion-engine describe-pose FILE[:frame]` and `motion-engine describe-change A B`.

A and B are motion files (.bvh/.npy/.npz, engine.formats.canonical) or `FILE:frame` (frame index
at the canonical 20 fps; default 0, negative counts from the end). Examples:

    motion-engine describe-pose clip.bvh:40 --deterministic
    motion-engine describe-change clip.bvh:0 clip.bvh:30 --seed 3
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from engine.describe import describe_change, describe_pose
from engine.errors import InputError


def register(subparsers: argparse._SubParsersAction) -> None:
    for name, helptext in (
        ("describe-pose", "describe one pose of a motion file in English"),
        ("describe-change", "instruction that turns pose A into pose B"),
    ):
        parser = subparsers.add_parser(name, help=helptext)
        if name == "describe-pose":
            parser.add_argument("pose", metavar="FILE[:frame]", help="motion file, optionally with a frame index")
        else:
            parser.add_argument("pose_a", metavar="A", help="FILE[:frame] of the starting pose")
            parser.add_argument("pose_b", metavar="B", help="FILE[:frame] of the target pose")
        parser.add_argument("--seed", type=int, default=None, help="seed for template choice and noise")
        parser.add_argument("--deterministic", action="store_true", help="no noise, first template, stable output")
        parser.add_argument("--preset", default=None, help="BVH rig preset (e.g. bandai); detected if omitted")
        parser.add_argument("--count", type=int, default=1, help="print this many variants (seed, seed+1, ...)")
        parser.set_defaults(run=run)


def split_spec(spec: str) -> tuple[Path, int]:
    """'clip.bvh:12' -> (Path('clip.bvh'), 12); 'clip.bvh' -> (Path('clip.bvh'), 0)."""
    head, sep, tail = spec.rpartition(":")
    if sep and head and tail.lstrip("-").isdigit():
        return Path(head), int(tail)
    return Path(spec), 0


def load_pose(spec: str, preset: str | None) -> np.ndarray:
    """The canonical `(22, 3)` pose named by FILE[:frame]."""
    from engine.formats.canonical import load_motion  # scipy (~0.3 s): only to read a file

    path, frame = split_spec(spec)
    positions = load_motion(path, preset=preset).positions
    if not -len(positions) <= frame < len(positions):
        raise InputError(
            f"{spec}: frame {frame} is out of range; {path} has {len(positions)} frames "
            f"at 20 fps (use 0..{len(positions) - 1})."
        )
    return np.asarray(positions[frame], dtype=np.float64)


def run(args: argparse.Namespace) -> int:

    if args.count < 1:
        raise InputError(f"--count is {args.count}; it must be at least 1.")
    if args.command == "describe-pose":
        poses = (load_pose(args.pose, args.preset),)
        describe = describe_pose
    else:
        poses = (load_pose(args.pose_a, args.preset), load_pose(args.pose_b, args.preset))
        describe = describe_change
    for k in range(1 if args.deterministic else args.count):
        seed = None if args.seed is None else args.seed + k
        print(describe(*poses, seed=seed, deterministic=args.deterministic))
    return 0
