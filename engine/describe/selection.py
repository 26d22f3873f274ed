"""From posecode classes to the codes worth saying: eligibility, super-posecodes, support rules.

Facts from ../shared/reference/posefix.md sections 2.2-2.4 and 2.9: eligibility 0 (silent),
1 (may be said, may be skipped) or 2 (rare: never skipped); support-I classes only feed
super-posecodes; support-II classes are silenced where their super-posecode was produced.
PoseFix instructions use only the "absolute" classes of pose B.

A spoken code is a `Code`: (side1, part1, interpretation, side2, part2, rank, magnitude).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from engine.describe.posecodes import FOCUS_KINDS, OPERATORS, POSECODE_INDEX, POSECODES

SIDES = ("left", "right")


class Code(NamedTuple):
    """One thing to say. side is "left", "right", "both" or None; part2 is None for 1-part codes.

    rank: 1 = may be skipped, 2 = rare (never skipped). magnitude: 0 slight, 1 normal, 2 much
    (paircodes only; posecodes use 1).
    """

    side1: str | None
    part1: str
    intptt: str
    side2: str | None = None
    part2: str | None = None
    rank: int = 1
    magnitude: int = 1


def split_name(name: str) -> tuple[str | None, str]:
    """'left_knee' -> ('left', 'knee'); 'torso' -> (None, 'torso')."""
    for side in SIDES:
        if name.startswith(side + "_"):
            return side, name[len(side) + 1:]
    return None, name


# Super-posecodes: (id, Code fields without rank, rare, absolute, ways); each way is a list of
# (posecode key, class) that must all hold. Any one way produces the super-posecode.
def _knee_ground(side: str) -> tuple[str, str]:
    return (f"ground:{side}_knee", "on_ground")


SUPER_POSECODES: tuple[tuple[str, tuple, bool, bool, list[list[tuple[str, str]]]], ...] = (
    ("torso_horizontal", (None, "torso", "horizontal"), True, True,
     [[("vaxis:pelvis-left_shoulder", "horizontal"), ("vaxis:pelvis-right_shoulder", "horizontal")]]),
    ("kneel_on_left", (None, "body", "kneel_on_left"), True, False,
     [[("posY:left_knee-right_knee", "below"), _knee_ground("left"), ("ground:right_foot", "on_ground")]]),
    ("kneel_on_right", (None, "body", "kneel_on_right"), True, False,
     [[("posY:left_knee-right_knee", "above"), _knee_ground("right"), ("ground:left_foot", "on_ground")]]),
    ("kneeling", (None, "body", "kneeling"), True, False,
     [[("posY:left_hip-left_knee", "above"), ("posY:right_hip-right_knee", "above"),
       _knee_ground("left"), _knee_ground("right")],
      [("angle:left_hip-left_knee-left_ankle", "completely bent"),
       ("angle:right_hip-right_knee-right_ankle", "completely bent"), _knee_ground("left"), _knee_ground("right")]]),
    ("hands_shoulder_width", ("both", "hand", "shoulder width"), True, True,
     [[("distance:left_hand-right_hand", "shoulder width"), ("vaxis:left_hand-right_hand", "horizontal")]]),
    ("feet_shoulder_width", ("both", "foot", "shoulder width"), False, True,
     [[("distance:left_foot-right_foot", "shoulder width"), ("vaxis:left_foot-right_foot", "horizontal")]]),
)

_MAX_CLASSES = max(len(op[1]) for op in OPERATORS.values())


def _eligibility_table(absolute_only: bool) -> np.ndarray:
    """(C, max classes) int: 0 silent, 1 eligible, 2 rare. Support-I classes are always silent."""
    table = np.zeros((len(POSECODES), _MAX_CLASSES), dtype=np.int64)
    for c, code in enumerate(POSECODES):
        for k, name in enumerate(OPERATORS[code.kind][1]):
            allowed = code.absolute if absolute_only else code.acceptable
            if name in allowed and name not in code.support1 and "ignored" not in name:
                table[c, k] = 2 if name in code.rare else 1
    return table


_TABLES = {False: _eligibility_table(False), True: _eligibility_table(True)}
# For each super-posecode and way: (code indices, class indices) of its requirements.
_SUPER_WAYS = [
    [(np.array([POSECODE_INDEX[key] for key, _ in way]),
      np.array([OPERATORS[POSECODES[POSECODE_INDEX[key]].kind][1].index(cls) for key, cls in way]))
     for way in ways]
    for _, _, _, _, ways in SUPER_POSECODES
]


def super_posecodes(classes: np.ndarray) -> np.ndarray:
    """Which super-posecodes hold: classes `(N, C)` int -> `(N, S)` bool."""
    out = np.zeros((classes.shape[0], len(SUPER_POSECODES)), dtype=bool)
    for s, ways in enumerate(_SUPER_WAYS):
        for codes, wanted in ways:
            out[:, s] |= (classes[:, codes] == wanted).all(axis=1)
    return out


def eligibility(classes: np.ndarray, absolute_only: bool) -> tuple[np.ndarray, np.ndarray]:
    """Eligibility of elementary codes `(N, C)` and of super-posecodes `(N, S)`, ints in {0, 1, 2}."""
    elig = _TABLES[absolute_only][np.arange(classes.shape[1]), classes]
    supers = super_posecodes(classes)
    super_elig = np.zeros(supers.shape, dtype=np.int64)
    for s, (_, _, rare, absolute, _) in enumerate(SUPER_POSECODES):
        if absolute or not absolute_only:
            super_elig[:, s] = np.where(supers[:, s], 2 if rare else 1, 0)
        # Support-II requirements are silenced where the super-posecode was produced.
        for codes, wanted in _SUPER_WAYS[s]:
            for c, k in zip(codes, wanted):
                if OPERATORS[POSECODES[c].kind][1][k] in POSECODES[c].support2:
                    elig[supers[:, s] & (classes[:, c] == k), c] = 0
    return elig, super_elig


def posecode_to_code(c: int, k: int, rank: int) -> Code:
    """The spoken form of posecode c in class k."""
    code = POSECODES[c]
    name = OPERATORS[code.kind][1][k]
    if code.kind in FOCUS_KINDS and code.focus is not None:
        side, part = split_name(code.focus)
        return Code(side, part, name, rank=rank)
    side1, part1 = split_name(code.joints[0])
    side2, part2 = split_name(code.joints[1])
    return Code(side1, part1, name, side2, part2, rank=rank)


def codes_of_pose(classes_row: np.ndarray, elig_row: np.ndarray, super_row: np.ndarray) -> list[Code]:
    """All eligible codes of one pose, elementary then super, as `Code`s."""
    out = [posecode_to_code(int(c), int(classes_row[c]), int(elig_row[c])) for c in np.flatnonzero(elig_row)]
    for s in np.flatnonzero(super_row):
        side, part, intptt = SUPER_POSECODES[s][1]
        out.append(Code(side, part, intptt, rank=int(super_row[s])))
    return out
