"""PoseFix-style correction instructions: how to go from pose A to pose B, in the second person.

Pipeline (PoseFix, Delmas et al. 2023; github.com/naver/posescript, `src/text2pose/posefix/correcting.py`
and `corrective_data.py`): paircodes and super-paircodes of (A, B), the
"absolute" posecodes of B restricted to the body parts that changed or hang below one that changed
(PoseFix `main`'s filter, so "your knees should be straight" is not repeated for untouched legs),
random skip, entity and symmetry aggregation, ordering along the body, grouping, imperative
templates, and the global-rotation sentence first. Each pose is heading-normalised on its own; the
heading difference is what the rotation sentence reports.
"""

from __future__ import annotations

import numpy as np

from engine.describe import aggregate, captioner, joints, paircodes, posecodes, selection, templates
from engine.describe.selection import Code
from engine.errors import InputError
from engine.motion.heading import heading_angle

POSE_MARK = "="  # prefix of B-posecode interpretations, to keep them apart from paircodes
IDENTICAL_TOLERANCE = 1e-6  # metres: pairs closer than this everywhere are "the same"
_CHAINS = (aggregate.ARM_PARTS, aggregate.LEG_PARTS)


# The limb segment that turns when this joint moves (the upper arm swings when the elbow moves).
SEGMENT_ABOVE = {
    "elbow": "upperarm",
    "wrist": "forearm",
    "hand": "forearm",
    "knee": "thigh",
    "ankle": "shin",
    "foot": "shin",
}


def _downstream(side: str | None, part: str) -> set[tuple[str, str]]:
    """Sided parts changed by a change of `part`: the part, the segment above it, and everything
    below it on its limb ('arm'/'leg' = the whole limb). PoseFix `main`'s filter, plus the segment."""
    sides = ("left", "right") if side in ("both", None) else (side,)
    out = set()
    for chain in _CHAINS:
        if part in chain:
            start = 0 if part in ("arm", "leg") else chain.index(part)
            parts = set(chain[start:]) | ({SEGMENT_ABOVE[part]} if part in SEGMENT_ABOVE else set())
            out |= {(s, p) for s in sides for p in parts}
    return out


def _keep_b_code(code: Code, changed: set[tuple[str, str]]) -> bool:
    def touched(side, part):
        if part is None:
            return False
        if part == "body":  # kneeling: about the legs
            return any(p in aggregate.LEG_PARTS for _, p in changed)
        if part == "torso":
            return any(p == "shoulder" for _, p in changed)
        sides = ("left", "right") if side == "both" else (side,)
        return any((s, part) in changed for s in sides)

    # The subject must have changed: "your right hand should be level with your left thigh" is noise
    # when only the leg moved. A left-right code ("your knees should be close") counts both sides.
    if code.part1 == code.part2 and code.side2 is not None:
        return touched(code.side1, code.part1) or touched(code.side2, code.part2)
    return touched(code.side1, code.part1)


def _b_codes(
    classes_b: np.ndarray,
    elig_b: np.ndarray,
    super_b: np.ndarray,
    used_b: set[tuple[str, int]],
    changed: set[tuple[str, str]],
) -> list[Code]:
    elig = elig_b.copy()
    for key, k in used_b:
        c = posecodes.POSECODE_INDEX[key]
        if classes_b[c] == k:
            elig[c] = 0
    out = []
    for code in selection.codes_of_pose(classes_b, elig, super_b):
        if _keep_b_code(code, changed):
            out.append(code._replace(intptt=POSE_MARK + code.intptt))
    return out


def _pick(options: list[str], rng: np.random.Generator | None) -> str:
    return options[0] if rng is None else options[int(rng.integers(len(options)))]


def _template(code: Code, rng: np.random.Generator | None) -> str:
    magnitude = code.magnitude
    while (code.intptt, magnitude) not in templates.PAIR:
        magnitude -= 1
    return _pick(templates.PAIR[(code.intptt, magnitude)], rng)


def _your(code: Code) -> str:
    words, _ = templates.part_words(code.side1, code.part1)
    return f"your {words}"


def render_pair_group(group: list[Code], rng: np.random.Generator | None) -> str:
    """One imperative clause: "bend your left knee more and raise it", "raise your hands"."""
    if group[0].intptt.startswith(POSE_MARK):
        plain = [c._replace(intptt=c.intptt[len(POSE_MARK) :]) for c in group]
        return captioner.render_pose_group(plain, "your", rng, verb=("should be", "should be"))
    if aggregate.group_kind(group) == "p":
        return _template(group[0], rng).format(captioner.join_words([_your(c) for c in group]))
    pronoun = "them" if group[0].side1 == "both" else "it"
    parts = [_template(c, rng).format(_your(c) if i == 0 else pronoun) for i, c in enumerate(group)]
    return captioner.join_words(parts)


def instruct_codes(codes: list[Code], rotation: str | None, rng: np.random.Generator | None) -> str:
    """Turn the selected codes of one pair (paircodes and marked B-posecodes) into an instruction."""
    codes = captioner.skip_codes(codes, rng)
    codes = aggregate.merge_entities(codes, rng)
    codes = aggregate.merge_symmetric(codes, rng)
    codes = captioner.choose_forms(codes, rng)
    ordered = aggregate.order_codes(codes, rng)
    groups = aggregate.group_codes(ordered, rng, family=lambda c: c.intptt.startswith(POSE_MARK))
    clauses = [(render_pair_group(g, rng), g[0].intptt.startswith(POSE_MARK)) for g in groups]
    if rotation is not None:
        clauses.insert(0, (_pick(templates.ROTATION[rotation], rng), False))
    if not clauses:
        return templates.NO_CHANGE
    text, previous_is_state, link = clauses[0][0], clauses[0][1], ". "
    for clause, is_state in clauses[1:]:
        # "Your knee should be straight" is a statement: never glue it to an imperative with "and".
        if rng is None or is_state or previous_is_state:
            link = ". "
        else:
            link = _pick([". ", ". ", " and "] + ([", then "] if link != ", then " else []), rng)
        text += link + clause
        previous_is_state = is_state
    return templates.capitalise(text + ".")


def describe_changes(
    poses_a: np.ndarray, poses_b: np.ndarray, seed: int | None = None, deterministic: bool = False
) -> list[str]:
    """Instructions turning each pose A into its pose B: two `(N, 22, 3)` float batches (metres, Y up).

    Identical pairs get templates.SAME_POSES; pairs with no change big enough get templates.NO_CHANGE.
    """
    poses_a = joints.validate_poses(poses_a, "pose A")
    poses_b = joints.validate_poses(poses_b, "pose B")
    if poses_a.shape != poses_b.shape:
        raise InputError(
            f"pose A has {poses_a.shape[0]} poses but pose B has {poses_b.shape[0]}; pass batches of the same length."
        )
    rng = None if deterministic else np.random.default_rng(seed)
    identical = np.abs(poses_a - poses_b).max(axis=(1, 2)) <= IDENTICAL_TOLERANCE
    yaw = np.degrees(heading_angle(poses_b) - heading_angle(poses_a))
    rotations = paircodes.rotation_classes(yaw, rng)
    coords_a = joints.code_joints(joints.normalise(poses_a))
    coords_b = joints.code_joints(joints.normalise(poses_b))
    classes_a = posecodes.classify(posecodes.measure_all(coords_a), rng)
    classes_b = posecodes.classify(posecodes.measure_all(coords_b), rng)
    elig_b, super_b = selection.eligibility(classes_b, absolute_only=True)
    pair_classes = paircodes.classify_pairs(paircodes.measure_pairs(coords_a, coords_b), rng)
    texts = []
    for n in range(poses_a.shape[0]):
        if identical[n]:
            texts.append(templates.SAME_POSES)
            continue
        codes, used_b = paircodes.pair_codes(pair_classes[n], classes_a[n], classes_b[n])
        changed = set().union(*[_downstream(c.side1, c.part1) for c in codes]) if codes else set()
        codes += _b_codes(classes_b[n], elig_b[n], super_b[n], used_b, changed)
        texts.append(instruct_codes(codes, rotations[n], rng))
    return texts


def describe_change(
    pose_a: np.ndarray, pose_b: np.ndarray, seed: int | None = None, deterministic: bool = False
) -> str:
    """Instruction turning one pose A `(22, 3)` into pose B `(22, 3)` (float, metres, Y up)."""
    for name, pose in (("pose A", pose_a), ("pose B", pose_b)):
        if np.ndim(pose) != 2:
            raise InputError(
                f"{name} has shape {np.shape(pose)}, but one pose must be (22, 3) joint "
                f"positions in metres; use describe_changes for batches."
            )
    return describe_changes(pose_a, pose_b, seed, deterministic)[0]
