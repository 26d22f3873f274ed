"""PoseScript-style description of single poses: `describe_poses` over a batch, `describe_pose` for one.

Pipeline (PoseScript, Delmas et al. 2022; github.com/naver/posescript,
`src/text2pose/posescript/captioning.py`): normalise the heading -> measure the
posecodes (vectorised over the batch) -> noise -> bins -> eligibility and super-posecodes ->
random skip -> entity and symmetry aggregation -> side choices -> ordering -> shared-subject /
shared-predicate grouping -> sentences. Not implemented: the two ripple-effect pruning rules and
the 144 "aligned" super-posecodes (see the module docstring of engine/describe/__init__.py).
"""

from __future__ import annotations

import numpy as np

from engine.describe import aggregate, joints, posecodes, selection, templates
from engine.describe.selection import Code
from engine.errors import InputError

PROP_SKIP = 0.15  # each skippable code is dropped with this probability (PoseScript)
DISTANCE_CLASSES = frozenset(posecodes.OPERATORS["distance"][1])


def evaluate_posecodes(
    poses: np.ndarray, rng: np.random.Generator | None, absolute_only: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Classes `(N, C)`, eligibility `(N, C)` and super-posecode eligibility `(N, S)` of validated
    poses `(N, 22, 3)` float64 metres."""
    coords = joints.code_joints(joints.normalise(poses))
    classes = posecodes.classify(posecodes.measure_all(coords), rng)
    elig, supers = selection.eligibility(classes, absolute_only)
    return classes, elig, supers


def skip_codes(codes: list[Code], rng: np.random.Generator | None, prop: float = PROP_SKIP) -> list[Code]:
    """Drop each skippable (rank 1) code with probability `prop`; keep all if none would be left."""
    if rng is None or not codes:
        return codes
    kept = [c for c in codes if c.rank >= 2 or rng.random() >= prop]
    return kept or codes


def choose_forms(codes: list[Code], rng: np.random.Generator | None) -> list[Code]:
    """Forms of codes relating one part on the left to the same part on the right.

    Distances: "the hands are close together" (always when deterministic, else p = 0.5) rather
    than "the left hand is close to the right hand". Left-right crossing (posX): "the hands are
    crossed", which reads the same on the mirrored body. Above/below, front/behind: the two sides
    swap with p = 0.5, flipping the relation; the deterministic form always says "above" or "in
    front of", so that the text of a mirrored pose is the mirrored text. A leading "=" (B-posecode
    mark of the corrector) is kept.
    """
    out = []
    for code in codes:
        mark = "=" if code.intptt.startswith("=") else ""
        intptt = code.intptt[len(mark) :]
        paired = code.part1 == code.part2 and code.side1 in ("left", "right") and code.side2 != code.side1
        if paired and intptt in DISTANCE_CLASSES and (rng is None or rng.random() < 0.5):
            code = Code("both", code.part1, code.intptt, rank=code.rank)
        elif paired and intptt in ("at_right", "at_left"):
            code = Code("both", code.part1, mark + "crossed", rank=code.rank)
        elif (
            paired
            and intptt in posecodes.OPPOSITE
            and ((rng is None and intptt in ("below", "behind")) or (rng is not None and rng.random() < 0.5))
        ):
            flipped = mark + posecodes.OPPOSITE[intptt]
            code = Code(code.side2, code.part2, flipped, code.side1, code.part1, code.rank)
        out.append(code)
    return out


def _pick(options: list[str], rng: np.random.Generator | None) -> str:
    return options[0] if rng is None else options[int(rng.integers(len(options)))]


def noun(side: str | None, part: str, det: str, rng: np.random.Generator | None) -> tuple[str, bool]:
    """Noun phrase for a body part and whether it is plural ('body' is the whole person)."""
    if part == "body":
        return ("you", True) if det == "your" else (_pick(templates.BODY_SUBJECTS, rng), False)
    words, plural = templates.part_words(side, part)
    if side == "both" and rng is not None and rng.random() < 0.3:
        return f"both {words}", True
    return f"{det} {words}", plural


def pose_phrase(code: Code, det: str, rng: np.random.Generator | None) -> str:
    """What follows the verb: "bent at a right angle", "above the right hand", ..."""
    if code.part2 is None:
        return _pick(templates.POSE_1[code.intptt], rng)
    relation = _pick(templates.POSE_2[code.intptt], rng)
    if code.part2 == code.part1 and rng is not None and rng.random() < 0.3:
        return f"{relation} the other one"
    obj, _ = noun(code.side2, code.part2, det, rng)
    return f"{relation} {obj}"


def join_words(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def render_pose_group(
    group: list[Code], det: str, rng: np.random.Generator | None, verb: tuple[str, str] = ("is", "are")
) -> str:
    """One clause for a group of codes: shared subject, shared predicate, or a single code."""
    kind = aggregate.group_kind(group)
    if kind == "p":
        subjects = [noun(c.side1, c.part1, det, rng)[0] for c in group]
        return f"{join_words(subjects)} {verb[1]} {pose_phrase(group[0], det, rng)}"
    subject, plural = noun(group[0].side1, group[0].part1, det, rng)
    phrases = [pose_phrase(c, det, rng) for c in group]
    return f"{subject} {verb[1] if plural else verb[0]} {join_words(phrases)}"


def caption_codes(codes: list[Code], rng: np.random.Generator | None) -> str:
    """Turn the selected codes of one pose into a description."""
    codes = skip_codes(codes, rng)
    codes = aggregate.merge_entities(codes, rng)
    codes = aggregate.merge_symmetric(codes, rng)
    codes = choose_forms(codes, rng)
    groups = aggregate.group_codes(aggregate.order_codes(codes, rng), rng)
    if not groups:
        return templates.NO_DESCRIPTION
    det = "the" if rng is None else ("the", "their")[int(rng.random() < 0.4)]
    text = ""
    for i, group in enumerate(groups):
        clause = render_pose_group(group, det, rng)
        if i == 0:
            text = clause
        else:
            text += (". " if rng is None else _pick([". ", ". ", ", ", " and ", " while "], rng)) + clause
    return templates.capitalise(text + ".")


def describe_poses(poses: np.ndarray, seed: int | None = None, deterministic: bool = False) -> list[str]:
    """Describe each pose of a batch `(N, 22, 3)` float (metres, Y up, SMPL-22) in English.

    Randomness (noise, skips, templates) comes from `np.random.default_rng(seed)`;
    `deterministic=True` uses no noise, no skip, the first template and a fixed order.
    """
    poses = joints.validate_poses(poses, "poses")
    rng = None if deterministic else np.random.default_rng(seed)
    classes, elig, supers = evaluate_posecodes(poses, rng, absolute_only=False)
    return [caption_codes(selection.codes_of_pose(classes[n], elig[n], supers[n]), rng) for n in range(poses.shape[0])]


def describe_pose(positions: np.ndarray, seed: int | None = None, deterministic: bool = False) -> str:
    """Describe one pose `(22, 3)` float (metres, Y up, facing any direction) in English."""
    if np.ndim(positions) != 2:
        raise InputError(
            f"positions has shape {np.shape(positions)}, but one pose must be (22, 3) "
            f"joint positions in metres; use describe_poses for a batch."
        )
    return describe_poses(joints.validate_poses(positions, "positions"), seed, deterministic)[0]
