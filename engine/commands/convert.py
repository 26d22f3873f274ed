"""`motion-engine convert IN OUT`: convert motion files between .bvh, .npy and .npz.

Every conversion goes through canonical SMPL-22 motion (engine.formats.canonical): BVH input is
mapped by rig preset / name matching and resampled to 20 fps; BVH output uses SMPL-22 joint
names in metres. Example: `motion-engine convert walk.bvh walk.npy --preset bandai --units cm`.
"""

from __future__ import annotations

import argparse
import json

from engine.errors import InputError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("convert", help="convert motion files (.bvh, .npy, .npz) via SMPL-22")
    parser.add_argument("input", help="motion file to read (.bvh, .npy HumanML3D features or joints, .npz)")
    parser.add_argument("output", help="file to write (.bvh, .npy joints (T, 22, 3), .npz)")
    parser.add_argument(
        "--preset",
        default=None,
        help="rig preset of a BVH input: smpl, mixamo, rigify, bandai or auto (default: detect, else match names)",
    )
    parser.add_argument(
        "--map",
        dest="joint_map",
        default=None,
        help="JSON file of SMPL joint -> source joint name (or {name: weight}) overrides",
    )
    parser.add_argument(
        "--units",
        default=None,
        help="length unit of the input: m, cm, mm, inch, ft or metres per unit "
        "(default: detected for BVH, metres for arrays)",
    )
    parser.add_argument(
        "--body-model", default=None, help="folder holding your SMPL-H/SMPL-X model files (AMASS .npz input)"
    )
    parser.add_argument("--order", default="ZXY", help="Euler channel order of a BVH output (default ZXY)")
    parser.set_defaults(run=run)


def _units(value: str | None) -> str | float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return value


def run(args: argparse.Namespace) -> int:
    from engine.formats.canonical import load_motion, save_motion  # scipy (~0.3 s): only to convert

    explicit = None
    if args.joint_map:
        try:
            with open(args.joint_map, encoding="utf-8") as handle:
                explicit = json.load(handle)
        except (OSError, ValueError) as error:
            raise InputError(f"--map {args.joint_map}: cannot read a JSON joint map ({error}).") from None
        if not isinstance(explicit, dict):
            raise InputError(f"--map {args.joint_map}: expected a JSON object of SMPL joint -> bone name.")
    motion = load_motion(
        args.input, preset=args.preset, units=_units(args.units), explicit_map=explicit, body_model=args.body_model
    )
    save_motion(motion, args.output, order=args.order)
    print(
        f"{args.input} -> {args.output}: {motion.num_frames} frames at {motion.fps:g} fps "
        f"({motion.num_frames / motion.fps:.2f} s), SMPL-22 joints"
    )
    return 0
