"""What the model commands (generate, caption, predict, inbetween, edit-pose, bench) share: the
--bundle/--device/--threads options, loading a bundle's models with a clear sentence when one is
missing, reading `FILE[:frames]` motion arguments and writing .bvh/.npy/.npz/.gif/.png files.
"""

from __future__ import annotations

import argparse
import math
import re
import zipfile
from pathlib import Path

import numpy as np

from engine import protocol
from engine.bundle import configure_torch, default_bundle_dir, load_bundle, models_of
from engine.commands.serve import resolve_device
from engine.errors import InputError, ModelUnavailableError
from engine.motion import preview
from engine.operations import REQUIRES

OUTPUT_SUFFIXES = (".bvh", ".npy", ".npz", ".gif", ".png")
FRAME_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")


def add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bundle",
        type=Path,
        default=None,
        help="model bundle directory (default: the shipped engine/assets/default_bundle)",
    )
    parser.add_argument("--device", choices=("cpu", "cuda", "auto"), default="auto")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch CPU threads (default 1: faster on a busy machine)"
    )


def add_sampling_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=None, help="repeatable sampling")
    parser.add_argument("--temperature", type=float, default=1.0, help="0 = greedy (default %(default)s)")
    parser.add_argument("--top-k", type=int, default=50, help="sample among the k likeliest codes")
    parser.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling mass")


def sampling_args(args: argparse.Namespace) -> dict:
    """The request-style sampling args of engine.models.motion_tasks.sampling_of."""
    return {"seed": args.seed, "temperature": args.temperature, "top_k": args.top_k, "top_p": args.top_p}


def default_sampling(args: argparse.Namespace) -> bool:
    """Whether --temperature/--top-k/--top-p keep their defaults (the engine's predict and inbetween
    take a seed only; they sample with these defaults, engine/models/motion_tasks.py sampling_of)."""
    return (args.temperature, args.top_k, args.top_p) == (1.0, 50, 1.0)


def seconds_value(text: str) -> float:
    """argparse type of a length in seconds: a finite number ('nan' and 'inf' are refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number of seconds")
    return value


def check_prompt(text: object, limits: protocol.Limits = protocol.DEFAULT_LIMITS) -> None:
    """The server's prompt limit, applied before any model loads (InputError when over)."""
    if isinstance(text, str) and len(text) > limits.max_prompt_chars:
        raise InputError(
            f"the text has {len(text)} characters; the engine takes at most {limits.max_prompt_chars}. Shorten it."
        )


def open_bundle(args: argparse.Namespace, operation: str):
    """(bundle, device) with every component `operation` needs, else ModelUnavailableError.
    A prompt (`args.text`) over the engine's limit is refused first, before anything loads."""
    check_prompt(getattr(args, "text", None))
    device = resolve_device(args.device)
    configure_torch(device, args.threads)
    bundle = load_bundle(args.bundle if args.bundle is not None else default_bundle_dir())
    for component in REQUIRES[operation]:
        if not bundle.has(component):
            raise ModelUnavailableError(
                bundle.missing_message(component, operation).replace(
                    "restart `motion-engine serve --bundle DIR`", "pass --bundle DIR"
                )
            )
    return bundle, device


def language_models(args: argparse.Namespace, operation: str) -> tuple:
    """(MotionLM, MotionTokenizer) of the bundle chosen by --bundle."""
    bundle, device = open_bundle(args, operation)
    return models_of(bundle, device).language()


def read_motion(spec: str, what: str = "motion") -> np.ndarray:
    """`FILE`, `FILE:N` (one frame) or `FILE:A-B` (frames A..B inclusive) -> `(T, 22, 3)` float32."""
    from engine.formats.canonical import load_motion  # scipy (~0.3 s): only to read a file

    path, frames = spec, None
    head, sep, tail = spec.rpartition(":")
    if sep and FRAME_RANGE.match(tail) and head:
        path, frames = head, FRAME_RANGE.match(tail)
    try:
        positions = load_motion(path).positions
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
        if isinstance(error, FileNotFoundError):
            raise InputError(f"{what} {path}: no such file") from None
        raise InputError(
            f"{what} {path}: the file cannot be read ({type(error).__name__}: {error}); is it a motion file?"
        ) from None
    if frames is None:
        return positions
    first = int(frames.group(1))
    last = int(frames.group(2)) if frames.group(2) is not None else first
    if not first <= last < len(positions):
        raise InputError(
            f"{what} {spec}: frames {first}-{last} are outside the file's 0-{len(positions) - 1} "
            "(20 fps frames); pick frames inside it"
        )
    return positions[first : last + 1]


def check_output(path: str | Path) -> Path:
    path = Path(path)
    if path.suffix.lower() not in OUTPUT_SUFFIXES:
        raise InputError(f"-o {path}: write one of {', '.join(OUTPUT_SUFFIXES)}")
    if not path.parent.exists():
        raise InputError(f"-o {path}: the folder {path.parent} does not exist")
    return path


def write_motion(positions: np.ndarray, path: str | Path, title: str | None = None) -> Path:
    """Joints `(T, 22, 3)` metres -> .bvh / .npy / .npz (engine.formats.canonical), .gif / .png preview
    (headed by `title`, e.g. the prompt)."""
    from engine.formats.canonical import CanonicalMotion, save_motion  # scipy (~0.3 s): only to write a file

    path = check_output(path)
    suffix = path.suffix.lower()
    if suffix == ".gif":
        preview.save_gif(positions, path, title=title)
    elif suffix == ".png":
        preview.save_png(positions, path, title=title)
    else:
        save_motion(CanonicalMotion(np.asarray(positions, np.float32)), path)
    return path
