"""PoseFix paircodes: what changed between pose A and pose B, and the super-paircodes.

Facts from PoseFix (Delmas et al. 2023; github.com/naver/posescript, `src/text2pose/posefix/paircodes.py`
and `corrective_data.py` `PAIRCODE_OPERATORS_VALUES`): value = measure(A) - measure(B), binned with
the thresholds below (noise on the value); elementary distance paircodes are support-I (said only
through "closer"/"farther" super-paircodes, which also look at the posecodes of A or B); "bent
less" + B's knee/elbow straight gives "straighten". Global orientation: B's heading relative to A's.
All evaluation is vectorised over a batch of pairs.
"""

from __future__ import annotations

import numpy as np

from engine.describe.joints import CJ
from engine.describe.posecodes import POSECODE_INDEX, _measure, bin_values
from engine.describe.selection import Code, split_name

# kind -> (thresholds, (nature, magnitude) per class or None for the ignored class, noise).
PAIR_OPERATORS: dict[str, tuple[tuple[float, ...], tuple, float]] = {
    "angle": (
        (-80, -45, -18, 18, 45, 80),
        (
            ("bent_less", 2),
            ("bent_less", 1),
            ("bent_less", 0),
            None,
            ("bent_more", 0),
            ("bent_more", 1),
            ("bent_more", 2),
        ),
        5.0,
    ),
    "distance": (
        (-0.40, -0.10, 0.10, 0.40),
        (("farther", 1), ("farther", 0), None, ("closer", 0), ("closer", 1)),
        0.05,
    ),
    "posX": ((-0.40, -0.15, 0.15, 0.40), (("left", 1), ("left", 0), None, ("right", 0), ("right", 1)), 0.05),
    "posY": ((-0.40, -0.15, 0.15, 0.40), (("higher", 1), ("higher", 0), None, ("lower", 0), ("lower", 1)), 0.05),
    "posZ": ((-0.40, -0.15, 0.15, 0.40), (("front", 1), ("front", 0), None, ("back", 0), ("back", 1)), 0.05),
}
# Heading change of B relative to A in degrees, positive = turned to the body's left.
ROTATION_THRESHOLDS = (-150, -120, -60, -20, 20, 60, 120, 150)
ROTATION_CLASSES = (
    "around",
    "around to the right",
    "a quarter to the right",
    "slightly to the right",
    None,
    "slightly to the left",
    "a quarter to the left",
    "around to the left",
    "around",
)
ROTATION_NOISE = 10.0

_SIDED = [(s, p) for p in ("elbow", "hand", "knee", "foot") for s in ("left", "right")]
# (kind, joints, focus) of every elementary paircode; focus names the body part spoken about.
PAIRCODES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    *[("angle", (f"{s}_hip", f"{s}_knee", f"{s}_ankle"), f"{s}_knee") for s in ("left", "right")],
    *[("angle", (f"{s}_shoulder", f"{s}_elbow", f"{s}_wrist"), f"{s}_elbow") for s in ("left", "right")],
    *[("distance", (f"left_{p}", f"right_{p}"), f"both_{p}") for p in ("elbow", "hand", "knee", "foot")],
    *[("distance", (f"{s}_{p}", "torso"), f"{s}_{p}") for s, p in _SIDED],
    *[(axis, (f"{s}_shoulder",), f"{s}_shoulder") for axis in ("posY", "posZ") for s in ("left", "right")],
    *[(axis, (f"{s}_{p}",), f"{s}_{p}") for axis in ("posX", "posY", "posZ") for s, p in _SIDED],
)
_KINDS = {kind: np.array([i for i, c in enumerate(PAIRCODES) if c[0] == kind]) for kind in PAIR_OPERATORS}
_JOINTS = {kind: np.array([[CJ[j] for j in PAIRCODES[i][1]] for i in members]) for kind, members in _KINDS.items()}


def measure_pairs(coords_a: np.ndarray, coords_b: np.ndarray) -> np.ndarray:
    """measure(A) - measure(B) for every paircode: `(N, 35, 3)` x2 -> `(N, P)` (degrees or metres)."""
    values = np.empty((coords_a.shape[0], len(PAIRCODES)))
    for kind, members in _KINDS.items():
        if kind.startswith("pos"):  # the same joint in A and in B, absolute coordinate
            axis = "XYZ".index(kind[-1])
            idx = _JOINTS[kind][:, 0]
            values[:, members] = coords_a[:, idx, axis] - coords_b[:, idx, axis]
        else:
            values[:, members] = _measure(kind, coords_a, _JOINTS[kind]) - _measure(kind, coords_b, _JOINTS[kind])
    return values


def classify_pairs(values: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
    """Class indices `(N, P)` of paircode values, with uniform noise when `rng` is given."""
    classes = np.empty(values.shape, dtype=np.int64)
    for kind, members in _KINDS.items():
        thresholds, _, noise = PAIR_OPERATORS[kind]
        v = values[:, members]
        if rng is not None:
            v = v + rng.uniform(-noise, noise, size=v.shape)
        classes[:, members] = bin_values(v, thresholds)
    return classes


def rotation_classes(yaw_change_deg: np.ndarray, rng: np.random.Generator | None) -> list[str | None]:
    """Global-orientation class of each pair from B's heading minus A's, degrees in (-180, 180]."""
    v = (np.asarray(yaw_change_deg) + 180.0) % 360.0 - 180.0
    if rng is not None:
        v = v + rng.uniform(-ROTATION_NOISE, ROTATION_NOISE, size=v.shape)
    return [ROTATION_CLASSES[k] for k in bin_values(v, ROTATION_THRESHOLDS)]


def _focus_code(focus: str, nature: str, magnitude: int, rank: int = 1) -> Code:
    if focus.startswith("both_"):
        return Code("both", focus[5:], nature, rank=rank, magnitude=magnitude)
    side, part = split_name(focus)
    return Code(side, part, nature, rank=rank, magnitude=magnitude)


def _pose_class(classes: np.ndarray, key: str) -> int:
    return int(classes[POSECODE_INDEX[key]])


def pair_codes(
    pair_classes: np.ndarray, classes_a: np.ndarray, classes_b: np.ndarray
) -> tuple[list[Code], set[tuple[str, int]]]:
    """Spoken paircodes of one pair, super-paircodes included, and the B-posecodes they use up.

    pair_classes `(P,)`, classes_a / classes_b `(C,)` posecode class indices of A and B. Returns the
    codes (elementary ones rank 1, super ones rank 2) and {(posecode key, class index)} of B that
    must not be repeated ("straight" after "straighten", "close" after "closer").
    """
    codes: list[Code] = []
    used_b: set[tuple[str, int]] = set()
    for p, (kind, joint_names, focus) in enumerate(PAIRCODES):
        label = PAIR_OPERATORS[kind][1][pair_classes[p]]
        if label is None:
            continue
        nature, magnitude = label
        if kind == "angle":
            key = "angle:" + "-".join(joint_names)
            b_class = _pose_class(classes_b, key)
            if nature == "bent_less" and b_class >= 4:  # B slightly bent or straight
                side, part = split_name(focus)
                codes.append(Code(side, {"knee": "leg", "elbow": "arm"}[part], "straighten", rank=2))
                used_b.add((key, b_class))
                continue
            codes.append(_focus_code(focus, nature, magnitude))
        elif kind == "distance":
            key = "distance:" + "-".join(joint_names)
            # PoseFix: distance paircodes are support-I; they speak only as super-paircodes, which
            # need the limbs to be close in A (moving apart) or in B (coming together).
            pose_classes = classes_a if nature == "farther" else classes_b
            if _pose_class(pose_classes, key) != 0:
                continue
            if nature == "closer":
                used_b.add((key, 0))
            suffix = "_torso" if joint_names[1] == "torso" else ""
            codes.append(_focus_code(focus, nature + suffix, magnitude, rank=2))
        else:
            codes.append(_focus_code(focus, nature, magnitude))
    return codes, used_b
