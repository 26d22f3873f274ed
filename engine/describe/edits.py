"""Known, rigid edits of a pose (bend an elbow, lift a knee, bring the hands together).

Used by the describer's property tests and benchmark to make pairs whose difference is known.
Each edit rotates a joint subtree rigidly, so bone lengths stay those of the input pose.
Poses are `(22, 3)` float64, metres, Y up (any heading).
"""

from __future__ import annotations

import numpy as np

from engine.motion import skeleton

_J = skeleton.JOINT_INDEX


def subtree(joint: int) -> list[int]:
    """`joint` and all its descendants."""
    out, stack = [], [joint]
    while stack:
        j = stack.pop()
        out.append(j)
        stack.extend(skeleton.children_of(j))
    return sorted(out)


def rotation_matrix(axis: np.ndarray, angle: float) -> np.ndarray:
    """Rotation by `angle` radians about `axis` (right-hand rule), `(3, 3)`."""
    x, y, z = axis / np.linalg.norm(axis)
    c, s = np.cos(angle), np.sin(angle)
    k = np.array([[0, -z, y], [z, 0, -x], [-y, x, 0]])
    return np.eye(3) + s * k + (1 - c) * (k @ k)


def rotate_subtree(pose: np.ndarray, root: int, pivot: np.ndarray, rot: np.ndarray) -> np.ndarray:
    """Rotate the joints of `root`'s subtree by `rot` about the point `pivot`."""
    out = np.array(pose, dtype=np.float64)
    idx = subtree(root)
    out[idx] = (out[idx] - pivot) @ rot.T + pivot
    return out


def _forward(pose: np.ndarray) -> np.ndarray:
    r_hip, l_hip, r_sho, l_sho = skeleton.FACE_JOINTS
    across = pose[r_hip] - pose[l_hip] + pose[r_sho] - pose[l_sho]
    forward = np.array([across[2], 0.0, -across[0]])
    return forward / np.linalg.norm(forward)


def bend_elbow(pose: np.ndarray, side: str, degrees: float) -> np.ndarray:
    """Close the elbow angle by `degrees`: rotate forearm and hand about the elbow, about the
    normal of the arm plane (or the body's left axis if the arm is straight)."""
    shoulder, elbow, wrist = (pose[_J[f"{side}_{p}"]] for p in ("shoulder", "elbow", "wrist"))
    upper, fore = shoulder - elbow, wrist - elbow
    axis = np.cross(fore, upper)
    if np.linalg.norm(axis) < 1e-3 * np.linalg.norm(fore) * np.linalg.norm(upper):
        axis = np.cross(fore, _forward(pose))
    return rotate_subtree(pose, _J[f"{side}_wrist"], elbow, rotation_matrix(axis, np.radians(degrees)))


def lift_knee(pose: np.ndarray, side: str, height: float) -> np.ndarray:
    """Raise the knee by `height` metres, swinging the whole leg forward about the hip."""
    hip = pose[_J[f"{side}_hip"]]
    knee = _J[f"{side}_knee"]
    axis = np.cross(_forward(pose), np.array([0.0, 1.0, 0.0]))  # forward x up: lifts forwards

    def rise(angle: float) -> float:
        return rotate_subtree(pose, knee, hip, rotation_matrix(axis, angle))[knee, 1] - pose[knee, 1]

    lo, hi = 0.0, np.pi * 0.75
    if rise(hi) < height:
        raise ValueError(f"cannot lift the {side} knee by {height} m")
    for _ in range(60):  # bisection on the hip angle: the knee height is monotonic on [0, 135 deg]
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if rise(mid) < height else (lo, mid)
    return rotate_subtree(pose, knee, hip, rotation_matrix(axis, hi))


def bring_hands_together(pose: np.ndarray) -> np.ndarray:
    """Swing each arm rigidly about its shoulder so both wrists meet in front of the chest."""
    l_sho, r_sho = pose[_J["left_shoulder"]], pose[_J["right_shoulder"]]
    centre = 0.5 * (l_sho + r_sho)
    out = np.array(pose, dtype=np.float64)
    reach = min(np.linalg.norm(pose[_J[f"{s}_wrist"]] - pose[_J[f"{s}_shoulder"]]) for s in ("left", "right"))
    half_width = 0.5 * np.linalg.norm(l_sho - r_sho)
    depth = np.sqrt(max(reach**2 - half_width**2, 0.01))
    target = centre + depth * _forward(pose)
    for side in ("left", "right"):
        shoulder = out[_J[f"{side}_shoulder"]]
        a = out[_J[f"{side}_wrist"]] - shoulder
        b = target - shoulder
        axis = np.cross(a, b)
        angle = np.arctan2(np.linalg.norm(axis), a @ b)
        if angle > 1e-9:
            out = rotate_subtree(out, _J[f"{side}_elbow"], shoulder, rotation_matrix(axis, angle))
    return out


def standing_pose() -> np.ndarray:
    """A plausible relaxed standing pose: the default T-pose with both arms lowered by 82 degrees
    and elbows bent 20 degrees (for tests without real data)."""
    pose = skeleton.default_rest_positions()
    for side, sign in (("left", -1.0), ("right", 1.0)):
        shoulder = pose[_J[f"{side}_shoulder"]]
        pose = rotate_subtree(
            pose, _J[f"{side}_elbow"], shoulder, rotation_matrix(np.array([0.0, 0.0, 1.0]), sign * np.radians(82))
        )
        pose = bend_elbow(pose, side, 20.0)
    return pose
