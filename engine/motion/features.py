"""HumanML3D motion features (263 dims for 22 joints; KIT-ML's 251 for 21) and back.

Layout for J joints (HumanML3D, Guo et al. 2022: github.com/EricGuo5513/HumanML3D,
`motion_representation.ipynb`; MotionGPT's `mGPT/data/humanml/scripts/motion_process.py`), per
frame pair, so T joints -> T-1 vectors:
    [0]                 root yaw velocity: arcsin(q_y) of r_rot[t+1] * r_rot[t]^-1 (half-angle, rad)
    [1:3]               root XZ velocity in the root-facing frame (metres/frame)
    [3]                 root height y (metres, floor at 0)
    ric   (J-1)*3       joints 1.. relative to the root on XZ (y absolute), facing +Z
    rot   (J-1)*6       6D rotations (HumanML3D's cont6d: matrix columns 0 and 1) from HumanML3D's
                        own chain IK against T2M_RAW_OFFSETS (not SMPL rotations)
    vel   J*3           joint velocities in the root-facing frame
    feet  4             contacts: left (ankle, foot), right (ankle, foot); 1 if squared per-frame
                        displacement < feet_threshold
`joints_to_features` reproduces `process_file` of HumanML3D's motion_representation.ipynb
(retarget to one skeleton by leg length, floor, frame-0 root at the origin facing +Z, forward
direction smoothed with a Gaussian of sigma 20 frames for the root rotation) so that values are
comparable with the HumanML3D ecosystem. One deliberate deviation: the root quaternions are made
sign-continuous (HumanML3D's own `qfix`) before the yaw velocity, because arcsin of an unfixed
quaternion gets the wrong sign in frames where the facing crosses -Z; every other value is the same.

`features_to_joints` is `recover_from_ric` (numpy or torch, differentiable). It returns the joints
the features encode: the canonical joints turned about Y by the smoothed frame-0 facing (HumanML3D's
`new_joints` have the same property); `joints_to_features(..., return_joints=True)` gives them.
KIT-ML (21 joints) is supported by layout, recovery, mirroring, normalisation and feature
extraction, but has no default target skeleton (HumanML3D used KIT clip 03950; pass one).
Run the tests: `pytest -q tests/test_features.py`.

One module of ~450 lines on purpose: extraction and recovery are two directions of the same
layout and share its slices, skeleton specs and conventions; splitting them would separate the
two halves that the round-trip tests check against each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.ndimage import gaussian_filter1d

from engine.errors import InputError
from engine.motion import rotations as R
from engine.motion import skeleton as S

FOOT_THRESHOLD_T2M = 0.002  # HumanML3D process_file(positions, 0.002)
FOOT_THRESHOLD_KIT = 0.05  # KIT-ML (motion_process.py)
FORWARD_SMOOTH_SIGMA = 20.0  # frames; HumanML3D inverse_kinematics_np(smooth_forward=True)
STD_FLOOR = 1e-8  # a constant feature dimension (std 0) is divided by 1 instead


@dataclass(frozen=True)
class FeatureSkeleton:
    """The skeleton constants a feature layout depends on (HumanML3D paramUtil.py)."""

    name: str
    chains: tuple[tuple[int, ...], ...]
    raw_offsets: np.ndarray  # (J, 3) unit bone direction priors
    face_joints: tuple[int, int, int, int]  # r_hip, l_hip, r_shoulder, l_shoulder
    feet_left: tuple[int, int]
    feet_right: tuple[int, int]
    feet_threshold: float
    leg_joints: tuple[int, int]  # bones summed for the leg length (uniform skeleton scaling)
    mirror_map: tuple[int, ...]

    @property
    def num_joints(self) -> int:
        return len(self.raw_offsets)

    @property
    def parents(self) -> tuple[int, ...]:
        parents = [-1] * self.num_joints
        for chain in self.chains:
            for a, b in zip(chain[:-1], chain[1:]):
                parents[b] = a
        return tuple(parents)


def _kit_mirror_map() -> tuple[int, ...]:
    mapping = list(range(21))
    for a, b in ((5, 8), (6, 9), (7, 10), (11, 16), (12, 17), (13, 18), (14, 19), (15, 20)):
        mapping[a], mapping[b] = b, a
    return tuple(mapping)


T2M = FeatureSkeleton(
    "t2m",
    S.KINEMATIC_CHAINS,
    S.T2M_RAW_OFFSETS,
    S.FACE_JOINTS,
    S.FOOT_JOINTS_LEFT,
    S.FOOT_JOINTS_RIGHT,
    FOOT_THRESHOLD_T2M,
    (5, 8),
    S.MIRROR_MAP,
)
KIT = FeatureSkeleton(
    "kit",
    ((0, 11, 12, 13, 14, 15), (0, 16, 17, 18, 19, 20), (0, 1, 2, 3, 4), (3, 5, 6, 7), (3, 8, 9, 10)),
    np.array(
        [
            [0, 0, 0],
            [0, 1, 0],
            [0, 1, 0],
            [0, 1, 0],
            [0, 1, 0],
            [1, 0, 0],
            [0, -1, 0],
            [0, -1, 0],
            [-1, 0, 0],
            [0, -1, 0],
            [0, -1, 0],
            [1, 0, 0],
            [0, -1, 0],
            [0, -1, 0],
            [0, 0, 1],
            [0, 0, 1],
            [-1, 0, 0],
            [0, -1, 0],
            [0, -1, 0],
            [0, 0, 1],
            [0, 0, 1],
        ],
        float,
    ),
    (11, 16, 5, 8),
    (19, 20),
    (14, 15),
    FOOT_THRESHOLD_KIT,
    (17, 18),
    _kit_mirror_map(),
)
SKELETONS = {22: T2M, 21: KIT}


def feature_dim(joints_num: int) -> int:
    """8 + (J-1)*9 + J*3: 263 for 22 joints, 251 for 21."""
    return 8 + (joints_num - 1) * 9 + joints_num * 3


def joints_num_for_dim(dim: int) -> int:
    if (dim + 1) % 12 or dim < 20:
        raise InputError(
            f"a feature vector has {dim} dims; expected 8 + (J-1)*9 + J*3 (263 for "
            "HumanML3D's 22 joints, 251 for KIT-ML's 21)."
        )
    return (dim + 1) // 12


def feature_layout(joints_num: int = S.NUM_JOINTS) -> dict[str, slice]:
    """Named slices of the feature vector: root_rot_vel, root_lin_vel, root_y, root (all 4),
    ric, rot, vel, feet. The std groups of `compute_mean_std` are these minus `root`."""
    ric = 4 + (joints_num - 1) * 3
    rot = ric + (joints_num - 1) * 6
    vel = rot + joints_num * 3
    return {
        "root_rot_vel": slice(0, 1),
        "root_lin_vel": slice(1, 3),
        "root_y": slice(3, 4),
        "root": slice(0, 4),
        "ric": slice(4, ric),
        "rot": slice(ric, rot),
        "vel": slice(rot, vel),
        "feet": slice(vel, vel + 4),
    }


def _spec(joints_num: int) -> FeatureSkeleton:
    if joints_num not in SKELETONS:
        raise InputError(f"no feature skeleton for {joints_num} joints; use 22 (HumanML3D) or 21 (KIT-ML).")
    return SKELETONS[joints_num]


def _check_positions(positions: Any, min_frames: int = 1) -> np.ndarray:
    if R._is_torch(positions):
        positions = positions.detach().cpu().numpy()
    positions = np.asarray(positions, dtype=np.float64)
    if positions.ndim != 3 or positions.shape[1:] not in ((22, 3), (21, 3)) or len(positions) < min_frames:
        raise InputError(
            f"joint positions must have shape (T, 22, 3) (or (T, 21, 3) for KIT) with "
            f"T >= {min_frames}, got {positions.shape}."
        )
    if not np.isfinite(positions).all():
        raise InputError("joint positions contain NaN or infinite values; clean or drop those frames.")
    return positions


# --------------------------------------------------------------------------- joints -> features
def _facing_quat(positions: np.ndarray, spec: FeatureSkeleton, smooth: bool) -> np.ndarray:
    """Yaw quaternions `(T, 4)` turning each frame's facing onto +Z (HumanML3D root rotation)."""
    r_hip, l_hip, r_sdr, l_sdr = spec.face_joints
    across = positions[:, r_hip] - positions[:, l_hip] + positions[:, r_sdr] - positions[:, l_sdr]
    across /= np.linalg.norm(across, axis=-1, keepdims=True)
    forward = np.cross(np.array([[0.0, 1.0, 0.0]]), across)
    if smooth:
        forward = gaussian_filter1d(forward, FORWARD_SMOOTH_SIGMA, axis=0, mode="nearest")
    forward /= np.linalg.norm(forward, axis=-1, keepdims=True)
    return R.quat_between(forward, np.array([0.0, 0.0, 1.0]))


def humanml3d_ik(positions: np.ndarray, spec: FeatureSkeleton = T2M, smooth_forward: bool = True) -> np.ndarray:
    """HumanML3D's `Skeleton.inverse_kinematics_np`: `(T, J, 3)` -> quaternions `(T, J, 4)`.

    Root = facing quaternion; along each chain, the rotation stored at joint c is the one taking
    raw_offsets[c] onto the bone parent(c) -> c, relative to the previous bone's rotation in that
    chain (each chain restarts from the root rotation, also the arm chains starting at spine3).
    """
    root = _facing_quat(positions, spec, smooth_forward)
    quats = np.zeros(positions.shape[:-1] + (4,))
    quats[:, 0] = root
    for chain in spec.chains:
        acc = root
        for a, b in zip(chain[:-1], chain[1:]):
            bone = positions[:, b] - positions[:, a]
            rot_u_v = R.quat_between(spec.raw_offsets[b], bone / np.linalg.norm(bone, axis=-1, keepdims=True))
            local = R.quat_multiply(R.quat_conjugate(acc), rot_u_v)
            quats[:, b] = local
            acc = R.quat_multiply(acc, local)
    return quats


def uniform_skeleton(positions: np.ndarray, target_positions: np.ndarray, spec: FeatureSkeleton = T2M) -> np.ndarray:
    """HumanML3D's `uniform_skeleton`: give every bone the target's length, keep its direction,
    scale the root trajectory by the leg-length ratio (frame 0 of the source).

    positions `(T, J, 3)`, target_positions `(J, 3)` (any pose of the target). HumanML3D does
    this by its IK + FK; since that FK re-creates each bone as the IK's rotation applied to the
    raw direction times the target length, rebuilding bones directly gives the same joints.
    """
    parents = spec.parents
    src_len = np.linalg.norm(positions[0, 1:] - positions[0, list(parents[1:])], axis=-1)
    tgt_len = np.linalg.norm(target_positions[1:] - target_positions[list(parents[1:])], axis=-1)
    src_len, tgt_len = np.concatenate([[0.0], src_len]), np.concatenate([[0.0], tgt_len])
    l1, l2 = spec.leg_joints
    scale = (tgt_len[l1] + tgt_len[l2]) / (src_len[l1] + src_len[l2])
    out = np.zeros_like(positions)
    out[:, 0] = positions[:, 0] * scale
    for chain in spec.chains:
        for a, b in zip(chain[:-1], chain[1:]):
            bone = positions[:, b] - positions[:, a]
            out[:, b] = out[:, a] + bone / np.linalg.norm(bone, axis=-1, keepdims=True) * tgt_len[b]
    return out


def canonicalize(positions: Any, spec: FeatureSkeleton | None = None) -> np.ndarray:
    """Floor at y = 0 (min over all joints and frames), frame-0 root XZ at the origin, frame 0
    facing +Z (from the hips + shoulders line, unsmoothed): `(T, J, 3)` -> `(T, J, 3)` float64."""
    positions = _check_positions(positions)
    spec = spec or _spec(positions.shape[1])
    pos = positions.copy()
    pos[..., 1] -= pos[..., 1].min()
    pos[..., [0, 2]] -= pos[0, 0, [0, 2]]
    turn = _facing_quat(pos[:1], spec, smooth=False)[0]
    return R.quat_apply(turn, pos)


def default_target_positions() -> np.ndarray:
    """The canonical default skeleton `(22, 3)` that features are retargeted to."""
    return S.default_rest_positions()


def joints_to_features(
    positions: Any,
    feet_threshold: float | None = None,
    target: np.ndarray | str | None = "default",
    smooth_forward: bool = True,
    return_joints: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """HumanML3D features of a clip: `(T, J, 3)` metres, Y up, 20 fps -> `(T-1, D)` float32.

    J = 22 gives 263 dims, J = 21 (KIT-ML) 251. feet_threshold defaults to 0.002 (22) / 0.05 (21).
    target: skeleton to retarget to first (HumanML3D's uniform-skeleton step): "default" = the
    default SMPL-22 skeleton (for J = 22; no retargeting for KIT), None = keep the clip's bones,
    or joint positions `(J, 3)` of any target skeleton.
    return_joints: also return the `(T-1, J, 3)` joints the features encode, float32 (what
    features_to_joints gives back).
    """
    positions = _check_positions(positions, min_frames=2)
    spec = _spec(positions.shape[1])
    thr = spec.feet_threshold if feet_threshold is None else feet_threshold
    if isinstance(target, str):
        if target != "default":
            raise InputError(f"target must be 'default', None or joint positions, got {target!r}.")
        target = default_target_positions() if spec is T2M else None
    if target is not None:
        target = np.asarray(target, dtype=np.float64)
        if target.shape != (spec.num_joints, 3):
            raise InputError(f"target skeleton must have shape ({spec.num_joints}, 3), got {target.shape}.")
        positions = uniform_skeleton(positions, target, spec)
    glob = canonicalize(positions, spec)

    def contacts(ids: tuple[int, int]) -> np.ndarray:
        return (np.sum((glob[1:, ids] - glob[:-1, ids]) ** 2, axis=-1) < thr).astype(np.float64)

    quats = humanml3d_ik(glob, spec, smooth_forward)
    sixd = R.quat_to_sixd(quats)
    r_rot = R.quat_fix(quats[:, 0])  # see module docstring: sign continuity for the arcsin below
    velocity = R.quat_apply(r_rot[1:], glob[1:, 0] - glob[:-1, 0])
    r_velocity = R.quat_multiply(r_rot[1:], R.quat_conjugate(r_rot[:-1]))
    ric = glob.copy()
    ric[..., [0, 2]] -= glob[:, :1, [0, 2]]
    ric = R.quat_apply(r_rot[:, None], ric)
    local_vel = R.quat_apply(r_rot[:-1, None], glob[1:] - glob[:-1])
    n = len(glob) - 1
    feats = np.concatenate(
        [
            np.arcsin(np.clip(r_velocity[:, 2:3], -1.0, 1.0)),
            velocity[:, [0, 2]],
            glob[:-1, 0, 1:2],
            ric[:-1, 1:].reshape(n, -1),
            sixd[:-1, 1:].reshape(n, -1),
            local_vel.reshape(n, -1),
            contacts(spec.feet_left),
            contacts(spec.feet_right),
        ],
        axis=-1,
    ).astype(np.float32)
    if return_joints:
        encoded = R.quat_apply(r_rot[:1], glob[:-1])  # turned by the smoothed frame-0 facing
        return feats, encoded.astype(np.float32)
    return feats


# --------------------------------------------------------------------------- features -> joints
def _check_features(features: Any, joints_num: int | None) -> tuple[Any, int]:
    x = features if R._is_torch(features) else np.asarray(features)
    if len(x.shape) < 2:
        raise InputError(f"features must have shape (..., T, 263) (or (..., T, 251) for KIT), got {tuple(x.shape)}.")
    joints_num = joints_num or joints_num_for_dim(x.shape[-1])
    if x.shape[-1] != feature_dim(joints_num):
        raise InputError(
            f"features must have shape (..., T, {feature_dim(joints_num)}) for {joints_num} "
            f"joints, got {tuple(x.shape)}."
        )
    finite = bool(x.isfinite().all()) if R._is_torch(x) else bool(np.isfinite(x).all())
    if not finite:
        raise InputError("features contain NaN or infinite values.")
    if not R._is_torch(x) and not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float32)
    return x, joints_num


def _concat(xs: list, axis: int) -> Any:
    return R._xp(xs[0]).cat(xs, axis) if R._is_torch(xs[0]) else np.concatenate(xs, axis)


def recover_root(features: Any) -> tuple[Any, Any]:
    """HumanML3D `recover_root_rot_pos`: `(..., T, D)` -> root yaw quats `(..., T, 4)` and root
    positions `(..., T, 3)`, same backend."""
    xp = R._xp(features)
    angle = xp.cumsum(_concat([features[..., :1, 0] * 0, features[..., :-1, 0]], -1), -1)
    quat = xp.stack([xp.cos(angle), angle * 0, xp.sin(angle), angle * 0], -1)
    vel = _concat([features[..., :1, 1:3] * 0, features[..., :-1, 1:3]], -2)
    step = R.quat_apply(R.quat_conjugate(quat), xp.stack([vel[..., 0], vel[..., 0] * 0, vel[..., 1]], -1))
    track = xp.cumsum(step, -2)
    root = xp.stack([track[..., 0], features[..., 3], track[..., 2]], -1)
    return quat, root


def features_to_joints(features: Any, joints_num: int | None = None) -> Any:
    """HumanML3D `recover_from_ric`: `(..., T, D)` -> joints `(..., T, J, 3)` metres, same backend
    (torch: differentiable). J is inferred from D (263 -> 22, 251 -> 21) unless given."""
    features, joints_num = _check_features(features, joints_num)
    xp = R._xp(features)
    quat, root = recover_root(features)
    ric = features[..., 4 : 4 + (joints_num - 1) * 3]
    ric = ric.reshape(tuple(ric.shape[:-1]) + (joints_num - 1, 3))
    joints = R.quat_apply(R.quat_conjugate(quat)[..., None, :], ric)
    offset = xp.stack([root[..., 0], root[..., 0] * 0, root[..., 2]], -1)[..., None, :]
    return _concat([root[..., None, :], joints + offset], -2)


# --------------------------------------------------------------------------- mirroring
def mirror_joints(positions: Any, mirror_map: Sequence[int] | None = None) -> Any:
    """Mirror x -> -x and swap left/right joints: `(..., J, 3)` -> same (numpy or torch)."""
    mirror_map = list(mirror_map or _spec(positions.shape[-2]).mirror_map)
    flip = R._as_like([-1.0, 1.0, 1.0], positions) if R._is_torch(positions) else np.array([-1.0, 1.0, 1.0])
    return positions[..., mirror_map, :] * flip


def mirror_features(features: Any, joints_num: int | None = None) -> Any:
    """The features of the mirrored motion (x -> -x, left <-> right), computed in feature space.

    Equals joints_to_features(mirror_joints(canonical joints), target=None): mirroring conjugates
    every rotation by S = diag(-1, 1, 1), and HumanML3D's raw offsets, chains and facing rule are
    themselves mirror-symmetric. Yaw velocity and X components change sign; 6D columns become
    (-S c0, S c1).
    """
    features, joints_num = _check_features(features, joints_num)
    lay = feature_layout(joints_num)
    mirror_map = list(_spec(joints_num).mirror_map)
    others = [m - 1 for m in mirror_map[1:]]  # the same map on joints 1.. (root maps to itself)
    lead = tuple(features.shape[:-1])
    sign = lambda values: R._as_like(values, features) if R._is_torch(features) else np.asarray(values)  # noqa: E731
    root = features[..., lay["root"]] * sign([-1.0, -1.0, 1.0, 1.0])
    ric = features[..., lay["ric"]].reshape(lead + (joints_num - 1, 3))[..., others, :] * sign([-1.0, 1, 1])
    rot = features[..., lay["rot"]].reshape(lead + (joints_num - 1, 6))[..., others, :]
    rot = rot * sign([1.0, -1.0, -1.0, -1.0, 1.0, 1.0])
    vel = features[..., lay["vel"]].reshape(lead + (joints_num, 3))[..., mirror_map, :] * sign([-1.0, 1, 1])
    feet = features[..., lay["feet"]][..., [2, 3, 0, 1]]
    return _concat([root, ric.reshape(lead + (-1,)), rot.reshape(lead + (-1,)), vel.reshape(lead + (-1,)), feet], -1)


# --------------------------------------------------------------------------- normalisation
def std_groups(joints_num: int = S.NUM_JOINTS) -> list[slice]:
    """HumanML3D's std groups (cal_mean_variance.ipynb): [0], [1:3], [3], ric, rot, vel, feet."""
    lay = feature_layout(joints_num)
    return [lay[k] for k in ("root_rot_vel", "root_lin_vel", "root_y", "ric", "rot", "vel", "feet")]


def compute_mean_std(
    feature_arrays: Sequence[np.ndarray], joints_num: int = S.NUM_JOINTS
) -> tuple[np.ndarray, np.ndarray]:
    """Per-dim mean and group-averaged std over all frames of all clips: `(D,)` float32 each.

    Each std group is replaced by its average, as HumanML3D does; a group whose average is 0
    (e.g. contacts never set) gets std 1 so normalising never divides by zero.
    """
    if not feature_arrays:
        raise InputError("compute_mean_std needs at least one feature array.")
    dim = feature_dim(joints_num)
    arrays = [np.asarray(a, dtype=np.float64) for a in feature_arrays]
    for i, a in enumerate(arrays):
        if a.ndim != 2 or a.shape[1] != dim:
            raise InputError(f"feature array {i} has shape {a.shape}; expected (T, {dim}).")
    data = np.concatenate(arrays, axis=0)
    mean, std = data.mean(axis=0), data.std(axis=0)
    for group in std_groups(joints_num):
        std[group] = std[group].mean()
    std[std < STD_FLOOR] = 1.0
    return mean.astype(np.float32), std.astype(np.float32)


def normalize(features: Any, mean: Any, std: Any) -> Any:
    """(features - mean) / std, broadcasting over leading dims; numpy or torch like `features`."""
    mean, std = _stats_like(features, mean, std)
    return (features - mean) / std


def denormalize(features: Any, mean: Any, std: Any) -> Any:
    """features * std + mean (inverse of normalize)."""
    mean, std = _stats_like(features, mean, std)
    return features * std + mean


def _stats_like(features: Any, mean: Any, std: Any) -> tuple[Any, Any]:
    if features.shape[-1] != np.shape(mean)[-1] or np.shape(mean) != np.shape(std):
        raise InputError(
            f"mean/std of shape {np.shape(mean)}/{np.shape(std)} do not fit features "
            f"of shape {tuple(features.shape)}; they must be (D,) with the same D."
        )
    if R._is_torch(features):
        import torch  # noqa: PLC0415 - reached with torch input only: numpy callers skip its ~1.7 s import

        mean = torch.as_tensor(mean, dtype=features.dtype, device=features.device)
        std = torch.as_tensor(std, dtype=features.dtype, device=features.device)
        return mean, torch.where(std.abs() < STD_FLOOR, torch.ones_like(std), std)
    std = np.asarray(std)
    return np.asarray(mean), np.where(np.abs(std) < STD_FLOOR, 1.0, std).astype(std.dtype)
