"""PoseScript posecodes: what is measured on one pose, its bins, and which classes may be spoken.

Facts from PoseScript (Delmas et al. 2022; github.com/naver/posescript,
`src/text2pose/posescript/captioning_data.py` `POSECODE_OPERATORS_VALUES` and `SUPER_POSECODES`,
`src/text2pose/posescript/posecodes.py`: operators, thresholds, noise, the code
table, super-posecodes). Codes are declared for the left side (or as a left/right pair) and
mirrored automatically, so left and right are treated identically by construction.

Evaluation is vectorised over a batch: `measure_all` returns `(N, C)` values for the C codes and
`classify` bins them (with optional uniform measurement noise, added to the value, not the bins).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.describe.joints import CJ

# kind -> (thresholds, class names, noise half-width). Class i = value <= thresholds[i]; the last
# class is "above the last threshold" (PoseScript's `Posecode.interprete`).
OPERATORS: dict[str, tuple[tuple[float, ...], tuple[str, ...], float]] = {
    "angle": (
        (45, 75, 105, 135, 160),
        ("completely bent", "almost completely bent", "right angle", "partially bent", "slightly bent", "straight"),
        5.0,
    ),
    "distance": ((0.20, 0.40, 0.80), ("close", "shoulder width", "spread", "wide"), 0.05),
    "posX": ((-0.15, -0.05, 0.05, 0.15), ("at_right", "ignored", "x-aligned", "ignored", "at_left"), 0.05),
    "posY": ((-0.15, -0.05, 0.05, 0.15), ("below", "ignored", "y-aligned", "ignored", "above"), 0.05),
    "posZ": ((-0.15, -0.05, 0.05, 0.15), ("behind", "ignored", "z-aligned", "ignored", "front"), 0.05),
    "vaxis": ((10, 80), ("vertical", "ignored", "horizontal"), 5.0),
    "ground": ((0.10,), ("on_ground", "ignored"), 0.05),
}
# Kinds whose subject is a single focus body part (no second part in the sentence).
FOCUS_KINDS = frozenset({"angle", "vaxis", "ground"})
OPPOSITE = {
    "at_right": "at_left",
    "at_left": "at_right",
    "below": "above",
    "above": "below",
    "behind": "front",
    "front": "behind",
}


@dataclass(frozen=True)
class PosecodeDef:
    """One elementary posecode: a measurement on named code joints and what may be said about it.

    `support1` classes feed super-codes only and are never spoken; `support2` classes are silenced
    only when the super-code they support was produced. `absolute` classes may be used in PoseFix
    instructions ("your knee should be straight").
    """

    kind: str
    joints: tuple[str, ...]
    focus: str | None
    acceptable: frozenset[str]
    rare: frozenset[str] = frozenset()
    support1: frozenset[str] = frozenset()
    support2: frozenset[str] = frozenset()
    absolute: frozenset[str] = frozenset()

    @property
    def key(self) -> str:
        return f"{self.kind}:{'-'.join(self.joints)}"


def _swap_side(name: str) -> str:
    if name.startswith("left_"):
        return "right_" + name[5:]
    if name.startswith("right_"):
        return "left_" + name[6:]
    return name


def mirror_class(kind: str, name: str) -> str:
    """The class a code takes on the mirrored body (x flips sign, so left and right swap)."""
    if kind == "posX":
        return {"at_right": "at_left", "at_left": "at_right"}.get(name, name)
    return name


def _mirror(code: PosecodeDef) -> PosecodeDef:
    def flip(classes: frozenset[str]) -> frozenset[str]:
        return frozenset(mirror_class(code.kind, c) for c in classes)

    joints = tuple(_swap_side(j) for j in code.joints)
    if (
        code.kind == "posX"
        and all(j.startswith(("left_", "right_")) for j in code.joints)
        and {_swap_side(j) for j in code.joints} == set(code.joints)
    ):
        # A left-right pair code (left hand vs right hand) is its own mirror: keep the order.
        return code
    return PosecodeDef(
        code.kind,
        joints,
        _swap_side(code.focus) if code.focus else None,
        flip(code.acceptable),
        flip(code.rare),
        flip(code.support1),
        flip(code.support2),
        flip(code.absolute),
    )


def _fs(*names: str) -> frozenset[str]:
    return frozenset(names)


def _left_codes() -> list[PosecodeDef]:
    """Codes declared for the left side; each is mirrored to the right by `_build_table`."""
    abs_angle = _fs("completely bent", "right angle", "straight")
    every_angle = frozenset(OPERATORS["angle"][1])
    return [
        PosecodeDef(
            "angle",
            ("left_hip", "left_knee", "left_ankle"),
            "left_knee",
            every_angle,
            _fs("completely bent"),
            support2=_fs("completely bent"),
            absolute=abs_angle,
        ),
        PosecodeDef(
            "angle",
            ("left_shoulder", "left_elbow", "left_wrist"),
            "left_elbow",
            every_angle,
            _fs("completely bent"),
            absolute=abs_angle,
        ),
        *[
            PosecodeDef("distance", ("left_hand", other), None, _fs("close"), _fs("close"), absolute=_fs("close"))
            for other in (
                "left_shoulder",
                "right_shoulder",
                "right_elbow",
                "left_knee",
                "right_knee",
                "left_ankle",
                "right_ankle",
                "left_foot",
                "right_foot",
            )
        ],
        # ADDED_FOR_MODIFIERS: limb-to-torso closeness, only used by PoseFix super-paircodes.
        *[
            PosecodeDef("distance", (f"left_{part}", "torso"), None, _fs("close"), support1=_fs("close"))
            for part in ("elbow", "hand", "knee", "foot")
        ],
        PosecodeDef("posY", ("left_hip", "left_knee"), None, _fs("above"), support1=_fs("above")),
        PosecodeDef("posX", ("left_hand", "left_shoulder"), None, _fs("at_right")),
        PosecodeDef("posY", ("left_hand", "left_shoulder"), None, _fs("above")),
        PosecodeDef("posX", ("left_foot", "left_hip"), None, _fs("at_right"), _fs("at_right")),
        PosecodeDef("posY", ("left_foot", "left_hip"), None, _fs("above"), _fs("above")),
        PosecodeDef("posY", ("left_wrist", "neck"), None, _fs("above")),
        PosecodeDef("posY", ("left_hand", "left_hip"), None, _fs("below")),
        PosecodeDef("posZ", ("left_hand", "torso"), None, _fs("behind")),
        PosecodeDef("posZ", ("left_foot", "torso"), None, _fs("behind", "front")),
        PosecodeDef(
            "vaxis",
            ("left_hip", "left_knee"),
            "left_thigh",
            _fs("horizontal", "vertical"),
            _fs("horizontal"),
            absolute=_fs("horizontal"),
        ),
        PosecodeDef(
            "vaxis",
            ("left_knee", "left_ankle"),
            "left_shin",
            _fs("horizontal", "vertical"),
            _fs("horizontal"),
            absolute=_fs("horizontal"),
        ),
        PosecodeDef(
            "vaxis",
            ("left_shoulder", "left_elbow"),
            "left_upperarm",
            _fs("horizontal", "vertical"),
            _fs("vertical"),
            absolute=_fs("horizontal", "vertical"),
        ),
        PosecodeDef(
            "vaxis",
            ("left_elbow", "left_wrist"),
            "left_forearm",
            _fs("horizontal", "vertical"),
            _fs("vertical"),
            absolute=_fs("horizontal", "vertical"),
        ),
        PosecodeDef("vaxis", ("pelvis", "left_shoulder"), None, _fs("horizontal"), support1=_fs("horizontal")),
        PosecodeDef("ground", ("left_knee",), "left_knee", _fs("on_ground"), support1=_fs("on_ground")),
        PosecodeDef("ground", ("left_foot",), "left_foot", _fs("on_ground"), support1=_fs("on_ground")),
        PosecodeDef("ground", ("left_hand",), "left_hand", _fs("on_ground"), absolute=_fs("on_ground")),
    ]


def _pair_codes() -> list[PosecodeDef]:
    """Left-vs-right codes of one body part, and codes without a side; not mirrored."""
    width = _fs("shoulder width")
    codes = [
        PosecodeDef(
            "distance",
            ("left_elbow", "right_elbow"),
            None,
            _fs("close", "shoulder width", "wide"),
            _fs("close"),
            support1=width,
            absolute=_fs("close"),
        ),
        PosecodeDef(
            "distance",
            ("left_hand", "right_hand"),
            None,
            _fs("close", "shoulder width", "spread", "wide"),
            support1=width,
            absolute=_fs("close"),
        ),
        PosecodeDef(
            "distance",
            ("left_knee", "right_knee"),
            None,
            _fs("close", "shoulder width", "wide"),
            _fs("wide"),
            support1=width,
            absolute=_fs("close"),
        ),
        PosecodeDef(
            "distance",
            ("left_foot", "right_foot"),
            None,
            _fs("close", "shoulder width", "wide"),
            _fs("close"),
            support1=width,
            absolute=_fs("close"),
        ),
        PosecodeDef("vaxis", ("pelvis", "neck"), "torso", _fs("vertical")),
        PosecodeDef("vaxis", ("left_hand", "right_hand"), None, _fs("horizontal"), support1=_fs("horizontal")),
        PosecodeDef("vaxis", ("left_foot", "right_foot"), None, _fs("horizontal"), support1=_fs("horizontal")),
    ]
    for part, x_ok, y_support2 in (
        ("shoulder", False, False),
        ("elbow", False, False),
        ("hand", True, False),
        ("knee", False, True),
        ("foot", True, False),
    ):
        joints = (f"left_{part}", f"right_{part}")
        if x_ok:
            codes.append(PosecodeDef("posX", joints, None, _fs("at_right"), _fs("at_right")))
        codes.append(
            PosecodeDef(
                "posY", joints, None, _fs("below", "above"), support2=_fs("above") if y_support2 else frozenset()
            )
        )
        codes.append(PosecodeDef("posZ", joints, None, _fs("behind", "front")))
    return codes


def _aligned_pairs() -> list[tuple[str, str]]:
    """PoseFix's 48 (hand or foot, other limb part) pairs for the "aligned" super-posecodes:
    hand/foot against shoulder, upper arm, elbow, forearm, hip, thigh, knee, shin of either side,
    except a hand against its own arm and a foot against its own leg."""
    arm, leg = ("shoulder", "upperarm", "elbow", "forearm"), ("hip", "thigh", "knee", "shin")
    pairs = []
    for side1 in ("left", "right"):
        for part1, own_limb in (("hand", arm), ("foot", leg)):
            for side2 in ("left", "right"):
                pairs += [
                    (f"{side1}_{part1}", f"{side2}_{p}") for p in arm + leg if not (side1 == side2 and p in own_limb)
                ]
    return pairs


ALIGNED_PAIRS: tuple[tuple[str, str], ...] = tuple(_aligned_pairs())


def _build_table() -> tuple[PosecodeDef, ...]:
    table: list[PosecodeDef] = []
    for code in _left_codes():
        table += [code, _mirror(code)]
    table += _pair_codes()
    # Helper measurements of the aligned super-posecodes, never spoken on their own.
    present = {c.key for c in table}
    for joints_pair in ALIGNED_PAIRS:
        for kind in ("posX", "posY", "posZ", "distance"):
            helper = PosecodeDef(kind, joints_pair, None, frozenset())
            if helper.key not in present:
                table.append(helper)
                present.add(helper.key)
    keys = [c.key for c in table]
    assert len(set(keys)) == len(keys), "duplicate posecode"
    return tuple(table)


POSECODES: tuple[PosecodeDef, ...] = _build_table()
POSECODE_INDEX: dict[str, int] = {code.key: i for i, code in enumerate(POSECODES)}


def _measure(kind: str, coords: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Values of all codes of one kind: coords `(N, 35, 3)`, idx `(K, arity)` -> `(N, K)`."""
    if kind == "angle":
        a = coords[:, idx[:, 0]] - coords[:, idx[:, 1]]
        b = coords[:, idx[:, 2]] - coords[:, idx[:, 1]]
        cos = (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
        return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
    if kind == "distance":
        return np.linalg.norm(coords[:, idx[:, 0]] - coords[:, idx[:, 1]], axis=-1)
    if kind in ("posX", "posY", "posZ"):
        axis = "XYZ".index(kind[-1])
        return coords[:, idx[:, 0], axis] - coords[:, idx[:, 1], axis]
    if kind == "vaxis":
        d = coords[:, idx[:, 1]] - coords[:, idx[:, 0]]
        cos = np.abs(d[..., 1]) / np.maximum(np.linalg.norm(d, axis=-1), 1e-12)
        return np.degrees(np.arccos(np.clip(cos, 0.0, 1.0)))
    if kind == "ground":
        return coords[:, idx[:, 0], 1] - coords[..., 1].min(axis=1, keepdims=True)
    raise ValueError(f"unknown posecode kind {kind!r}")


_KIND_GROUPS: dict[str, np.ndarray] = {}
_KIND_JOINTS: dict[str, np.ndarray] = {}
for _kind in OPERATORS:
    _members = [i for i, c in enumerate(POSECODES) if c.kind == _kind]
    _KIND_GROUPS[_kind] = np.array(_members, dtype=np.int64)
    _KIND_JOINTS[_kind] = np.array([[CJ[j] for j in POSECODES[i].joints] for i in _members], dtype=np.int64)


def measure_all(coords: np.ndarray) -> np.ndarray:
    """Raw values of every posecode: coords `(N, 35, 3)` -> `(N, len(POSECODES))` float64 (deg / m)."""
    values = np.empty((coords.shape[0], len(POSECODES)))
    for kind, members in _KIND_GROUPS.items():
        values[:, members] = _measure(kind, coords, _KIND_JOINTS[kind])
    return values


def bin_values(values: np.ndarray, thresholds: tuple[float, ...]) -> np.ndarray:
    """Class index of each value: i where value <= thresholds[i] first holds, else len(thresholds).

    Thresholds symmetric about 0 (left/right, turn and position codes) bin a negative value as the
    mirror of its magnitude, so v and -v always land in mirrored classes (a 60 degree turn to the
    left and to the right get the same words), and values are rounded to 1e-6 first so that float
    noise from a mirrored pose cannot put the two sides of a threshold apart.
    """
    edges = np.asarray(thresholds, dtype=np.float64)
    values = np.round(np.asarray(values, dtype=np.float64), 6)
    if not np.allclose(edges, -edges[::-1]):
        return np.searchsorted(edges, values, side="left")
    positive = np.searchsorted(edges, np.abs(values), side="left")
    return np.where(values < 0, len(edges) - positive, positive)


def classify(values: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
    """Bin `(N, C)` posecode values into class indices `(N, C)` int; noise only if `rng` is given."""
    classes = np.empty(values.shape, dtype=np.int64)
    for kind, members in _KIND_GROUPS.items():
        thresholds, _, noise = OPERATORS[kind]
        v = values[:, members]
        if rng is not None:
            v = v + rng.uniform(-noise, noise, size=v.shape)
        classes[:, members] = bin_values(v, thresholds)
    return classes


def class_name(code_index: int, class_index: int) -> str:
    return OPERATORS[POSECODES[code_index].kind][1][class_index]


def class_of(classes: np.ndarray, key: str) -> np.ndarray:
    """Class names of one code over the batch: `(N, C)` int -> `(N,)` str array."""
    i = POSECODE_INDEX[key]
    return np.asarray(OPERATORS[POSECODES[i].kind][1])[classes[:, i]]
