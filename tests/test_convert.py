"""Canonical loading of real Bandai clips, save/load round trips and `motion-engine convert`."""

from __future__ import annotations

import numpy as np
import pytest

from engine.cli import main
from engine.errors import InputError
from engine.formats.bvh import read_bvh
from engine.formats.canonical import (
    CanonicalMotion,
    bvh_to_smpl22,
    canonicalize,
    load_motion,
    save_motion,
    unit_scale,
    upright_height,
)
from engine.motion.skeleton import JOINT_INDEX, default_rest_positions

# In the SMPL neutral template the top of the head is about 0.2 m above the head joint (15), so
# stature ~ upright head-joint height + 0.2 m.
HEAD_TOP_ABOVE_HEAD_JOINT_M = 0.2
FEET = [JOINT_INDEX[n] for n in ("left_ankle", "right_ankle", "left_foot", "right_foot")]


def _every(clips, step):
    return clips[::step]


def test_bandai_clips_become_plausible_people(bandai_clips):
    for path in _every(bandai_clips, 35):  # 20 clips over all contents and styles
        motion = load_motion(path)
        pos = motion.positions
        assert pos.dtype == np.float32 and pos.shape[1:] == (22, 3) and motion.fps == 20.0
        source_frames = read_bvh(path).num_frames
        assert abs(len(pos) - round(source_frames * 2 / 3)) <= 1, path.name
        stature = upright_height(pos) + HEAD_TOP_ABOVE_HEAD_JOINT_M
        assert 1.4 <= stature <= 2.0, (path.name, stature)
        # Feet on the floor: the lowest joint is a foot joint, at y = 0, and in at least a fifth
        # of the frames (runs fly) some foot is within 5 cm of the floor; the head stays above
        # the pelvis (Y is up).
        assert abs(pos[..., 1].min()) < 1e-5
        assert np.argmin(pos[..., 1].min(axis=0)) in FEET
        assert np.percentile(pos[:, FEET, 1].min(axis=1), 20) < 0.05, path.name
        assert (pos[:, 15, 1] > pos[:, 0, 1] + 0.3).all()
        # Frame 0 faces +Z with the body's left on +X (left hip x > right hip x).
        assert pos[0, 1, 0] > pos[0, 2, 0] and np.allclose(pos[0, 0, [0, 2]], 0, atol=1e-5)


def test_walking_clips_walk_forward(bandai_clips):
    walks = [p for p in bandai_clips if "_walk_" in p.name][:5]
    assert walks
    for path in walks:
        pos = load_motion(path).positions
        # Walking moves the root along the facing direction (+Z) far more than sideways: this
        # fails if left and right were swapped (facing would flip to -Z).
        travel = pos[-1, 0] - pos[0, 0]
        assert travel[2] > 1.0 and abs(travel[0]) < 0.5 * travel[2], (path.name, travel)


def test_units_are_detected_and_can_be_forced(bandai_clips):
    path = bandai_clips[0]
    metres = bvh_to_smpl22(path)
    np.testing.assert_allclose(bvh_to_smpl22(path, units="cm"), metres)
    np.testing.assert_allclose(bvh_to_smpl22(path, units=0.02), 2 * metres)
    with pytest.raises(InputError, match="cannot tell the length unit"):
        unit_scale(None, metres * 0.1, "tiny.bvh")
    with pytest.raises(InputError, match="unknown units"):
        bvh_to_smpl22(path, units="furlong")


def test_bvh_save_load_round_trip_is_exact(bandai_clips, tmp_path):
    pytest.importorskip("engine.motion.kinematics")
    for path in _every(bandai_clips, 140):
        motion = load_motion(path)
        save_motion(motion, tmp_path / "out.bvh")
        again = load_motion(tmp_path / "out.bvh")
        error = np.linalg.norm(again.positions - motion.positions, axis=-1)
        assert error.mean() < 1e-3 and error.max() < 5e-3, (path.name, error.mean(), error.max())
        # The written rest skeleton is T-pose-like: arms out sideways along +-X.
        written = read_bvh(tmp_path / "out.bvh")
        elbow = written.offsets[written.names.index("left_elbow")]  # upper-arm bone
        assert elbow[0] > 5 * abs(elbow[1]), elbow


def test_convert_command_round_trip(bandai_clips, tmp_path, capsys):
    pytest.importorskip("engine.motion.kinematics")
    clip = bandai_clips[123]
    out_bvh, out_npz, out_npy = tmp_path / "clip.bvh", tmp_path / "clip.npz", tmp_path / "clip.npy"
    assert main(["convert", str(clip), str(out_bvh)]) == 0
    assert main(["convert", str(out_bvh), str(out_npz)]) == 0
    assert main(["convert", str(out_npz), str(out_npy), "--units", "m"]) == 0
    original = load_motion(clip).positions
    for path in (out_bvh, out_npz, out_npy):
        error = np.linalg.norm(load_motion(path).positions - original, axis=-1)
        assert error.mean() < 1e-3, (path.name, error.mean())
    assert "frames at 20 fps" in capsys.readouterr().out
    assert main(["convert", str(clip), str(tmp_path / "x.fbx")]) == 2
    assert main(["convert", str(clip), str(out_npy), "--preset", "mixamo"]) == 2
    err = capsys.readouterr().err
    assert str(clip) in err and "left these required SMPL joints unmapped" in err


MIXAMO_FOR_SMPL = (
    "Hips LeftUpLeg RightUpLeg Spine LeftLeg RightLeg Spine1 LeftFoot RightFoot Spine2 "
    "LeftToeBase RightToeBase Neck LeftShoulder RightShoulder Head LeftArm RightArm "
    "LeftForeArm RightForeArm LeftHand RightHand"
).split()


def test_other_rigs_in_other_units_load_the_same_motion(bandai_clips, tmp_path):
    """A Mixamo-named skeleton in centimetres (root 6 channels, others 3, XYZ order) loads back
    as the same canonical motion: preset detection and unit detection."""
    from engine.formats.bvh import write_bvh
    from engine.formats.canonical import bvh_rest_offsets
    from engine.motion.kinematics import inverse_kinematics
    from engine.motion.skeleton import PARENTS

    motion = load_motion(bandai_clips[400])
    positions = motion.positions.astype(np.float64)
    offsets = bvh_rest_offsets(positions)
    quats, root = inverse_kinematics(positions, offsets)
    names = ["mixamorig:" + n for n in MIXAMO_FOR_SMPL]
    write_bvh(tmp_path / "mixamo.bvh", names, PARENTS, offsets * 100, quats, root * 100, fps=20.0, order="XYZ")
    again = load_motion(tmp_path / "mixamo.bvh")
    assert np.linalg.norm(again.positions - motion.positions, axis=-1).mean() < 1e-3
    with pytest.raises(InputError, match="mixamo.bvh"):
        load_motion(tmp_path / "mixamo.bvh", explicit_map={"head": "Skull"})


def test_humanml3d_feature_npy_loads_back_to_the_clip(bandai_clips, tmp_path):
    features = pytest.importorskip("engine.motion.features")
    joints = load_motion(bandai_clips[300]).positions
    np.save(tmp_path / "feats.npy", features.joints_to_features(joints, target=None))
    again = load_motion(tmp_path / "feats.npy").positions
    assert again.shape == (len(joints) - 1, 22, 3)
    assert np.linalg.norm(again - joints[:-1], axis=-1).mean() < 1e-3


def test_npy_and_npz_inputs(tmp_path):
    rest = np.repeat(default_rest_positions()[None], 10, axis=0)
    np.save(tmp_path / "joints.npy", rest.astype(np.float32))
    motion = load_motion(tmp_path / "joints.npy")
    np.testing.assert_allclose(motion.positions, canonicalize(rest), atol=1e-6)
    np.savez(tmp_path / "fast.npz", positions=rest, fps=np.float64(40.0))
    assert load_motion(tmp_path / "fast.npz").num_frames == 5  # resampled 40 -> 20 fps
    np.save(tmp_path / "bad.npy", np.zeros((10, 21, 3)))
    with pytest.raises(InputError, match="expected \\(T, 22, 3\\)"):
        load_motion(tmp_path / "bad.npy")
    np.save(tmp_path / "kit.npy", np.zeros((10, 251)))
    with pytest.raises(InputError, match="KIT"):
        load_motion(tmp_path / "kit.npy")
    np.savez(tmp_path / "other.npz", foo=np.zeros(3))
    with pytest.raises(InputError, match="expected 'positions'"):
        load_motion(tmp_path / "other.npz")
    with pytest.raises(InputError, match="unsupported motion file type"):
        load_motion(tmp_path / "a.fbx")
    with pytest.raises(InputError, match="cannot write"):
        save_motion(CanonicalMotion(rest.astype(np.float32)), tmp_path / "a.fbx")


def test_all_bandai_clips_survive_the_263_feature_round_trip(bandai_clips):
    """BVH -> SMPL-22 joints -> HumanML3D 263-dim features -> joints, over every dataset-2 clip (1,411).

    target=None keeps each clip's own bones (no retargeting to the default skeleton), so the
    features must give back the joints themselves: the encoded joints are the canonical joints
    turned about Y by the (smoothed) initial facing, and bone lengths must survive unchanged.
    """
    features = pytest.importorskip("engine.motion.features")
    from engine.motion.skeleton import bone_lengths

    errors, length_errors = [], []
    for path in bandai_clips:
        joints = load_motion(path).positions
        feats, encoded = features.joints_to_features(joints, target=None, return_joints=True)
        assert feats.shape == (len(joints) - 1, 263)
        recovered = np.asarray(features.features_to_joints(feats))
        errors.append(np.linalg.norm(recovered - encoded, axis=-1).mean())
        length_errors.append(np.abs(bone_lengths(recovered) - bone_lengths(joints[:-1])).max())
    errors = np.array(errors)
    assert len(errors) == len(bandai_clips) >= 1411
    assert errors.mean() < 1e-3, f"mean joint error {errors.mean() * 1000:.3f} mm over {len(errors)} clips"
    assert max(length_errors) < 1e-3, f"worst bone length change {max(length_errors) * 1000:.3f} mm"
