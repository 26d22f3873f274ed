"""BVH reading (FK with any channel order), writing, resampling and malformed-file errors."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from engine.bundle import default_bundle_dir
from engine.errors import InputError
from engine.formats.bvh import (
    default_end_sites,
    forward_kinematics,
    parse_bvh,
    read_bvh,
    write_bvh,
)
from engine.formats.canonical import CanonicalMotion, load_motion, save_motion
from engine.formats.resample import resample_positions, resample_quaternions
from engine.motion.skeleton import PARENTS, default_rest_offsets

TWO_BONES = """HIERARCHY
ROOT hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT knee
  {
    OFFSET 0 -2 0
    CHANNELS 3 Xrotation Yrotation Zrotation
    JOINT ankle
    {
      OFFSET 0 -3 0
      CHANNELS 6 Xposition Yposition Zposition Yrotation Zrotation Xrotation
      End Site
      {
        OFFSET 0 0 1
      }
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.0333333
1 5 2 90 0 0 0 0 0 0 -3 0 0 0 0
0 0 0 0 0 0 30 40 50 0 -4 0 0 0 0
"""


def _rot(axis: str, degrees: float) -> np.ndarray:
    return Rotation.from_euler(axis, degrees, degrees=True).as_matrix()


def test_fk_on_a_hand_checked_chain():
    clip = parse_bvh(TWO_BONES, "two.bvh")
    assert clip.names == ("hips", "knee", "ankle") and list(clip.parents) == [-1, 0, 1]
    assert clip.channels[1] == ("Xrotation", "Yrotation", "Zrotation")
    np.testing.assert_allclose(clip.end_sites[2], [0, 0, 1])
    pos = clip.global_positions()
    # Frame 0: root at (1, 5, 2) turned 90 degrees about Z, so the leg (pointing -Y) points +X.
    np.testing.assert_allclose(pos[0], [[1, 5, 2], [3, 5, 2], [6, 5, 2]], atol=1e-9)
    # Frame 1: knee rotation is intrinsic X then Y then Z (R = Rx Ry Rz); the ankle's position
    # channels (0, -4, 0) replace its offset (0, -3, 0).
    knee_rot = _rot("x", 30) @ _rot("y", 40) @ _rot("z", 50)
    np.testing.assert_allclose(pos[1, 1], [0, -2, 0], atol=1e-9)
    np.testing.assert_allclose(pos[1, 2], [0, -2, 0] + knee_rot @ [0, -4, 0], atol=1e-9)


@pytest.mark.parametrize("order", ["ZXY", "XYZ", "YZX", "ZYX"])
def test_write_then_read_reproduces_positions(tmp_path, order):
    rng = np.random.default_rng(1)
    parents = [-1, 0, 1, 2, 1, 4, 0]
    names = [f"j{i}" for i in range(len(parents))]
    offsets = rng.normal(size=(7, 3))
    quats = Rotation.random(20 * 7, random_state=2).as_quat().reshape(20, 7, 4)[..., [3, 0, 1, 2]]
    root = rng.normal(size=(20, 3))
    path = tmp_path / "random.bvh"
    write_bvh(path, names, parents, offsets, quats, root, fps=24.0, order=order)
    clip = read_bvh(path)
    assert clip.names == tuple(names) and abs(clip.fps - 24.0) < 1e-4
    assert clip.channels[0][3:] == tuple(f"{a}rotation" for a in order)
    trans = np.broadcast_to(offsets, (20, 7, 3)).copy()
    trans[:, 0] = root
    expected = forward_kinematics(np.array(parents), quats, trans)
    np.testing.assert_allclose(clip.global_positions(), expected, atol=1e-4)


def test_real_bandai_clip_is_read_as_a_rigid_skeleton(bandai_clips):
    clip = read_bvh(bandai_clips[0])
    assert len(clip.names) == 22 and all(len(c) == 6 for c in clip.channels)
    assert abs(clip.fps - 30.0) < 1e-3
    pos = clip.global_positions()
    assert pos.shape == (clip.num_frames, 22, 3)
    bones = np.linalg.norm(pos[:, 1:] - pos[:, clip.parents[1:]], axis=-1)
    assert np.ptp(bones[:, 1:], axis=0).max() < 1e-3  # cm; the Hips bone moves with root motion


@pytest.mark.parametrize("src_frames", [38, 90, 91, 301])
def test_resampling_frame_counts_and_exact_linear_motion(src_frames):
    t = np.arange(src_frames) / 30.0
    linear = np.stack([t, 2 * t, -t], axis=-1)[:, None, :]  # (T, 1, 3)
    out = resample_positions(linear, 30.0, 20.0)
    assert abs(len(out) - round(src_frames * 2 / 3)) <= 1
    np.testing.assert_allclose(out[:, 0, 0], np.arange(len(out)) / 20.0, atol=1e-12)
    # Constant angular velocity about Y: slerp lands exactly on the in-between angles.
    angles = np.radians(3.0) * np.arange(src_frames)
    quats = np.stack([np.cos(angles / 2), 0 * angles, np.sin(angles / 2), 0 * angles], -1)[:, None]
    slerped = resample_quaternions(quats, 30.0, 20.0)
    expected = np.radians(4.5) * np.arange(len(out))
    got = 2 * np.arctan2(slerped[:, 0, 2], slerped[:, 0, 0])
    np.testing.assert_allclose(np.exp(1j * got), np.exp(1j * expected), atol=1e-9)


MALFORMED = {
    "missing CHANNELS": (TWO_BONES.replace("    CHANNELS 3 Xrotation Yrotation Zrotation\n", ""), "has no CHANNELS"),
    "short frame": (TWO_BONES.replace("0 -3 0 0 0 0\n", "0 -3 0 0 0\n"), "has 14 values"),
    "NaN value": (TWO_BONES.replace("30 40 50", "30 nan 50"), "NaN"),
    "zero frames": (TWO_BONES.split("Frames:")[0] + "Frames: 0\nFrame Time: 0.0333333\n", "0 frames"),
    "frame count mismatch": (TWO_BONES.replace("Frames: 2", "Frames: 3"), "3 frames but 2"),
    "bad channel name": (
        TWO_BONES.replace("Zrotation Xrotation Yrotation", "Zrotation Xrotation Wrotation"),
        "invalid or repeated channels",
    ),
    "no MOTION": (TWO_BONES.split("MOTION")[0], "no MOTION"),
    "truncated hierarchy": (TWO_BONES.replace("      }\n    }\n  }\n}\n", ""), "HIERARCHY"),
    "text in frame": (TWO_BONES.replace("30 40 50", "30 forty 50"), "not a number"),
    "bad frame time": (TWO_BONES.replace("Frame Time: 0.0333333", "Frame Time: 0"), "Frame Time"),
    "text offset": (TWO_BONES.replace("OFFSET 0 -2 0", "OFFSET 0 -2 x"), "is not a number"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_files_name_the_file_and_problem(tmp_path, case):
    text, problem = MALFORMED[case]
    path = tmp_path / f"{case.replace(' ', '_')}.bvh"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        read_bvh(path)
    assert str(path) in str(info.value) and problem in str(info.value), str(info.value)


def test_line_numbers_point_at_the_bad_frame(tmp_path):
    path = tmp_path / "nan.bvh"
    path.write_text(TWO_BONES.replace("30 40 50", "30 nan 50"))
    with pytest.raises(InputError, match=r"line 25: frame 1"):
        read_bvh(path)
    with pytest.raises(InputError, match="cannot read"):
        read_bvh(tmp_path / "absent.bvh")


def _blender_joint_positions(path, frames):
    """Joint positions by Blender's own BVH importer (an independent reader), BVH axes."""
    from blender_fixtures import bpy, empty_scene

    empty_scene()  # one factory reset per process, then an empty file: installed add-ons stay enabled
    bpy.ops.import_anim.bvh(
        filepath=str(path),
        global_scale=1.0,
        rotate_mode="NATIVE",
        axis_forward="-Z",
        axis_up="Y",
        update_scene_fps=False,
        use_fps_scale=False,
    )
    armature = bpy.context.object
    out = []
    for frame in frames:
        bpy.context.scene.frame_set(frame + 1)  # the importer keys BVH frame 0 on Blender frame 1
        heads = np.array([armature.matrix_world @ bone.head for bone in armature.pose.bones])
        names = [bone.name for bone in armature.pose.bones]
        out.append(dict(zip(names, np.stack([heads[:, 0], heads[:, 2], -heads[:, 1]], -1))))  # Z-up -> Y-up
    return out


@pytest.mark.blender
def test_fk_agrees_with_blenders_bvh_importer_on_a_real_clip(bandai_clips):
    path = bandai_clips[len(bandai_clips) // 2]
    clip = read_bvh(path)
    frames = [0, clip.num_frames // 2, clip.num_frames - 1]
    ours = clip.global_positions()
    for frame, theirs in zip(frames, _blender_joint_positions(path, frames)):
        expected = np.array([theirs[name] for name in clip.names])
        # cm. Blender's importer composes float32 matrices, so its rounding grows with each joint's
        # distance from the origin (this clip runs ~4.6 m away: up to ~2e-3 cm there, on any axis);
        # a wrong axis order or offset is off by centimetres.
        error = np.linalg.norm(ours[frame] - expected, axis=-1)
        tolerance = 1e-3 + 1e-5 * np.linalg.norm(expected, axis=-1)
        assert np.all(error < tolerance), f"frame {frame}: worst joint off by {error.max():.4f} cm"


@pytest.mark.blender
@pytest.mark.parametrize("order", ["XYZ", "YZX"])
def test_written_files_agree_with_blenders_bvh_importer(tmp_path, order):
    parents = [-1, 0, 1, 2, 0, 4]
    offsets = np.array([[0, 0, 0], [0, 1, 0], [0, 1, 0.2], [0.3, 1, 0], [1, 0, 0], [0, 0, 1.0]])
    quats = Rotation.random(5 * 6, random_state=4).as_quat().reshape(5, 6, 4)[..., [3, 0, 1, 2]]
    root = np.random.default_rng(5).normal(size=(5, 3))
    path = tmp_path / f"random_{order}.bvh"
    write_bvh(path, [f"j{i}" for i in range(6)], parents, offsets, quats, root, fps=30.0, order=order)
    clip = read_bvh(path)
    ours = clip.global_positions()
    for frame, theirs in zip(range(5), _blender_joint_positions(path, range(5))):
        np.testing.assert_allclose(ours[frame], [theirs[n] for n in clip.names], atol=1e-4)


def test_every_leaf_gets_a_real_end_site_along_its_bone():
    # SMPL-22 leaves: toes, head, wrists; each End Site continues its own bone, ~8 cm in metres.
    offsets = default_rest_offsets()
    sites = default_end_sites(PARENTS, offsets)
    assert sorted(sites) == [10, 11, 15, 20, 21]
    for leaf, site in sites.items():
        assert 0.05 <= np.linalg.norm(site) <= 0.1, leaf
        assert site @ offsets[leaf] > 0.99 * np.linalg.norm(site) * np.linalg.norm(offsets[leaf]), leaf


def _blender_import_log(path) -> str:
    """What Blender's BVH importer prints while importing `path` (its warnings go to stdout)."""
    from blender_fixtures import bpy, empty_scene

    empty_scene()  # one factory reset per process, then an empty file: installed add-ons stay enabled
    log = io.StringIO()
    with contextlib.redirect_stdout(log):
        bpy.ops.import_anim.bvh(filepath=str(path), global_scale=1.0, axis_forward="-Z", axis_up="Y")
    return log.getvalue()


@pytest.mark.blender
def test_blender_imports_a_written_motion_without_zero_length_warnings(tmp_path):
    walk = load_motion(default_bundle_dir().parent / "samples" / "dataset-2_walk_active_009.bvh")
    path = tmp_path / "walk.bvh"
    save_motion(CanonicalMotion(walk.positions[:20], walk.fps), path)
    log = _blender_import_log(path)
    assert "zero length" not in log, log
    assert len(read_bvh(path).end_sites) == 5
    # The check can fail: the same skeleton with zero End Sites is what Blender warns about.
    clip = read_bvh(path)
    zero = {j: np.zeros(3) for j in clip.end_sites}
    old = tmp_path / "zero_end_sites.bvh"
    write_bvh(
        old,
        clip.names,
        clip.parents,
        clip.offsets,
        clip.local_quaternions(),
        clip.local_translations()[:, 0],
        clip.fps,
        end_sites=zero,
    )
    assert "zero length node found" in _blender_import_log(old)
