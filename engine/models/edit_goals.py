"""What a parsed goal (engine.models.edit_command.Goal) means on a pose: which joints it may turn, how far
the commanded part went the commanded way, and how far it should go.

Poses here are canonical: facing +Z, the body's left on +X, Y up, pelvis at the origin, metres;
`positions` `(K, 22, 3)` candidates are compared with pose A `(22, 3)`. Amounts are metres (moves) or
degrees (bends), positive the commanded way. `desired` scales the plain amount by the degree word and
caps it by what the limb can reach from A.
"""

from __future__ import annotations

import numpy as np

from engine.describe.edits import subtree
from engine.models.edit_command import Goal
from engine.motion.skeleton import JOINT_INDEX as J

EFFECTOR = {"hand": "wrist", "elbow": "elbow", "knee": "knee", "foot": "ankle"}
ROOT = {"hand": "shoulder", "elbow": "shoulder", "knee": "hip", "foot": "hip"}
HINGE = {"elbow": "elbow", "knee": "knee"}
AXES = {
    "forward": np.array([0.0, 0.0, 1.0]),
    "back": np.array([0.0, 0.0, -1.0]),
    "left": np.array([1.0, 0.0, 0.0]),
    "right": np.array([-1.0, 0.0, 0.0]),
    "raise": np.array([0.0, 1.0, 0.0]),
    "lower": np.array([0.0, -1.0, 0.0]),
}
SPINE = (J["spine1"], J["spine2"], J["spine3"], J["neck"], J["head"])
PLAIN_MOVE = 0.20  # metres a plain "move it forward" asks for
PLAIN_BEND = 35.0  # degrees a plain "bend it" asks for
MIN_INTERIOR = 35.0  # degrees: an elbow or knee bends no further
HIPS_REACH = 0.10  # metres from the hip point a hand on the hip sits within
HIPS_ELBOW = 140.0  # degrees: the elbow of a hand on the hip is bent at least this much


def joint(side: str, name: str) -> int:
    return J[f"{side}_{name}"]


def hip_point(pose: np.ndarray, side: str) -> np.ndarray:
    """Where a hand on the hip rests: the hip joint, 8 cm out and 6 cm up (`(..., 3)`)."""
    out = pose[..., joint(side, "hip"), :].copy()
    out[..., 0] += 0.08 if side == "left" else -0.08
    out[..., 1] += 0.06
    return out


def interior_angle(pose: np.ndarray, a: int, b: int, c: int) -> np.ndarray:
    """Angle at b (degrees) of the joints a-b-c, `(..., 22, 3)` -> `(...)`."""
    u, v = pose[..., a, :] - pose[..., b, :], pose[..., c, :] - pose[..., b, :]
    cos = (u * v).sum(-1) / (np.linalg.norm(u, axis=-1) * np.linalg.norm(v, axis=-1) + 1e-9)
    return np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))


def hinge_angle(pose: np.ndarray, side: str, part: str) -> np.ndarray:
    names = ("shoulder", "elbow", "wrist") if part == "elbow" else ("hip", "knee", "ankle")
    return interior_angle(pose, *(joint(side, n) for n in names))


def drivers(goal: Goal) -> list[int]:
    """Joints whose rotations the edit may change (their subtrees move with them)."""
    if goal.kind.startswith("lean_"):
        return list(SPINE)
    if goal.kind == "hands_on_hips":
        return [joint(s, n) for s in goal.sides for n in ("collar", "shoulder", "elbow", "wrist")]
    if goal.kind in ("bend", "straighten"):
        return [joint(s, HINGE[goal.part]) for s in goal.sides]
    if goal.part in ("hand", "elbow"):
        return [joint(s, n) for s in goal.sides for n in ("collar", "shoulder", "elbow", "wrist")]
    return [joint(s, n) for s in goal.sides for n in ("hip", "knee", "ankle", "foot")]


def moved_joints(goals: list[Goal]) -> set[int]:
    """The joints a command names: the drivers and everything below them."""
    out: set[int] = set()
    for goal in goals:
        for j in drivers(goal):
            out |= set(subtree(j))
    return out


def _reach_room(pose_a: np.ndarray, side: str, part: str, direction: np.ndarray) -> float:
    """How far (metres) the effector can go along `direction` on the sphere its limb reaches."""
    eff, root = pose_a[joint(side, EFFECTOR[part])], pose_a[joint(side, ROOT[part])]
    if part == "hand":
        length = np.linalg.norm(pose_a[joint(side, "elbow")] - root) + np.linalg.norm(
            eff - pose_a[joint(side, "elbow")]
        )
    elif part == "foot":
        length = np.linalg.norm(pose_a[joint(side, "knee")] - root) + np.linalg.norm(eff - pose_a[joint(side, "knee")])
    else:
        length = np.linalg.norm(eff - root)
    return float(max((root - eff) @ direction + 0.97 * length, 0.0))  # the furthest point of its sphere


def direction_of(goal: Goal, side: str) -> np.ndarray:
    if goal.kind == "out":
        return AXES["left"] if side == "left" else AXES["right"]
    return AXES[goal.kind]


def amounts(goal: Goal, pose_a: np.ndarray, poses: np.ndarray) -> np.ndarray:
    """How far each candidate `(K, 22, 3)` went the commanded way, worst side first: `(K, S)` per side."""
    if goal.kind.startswith("lean_"):
        axis = AXES[goal.kind[5:]]
        return ((poses[:, J["head"]] - pose_a[J["head"]]) @ axis)[:, None]
    if goal.kind == "hands_on_hips":
        out = []
        for side in goal.sides:
            dist = np.linalg.norm(poses[:, joint(side, "wrist")] - hip_point(poses, side), axis=-1)
            bend = hinge_angle(poses, side, "elbow")
            out.append(-dist - np.maximum(bend - HIPS_ELBOW, 0.0) / 200.0)
        return np.stack(out, -1)
    if goal.kind in ("bend", "straighten"):
        sign = 1.0 if goal.kind == "bend" else -1.0
        return np.stack(
            [sign * (hinge_angle(pose_a, s, goal.part) - hinge_angle(poses, s, goal.part)) for s in goal.sides], -1
        )
    eff = EFFECTOR[goal.part]
    if goal.kind in ("closer", "apart"):
        left, right = joint("left", eff), joint("right", eff)
        d_a = np.linalg.norm(pose_a[left] - pose_a[right])
        d = np.linalg.norm(poses[:, left] - poses[:, right], axis=-1)
        return ((d_a - d) if goal.kind == "closer" else (d - d_a))[:, None]
    return np.stack([(poses[:, joint(s, eff)] - pose_a[joint(s, eff)]) @ direction_of(goal, s) for s in goal.sides], -1)


def desired(goal: Goal, pose_a: np.ndarray) -> np.ndarray:
    """The amount each side should reach `(S,)` (same units as `amounts`)."""
    if goal.kind.startswith("lean_"):
        return np.array([0.16 * goal.scale])
    if goal.kind == "hands_on_hips":
        return np.full(len(goal.sides), -HIPS_REACH)
    out = []
    for side in goal.sides:
        if goal.kind in ("bend", "straighten"):
            angle = float(hinge_angle(pose_a, side, goal.part))
            if goal.kind == "straighten":
                out.append(max(172.0 - angle, 0.0) * min(goal.scale, 1.0))
            elif goal.degrees is not None:
                out.append(angle - max(goal.degrees, MIN_INTERIOR))
            else:
                out.append(min(PLAIN_BEND * goal.scale, angle - MIN_INTERIOR))
            continue
        if goal.kind in ("closer", "apart"):
            eff = EFFECTOR[goal.part]
            d_a = float(np.linalg.norm(pose_a[joint("left", eff)] - pose_a[joint("right", eff)]))
            floor = {"wrist": 0.06, "elbow": 0.25, "knee": 0.16, "ankle": 0.16}[eff]
            want = PLAIN_MOVE * goal.scale
            return np.array([min(want, d_a - floor) if goal.kind == "closer" else want])
        direction = direction_of(goal, side)
        room = _reach_room(pose_a, side, goal.part, direction)
        eff_y = pose_a[joint(side, EFFECTOR[goal.part]), 1]
        if goal.kind == "raise" and goal.part == "hand":
            if goal.target == "head":
                want = pose_a[J["head"], 1] + 0.10 - eff_y
            elif goal.target == "shoulder":
                want = pose_a[joint(side, "shoulder"), 1] - eff_y
            else:
                want = goal.scale * max(PLAIN_MOVE, pose_a[joint(side, "shoulder"), 1] + 0.03 - eff_y)
        elif goal.kind == "lower" and goal.target == "side":
            want = room
        else:
            want = PLAIN_MOVE * goal.scale * (0.75 if goal.part in ("knee", "elbow") else 1.0)
        out.append(min(want, 0.95 * room))
    return np.array(out)
