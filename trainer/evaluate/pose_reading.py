"""Pose readings: did one edited pose do what a command asked? (benchmarks/bench_pose_edits.py)

Geometry only, no learned model, like trainer/evaluate/motion_reading.py for motions. Poses are (22, 3)
metres in the canonical frame (facing +Z, left +X, Y up) with the pelvis at the origin; a rule is one
entry of benchmarks/prompts/pose_edits_held_out.json.
"""

from __future__ import annotations

import numpy as np

from engine.motion.skeleton import JOINT_INDEX
from trainer.evaluate.motion_reading import HEAD, SHOULDERS, WRISTS

EDIT_EFFECTORS = {"hand": "wrist", "elbow": "elbow", "knee": "knee", "foot": "ankle"}
EDIT_AXES = {
    "forward": np.array([0.0, 0.0, 1.0]),
    "back": np.array([0.0, 0.0, -1.0]),
    "left": np.array([1.0, 0.0, 0.0]),
    "right": np.array([-1.0, 0.0, 0.0]),
}
HIPS_WITHIN = 0.20  # metres: a hand on the hip has its wrist this close to the hip joint
HIPS_ELBOW = 150.0  # degrees: ... and its elbow bent at least this much
STRAIGHT_KNEE = 155.0  # degrees: a straightened elbow/knee ends at least this open
_ARM = ("collar", "shoulder", "elbow", "wrist")
_LEG = ("hip", "knee", "ankle", "foot")


def _sides_of(rule: dict) -> tuple[str, ...]:
    return ("left", "right") if rule["side"] == "both" else (rule["side"],)


def _angle(pose: np.ndarray, a: str, b: str, c: str) -> float:
    u = pose[JOINT_INDEX[a]] - pose[JOINT_INDEX[b]]
    v = pose[JOINT_INDEX[c]] - pose[JOINT_INDEX[b]]
    return float(np.degrees(np.arccos(np.clip(u @ v / (np.linalg.norm(u) * np.linalg.norm(v) + 1e-9), -1, 1))))


def _hinge(pose: np.ndarray, side: str, part: str) -> float:
    names = ("shoulder", "elbow", "wrist") if part in ("hand", "elbow") else ("hip", "knee", "ankle")
    return _angle(pose, *(f"{side}_{n}" for n in names))


def pose_edit_named(rule: dict) -> set[int]:
    """Joints a command names and may move: the named limb(s) from the root, or the upper body for a lean."""
    if rule["type"] == "lean":
        names = ["spine2", "spine3", "neck", "head"] + [f"{s}_{p}" for s in ("left", "right") for p in _ARM]
        return {JOINT_INDEX[n] for n in names}
    chain = _ARM if rule["part"] in ("hand", "elbow") else _LEG
    return {JOINT_INDEX[f"{s}_{p}"] for s in _sides_of(rule) for p in chain}


def pose_edit_amount(rule: dict, a: np.ndarray, b: np.ndarray) -> float:
    """How far B went from A the way the rule asks (metres, or degrees for bend/straighten), worst side."""
    kind = rule["type"]
    if kind == "lean":
        return float((b[HEAD] - a[HEAD]) @ EDIT_AXES[rule["axis"]])
    if kind == "hips":
        return -max(float(np.linalg.norm(b[WRISTS[s]] - b[JOINT_INDEX[f"{s}_hip"]])) for s in ("left", "right"))
    if kind in ("bend", "straighten"):
        sign = 1.0 if kind == "bend" else -1.0
        return min(sign * (_hinge(a, s, rule["part"]) - _hinge(b, s, rule["part"])) for s in _sides_of(rule))
    eff = EDIT_EFFECTORS[rule["part"]]
    if kind in ("closer", "apart"):
        left, right = JOINT_INDEX[f"left_{eff}"], JOINT_INDEX[f"right_{eff}"]
        d_a, d_b = np.linalg.norm(a[left] - a[right]), np.linalg.norm(b[left] - b[right])
        return float(d_a - d_b if kind == "closer" else d_b - d_a)
    out = []
    for side in _sides_of(rule):
        j = JOINT_INDEX[f"{side}_{eff}"]
        if kind in ("rise", "drop"):
            axis = np.array([0.0, 1.0 if kind == "rise" else -1.0, 0.0])
        elif rule["axis"] == "out":
            axis = EDIT_AXES["left" if side == "left" else "right"]
        else:
            axis = EDIT_AXES[rule["axis"]]
        out.append(float((b[j] - a[j]) @ axis))
    return min(out)


def check_pose_edit(rule: dict, a: np.ndarray, b: np.ndarray) -> bool:
    """Whether B does what the rule asks of A: the amount reaches `min` and the end state holds."""
    amount = pose_edit_amount(rule, a, b)
    if rule["type"] == "hips":
        bent = all(_hinge(b, s, "elbow") <= HIPS_ELBOW for s in ("left", "right"))
        return -amount <= HIPS_WITHIN and bent
    if amount < rule["min"]:
        return False
    for side in _sides_of(rule):
        if rule.get("above") == "shoulder" and b[WRISTS[side], 1] < b[SHOULDERS[side], 1] - 0.05:
            return False
        if rule.get("above") == "head" and b[WRISTS[side], 1] < b[HEAD, 1]:
            return False
        if rule.get("to_deg") is not None and abs(_hinge(b, side, rule["part"]) - rule["to_deg"]) > 20.0:
            return False
        if rule["type"] == "straighten" and _hinge(b, side, rule["part"]) < STRAIGHT_KNEE:
            return False
    return True
