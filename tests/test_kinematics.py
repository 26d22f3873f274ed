"""FK/IK on synthetic poses (FK of random rotations within limits) and, when the BVH reader is
present, on real Bandai clips.

Run: pytest -q tests/test_kinematics.py
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from engine.errors import InputError
from engine.motion import kinematics as K
from engine.motion import rotations as R
from engine.motion import skeleton as S

RNG = np.random.default_rng(99)


def random_local_quats(num_frames: int, max_deg: float = 70.0, seed: int = 0) -> np.ndarray:
    """Smooth random local rotations `(T, 22, 4)`: each joint's angle stays under max_deg."""
    rng = np.random.default_rng(seed)
    keys = rng.normal(size=(4, S.NUM_JOINTS, 3))
    keys *= (
        np.radians(max_deg)
        * rng.uniform(0.2, 1.0, size=(4, S.NUM_JOINTS, 1))
        / np.linalg.norm(keys, axis=-1, keepdims=True)
    )
    t = np.linspace(0, 3, num_frames)
    aa = np.stack(
        [np.stack([np.interp(t, np.arange(4), keys[:, j, k]) for k in range(3)], -1) for j in range(S.NUM_JOINTS)], 1
    )
    aa[:, 0] = 0.0
    aa[:, 0, 1] = np.linspace(0, 2.5, num_frames)  # the root turns about Y over the clip
    return R.axis_angle_to_quat(aa)


def synthetic_clip(num_frames: int = 60, seed: int = 0, offsets: np.ndarray | None = None) -> np.ndarray:
    offsets = S.default_rest_offsets() if offsets is None else offsets
    root = np.stack(
        [
            np.linspace(0, 1.5, num_frames),
            0.95 + 0.05 * np.sin(np.arange(num_frames) / 5),
            np.linspace(0, -0.7, num_frames),
        ],
        -1,
    )
    return K.forward_kinematics(random_local_quats(num_frames, seed=seed), root, offsets)


def single_child_bones() -> list[tuple[int, int]]:
    """(joint, child) for every joint with exactly one child."""
    return [(j, S.children_of(j)[0]) for j in range(S.NUM_JOINTS) if len(S.children_of(j)) == 1]


def bone_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = []
    for j, c in single_child_bones():
        da, db = a[:, c] - a[:, j], b[:, c] - b[:, j]
        out.append(np.sum(da * db, -1) / np.linalg.norm(da, axis=-1) / np.linalg.norm(db, axis=-1))
    return np.stack(out, -1)


def test_identity_rotations_give_rest_pose():
    offsets = S.default_rest_offsets()
    rest = S.default_rest_positions()
    pos = K.forward_kinematics(R.quat_identity((3, S.NUM_JOINTS)), np.tile(rest[0], (3, 1)), offsets)
    np.testing.assert_allclose(pos, np.broadcast_to(rest, pos.shape), atol=1e-12)


def test_fk_matches_scipy_chain_and_torch_matches_numpy():
    q = random_local_quats(10, seed=1)
    root = RNG.normal(size=(10, 3))
    offsets = S.default_rest_offsets()
    pos = K.forward_kinematics(q, root, offsets)
    # Independent check of one chain with scipy: pelvis -> left hip -> knee -> ankle.
    rots = Rotation.from_quat(q[:, 0], scalar_first=True)
    expected = root.copy()
    for j in (1, 4, 7):
        expected = expected + rots.apply(offsets[j])
        rots = rots * Rotation.from_quat(q[:, j], scalar_first=True)
    np.testing.assert_allclose(pos[:, 7], expected, atol=1e-12)
    qt = torch.tensor(q, requires_grad=True)
    pos_t = K.forward_kinematics(qt, torch.as_tensor(root), offsets)
    np.testing.assert_allclose(pos_t.detach().numpy(), pos, atol=1e-12)
    pos_t.sum().backward()
    assert torch.isfinite(qt.grad).all() and qt.grad.abs().sum() > 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ik_then_fk_reproduces_positions_with_own_skeleton(seed):
    pos = synthetic_clip(seed=seed)
    own = S.offsets_from_positions(pos[17])  # the clip's own rest: any frame of it
    quats, root = K.inverse_kinematics(pos, own)
    assert quats.shape == (len(pos), S.NUM_JOINTS, 4) and root.shape == (len(pos), 3)
    np.testing.assert_allclose(np.linalg.norm(quats, axis=-1), 1.0, atol=1e-12)
    err = np.abs(K.forward_kinematics(quats, root, own) - pos).max()
    assert err < 1e-3, f"max FK(IK) error {err * 1000:.4f} mm"
    # Same answer with the template skeleton that generated the clip: exact to rounding.
    quats2, root2 = K.inverse_kinematics(pos, S.default_rest_offsets())
    assert np.abs(K.forward_kinematics(quats2, root2, S.default_rest_offsets()) - pos).max() < 1e-9


def test_ik_retargets_bone_directions_to_another_skeleton():
    pos = synthetic_clip(seed=3)
    other = S.default_rest_offsets() * RNG.uniform(0.7, 1.3, size=(S.NUM_JOINTS, 1))  # other proportions
    quats, root = K.inverse_kinematics(pos, other)
    moved = K.forward_kinematics(quats, root, other)
    cos = bone_cosines(moved, pos)
    assert cos.min() > 0.9999, f"worst bone cosine {cos.min()}"
    lengths = np.linalg.norm(moved[:, 1:] - moved[:, np.array(S.PARENTS[1:])], axis=-1)
    np.testing.assert_allclose(lengths, np.broadcast_to(np.linalg.norm(other[1:], axis=-1), lengths.shape), rtol=1e-9)


def _straight_limb_offsets() -> np.ndarray:
    """Default skeleton with arms exactly along +-X and legs exactly along -Y (a clean T-pose)."""
    off = S.default_rest_offsets()
    lengths = np.linalg.norm(off, axis=-1)
    for j, axis in ((16, 1), (18, 1), (20, 1), (17, -1), (19, -1), (21, -1)):
        off[j] = [axis * lengths[j], 0.0, 0.0]
    for j in (4, 5, 7, 8):
        off[j] = [0.0, -lengths[j], 0.0]
    return off


def test_elbows_and_knees_come_out_as_hinges():
    """Generate limbs whose elbows/knees are pure hinges; IK must recover those rotations exactly."""
    num = 40
    offsets = _straight_limb_offsets()
    q = random_local_quats(num, seed=5)
    bend = np.radians(RNG.uniform(40, 160, size=(num, 4)))  # clearly bent: pure hinge zone
    # Elbows bend the forearm forward (+Z): left about -Y, right about +Y; knees bend back about +X.
    for k, (j, axis) in enumerate(((18, [0, -1, 0]), (19, [0, 1, 0]), (4, [1, 0, 0]), (5, [1, 0, 0]))):
        q[:, j] = R.axis_angle_to_quat(bend[:, k : k + 1] * np.asarray(axis, float))
    pos, glob = K.forward_kinematics(q, np.zeros((num, 3)), offsets, return_rotations=True)
    quats, root = K.inverse_kinematics(pos, offsets)
    _, glob_ik = K.forward_kinematics(quats, root, offsets, return_rotations=True)
    # Collars only swing (their twist is not observable), so compare the limbs' GLOBAL frames and
    # the hinge joints' LOCAL rotations.
    for j in (1, 2, 16, 17, 4, 5, 18, 19):
        dots = np.abs(np.sum(glob_ik[:, j] * glob[:, j], -1))
        assert dots.min() > 1 - 1e-9, f"joint {S.JOINT_NAMES[j]}: global frame not recovered"
    for j in (4, 5, 18, 19):
        dots = np.abs(np.sum(quats[:, j] * q[:, j], -1))
        assert dots.min() > 1 - 1e-9, f"joint {S.JOINT_NAMES[j]}: hinge rotation not recovered"


def test_straight_limbs_are_finite_and_exact():
    offsets = S.default_rest_offsets()
    pos = np.tile(S.default_rest_positions(), (3, 1, 1))  # straight arms and legs (T-pose)
    quats, root = K.inverse_kinematics(pos, offsets)
    assert np.isfinite(quats).all()
    np.testing.assert_allclose(K.forward_kinematics(quats, root, offsets), pos, atol=1e-9)
    np.testing.assert_allclose(np.abs(quats[..., 0]), 1.0, atol=1e-9)  # rest pose -> identity


def test_rest_offsets_matching_lengths():
    pos = synthetic_clip(seed=4, offsets=S.default_rest_offsets() * 1.1)
    out = K.rest_offsets_matching_lengths(pos, S.default_rest_offsets())
    np.testing.assert_allclose(
        np.linalg.norm(out[1:], axis=-1), 1.1 * np.linalg.norm(S.default_rest_offsets()[1:], axis=-1), rtol=1e-9
    )
    cos = (
        np.sum(out[1:] * S.default_rest_offsets()[1:], -1)
        / np.linalg.norm(out[1:], axis=-1)
        / np.linalg.norm(S.default_rest_offsets()[1:], axis=-1)
    )
    np.testing.assert_allclose(cos, 1.0, atol=1e-12)


def test_other_skeleton_via_parents():
    parents = (-1, 0, 1, 1)  # a tiny Y-shaped rig
    offsets = np.array([[0, 0, 0], [0, 1.0, 0], [0.5, 0.5, 0], [-0.5, 0.5, 0.1]])
    q = R.axis_angle_to_quat(RNG.normal(scale=0.5, size=(7, 4, 3)))
    pos = K.forward_kinematics(q, RNG.normal(size=(7, 3)), offsets, parents=parents)
    quats, root = K.inverse_kinematics(pos, offsets, parents=parents)
    np.testing.assert_allclose(K.forward_kinematics(quats, root, offsets, parents=parents), pos, atol=1e-9)


def test_bad_input_raises_input_error():
    with pytest.raises(InputError, match=r"\(T, 22, 3\)"):
        K.inverse_kinematics(np.zeros((5, 21, 3)), S.default_rest_offsets())
    bad = synthetic_clip(5)
    bad[2, 3, 1] = np.nan
    with pytest.raises(InputError, match="NaN"):
        K.inverse_kinematics(bad, S.default_rest_offsets())
    with pytest.raises(InputError, match="parents"):
        K.forward_kinematics(R.quat_identity((2, 3)), np.zeros((2, 3)), np.zeros((3, 3)), parents=(0, 0, 1))


def _load_real(path):
    canonical = pytest.importorskip("engine.formats.canonical")
    if not hasattr(canonical, "bvh_to_smpl22"):
        pytest.skip("engine.formats.canonical has no bvh_to_smpl22 yet")
    return np.asarray(canonical.bvh_to_smpl22(path, preset="bandai"), dtype=np.float64)


def test_real_clips_round_trip_and_retarget(bandai_clips):
    for path in bandai_clips[::175]:  # 4 clips spread over the set
        pos = _load_real(path)
        own = S.offsets_from_positions(pos[0])
        quats, root = K.inverse_kinematics(pos, own)
        err = np.abs(K.forward_kinematics(quats, root, own) - pos).max()
        assert err < 1e-3, f"{path.name}: FK(IK) max error {err * 1000:.3f} mm"
        template = S.default_rest_offsets()
        quats, root = K.inverse_kinematics(pos, template)
        cos = bone_cosines(K.forward_kinematics(quats, root, template), pos)
        assert cos.min() > 0.9999, f"{path.name}: worst bone cosine {cos.min()}"


def test_real_walks_have_no_twist_pops(bandai_clips):
    """Thighs and upper arms must not spin when knees/elbows pass through straight (a 50 deg/frame
    pop on 'walk-turn-right_normal' before the hinge twist was held through straight phases)."""
    walks = [p for p in bandai_clips if "walk-turn" in p.name][:4]
    if not walks:
        pytest.skip("no walk-turn clips in the data folder")
    for path in walks:
        pos = _load_real(path)
        quats, _ = K.inverse_kinematics(pos, S.default_rest_offsets())
        dots = np.abs(np.sum(quats[1:] * quats[:-1], -1)).clip(0, 1)
        step = np.degrees(2 * np.arccos(dots))[:, [1, 2, 16, 17]]
        assert step.max() < 35.0, f"{path.name}: limb rotation jumps {step.max():.1f} deg in one frame"
