"""`motion-engine generate "TEXT" -o OUT`: text -> motion with the bundle's language model.

motion-engine generate "a person walks forward and waves" -o walk.bvh --seconds 4 --seed 1

A prompt far from everything the model was trained on (the bundle's prompt gate,
engine/models/prompt_gate.py) is refused: the sentence naming the closest things it can do goes to
stderr and the command exits with status 3. `--anyway` generates regardless.

With an engine running (`motion-engine serve`, or `--engine ADDRESS`) the engine generates it
(engine/commands/engine_link.py): same file, same lines, same exit status, in well under a second.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from engine.bundle import models_of
from engine.commands.engine_link import EngineRequest, add_engine_options, run_remote
from engine.commands.task_common import (
    add_model_options,
    add_sampling_options,
    check_output,
    check_prompt,
    open_bundle,
    sampling_args,
    seconds_value,
    write_motion,
)
from engine.errors import InputError, UnknownPromptError
from engine.models.motion_tasks import generate, sampling_of


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("generate", help="text -> motion file (.bvh, .npy, .npz, .gif)")
    parser.add_argument("text", help="what the character does")
    parser.add_argument("-o", "--output", required=True, help="OUT.bvh, .npy (T, 22, 3), .npz, .gif or .png")
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--frames", type=int, default=None, help="length in 20 fps frames (default: the model's)")
    length.add_argument("--seconds", type=seconds_value, default=None, help="length in seconds")
    parser.add_argument(
        "--anyway",
        action="store_true",
        help="generate even when the prompt is far from everything the model was trained on (else: exit status 3)",
    )
    add_sampling_options(parser)
    add_model_options(parser)
    add_engine_options(parser)
    parser.set_defaults(run=run)


def generate_here(args: argparse.Namespace, frames: int | None) -> np.ndarray:
    """`(frames, 22, 3)` generated in this process: the language model and the tokenizer, and the
    prompt gate unless --anyway (UnknownPromptError when it refuses); nothing else loads."""
    models = models_of(*open_bundle(args, "text_to_motion"))
    gate = None if args.anyway else models.prompt_gate()
    if gate is not None:
        gate.check(args.text)
    lm, vq = models.language()
    (motion,) = generate(lm, vq, [args.text], [frames], sampling_of(sampling_args(args)))
    return motion


def run(args: argparse.Namespace) -> int:

    check_output(args.output)
    frames = args.frames if args.seconds is None else round(args.seconds * 20)
    if frames is not None and frames < 1:
        raise InputError(f"--frames/--seconds must give at least one frame, got {frames}")
    check_prompt(args.text)
    request_args = {"text": args.text, "frames": frames, "anyway": True if args.anyway else None}
    request = EngineRequest("text_to_motion", {**request_args, **sampling_args(args)})
    try:
        reply = run_remote(args, "generate", request)
        motion = generate_here(args, frames) if reply is None else reply.arrays["positions"]
    except UnknownPromptError as refusal:
        print(f"motion-engine generate: {refusal}", file=sys.stderr)
        return 3
    path = write_motion(motion, args.output, title=args.text)
    print(f"wrote {path}: {len(motion)} frames at 20 fps ({len(motion) / 20:.2f} s)")
    return 0
