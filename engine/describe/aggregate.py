"""Aggregation and ordering of codes, shared by pose descriptions and pose-change instructions.

Rules from PoseScript/PoseFix (Delmas et al. 2022/2023; github.com/naver/posescript,
`src/text2pose/posescript/captioning.py` `aggregate_posecodes`, `src/text2pose/posefix/correcting.py`
`aggregate_paircodes`, `src/text2pose/posescript/utils.py` `order_codes`): entity merges (hand +
elbow = arm), left/right symmetry merges (left knee + right knee = both knees), grouping of codes that share a
subject or a predicate, and ordering along the body (torso first, then each limb from its root).
Every random choice goes through the caller's Generator; `rng=None` means the deterministic
choice (merge always, fixed order).
"""

from __future__ import annotations

import numpy as np

from engine.describe.selection import Code

PROP_AGGREGATION = 0.95  # each aggregation fires with this probability (PoseScript/PoseFix)
MAX_GROUP = 3  # random mode: at most this many codes share one clause, to keep sentences short

# (first parts, second part) -> the entity they form, on the same side.
ENTITIES: tuple[tuple[frozenset[str], str, str], ...] = (
    (frozenset({"hand", "wrist"}), "elbow", "arm"),
    (frozenset({"foot", "ankle"}), "knee", "leg"),
    (frozenset({"forearm"}), "upperarm", "arm"),
    (frozenset({"shin"}), "thigh", "leg"),
)

CENTRAL_PARTS = ("body", "torso", "neck", "head", "pelvis")
ARM_PARTS = ("shoulder", "arm", "upperarm", "elbow", "forearm", "wrist", "hand")
LEG_PARTS = ("hip", "leg", "thigh", "knee", "shin", "ankle", "foot")
LIMBS = (("left", ARM_PARTS), ("right", ARM_PARTS), ("left", LEG_PARTS), ("right", LEG_PARTS))


def _fires(rng: np.random.Generator | None) -> bool:
    return rng is None or rng.random() < PROP_AGGREGATION


def _entity_of(part_a: str, part_b: str) -> str | None:
    for firsts, second, entity in ENTITIES:
        if (part_a in firsts and part_b == second) or (part_b in firsts and part_a == second):
            return entity
    return None


def merge_entities(codes: list[Code], rng: np.random.Generator | None) -> list[Code]:
    """Merge same-side codes with the same interpretation on two parts of one limb into the limb.

    The second parts must be equal or form the same entity; the larger rank and magnitude are kept
    ("raise your left hand a bit" + "raise your left elbow" -> "raise your left arm").
    """
    codes = list(codes)
    i = 0
    while i < len(codes):
        a = codes[i]
        for j in range(i + 1, len(codes)):
            b = codes[j]
            if a.side1 != b.side1 or a.intptt != b.intptt or a.side2 != b.side2 or a.side1 in (None, "both"):
                continue
            entity = _entity_of(a.part1, b.part1)
            if entity is None:
                continue
            if a.part2 == b.part2:
                part2 = a.part2
            else:
                part2 = _entity_of(a.part2 or "", b.part2 or "")
                if part2 is None:
                    continue
            if not _fires(rng):
                continue
            codes[i] = Code(
                a.side1, entity, a.intptt, a.side2, part2, max(a.rank, b.rank), max(a.magnitude, b.magnitude)
            )
            del codes[j]
            break
        else:
            i += 1
    return codes


def _mirror_side(side: str | None) -> str | None:
    return {"left": "right", "right": "left"}.get(side, side)


def merge_symmetric(codes: list[Code], rng: np.random.Generator | None) -> list[Code]:
    """Merge a left code and its right twin (same part, interpretation and second part, or mirrored
    second part) into one code about both sides."""
    codes = list(codes)
    i = 0
    while i < len(codes):
        a = codes[i]
        for j in range(i + 1, len(codes)):
            b = codes[j]
            if (
                {a.side1, b.side1} != {"left", "right"}
                or a.part1 != b.part1
                or a.intptt != b.intptt
                or a.part2 != b.part2
            ):
                continue
            if a.side2 == b.side2:
                side2 = a.side2
            elif a.side2 == _mirror_side(b.side2):
                side2 = "both"
            else:
                continue
            if (a.part2 == a.part1 and side2 == "both") or not _fires(rng):
                continue  # "left hand above right hand" has no twin to merge with
            codes[i] = Code(
                "both", a.part1, a.intptt, side2, a.part2, max(a.rank, b.rank), max(a.magnitude, b.magnitude)
            )
            del codes[j]
            break
        else:
            i += 1
    return codes


def _limb_rank(side: str | None, part: str, limb_order: list[int]) -> tuple[int, int]:
    if part in CENTRAL_PARTS or side is None:
        return 0, CENTRAL_PARTS.index(part) if part in CENTRAL_PARTS else len(CENTRAL_PARTS)
    for position, limb in enumerate(limb_order):
        limb_side, parts = LIMBS[limb]
        if part in parts and side == limb_side:
            return 1 + position, parts.index(part)
    return 1 + len(LIMBS), 0


def order_codes(codes: list[Code], rng: np.random.Generator | None) -> list[Code]:
    """Sort codes along the body: central parts, then the limbs (left arm, right arm, left leg,
    right leg; a random limb order when `rng` is given), each from its root outwards. A code about
    both sides sits with the left limb (or a random side)."""
    limb_order = list(range(len(LIMBS))) if rng is None else list(rng.permutation(len(LIMBS)))
    keys = []
    for index, code in enumerate(codes):
        side = code.side1
        if side == "both":
            side = "left" if rng is None else ("left", "right")[int(rng.integers(2))]
        keys.append((_limb_rank(side, code.part1, limb_order), index))
    return [codes[index] for _, index in sorted(keys)]


def group_codes(codes: list[Code], rng: np.random.Generator | None, family=lambda code: 0) -> list[list[Code]]:
    """Group ordered codes into clauses: codes with the same interpretation and second part
    (several subjects: "the torso and the thighs are vertical"), then codes with the same subject
    (several predicates: "the left knee is bent and behind the right knee").

    Membership depends on the codes only, not on their order, so a mirrored pose gets mirrored
    groups. Each code joins at most one group (p = 0.95 when random, at most MAX_GROUP codes); a
    group sits at the position of its first code. Codes of different `family(code)` never share.
    """
    joinable = [_fires(rng) for _ in codes]
    predicate_first = rng is None or rng.random() < 0.5
    keys = [("p", family(c), c.intptt, c.side2, c.part2, c.magnitude) for c in codes]
    subjects = [("s", family(c), c.side1, c.part1) for c in codes]
    passes = (keys, subjects) if predicate_first else (subjects, keys)
    group_of = [-1] * len(codes)
    groups: list[list[int]] = []
    for key_list in passes:
        members: dict[tuple, list[int]] = {}
        for i, key in enumerate(key_list):
            if joinable[i] and group_of[i] < 0:
                members.setdefault(key, []).append(i)
        for indices in members.values():
            limit = len(indices) if rng is None else MAX_GROUP
            for start in range(0, len(indices), limit):
                chunk = indices[start : start + limit]
                if len(chunk) > 1:
                    for i in chunk:
                        group_of[i] = len(groups)
                    groups.append(chunk)
    out, placed = [], set()
    for i in range(len(codes)):
        if group_of[i] < 0:
            out.append([codes[i]])
        elif group_of[i] not in placed:
            placed.add(group_of[i])
            out.append([codes[j] for j in groups[group_of[i]]])
    return out


def _group_kind(group: list[Code]) -> str | None:
    if len(group) < 2:
        return None
    return "s" if (group[0].side1, group[0].part1) == (group[1].side1, group[1].part1) else "p"


def group_kind(group: list[Code]) -> str | None:
    """'s' if the group's codes share a subject, 'p' if they share a predicate, None if single."""
    return _group_kind(group)
