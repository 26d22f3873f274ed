"""Forward and (analytic) inverse kinematics between local joint rotations and joint positions.

Convention (any skeleton given by `parents`, parents before children):
    global_rot[j] = global_rot[parent[j]] * local[j]
    pos[j]        = pos[parent[j]] + global_rot[parent[j]] applied to rest_offsets[j]
    pos[0]        = root_translation
so a joint's own rotation moves its children, and all-identity rotations give the rest pose.
Quaternions are (w, x, y, z); positions are metres. FK works on numpy and torch (differentiable);
IK is numpy (it is data processing). Run the tests: `pytest -q tests/test_kinematics.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from engine.errors import InputError
from engine.motion import rotations as R
from engine.motion.skeleton import NUM_JOINTS, PARENTS

# Twist rules of SMPL-22 single-child joints (other skeletons: swing from the parent).
# Hinges: the thigh / upper arm is twisted so that the knee / elbow below it is a pure hinge about
# the axis rest_bone x bend (a fixed axis in the limb's frame); `bend` is the direction the next
# bone goes when the joint flexes from a straight T-pose (knees backward, elbows forward with
# palms down). (a, b) name the next bone: secondary = pos[a] - pos[b].
SMPL22_HINGES: dict[int, tuple[tuple[int, int], tuple[float, float, float]]] = {
    1: ((7, 4), (0.0, 0.0, -1.0)),
    2: ((8, 5), (0.0, 0.0, -1.0)),
    16: ((20, 18), (0.0, 0.0, 1.0)),
    17: ((21, 19), (0.0, 0.0, 1.0)),
}
# Frames: spine2 takes its twist from the collar line (the chest turns with the shoulders).
SMPL22_FRAMES: dict[int, tuple[int, int]] = {6: (13, 14)}
# Below STRAIGHT_SIN (|sin| of the angle between the bone and the next direction) the twist is
# undefined and the joint only swings from its parent; up to PLANE_SIN the two answers are
# blended, so a limb passing through straight does not pop its twist.
STRAIGHT_SIN = np.sin(np.radians(2.0))
PLANE_SIN = np.sin(np.radians(10.0))
# Hinges need a clearly bent limb: on real walks (Bandai) the knee's bend direction below ~15
# degrees is mostly sideways noise and the hinge twist swings by up to 65 degrees per frame. So
# the hinge twist is trusted fully above HINGE_BENT, not at all below HINGE_STRAIGHT, and in
# between (and below) it is blended with the twist held over from neighbouring bent frames.
HINGE_STRAIGHT_SIN = np.sin(np.radians(10.0))
HINGE_BENT_SIN = np.sin(np.radians(35.0))


def _check_parents(parents: Sequence[int], num_joints: int) -> np.ndarray:
    parents = np.asarray(parents, dtype=np.int64)
    if len(parents) != num_joints or parents[0] != -1 or any(p >= j for j, p in enumerate(parents) if j):
        raise InputError(
            f"parents must list {num_joints} joints, root first (-1) and every parent before its "
            f"child; got {list(parents)}."
        )
    return parents


def forward_kinematics(
    local_quats: Any,
    root_translation: Any,
    rest_offsets: Any,
    parents: Sequence[int] = PARENTS,
    return_rotations: bool = False,
) -> Any:
    """Joint positions from local rotations.

    local_quats: `(..., J, 4)` (w, x, y, z), numpy or torch; root_translation: `(..., 3)` metres;
    rest_offsets: `(J, 3)` or `(..., J, 3)` child minus parent in the rest pose (row 0 ignored).
    Returns `(..., J, 3)` positions (and `(..., J, 4)` global rotations if `return_rotations`),
    in the backend of `local_quats`.
    """
    q = R._check(local_quats, (4,), "local_quats")
    if len(q.shape) < 2:
        raise InputError(f"local_quats must have shape (..., J, 4), got {tuple(q.shape)}.")
    num_joints = q.shape[-2]
    parents = _check_parents(parents, num_joints)
    root = R._check(root_translation, (3,), "root_translation")
    offsets = R._check(rest_offsets, (num_joints, 3), "rest_offsets")
    if R._is_torch(q):
        import torch  # noqa: PLC0415 - reached with torch input only: numpy callers skip its ~1.7 s import

        root = torch.as_tensor(root, dtype=q.dtype, device=q.device)
        offsets = torch.as_tensor(offsets, dtype=q.dtype, device=q.device)
    rots, pos = [q[..., 0, :]], [root]
    for j in range(1, num_joints):
        p = parents[j]
        rots.append(R.quat_multiply(rots[p], q[..., j, :]))
        pos.append(pos[p] + R.quat_apply(rots[p], offsets[..., j, :]))
    xp = R._xp(q)
    positions = xp.stack([xp.broadcast_to(x, pos[-1].shape) for x in pos], -2)
    if return_rotations:
        return positions, xp.stack(rots, -2)
    return positions


def rest_positions_from_offsets(rest_offsets: np.ndarray, parents: Sequence[int] = PARENTS) -> np.ndarray:
    """`(J, 3)` offsets -> `(J, 3)` rest positions with the root at the origin."""
    offsets = np.asarray(rest_offsets, dtype=np.float64)
    parents = _check_parents(parents, len(offsets))
    pos = np.zeros_like(offsets)
    for j in range(1, len(offsets)):
        pos[j] = pos[parents[j]] + offsets[j]
    return pos


def rest_offsets_matching_lengths(
    positions: np.ndarray, template_offsets: np.ndarray, parents: Sequence[int] = PARENTS
) -> np.ndarray:
    """Template bone directions scaled to the clip's mean bone lengths.

    positions: `(T, J, 3)` metres; template_offsets: `(J, 3)` (e.g. default_rest_offsets()).
    Returns `(J, 3)`: a rest skeleton with the template's pose and the clip's proportions.
    """
    positions = _check_positions(positions, len(template_offsets))
    parents = _check_parents(parents, positions.shape[1])
    lengths = np.linalg.norm(positions[:, 1:] - positions[:, parents[1:]], axis=-1).mean(axis=0)
    template = np.asarray(template_offsets, dtype=np.float64)
    norms = np.linalg.norm(template[1:], axis=-1, keepdims=True)
    out = template.copy()
    out[1:] = np.where(norms > 1e-12, template[1:] / np.maximum(norms, 1e-12), 0.0) * lengths[:, None]
    return out


def _check_positions(positions: Any, num_joints: int | None = None) -> np.ndarray:
    if R._is_torch(positions):
        positions = positions.detach().cpu().numpy()
    positions = np.asarray(positions, dtype=np.float64)
    want = num_joints or (positions.shape[1] if positions.ndim == 3 else NUM_JOINTS)
    if positions.ndim != 3 or positions.shape[1:] != (want, 3) or positions.shape[0] == 0:
        raise InputError(f"positions must have shape (T, {want}, 3) with T >= 1, got {positions.shape}.")
    if not np.isfinite(positions).all():
        raise InputError("positions contain NaN or infinite values; clean or drop those frames first.")
    return positions


def _frame(primary: np.ndarray, secondary: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Orthonormal frames `(..., 3, 3)` with column 0 along primary and column 1 normal to the
    (primary, secondary) plane, plus |sin| of the angle between the two (how well defined)."""
    p = primary / np.maximum(np.linalg.norm(primary, axis=-1, keepdims=True), 1e-12)
    n = np.cross(p, secondary)
    n_len = np.linalg.norm(n, axis=-1, keepdims=True)
    sin = n_len[..., 0] / np.maximum(np.linalg.norm(secondary, axis=-1), 1e-12)
    n = n / np.maximum(n_len, 1e-12)
    return np.stack([p, n, np.cross(p, n)], axis=-1), sin


def _joint_rules(rest_offsets: np.ndarray, parents: np.ndarray) -> dict[int, tuple]:
    """For each non-leaf joint: (kind, primary child, secondary (a, b), rest secondary, bend).

    kind is "swing" (minimal rotation from the parent), "frame" (primary + secondary direction
    give a full frame; branching joints) or "hinge" (SMPL22_HINGES).
    """
    num_joints = len(parents)
    children = [[c for c in range(num_joints) if parents[c] == j] for j in range(num_joints)]
    rest_pos = rest_positions_from_offsets(rest_offsets, parents)
    smpl = num_joints == NUM_JOINTS and tuple(parents) == tuple(PARENTS)
    rules = {}
    for j in range(num_joints):
        kids = children[j]
        if not kids:
            continue
        if len(kids) == 1:
            primary, others = kids[0], []
        elif parents[j] < 0:  # root: the child carrying the most of the body (pelvis -> spine)
            sizes = [_count_descendants(c, children) for c in kids]
            primary = kids[int(np.argmax(sizes))]
            others = [c for c in kids if c != primary]
        else:  # continue the incoming bone (spine3 -> neck)
            incoming = rest_offsets[j] / max(np.linalg.norm(rest_offsets[j]), 1e-12)
            align = [incoming @ rest_offsets[c] / max(np.linalg.norm(rest_offsets[c]), 1e-12) for c in kids]
            primary = kids[int(np.argmax(align))]
            others = [c for c in kids if c != primary]
        kind, secondary, bend = "frame", None, None
        if len(others) >= 2:
            secondary = (others[0], others[1])
        elif len(others) == 1:
            secondary = (others[0], j)
        elif smpl and j in SMPL22_FRAMES:
            secondary = SMPL22_FRAMES[j]
        elif smpl and j in SMPL22_HINGES:
            kind, (secondary, bend) = "hinge", SMPL22_HINGES[j]
        rest_sec = None if secondary is None else rest_pos[secondary[0]] - rest_pos[secondary[1]]
        if kind == "frame" and (secondary is None or _frame(rest_offsets[primary], rest_sec)[1] < PLANE_SIN):
            kind = "swing"  # no usable second direction in the rest pose
        rules[j] = (kind, primary, secondary, rest_sec, None if bend is None else np.asarray(bend))
    return rules


def _hinge_twist(
    swing: np.ndarray, rest_dir: np.ndarray, rest_next: np.ndarray, bend: np.ndarray, obs_next: np.ndarray
) -> np.ndarray:
    """Twist angles `(T,)` (radians, about rest_dir, applied after `swing` `(T, 4)`) that make
    the next bone reachable by a pure hinge rotation.

    In the bone's rest frame the hinge axis is a = rest_dir x bend; the next bone must then lie
    on the cone swept by rotating rest_next about a. The twist angle solves that (two solutions:
    keep the one with the larger flexion angle, i.e. bending towards `bend`).
    """
    p = rest_dir / np.linalg.norm(rest_dir)
    r = rest_next / np.linalg.norm(rest_next)
    a = np.cross(p, bend)
    a /= np.linalg.norm(a)
    m = a - r * (r @ a)  # the next bone must be orthogonal to m (normal of the hinge plane)
    m /= np.linalg.norm(m)
    e1 = m - p * (p @ m)
    e1 /= max(np.linalg.norm(e1), 1e-12)
    e2 = np.cross(p, e1)
    d0 = R.quat_apply(R.quat_conjugate(swing), obs_next)  # next bone in the swung rest frame
    d0 /= np.maximum(np.linalg.norm(d0, axis=-1, keepdims=True), 1e-12)
    c, x, y = d0 @ p, d0 @ e1, d0 @ e2
    sigma = np.maximum(np.hypot(x, y), 1e-12)
    psi0 = np.arctan2(y, x)
    m_perp = max(np.linalg.norm(m - p * (p @ m)), 1e-12)
    cos_target = np.clip(-c * (p @ m) / (sigma * m_perp), -1.0, 1.0)
    best, best_flex = None, None
    for sign in (1.0, -1.0):
        delta = sign * np.arccos(cos_target) - psi0  # rotating d0 about p by delta reaches the cone
        d = R.quat_apply(R.axis_angle_to_quat(p * delta[:, None]), d0)
        flex = np.arctan2(np.cross(r, d) @ a, d @ r)
        if best is None:
            best, best_flex = delta, flex
        else:
            best, best_flex = np.where(flex > best_flex, delta, best), np.maximum(flex, best_flex)
    # G = swing * T with T^-1 d0 = d: T turns by -delta about p.
    return _wrap(-best)


def _wrap(angle: np.ndarray) -> np.ndarray:
    return (angle + np.pi) % (2 * np.pi) - np.pi


def _fill_twist(twist: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Where the limb is (nearly) straight the hinge twist is undefined: hold / interpolate in
    time the twist of the frames where it is defined (weight 1), blending by weight, so the bone
    does not spin when the limb passes through straight. No defined frame at all: no twist."""
    anchors = np.nonzero(weight >= 1.0)[0]
    if len(anchors) == 0:
        held = np.zeros_like(twist)
    else:
        held = np.interp(np.arange(len(twist)), anchors, np.unwrap(twist[anchors]))
    return held + weight * _wrap(twist - held)


def _count_descendants(j: int, children: list[list[int]]) -> int:
    return sum(1 + _count_descendants(c, children) for c in children[j])


def inverse_kinematics(
    positions: Any, rest_offsets: Any, parents: Sequence[int] = PARENTS
) -> tuple[np.ndarray, np.ndarray]:
    """Local rotations that pose the rest skeleton like `positions` (analytic).

    positions: `(T, J, 3)` metres; rest_offsets: `(J, 3)`. Returns (local_quats `(T, J, 4)`
    float64 (w, x, y, z) with w >= 0, root_translation `(T, 3)` = positions[:, 0]).
    Each non-leaf joint's global rotation takes its rest child direction onto the observed one
    (so every single-child bone keeps its direction, whatever the rest bone lengths); the twist
    about that bone comes from a second direction: the other children for branching joints
    (pelvis: hips line, spine3: collar line; spine2 also takes the collar line), the hinge rule
    for SMPL-22 thighs and upper arms (SMPL22_HINGES: knees and elbows become pure hinges when
    clearly bent; nearly straight limbs hold the twist of neighbouring frames, the only place
    where frames interact), otherwise the minimal swing from the parent. Leaves get identity.
    FK(IK(p)) == p when rest_offsets has the clip's own bone geometry.
    """
    offsets = np.asarray(rest_offsets, dtype=np.float64)
    positions = _check_positions(positions, offsets.shape[0] if offsets.ndim == 2 else None)
    if offsets.shape != (positions.shape[1], 3):
        raise InputError(f"rest_offsets must have shape ({positions.shape[1]}, 3), got {offsets.shape}.")
    parents = _check_parents(parents, positions.shape[1])
    rules = _joint_rules(offsets, parents)
    num_frames, num_joints = positions.shape[:2]
    global_rot = np.zeros((num_frames, num_joints, 4))
    global_rot[..., 0] = 1.0
    for j in range(num_joints):
        parent_rot = global_rot[:, parents[j]] if j else R.quat_identity((num_frames,))
        if j not in rules:
            global_rot[:, j] = parent_rot
            continue
        kind, primary, secondary, rest_sec, bend = rules[j]
        rest_dir = offsets[primary]
        obs_dir = positions[:, primary] - positions[:, j]
        # Minimal swing from the parent's frame: always defined.
        swung = R.quat_apply(parent_rot, rest_dir)
        swing = R.quat_multiply(R.quat_between(swung, obs_dir), parent_rot)
        if kind == "swing":
            global_rot[:, j] = swing
            continue
        obs_sec = positions[:, secondary[0]] - positions[:, secondary[1]]
        if kind == "hinge":
            twist = _hinge_twist(swing, rest_dir, rest_sec, bend, obs_sec)
            sin = np.where(np.sum(obs_dir * obs_sec, -1) < 0, 1.0, _frame(obs_dir, obs_sec)[1])
            weight = np.clip((sin - HINGE_STRAIGHT_SIN) / (HINGE_BENT_SIN - HINGE_STRAIGHT_SIN), 0.0, 1.0)
            axis = rest_dir / np.linalg.norm(rest_dir)
            turn = R.axis_angle_to_quat(axis * _fill_twist(twist, weight)[:, None])
            global_rot[:, j] = R.quat_multiply(swing, turn)  # a twist keeps rest_dir -> obs_dir
            continue
        rest_frame, _ = _frame(rest_dir, rest_sec)
        obs_frame, sin = _frame(obs_dir, obs_sec)
        twisted = R.matrix_to_quat(obs_frame @ rest_frame.T)
        weight = np.clip((sin - STRAIGHT_SIN) / (PLANE_SIN - STRAIGHT_SIN), 0.0, 1.0)
        # Both rotations map rest_dir onto obs_dir, so any blend of them does too.
        global_rot[:, j] = R.quat_slerp(swing, twisted, weight)
    local = global_rot.copy()
    for j in range(1, num_joints):
        local[:, j] = R.quat_multiply(R.quat_conjugate(global_rot[:, parents[j]]), global_rot[:, j])
    return R.quat_standardize(R.quat_normalize(local)), positions[:, 0].copy()


def two_bone_ik(
    root: np.ndarray, pole: np.ndarray, target: np.ndarray, upper: float | np.ndarray, lower: float | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Place a two-bone limb (hip-knee-ankle, shoulder-elbow-wrist) of fixed bone lengths.

    root, pole, target: `(..., 3)` metres: the limb's fixed root joint, a point the middle joint
    bends towards (the middle joint's old position) and where the end joint should go; upper,
    lower: bone lengths (metres, scalars or `(...)`). Returns (middle, end) `(..., 3)`: the end
    lies on the root->target line at the target when it is reachable (otherwise as near as the
    lengths allow), the middle joint in the plane of root, target and pole, so the limb bends the
    way it did. The law-of-cosines solution used by animation rigs (e.g. Blender's IK constraint
    for a two-bone chain). Bone lengths are exactly `upper` and `lower` on every frame.
    """
    root, pole, target = (np.asarray(x, dtype=np.float64) for x in (root, pole, target))
    upper, lower = np.asarray(upper, np.float64)[..., None], np.asarray(lower, np.float64)[..., None]
    reach = target - root
    dist = np.linalg.norm(reach, axis=-1, keepdims=True)
    axis = np.where(dist > 1e-9, reach / np.maximum(dist, 1e-9), np.array([0.0, -1.0, 0.0]))
    dist = np.clip(dist, np.abs(upper - lower) + 1e-6, upper + lower - 1e-6)
    along = (upper**2 - lower**2 + dist**2) / (2.0 * dist)
    height = np.sqrt(np.maximum(upper**2 - along**2, 0.0))
    bend = pole - root
    bend = bend - axis * np.sum(bend * axis, -1, keepdims=True)
    size = np.linalg.norm(bend, axis=-1, keepdims=True)
    # A straight limb has no bend plane: any direction normal to the axis does (height is ~0 there).
    fallback = np.cross(axis, np.array([1.0, 0.0, 0.0]))
    fallback = fallback / np.maximum(np.linalg.norm(fallback, axis=-1, keepdims=True), 1e-9)
    bend = np.where(size > 1e-6, bend / np.maximum(size, 1e-9), fallback)
    return root + axis * along + bend * height, root + axis * dist
