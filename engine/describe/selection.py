"""From posecode classes to the codes worth saying: eligibility, super-posecodes, support rules.

Facts from PoseScript (Delmas et al. 2022) and PoseFix (Delmas et al. 2023), github.com/naver/posescript:
`src/text2pose/posescript/captioning_data.py`, `src/text2pose/posescript/captioning.py` and
`src/text2pose/posefix/correcting.py`. Eligibility 0 (silent), 1 (may be said, may be skipped) or
2 (rare: never skipped); support-I classes only feed super-posecodes; support-II classes are
silenced where their super-posecode was produced.
PoseFix instructions use only the "absolute" classes of pose B.

A spoken code is a `Code`: (side1, part1, interpretation, side2, part2, rank, magnitude).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from engine.describe.posecodes import ALIGNED_PAIRS, FOCUS_KINDS, OPERATORS, POSECODE_INDEX, POSECODES

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
            return side, name[len(side) + 1 :]
    return None, name


# Super-posecodes: (id, Code fields (side1, part1, intptt[, side2, part2]), rare, absolute,
# ways, instructions only); each way is a list of (posecode key, class or tuple of classes) that
# must all hold. Any one way produces the super-posecode.
def _knee_ground(side: str) -> tuple[str, str]:
    return (f"ground:{side}_knee", "on_ground")


def _aligned_supers() -> list[tuple]:
    """PoseFix's {xy,xz,yz}-aligned codes ("your left hand should be level with your right
    shoulder"): aligned on two axes and at most "spread" apart. Added by PoseFix for instructions
    (ADDED_FOR_MODIFIERS), so they are not used in single-pose descriptions here."""
    near = ("close", "shoulder width", "spread")
    out = []
    for first, second in ALIGNED_PAIRS:
        side1, part1 = split_name(first)
        side2, part2 = split_name(second)
        for plane in ("xy", "xz", "yz"):
            way = [(f"pos{axis.upper()}:{first}-{second}", f"{axis}-aligned") for axis in plane]
            way.append((f"distance:{first}-{second}", near))
            out.append(
                (
                    f"{plane}-aligned_{first}_{second}",
                    (side1, part1, f"{plane}-aligned", side2, part2),
                    False,
                    True,
                    [way],
                    True,
                )
            )
    return out


SUPER_POSECODES: tuple[tuple, ...] = (
    (
        "torso_horizontal",
        (None, "torso", "horizontal"),
        True,
        True,
        [[("vaxis:pelvis-left_shoulder", "horizontal"), ("vaxis:pelvis-right_shoulder", "horizontal")]],
        False,
    ),
    (
        "kneel_on_left",
        (None, "body", "kneel_on_left"),
        True,
        False,
        [[("posY:left_knee-right_knee", "below"), _knee_ground("left"), ("ground:right_foot", "on_ground")]],
        False,
    ),
    (
        "kneel_on_right",
        (None, "body", "kneel_on_right"),
        True,
        False,
        [[("posY:left_knee-right_knee", "above"), _knee_ground("right"), ("ground:left_foot", "on_ground")]],
        False,
    ),
    (
        "kneeling",
        (None, "body", "kneeling"),
        True,
        False,
        [
            [
                ("posY:left_hip-left_knee", "above"),
                ("posY:right_hip-right_knee", "above"),
                _knee_ground("left"),
                _knee_ground("right"),
            ],
            [
                ("angle:left_hip-left_knee-left_ankle", "completely bent"),
                ("angle:right_hip-right_knee-right_ankle", "completely bent"),
                _knee_ground("left"),
                _knee_ground("right"),
            ],
        ],
        False,
    ),
    (
        "hands_shoulder_width",
        ("both", "hand", "shoulder width"),
        True,
        True,
        [[("distance:left_hand-right_hand", "shoulder width"), ("vaxis:left_hand-right_hand", "horizontal")]],
        False,
    ),
    (
        "feet_shoulder_width",
        ("both", "foot", "shoulder width"),
        False,
        True,
        [[("distance:left_foot-right_foot", "shoulder width"), ("vaxis:left_foot-right_foot", "horizontal")]],
        False,
    ),
    *_aligned_supers(),
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


# For each super-posecode and way: (code indices (R,), allowed-class masks (R, max classes)).
def _compile_way(way: list[tuple[str, object]]) -> tuple[np.ndarray, np.ndarray]:
    codes = np.array([POSECODE_INDEX[key] for key, _ in way])
    allowed = np.zeros((len(way), _MAX_CLASSES), dtype=bool)
    for r, (key, wanted) in enumerate(way):
        names = OPERATORS[POSECODES[POSECODE_INDEX[key]].kind][1]
        for name in (wanted,) if isinstance(wanted, str) else wanted:
            allowed[r, names.index(name)] = True
    return codes, allowed


_SUPER_WAYS = [[_compile_way(way) for way in entry[4]] for entry in SUPER_POSECODES]
# (super-posecode, code, class) triples where a support-II class feeds a super-posecode.
_SUPPORT2 = sorted(
    {
        (s, int(c), int(k))
        for s, ways in enumerate(_SUPER_WAYS)
        for codes, allowed in ways
        for c, mask in zip(codes, allowed)
        for k in np.flatnonzero(mask)
        if OPERATORS[POSECODES[c].kind][1][k] in POSECODES[c].support2
    }
)


# All requirements of all ways, flattened so that super_posecodes is a few array operations:
# requirement r checks code _REQ_CODES[r] against _REQ_MASKS[r]; ways and supers are contiguous.
_REQ_CODES = np.concatenate([codes for ways in _SUPER_WAYS for codes, _ in ways])
_REQ_MASKS = np.concatenate([allowed for ways in _SUPER_WAYS for _, allowed in ways])
_WAY_STARTS = np.cumsum([0] + [len(codes) for ways in _SUPER_WAYS for codes, _ in ways])[:-1]
_SUPER_STARTS = np.cumsum([0] + [len(ways) for ways in _SUPER_WAYS])[:-1]
_SUPER_RANK = np.array([2 if entry[2] else 1 for entry in SUPER_POSECODES])
_SUPER_SAYABLE = {  # absolute_only -> which super-posecodes may be said
    False: np.array([not entry[5] for entry in SUPER_POSECODES]),
    True: np.array([bool(entry[3]) for entry in SUPER_POSECODES]),
}


def super_posecodes(classes: np.ndarray) -> np.ndarray:
    """Which super-posecodes hold: classes `(N, C)` int -> `(N, S)` bool."""
    met = _REQ_MASKS[np.arange(len(_REQ_CODES)), classes[:, _REQ_CODES]]  # (N, R)
    ways = np.logical_and.reduceat(met, _WAY_STARTS, axis=1)  # (N, W)
    return np.logical_or.reduceat(ways, _SUPER_STARTS, axis=1)  # (N, S)


def eligibility(classes: np.ndarray, absolute_only: bool) -> tuple[np.ndarray, np.ndarray]:
    """Eligibility of elementary codes `(N, C)` and of super-posecodes `(N, S)`, ints in {0, 1, 2}.

    absolute_only: PoseFix's pose-B mode (only "absolute" classes and super-posecodes).
    """
    elig = _TABLES[absolute_only][np.arange(classes.shape[1]), classes]
    supers = super_posecodes(classes)
    super_elig = np.where(supers & _SUPER_SAYABLE[absolute_only], _SUPER_RANK, 0)
    # Support-II requirements are silenced where the super-posecode was produced.
    for s, c, k in _SUPPORT2:
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
        out.append(Code(*SUPER_POSECODES[s][1], rank=int(super_row[s])))
    return out
