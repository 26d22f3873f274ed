"""`motion-engine edit-pose FILE[:frame] "TEXT" -o OUT`: correct one pose with the pose editor.

    motion-engine edit-pose walk.bvh:30 "raise your left arm" -o raised.bvh
The frame defaults to 0; OUT holds the edited pose as a one-frame motion (at the origin facing +Z).
A .png OUT shows the pose before and after side by side, the moved joints ringed.
"""

from __future__ import annotations

import argparse

import numpy as np

from engine.bundle import models_of
from engine.commands.engine_link import EngineRequest, add_engine_options, run_remote
from engine.commands.task_common import (
    FRAME_RANGE,
    add_model_options,
    check_output,
    open_bundle,
    read_motion,
    write_motion,
)
from engine.describe.joints import normalise
from engine.errors import InputError
from engine.models.posefix_handlers import edit_pose
from engine.motion.preview import save_before_after_png
from engine.operations import Job


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("edit-pose", help="pose + correction text -> pose (PoseFix editor)")
    parser.add_argument("input", help="motion file and frame: FILE or FILE:N (default frame 0)")
    parser.add_argument("text", help="the correction, e.g. 'raise your left arm'")
    parser.add_argument("-o", "--output", required=True, help="OUT.bvh, .npy (1, 22, 3), .npz, .gif or .png")
    parser.add_argument("--seed", type=int, default=None, help="sample an edit (default: the most likely one)")
    add_model_options(parser)
    add_engine_options(parser)
    parser.set_defaults(run=run)


def edit_here(args: argparse.Namespace, job_args: dict, pose: np.ndarray) -> np.ndarray:
    """The edited `(22, 3)` pose, computed in this process with the bundle's pose editor only."""
    bundle, device = open_bundle(args, "edit_pose")
    (outcome,) = edit_pose(models_of(bundle, device), [Job(b"cli", "1", "edit_pose", job_args, {"pose": pose})])
    if isinstance(outcome, Exception):
        raise outcome
    return outcome[1]["pose"]


def run(args: argparse.Namespace) -> int:
    check_output(args.output)
    if not args.text.strip():
        raise InputError("the correction text is empty; say how the pose should change")
    has_frame = bool(FRAME_RANGE.match(args.input.rpartition(":")[2])) and ":" in args.input
    pose = read_motion(args.input if has_frame else f"{args.input}:0", "pose")
    if len(pose) != 1:
        raise InputError(f"{args.input}: edit-pose takes one frame (FILE:N), got {len(pose)}")
    job_args = {"text": args.text} if args.seed is None else {"text": args.text, "seed": args.seed}
    reply = run_remote(args, "edit-pose", EngineRequest("edit_pose", job_args, {"pose": pose[0]}))
    edited = edit_here(args, job_args, pose[0]) if reply is None else reply.arrays["pose"]
    if args.output.lower().endswith(".png"):
        path = save_before_after_png(normalise(pose[:1].astype("float64"))[0], edited, args.output, title=args.text)
        print(f"wrote {path}: the pose before and after the edit, moved joints ringed")
        return 0
    path = write_motion(edited[None], args.output)
    print(f"wrote {path}: the edited pose")
    return 0
