"""AMASS .npz -> SMPL-22 joints via smplx, checked against our own FK on a synthetic SMPL-H model.

The synthetic model holds the keys smplx 0.1.28 reads (github.com/vchoutas/smplx, `smplx/body_models.py`): random joints, each vertex bound
to one joint, a J_regressor that averages each joint's vertices (so J_regressor @ v_template gives
the joints back), pure-numpy npz (no pickle).
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("smplx")
from scipy.spatial.transform import Rotation

from engine.errors import InputError
from engine.formats.amass import AMASS_TO_Y_UP, amass_joints, find_body_model, read_amass
from engine.formats.canonical import load_motion
from engine.motion.kinematics import forward_kinematics
from engine.motion.skeleton import PARENTS

SMPLH_PARENTS = list(PARENTS) + [
    p
    for wrist in (20, 21)
    for base in range(5)
    for p in (wrist, 22 + 15 * (wrist - 20) + 3 * base, 23 + 15 * (wrist - 20) + 3 * base)
]


def _synthetic_smplh(path, num_vertices=300, seed=0):
    rng = np.random.default_rng(seed)
    num_joints = len(SMPLH_PARENTS)
    joints = np.zeros((num_joints, 3))
    for j in range(1, num_joints):
        joints[j] = joints[SMPLH_PARENTS[j]] + rng.normal(scale=0.1, size=3)
    owner = rng.integers(0, num_joints, num_vertices)
    owner[:num_joints] = np.arange(num_joints)
    weights = np.eye(num_joints)[owner]
    v_template = joints[owner] + rng.normal(scale=0.01, size=(num_vertices, 3))
    np.savez(
        path,
        v_template=v_template,
        f=rng.integers(0, num_vertices, (2 * num_vertices, 3)),
        J_regressor=weights.T / weights.sum(0)[:, None],
        weights=weights,
        kintree_table=np.stack([np.array(SMPLH_PARENTS) % 2**32, np.arange(num_joints)]).astype(np.uint32),
        shapedirs=1e-3 * rng.normal(size=(num_vertices, 3, 16)),
        posedirs=1e-4 * rng.normal(size=(num_vertices, 3, (num_joints - 1) * 9)),
        hands_componentsl=np.eye(45),
        hands_componentsr=np.eye(45),
        hands_meanl=np.zeros(45),
        hands_meanr=np.zeros(45),
    )
    regressor = weights.T / weights.sum(0)[:, None]
    np.testing.assert_allclose(regressor @ v_template, joints, atol=0.05)
    return regressor, v_template, np.load(path)["shapedirs"]


def _amass_file(path, frames=90, fps=60.0, seed=1, **extra):
    rng = np.random.default_rng(seed)
    poses = 0.3 * rng.normal(size=(frames, 156))
    trans = np.cumsum(0.01 * rng.normal(size=(frames, 3)), axis=0)
    betas = 2.0 * rng.normal(size=16)
    np.savez(
        path, poses=poses, trans=trans, betas=betas, mocap_framerate=np.float64(fps), gender=np.array("male"), **extra
    )
    return poses, trans, betas


def test_joints_match_our_forward_kinematics(tmp_path):
    regressor, v_template, shapedirs = _synthetic_smplh(tmp_path / "SMPLH_NEUTRAL.npz")
    poses, trans, betas = _amass_file(tmp_path / "clip.npz")
    joints, fps = amass_joints(tmp_path / "clip.npz", tmp_path)  # male asked, neutral found
    # Shaped rest joints with the first 10 betas (HumanML3D's BodyModel uses 10).
    rest = regressor @ (v_template + shapedirs[:, :, :10] @ betas[:10])
    assert fps == 60.0 and joints.shape == (90, 22, 3)
    # Independent path: axis-angle -> quats, our FK on the 22 body joints, then the axis swap.
    quats = Rotation.from_rotvec(poses[:, :66].reshape(-1, 3)).as_quat()[:, [3, 0, 1, 2]].reshape(90, 22, 4)
    offsets = rest[:22] - rest[list(PARENTS)][:22]
    offsets[0] = 0.0
    expected = np.asarray(forward_kinematics(quats, trans + rest[0], offsets, PARENTS)) @ AMASS_TO_Y_UP.T
    np.testing.assert_allclose(joints, expected, atol=2e-5)


def test_load_motion_reads_amass_at_20_fps(tmp_path):
    _synthetic_smplh(tmp_path / "smplh_models_are_here.npz")
    (tmp_path / "models" / "smplh").mkdir(parents=True)
    (tmp_path / "smplh_models_are_here.npz").rename(tmp_path / "models" / "smplh" / "SMPLH_NEUTRAL.npz")
    _amass_file(tmp_path / "clip.npz", frames=91, fps=60.0)
    motion = load_motion(tmp_path / "clip.npz", body_model=tmp_path / "models")
    assert motion.num_frames == 31 and motion.positions.shape == (31, 22, 3)  # 1.5 s at 20 fps
    assert abs(motion.positions[..., 1].min()) < 1e-6


def test_missing_model_files_say_where_to_put_them(tmp_path):
    _amass_file(tmp_path / "clip.npz")
    with pytest.raises(InputError, match="cannot ship"):
        load_motion(tmp_path / "clip.npz")
    with pytest.raises(InputError, match="SMPLH_NEUTRAL.npz") as info:
        find_body_model(tmp_path, "smplh", "male")
    assert "SMPLH_MALE.npz" in str(info.value)


def test_bad_amass_files(tmp_path):
    np.savez(tmp_path / "nopose.npz", trans=np.zeros((3, 3)), mocap_framerate=60.0)
    with pytest.raises(InputError, match="missing poses"):
        read_amass(tmp_path / "nopose.npz")
    np.savez(tmp_path / "shape.npz", poses=np.zeros((3, 72)), trans=np.zeros((3, 3)), mocap_framerate=60.0)
    with pytest.raises(InputError, match=r"\(T, 156\) SMPL-H"):
        read_amass(tmp_path / "shape.npz")
    np.savez(
        tmp_path / "pickled.npz",
        poses=np.zeros((3, 156)),
        trans=np.zeros((3, 3)),
        mocap_framerate=60.0,
        extra=np.array([{"a": 1}], dtype=object),
    )
    with pytest.raises(InputError, match="pickled Python objects"):
        read_amass(tmp_path / "pickled.npz")
    np.savez(tmp_path / "nan.npz", poses=np.full((3, 156), np.nan), trans=np.zeros((3, 3)), mocap_framerate=60.0)
    with pytest.raises(InputError, match="NaN"):
        read_amass(tmp_path / "nan.npz")


def test_axis_swap_is_humanml3d_recipe():
    points = np.random.default_rng(3).normal(size=(10, 3))
    humanml3d = points @ np.array([[1, 0, 0], [0, 0, 1], [0, 1, 0]])  # raw_pose_processing trans_matrix
    humanml3d[:, 0] *= -1
    np.testing.assert_allclose(points @ AMASS_TO_Y_UP.T, humanml3d)
    assert np.isclose(np.linalg.det(AMASS_TO_Y_UP), 1.0)  # a rotation: left stays left
    np.testing.assert_allclose(AMASS_TO_Y_UP @ [0, 0, 1], [0, 1, 0])  # AMASS up (+Z) becomes +Y


def test_smplx_files_work_too(tmp_path):
    """SMPL-X (poses (T, 165), `mocap_frame_rate`) through smplx.SMPLX, across two forward chunks.
    smplx hard-codes SMPL-X vertex ids up to 9929, so the synthetic mesh needs the real 10475
    vertices (a 69 MB file in tmp)."""
    rng = np.random.default_rng(6)
    parents = list(PARENTS) + [15, 15, 15] + [p if p < 22 else p + 3 for p in SMPLH_PARENTS[22:]]
    num_joints, num_vertices = len(parents), 10475
    joints = np.zeros((num_joints, 3))
    for j in range(1, num_joints):
        joints[j] = joints[parents[j]] + rng.normal(scale=0.1, size=3)
    owner = rng.integers(0, num_joints, num_vertices)
    owner[:num_joints] = np.arange(num_joints)
    weights = np.eye(num_joints, dtype=np.float32)[owner]
    v_template = (joints[owner] + rng.normal(scale=0.01, size=(num_vertices, 3))).astype(np.float32)
    regressor = weights.T / weights.sum(0)[:, None]
    np.savez(
        tmp_path / "SMPLX_NEUTRAL.npz",
        v_template=v_template,
        J_regressor=regressor,
        weights=weights,
        f=rng.integers(0, num_vertices, (2 * num_vertices, 3)),
        kintree_table=np.stack([np.array(parents) % 2**32, np.arange(num_joints)]).astype(np.uint32),
        shapedirs=np.zeros((num_vertices, 3, 20), np.float32),
        posedirs=np.zeros((num_vertices, 3, (num_joints - 1) * 9), np.float32),
        hands_componentsl=np.eye(45),
        hands_componentsr=np.eye(45),
        hands_meanl=np.zeros(45),
        hands_meanr=np.zeros(45),
        lmk_faces_idx=np.zeros(51, np.int64),
        lmk_bary_coords=np.full((51, 3), 1 / 3),
    )
    frames = 260  # CHUNK_FRAMES + 4: the second forward pass has another batch size
    poses, trans = 0.3 * rng.normal(size=(frames, 165)), rng.normal(size=(frames, 3))
    np.savez(
        tmp_path / "clip.npz",
        poses=poses,
        trans=trans,
        betas=np.zeros(10),
        mocap_frame_rate=np.float64(120.0),
        gender=np.array("female"),
    )
    got, fps = amass_joints(tmp_path / "clip.npz", tmp_path)
    assert fps == 120.0 and got.shape == (frames, 22, 3)
    rest = (regressor @ v_template)[:22].astype(np.float64)
    quats = Rotation.from_rotvec(poses[:, :66].reshape(-1, 3)).as_quat()[:, [3, 0, 1, 2]].reshape(frames, 22, 4)
    offsets = rest - rest[list(PARENTS)]
    offsets[0] = 0.0
    expected = np.asarray(forward_kinematics(quats, trans + rest[0], offsets, PARENTS)) @ AMASS_TO_Y_UP.T
    np.testing.assert_allclose(got, expected, atol=5e-5)
