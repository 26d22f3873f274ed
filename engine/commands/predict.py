"""`motion-engine predict FILE -o OUT`: continue a motion with the bundle's language model.

OUT holds the input followed by the new frames (only the new ones with --only-new), in the input's
placement: the continuation starts where and how the input ends.
"""

from __future__ import annotations

import argparse

import numpy as np

from engine.commands.engine_link import EngineRequest, add_engine_options, run_remote
from engine.commands.task_common import (
    add_model_options,
    add_sampling_options,
    check_output,
    default_sampling,
    language_models,
    read_motion,
    sampling_args,
    write_motion,
)
from engine.errors import InputError
from engine.models.motion_tasks import continue_motion, sampling_of


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("predict", help="continue a motion file")
    parser.add_argument("input", help="motion file (.bvh, .npy, .npz), optionally FILE:A-B for frames A..B")
    parser.add_argument("-o", "--output", required=True, help="OUT.bvh, .npy, .npz, .gif or .png")
    parser.add_argument("--frames", type=int, default=40, help="new 20 fps frames (default %(default)s)")
    parser.add_argument("--only-new", action="store_true", help="write only the new frames")
    add_sampling_options(parser)
    add_model_options(parser)
    add_engine_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:

    check_output(args.output)
    if args.frames < 1:
        raise InputError(f"--frames must be at least 1, got {args.frames}")
    prefix = read_motion(args.input)
    # The protocol's predict takes a seed but no sampling settings: other settings load the models here.
    request = EngineRequest("predict", {"frames": args.frames, "seed": args.seed}, {"motion": prefix})
    reply = run_remote(args, "predict", request) if default_sampling(args) else None
    if reply is not None:
        new = reply.arrays["positions"]
    else:
        lm, vq = language_models(args, "predict")
        new = continue_motion(lm, vq, prefix, args.frames, sampling_of(sampling_args(args)))
    motion = new if args.only_new else np.concatenate([prefix, new])
    path = write_motion(motion, args.output)
    print(f"wrote {path}: {len(new)} new frames after {len(prefix)} ({len(motion)} frames in the file)")
    return 0
