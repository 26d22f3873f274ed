"""`motion-engine generate "TEXT" -o OUT`: text -> motion with the bundle's language model.

motion-engine generate "a person walks forward and waves" -o walk.bvh --seconds 4 --seed 1
"""

from __future__ import annotations

import argparse

from engine.commands.task_common import (
    add_model_options,
    add_sampling_options,
    check_output,
    language_models,
    sampling_args,
    write_motion,
)
from engine.errors import InputError
from engine.models.motion_tasks import generate, sampling_of


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("generate", help="text -> motion file (.bvh, .npy, .npz, .gif)")
    parser.add_argument("text", help="what the character does")
    parser.add_argument("-o", "--output", required=True, help="OUT.bvh, .npy (T, 22, 3), .npz, .gif or .png")
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--frames", type=int, default=None, help="length in 20 fps frames (default: the model's)")
    length.add_argument("--seconds", type=float, default=None, help="length in seconds")
    add_sampling_options(parser)
    add_model_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:

    check_output(args.output)
    frames = args.frames if args.seconds is None else round(args.seconds * 20)
    if frames is not None and frames < 1:
        raise InputError(f"--frames/--seconds must give at least one frame, got {frames}")
    lm, vq = language_models(args, "text_to_motion")
    (motion,) = generate(lm, vq, [args.text], [frames], sampling_of(sampling_args(args)))
    path = write_motion(motion, args.output, title=args.text)
    print(f"wrote {path}: {len(motion)} frames at 20 fps ({len(motion) / 20:.2f} s)")
    return 0
