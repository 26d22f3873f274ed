"""`motion-engine inbetween A B -o OUT --frames N`: fill N frames between two motions.

A and B are motion files or `FILE:N` / `FILE:A-B` frame ranges (20 fps frames, inclusive), e.g.
`inbetween walk.bvh:0-20 walk.bvh:60-80 -o fill.bvh --frames 39`. OUT holds A, the new frames
and B (only the new frames with --only-new). Two separate files are each read in their own placement.
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
from engine.models.motion_tasks import fill_gap, sampling_of


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("inbetween", help="fill frames between two motions or poses")
    parser.add_argument("start", help="motion before the gap: FILE, FILE:N or FILE:A-B")
    parser.add_argument("end", help="motion after the gap: FILE, FILE:N or FILE:A-B")
    parser.add_argument("-o", "--output", required=True, help="OUT.bvh, .npy, .npz, .gif or .png")
    parser.add_argument("--frames", type=int, default=20, help="frames between them (default %(default)s)")
    parser.add_argument("--only-new", action="store_true", help="write only the new frames")
    add_sampling_options(parser)
    add_model_options(parser)
    add_engine_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:

    check_output(args.output)
    if args.frames < 1:
        raise InputError(f"--frames must be at least 1, got {args.frames}")
    start, end = read_motion(args.start, "start"), read_motion(args.end, "end")
    # The protocol's inbetween takes a seed but no sampling settings: other settings load the models here.
    request = EngineRequest("inbetween", {"frames": args.frames, "seed": args.seed}, {"start": start, "end": end})
    reply = run_remote(args, "inbetween", request) if default_sampling(args) else None
    if reply is not None:
        gap = reply.arrays["positions"]
    else:
        lm, vq = language_models(args, "inbetween")
        gap = fill_gap(lm, vq, start, end, args.frames, sampling_of(sampling_args(args)))
    motion = gap if args.only_new else np.concatenate([start, gap, end])
    path = write_motion(motion, args.output)
    print(f"wrote {path}: {len(gap)} frames between {len(start)} and {len(end)} ({len(motion)} in the file)")
    return 0
