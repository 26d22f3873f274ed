"""HumanML3D 263-dim (and KIT 251-dim) features: layout, round trips, canonical frame, mirroring,
normalisation, numpy == torch, and the HumanML3D recipe checked piece by piece.

Run: pytest -q tests/test_features.py
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.errors import InputError
from engine.motion import features as F
from engine.motion import kinematics as K
from engine.motion import rotations as R
from engine.motion import skeleton as S


def random_local_quats(num_frames: int, max_deg: float, seed: int) -> np.ndarray:
    """Smooth random local rotations `(T, 22, 4)` with every joint's angle under max_deg."""
    rng = np.random.default_rng(seed)
    keys = rng.normal(size=(4, S.NUM_JOINTS, 3))
    keys *= (
        np.radians(max_deg) * rng.uniform(0.2, 1.0, (4, S.NUM_JOINTS, 1)) / np.linalg.norm(keys, axis=-1, keepdims=True)
    )
    t = np.linspace(0, 3, num_frames)
    aa = np.stack(
        [np.stack([np.interp(t, np.arange(4), keys[:, j, k]) for k in range(3)], -1) for j in range(S.NUM_JOINTS)], 1
    )
    return R.axis_angle_to_quat(aa)


def walking_clip(num_frames: int = 80, seed: int = 0, turn: float = 4.0) -> np.ndarray:
    """FK of smooth random rotations; the body turns `turn` radians about Y and travels."""
    q = random_local_quats(num_frames, max_deg=50.0, seed=seed)
    q[:, 0] = R.quat_multiply(
        R.axis_angle_to_quat(
            np.stack([np.zeros(num_frames), np.linspace(0.3, 0.3 + turn, num_frames), np.zeros(num_frames)], -1)
        ),
        R.axis_angle_to_quat(np.full((num_frames, 3), [0.1, 0.0, 0.05])),
    )
    t = np.arange(num_frames) / S.FPS
    root = np.stack([1.2 * np.sin(t), 0.9 + 0.03 * np.sin(6 * t), 0.8 * t + 3.0], -1)
    return K.forward_kinematics(q, root, S.default_rest_offsets() * 1.08)


def test_layout_dims():
    assert F.feature_dim(22) == 263 and F.feature_dim(21) == 251
    for joints in (22, 21):
        lay = F.feature_layout(joints)
        sizes = {k: v.stop - v.start for k, v in lay.items()}
        assert sizes["ric"] == (joints - 1) * 3 and sizes["rot"] == (joints - 1) * 6
        assert sizes["vel"] == joints * 3 and sizes["feet"] == 4
        assert lay["feet"].stop == F.feature_dim(joints)
        groups = F.std_groups(joints)
        assert sum(g.stop - g.start for g in groups) == F.feature_dim(joints)
    assert F.feature_layout(22)["rot"] == slice(67, 193) and F.feature_layout(22)["vel"] == slice(193, 259)
    assert F.joints_num_for_dim(263) == 22 and F.joints_num_for_dim(251) == 21


@pytest.mark.parametrize("target", ["default", None])
def test_round_trip_joints_features_joints(target):
    clip = walking_clip(seed=1)
    feats, encoded = F.joints_to_features(clip, target=target, return_joints=True)
    assert feats.shape == (len(clip) - 1, 263) and feats.dtype == np.float32
    back = F.features_to_joints(feats)
    assert back.shape == (len(clip) - 1, 22, 3)
    assert np.abs(back - encoded).max() < 1e-4
    # The encoded joints are the canonical clip (retargeted or not), turned about Y only.
    canon = F.canonicalize(clip if target is None else F.uniform_skeleton(clip, F.default_target_positions()))
    np.testing.assert_allclose(encoded[..., 1], canon[:-1, :, 1], atol=1e-5)
    dist = np.linalg.norm(encoded[:, :, [0, 2]], axis=-1)
    np.testing.assert_allclose(dist, np.linalg.norm(canon[:-1, :, [0, 2]], axis=-1), atol=1e-5)


def test_unsmoothed_round_trip_gives_canonical_joints_exactly():
    clip = walking_clip(seed=2)
    feats = F.joints_to_features(clip, target=None, smooth_forward=False)
    np.testing.assert_allclose(F.features_to_joints(feats), F.canonicalize(clip)[:-1], atol=1e-4)


def test_turning_through_minus_z_keeps_yaw_velocity_sign():
    clip = walking_clip(seed=3, turn=2 * np.pi)  # a full turn: the facing crosses -Z
    feats = F.joints_to_features(clip, target=None, smooth_forward=False)
    # r_rot undoes the heading, so a steady left turn has a steady NEGATIVE yaw velocity; without
    # sign-continuous root quaternions one frame near -Z flips sign (HumanML3D's arcsin issue).
    assert (feats[:, 0] < 0).all(), "yaw velocity must keep its sign through a steady full turn"
    np.testing.assert_allclose(F.features_to_joints(feats), F.canonicalize(clip)[:-1], atol=1e-4)


def test_canonical_motion_faces_plus_z_on_the_floor():
    clip = walking_clip(seed=4)
    canon = F.canonicalize(clip)
    assert abs(canon[..., 1].min()) < 1e-12
    np.testing.assert_allclose(canon[0, 0, [0, 2]], 0.0, atol=1e-12)
    r_hip, l_hip, r_sdr, l_sdr = S.FACE_JOINTS
    across = canon[0, r_hip] - canon[0, l_hip] + canon[0, r_sdr] - canon[0, l_sdr]
    forward = np.cross([0.0, 1.0, 0.0], across)
    forward /= np.linalg.norm(forward)
    np.testing.assert_allclose(forward, [0.0, 0.0, 1.0], atol=1e-9)
    assert canon[0, 1, 0] > canon[0, 2, 0]  # left hip on +X


def test_retargeting_gives_the_default_bone_lengths():
    clip = walking_clip(seed=5)
    _, encoded = F.joints_to_features(clip, return_joints=True)
    lengths = S.bone_lengths(encoded)[:, 1:]
    want = S.bone_lengths(F.default_target_positions())[1:]
    np.testing.assert_allclose(lengths, np.broadcast_to(want, lengths.shape), atol=1e-5)


def test_rotation_block_matches_humanml3d_ik_and_reproduces_bones():
    clip = F.canonicalize(walking_clip(seed=6))
    feats = F.joints_to_features(clip, target=None)
    rot = feats[:, 67:193].reshape(-1, 21, 6)
    quats = F.humanml3d_ik(clip, smooth_forward=True)
    np.testing.assert_allclose(rot, R.quat_to_sixd(quats[:-1, 1:]), atol=1e-6)
    # Chain FK of those rotations on raw offsets gives back every bone direction (what
    # HumanML3D's recover_from_rot relies on).
    for chain in S.KINEMATIC_CHAINS:
        acc = quats[:, 0]
        for a, b in zip(chain[:-1], chain[1:]):
            acc = R.quat_multiply(acc, quats[:, b])
            bone = clip[:, b] - clip[:, a]
            np.testing.assert_allclose(
                R.quat_apply(acc, S.T2M_RAW_OFFSETS[b]), bone / np.linalg.norm(bone, axis=-1, keepdims=True), atol=1e-9
            )


def test_foot_contacts_follow_the_threshold():
    clip = walking_clip(seed=7)
    clip[40:, [7, 10]] = clip[40, [7, 10]]  # left foot planted from frame 40
    feats = F.joints_to_features(clip, target=None)
    assert (feats[40:, 259:261] == 1).all()
    glob = F.canonicalize(clip)
    moved = np.sum((glob[1:, 8] - glob[:-1, 8]) ** 2, -1)
    np.testing.assert_array_equal(feats[:, 261], (moved < 0.002).astype(np.float32))


def test_mirror_features_matches_mirrored_joints_and_twice_is_identity():
    clip = F.canonicalize(walking_clip(seed=8))
    feats = F.joints_to_features(clip, target=None)
    mirrored = F.joints_to_features(F.mirror_joints(clip), target=None)
    np.testing.assert_allclose(F.mirror_features(feats), mirrored, atol=2e-5)
    np.testing.assert_array_equal(F.mirror_features(F.mirror_features(feats)), feats)
    np.testing.assert_array_equal(F.mirror_joints(F.mirror_joints(clip)), clip)
    t = torch.as_tensor(feats)
    np.testing.assert_array_equal(F.mirror_features(t).numpy(), F.mirror_features(feats))


def test_group_std_and_normalisation():
    arrays = [F.joints_to_features(walking_clip(n, seed=s)) for n, s in ((50, 9), (70, 10))]
    mean, std = F.compute_mean_std(arrays)
    assert mean.shape == std.shape == (263,)
    for group in F.std_groups():
        assert np.ptp(std[group]) == 0
    assert (std > 0).all()
    norm = F.normalize(arrays[0], mean, std)
    np.testing.assert_allclose(F.denormalize(norm, mean, std), arrays[0], atol=1e-5)
    norm_t = F.normalize(torch.as_tensor(arrays[0]), mean, std)
    np.testing.assert_allclose(norm_t.numpy(), norm, atol=1e-6)
    zeros = [np.zeros((5, 263), np.float32)]
    assert (F.compute_mean_std(zeros)[1] == 1).all()  # std 0 guarded
    std0 = std.copy()
    std0[:4] = 0.0  # a hand-made std with zeros must not produce inf in either backend
    assert np.isfinite(F.normalize(arrays[0], mean, std0)).all()
    assert torch.isfinite(F.normalize(torch.as_tensor(arrays[0]), mean, std0)).all()


def test_recover_numpy_equals_torch_and_is_differentiable():
    feats = F.joints_to_features(walking_clip(seed=11))
    batch = np.stack([feats[:40], feats[10:50]])  # (B, T, 263)
    out_np = F.features_to_joints(batch)
    t = torch.tensor(batch, dtype=torch.float64, requires_grad=True)
    out_t = F.features_to_joints(t)
    np.testing.assert_allclose(out_t.detach().numpy(), out_np, atol=1e-6)
    out_t.sum().backward()
    assert torch.isfinite(t.grad).all()
    np.testing.assert_allclose(out_np[1], F.features_to_joints(feats[10:50]), atol=1e-6)


def test_kit_251_layout_recover_and_mirror():
    clip22 = walking_clip(seed=12)
    clip21 = clip22[:, :21].copy()  # any 21 joints exercise the KIT layout and maths
    feats, encoded = F.joints_to_features(clip21, return_joints=True)
    assert feats.shape == (len(clip21) - 1, 251)
    np.testing.assert_allclose(F.features_to_joints(feats), encoded, atol=1e-4)
    np.testing.assert_array_equal(F.mirror_features(F.mirror_features(feats)), feats)


def test_bad_input_raises_input_error():
    with pytest.raises(InputError, match=r"\(T, 22, 3\)"):
        F.joints_to_features(np.zeros((10, 20, 3)))
    with pytest.raises(InputError, match="T >= 2"):
        F.joints_to_features(np.zeros((1, 22, 3)))
    bad = walking_clip(10)
    bad[3, 4, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        F.joints_to_features(bad)
    with pytest.raises(InputError, match="263"):
        F.features_to_joints(np.zeros((10, 262)))
    with pytest.raises(InputError, match="NaN"):
        F.features_to_joints(np.full((10, 263), np.nan))
    with pytest.raises(InputError, match=r"\(D,\)"):
        F.normalize(np.zeros((3, 263)), np.zeros(251), np.ones(251))


def test_real_clips_round_trip(bandai_clips):
    canonical = pytest.importorskip("engine.formats.canonical")
    for path in bandai_clips[::233]:
        pos = canonical.bvh_to_smpl22(path, preset="bandai")
        feats, encoded = F.joints_to_features(pos, return_joints=True)
        err = np.abs(F.features_to_joints(feats) - encoded).max()
        assert err < 1e-4, f"{path.name}: round trip max error {err:.2e} m"
        assert np.isfinite(feats).all()
