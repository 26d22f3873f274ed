"""`motion-engine caption FILE`: describe a motion file in words with the bundle's language model."""

from __future__ import annotations

import argparse

from engine.commands.engine_link import EngineRequest, add_engine_options, run_remote
from engine.commands.task_common import add_model_options, language_models, read_motion
from engine.models.motion_tasks import caption, sampling_of


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("caption", help="motion file -> a sentence (motion-language model)")
    parser.add_argument("input", help="motion file (.bvh, .npy, .npz), optionally FILE:A-B for frames A..B")
    parser.add_argument("--seed", type=int, default=None, help="sample a caption (default: the likeliest, greedy)")
    add_model_options(parser)
    add_engine_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:

    motion = read_motion(args.input)
    reply = run_remote(args, "caption", EngineRequest("motion_to_text", {"seed": args.seed}, {"motion": motion}))
    if reply is not None:
        print(reply.result["text"])
        return 0
    lm, vq = language_models(args, "motion_to_text")
    (text,) = caption(lm, vq, [motion], sampling_of({"seed": args.seed}, greedy=args.seed is None))
    print(text)
    return 0
