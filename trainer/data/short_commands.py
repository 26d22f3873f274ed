"""Short one-clause commands for pose pairs ("raise your left hand", "move your right foot back").

Why: the automatic corrections of engine.describe are long, multi-clause and written in one
vocabulary ("Move your left elbow slightly forward. Your forearms should be straight up and down."),
while animators type short commands with their own verbs. Trained only on the former, the pose
editor ignores most short phrasings (68 % of unseen paraphrases moved the named part the named way).
This module adds, for each pair, a short command naming the extremity that moved most along one
direction, in vocabulary drawn from `short_commands.json` (written for this project).

Directions are measured on pelvis-relative positions in A's frame (A faces +Z, +X is the body's
left, Y up), so a crouch does not read as "lower your hands". A joint qualifies when it moved at
least `min_move` metres along the direction and that direction carries at least half of its motion
(40 % for up and down, which win over a larger forward or sideways move: see moved_parts).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from engine.motion.skeleton import JOINT_INDEX

VOCABULARY_PATH = Path(__file__).with_name("short_commands.json")
# (joint kind, side) -> joint index; a wrist/elbow/knee/ankle on each side.
CANDIDATES = [
    (kind, side, JOINT_INDEX[f"{side}_{kind}"])
    for kind in ("wrist", "elbow", "knee", "ankle")
    for side in ("left", "right")
]
SMALL_M, LARGE_M = 0.15, 0.35  # below: "a little"; above: "a lot"
VERTICAL_SHARE = 0.4  # a rise or drop carrying this share of a joint's move names the direction


def load_vocabulary(path: Path = VOCABULARY_PATH) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def direction_of(axis: int, sign: float, side: str) -> str:
    """Name of a displacement along `axis` (0 x, 1 y, 2 z) with `sign` for a joint on `side`."""
    if axis == 1:
        return "up" if sign > 0 else "down"
    if axis == 2:
        return "forward" if sign > 0 else "back"
    outward = sign > 0 if side == "left" else sign < 0  # +X is the body's left
    return "out" if outward else "in"


def moved_parts(
    pose_a: np.ndarray, pose_b: np.ndarray, min_move: float = 0.08, rng: np.random.Generator | None = None
) -> list[tuple[str, str, str, float]]:
    """The qualifying (kind, side, direction, metres) of one pair, at most one per limb, limbs by
    largest move first. Poses `(22, 3)` metres, B in A's frame.

    Within a limb the joint that moved most is named, or with `rng` any qualifying joint of it: a knee
    lift also moves the ankle further, so always naming the largest mover would almost never say
    "knee" or "elbow" (138 knee-up commands against 1,456 foot-up ones on the Bandai + procedural
    build). The elbow and knee qualify from 3/4 of `min_move`: they sit closer to the body.
    """
    a = pose_a - pose_a[0]
    b = pose_b - pose_b[0]
    by_limb: dict[tuple[str, str], list] = {}
    for kind, side, joint in CANDIDATES:
        delta = b[joint] - a[joint]
        norm = float(np.linalg.norm(delta))
        threshold = min_move * (0.75 if kind in ("elbow", "knee") else 1.0)
        # Vertical first: lifting a knee moves it forward more than up, yet people say "lift".
        axis = 1 if abs(delta[1]) >= max(threshold, VERTICAL_SHARE * norm) else int(np.argmax(np.abs(delta)))
        along = float(abs(delta[axis]))
        if along >= threshold and along >= (VERTICAL_SHARE if axis == 1 else 0.5) * norm:
            limb = (side, "arm" if kind in ("wrist", "elbow") else "leg")
            by_limb.setdefault(limb, []).append((kind, side, direction_of(axis, delta[axis], side), along))
    chosen = []
    for options in sorted(by_limb.values(), key=lambda found: -max(item[3] for item in found)):
        options.sort(key=lambda item: -item[3])
        chosen.append(options[int(rng.integers(len(options)))] if rng is not None else options[0])
    return chosen


def phrase(kind: str, side: str, direction: str, metres: float, vocabulary: dict, rng: np.random.Generator) -> str:
    """One clause, e.g. 'lift your left knee a little' or 'move your right foot back'."""
    entry = vocabulary["directions"][direction]
    part = str(rng.choice(vocabulary["parts"][kind]))
    if rng.random() < 0.6:  # a verb that names the direction, sometimes with a destination
        words = [str(rng.choice(entry["verbs"]))]
        if kind in ("wrist", "elbow") and rng.random() < 0.25:  # destinations are for hands
            words.append(str(rng.choice(entry["destinations"])))
    else:  # a plain verb and a direction word
        words = [str(rng.choice(vocabulary["plain_verbs"])), str(rng.choice(entry["words"]))]
    if metres < SMALL_M and rng.random() < 0.5:
        words.append(str(rng.choice(vocabulary["small"])))
    elif metres > LARGE_M and rng.random() < 0.5:
        words.append(str(rng.choice(vocabulary["large"])))
    return " ".join(words).format(side=side, part=part)


def short_command(
    pose_a: np.ndarray, pose_b: np.ndarray, vocabulary: dict, rng: np.random.Generator, min_move: float = 0.08
) -> str | None:
    """A short command for one pair (one clause, sometimes two joined), or None when no extremity
    moved clearly along one direction."""
    parts = moved_parts(pose_a, pose_b, min_move, rng)
    if not parts:
        return None
    clauses = [phrase(*parts[0], vocabulary, rng)]
    if len(parts) > 1 and rng.random() < 0.3:
        clauses.append(phrase(*parts[1], vocabulary, rng))
    text = str(rng.choice(vocabulary["openers"])) + str(rng.choice(vocabulary["joiners"])).join(clauses)
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!")) else text + "."


def all_clauses(vocabulary: dict | None = None):
    """Every clause `phrase` can write (openers and joiners aside), lower case: for checking that
    a benchmark's held-out phrasings cannot come out of this vocabulary."""
    vocabulary = vocabulary or load_vocabulary()
    sizes = [""] + [" " + s for s in vocabulary["small"] + vocabulary["large"]]
    for entry in vocabulary["directions"].values():
        for kind, parts in vocabulary["parts"].items():
            heads = list(entry["verbs"]) + [f"{v} {w}" for v in vocabulary["plain_verbs"] for w in entry["words"]]
            if kind in ("wrist", "elbow"):
                heads += [f"{v} {d}" for v in entry["verbs"] for d in entry["destinations"]]
            for head in heads:
                for part in parts:
                    for side in ("left", "right"):
                        for size in sizes:
                            yield (head + size).format(side=side, part=part).lower()


def add_short_commands(
    pose_a: np.ndarray, pose_b: np.ndarray, texts: list[list[str]], seed: int = 0, min_move: float = 0.08
) -> tuple[list[list[str]], int]:
    """Each pair's text options plus one short command when one applies: `(N, 22, 3)` poses, B in
    A's frame. Returns the new option lists and how many pairs got a command."""
    vocabulary = load_vocabulary()
    rng = np.random.default_rng(seed)
    out, added = [], 0
    for a, b, options in zip(pose_a, pose_b, texts):
        command = short_command(np.asarray(a, np.float64), np.asarray(b, np.float64), vocabulary, rng, min_move)
        out.append(list(options) + ([command] if command else []))
        added += command is not None
    return out, added
