"""Retargeting canonical motion onto Blender-like rigs (engine/rig/description.py, retarget.py).

The rigs (tests/retarget_rigs.py) are built in numpy the way they look in Blender. Posed rigs
are checked with an independent implementation of Blender's pose recursion (4x4 matrices, scipy
rotations). Run: `pytest -q tests/test_retarget.py`.
"""

from __future__ import annotations

import numpy as np
import pytest
from retarget_rigs import (
    RIGS,
    aimed_pairs,
    bandai_rig,
    blender_pose_heads,
    mixamo_rig,
    random_motion,
    rigify_rig,
    smpl_rig,
    to_canonical_directions,
    unit,
)
from scipy.spatial.transform import Rotation

from engine.errors import InputError
from engine.motion.kinematics import forward_kinematics
from engine.motion.rotations import axis_angle_to_quat
from engine.motion.skeleton import JOINT_NAMES, children_of, default_rest_offsets
from engine.rig.description import RigDescription, blender_bone_matrix, canonical_to_armature_matrix
from engine.rig.name_maps import resolve_map
from engine.rig.retarget import bind, leg_length, retarget, rig_pose_to_canonical


# ----------------------------------------------------------------------------- description
def test_blender_bone_matrix_documented_cases():
    # blender.md 4.1: a bone along +Z with roll 0 has matrix_local rotation +90 degrees about X.
    m = blender_bone_matrix(np.zeros((1, 3)), np.array([[0.0, 0.0, 0.1]]), np.zeros(1))[0]
    np.testing.assert_allclose(m[:3, :3], Rotation.from_euler("x", 90, degrees=True).as_matrix(), atol=1e-12)
    rng = np.random.default_rng(0)
    heads, tails, rolls = rng.normal(size=(50, 3)), rng.normal(size=(50, 3)), rng.uniform(-3, 3, 50)
    tails[0] = heads[0] + [0.0, -0.3, 0.0]  # Blender's singular case: the bone along -Y
    mats = blender_bone_matrix(heads, tails, rolls)
    rot = mats[:, :3, :3]
    np.testing.assert_allclose(rot @ rot.transpose(0, 2, 1), np.broadcast_to(np.eye(3), rot.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(rot), 1.0, atol=1e-12)
    np.testing.assert_allclose(rot[:, :, 1], unit(tails - heads), atol=1e-12)  # local +Y along the bone
    np.testing.assert_allclose(mats[:, :3, 3], heads)
    # Roll turns the X/Z axes about the bone: the angle between roll 0 and roll r is r.
    zero = blender_bone_matrix(heads, tails, np.zeros(50))[:, :3, :3]
    cos = np.einsum("ni,ni->n", zero[:, :, 0], rot[:, :, 0])
    np.testing.assert_allclose(cos, np.cos(rolls), atol=1e-9)


def test_canonical_to_armature_axes():
    # Blender (Z up, facing -Y): SMPL (x, y, z) -> (x, -z, y) as in the SMPL add-ons.
    np.testing.assert_allclose(canonical_to_armature_matrix("Z", "-Y") @ [1.0, 2.0, 3.0], [1.0, -3.0, 2.0], atol=1e-12)
    np.testing.assert_allclose(canonical_to_armature_matrix("Y", "Z"), np.eye(3), atol=1e-12)


def test_description_validation_errors():
    rig = smpl_rig()
    n, mats = rig.num_bones, rig.rest_matrices
    with pytest.raises(InputError, match="unique"):
        RigDescription(("a", "a"), (-1, 0), np.tile(np.eye(4), (2, 1, 1)))
    with pytest.raises(InputError, match="cycle"):
        RigDescription(("a", "b", "c"), (-1, 2, 1), np.tile(np.eye(4), (3, 1, 1)))
    with pytest.raises(InputError, match="parent index"):
        RigDescription(("a", "b"), (-1, 5), np.tile(np.eye(4), (2, 1, 1)))
    with pytest.raises(InputError, match="shape"):
        RigDescription(rig.names, rig.parents, mats[:, :3])
    bad = mats.copy()
    bad[3, 0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        RigDescription(rig.names, rig.parents, bad)
    scaled = mats.copy()
    scaled[4, :3, :3] *= 2.0
    with pytest.raises(InputError, match="pure"):
        RigDescription(rig.names, rig.parents, scaled)
    with pytest.raises(InputError, match="perpendicular"):
        RigDescription(rig.names, rig.parents, mats, up_axis="Z", forward_axis="-Z")
    with pytest.raises(InputError, match="axis"):
        RigDescription(rig.names, rig.parents, mats, up_axis="W")
    with pytest.raises(InputError, match="metres_per_unit"):
        RigDescription(rig.names, rig.parents, mats, metres_per_unit=0.0)
    assert len(rig.order) == n


def test_wire_round_trip_and_world_matrix():
    rig = mixamo_rig()
    header, arrays = rig.to_wire()
    import json

    header = json.loads(json.dumps(header))  # the header must survive JSON
    assert arrays["rest_matrices"].dtype == np.dtype("<f8") and arrays["rest_matrices"].shape == (rig.num_bones, 4, 4)
    back = RigDescription.from_wire(header, arrays)
    assert back.names == rig.names and back.parents == rig.parents
    assert (back.up_axis, back.forward_axis, back.metres_per_unit) == ("Y", "Z", 0.01)
    np.testing.assert_allclose(back.rest_matrices, rig.rest_matrices, atol=1e-14)
    # What the add-on's rig_io sends: names, parents, matrices and the object's matrix_world.
    world = np.eye(4)
    world[:3, :3] = 0.01 * Rotation.from_euler("x", 90, degrees=True).as_matrix()  # FBX import
    addon = RigDescription.from_wire(
        {"names": list(rig.names), "parents": list(rig.parents)},
        {"rest_matrices": rig.rest_matrices, "world_matrix": world},
    )
    assert (addon.up_axis, addon.forward_axis) == ("Y", "Z")
    assert addon.metres_per_unit == pytest.approx(0.01)
    with pytest.raises(InputError, match="rest_matrices"):
        RigDescription.from_wire(header, {})
    for bad, message in (
        ({"names": "Hips"}, "list 'names'"),
        ({"version": 99}, "version"),
        ({"metres_per_unit": "cm"}, "metres_per_unit"),
        ({"parents": [None] * rig.num_bones}, "integers"),
    ):
        with pytest.raises(InputError, match=message):
            RigDescription.from_wire({**header, **bad}, arrays)


# ----------------------------------------------------------------------------- retarget
@pytest.mark.parametrize("rig_name", list(RIGS))
def test_mapped_bones_point_like_the_motion(rig_name):
    rig, motion = RIGS[rig_name](), random_motion()
    anim = retarget(motion, rig)
    assert anim.rotations.shape == (len(motion), rig.num_bones, 4)
    np.testing.assert_allclose(np.linalg.norm(anim.rotations, axis=-1), 1.0, atol=1e-9)
    heads = blender_pose_heads(rig, anim.rotations, anim.root_bone, anim.root_location)
    pairs = aimed_pairs(rig)
    # Every joint with a bone and a next joint down its chain is aimed, past virtual joints
    # (bandai: spine1 -> spine3; minimal: spine1 -> neck); the pelvis and the leaves are not.
    chained = [j for j in range(1, 22) if children_of(j) and bind(rig).joint_bone[j] >= 0]
    assert sorted(j for j, *_ in pairs) == chained
    for j, a, b, b_aim in pairs:
        rig_dir = to_canonical_directions(rig, heads[:, b_aim] - heads[:, b])
        cos = np.einsum("tc,tc->t", rig_dir, unit(motion[:, a] - motion[:, j]))
        assert cos.min() > 0.999, (rig_name, JOINT_NAMES[j], cos.min())


@pytest.mark.parametrize("rig_name", list(RIGS))
def test_rig_pose_to_canonical_recovers_directions(rig_name):
    rig, motion = RIGS[rig_name](), random_motion(seed=1)
    anim = retarget(motion, rig)
    back = rig_pose_to_canonical(rig, anim.rotations, anim.root_location)
    assert back.shape == motion.shape
    for j, a, _, _ in aimed_pairs(rig):
        cos = np.einsum("tc,tc->t", unit(back[:, a] - back[:, j]), unit(motion[:, a] - motion[:, j]))
        assert cos.min() > 0.999, (rig_name, JOINT_NAMES[j], cos.min())
    # Branching joints cannot match exactly with other proportions, but the facing must survive.
    hips = unit(back[:, 1] - back[:, 2]), unit(motion[:, 1] - motion[:, 2])
    assert np.einsum("tc,tc->t", *hips).min() > 0.98
    # The engine's FK agrees with the independent Blender-rule FK.
    heads = blender_pose_heads(rig, anim.rotations, anim.root_bone, anim.root_location)
    binding = bind(rig)
    joints = np.einsum("js,tsc->tjc", binding.weights, heads) @ rig.canonical_to_armature * rig.metres_per_unit
    np.testing.assert_allclose(back, joints - binding.origin, atol=1e-9)


@pytest.mark.parametrize("rig_name", list(RIGS))
def test_rest_pose_gives_identity(rig_name):
    rig = RIGS[rig_name]()
    rest = bind(rig).rest_canonical
    anim = retarget(np.repeat(rest[None], 3, axis=0), rig)
    np.testing.assert_allclose(np.abs(anim.rotations[..., 0]), 1.0, atol=1e-9)
    np.testing.assert_allclose(anim.root_location, 0.0, atol=1e-9)
    assert anim.scale == pytest.approx(1.0)
    # ... and the rig at rest reads back as that rest skeleton.
    identity = np.zeros((1, rig.num_bones, 4))
    identity[..., 0] = 1.0
    np.testing.assert_allclose(rig_pose_to_canonical(rig, identity)[0], rest, atol=1e-12)
    assert rest[:, 1].min() == pytest.approx(0.0) and np.allclose(rest[0, [0, 2]], 0.0)


@pytest.mark.parametrize("rig_name", ["mixamo", "rigify"])
def test_root_track_follows_pelvis_scaled(rig_name):
    rig, motion = RIGS[rig_name](), random_motion(seed=2)
    anim = retarget(motion, rig)
    expected_scale = leg_length(bind(rig).rest_canonical) / np.median(leg_length(motion))
    assert anim.scale == pytest.approx(expected_scale)
    root = rig.index(anim.root_bone)
    head = rig.rest_heads[root] + anim.root_location @ rig.rest_rotations[root].T  # armature units
    pelvis_rig = head @ rig.canonical_to_armature * rig.metres_per_unit
    np.testing.assert_allclose(pelvis_rig - pelvis_rig[0], expected_scale * (motion[:, 0] - motion[0, 0]), atol=1e-9)
    heads = blender_pose_heads(rig, anim.rotations, anim.root_bone, anim.root_location)
    np.testing.assert_allclose(heads[:, root], head, atol=1e-9)


def test_unmapped_bones_keep_rest_relative_to_parent():
    rig = rigify_rig()
    anim = retarget(random_motion(seed=3), rig)
    mapped = set(bind(rig).joint_bone[bind(rig).joint_bone >= 0].tolist())
    unmapped = [b for b in range(rig.num_bones) if b not in mapped]
    assert {"DEF-thigh.L.001", "DEF-spine.005", "DEF-f_index.01.L", "root"} <= {rig.names[b] for b in unmapped}
    assert set(anim.driven_bones) == {rig.names[b] for b in mapped} and len(anim.driven_bones) == 22
    identity = np.broadcast_to([1.0, 0, 0, 0], (len(anim.rotations), len(unmapped), 4))
    np.testing.assert_array_equal(anim.rotations[:, unmapped], identity)
    # Mapped bones do move, and keys never flip hemisphere between frames.
    assert np.abs(anim.rotations[:, sorted(mapped), 0]).min() < 0.99
    assert (np.einsum("tnc,tnc->tn", anim.rotations[1:], anim.rotations[:-1]) > 0).all()


def test_invariant_to_motion_scale_and_yaw():
    rig, motion = mixamo_rig(), random_motion(seed=4)
    anim = retarget(motion, rig)
    bigger = retarget(1.7 * motion, rig)  # a taller performer: same keys on the same rig
    np.testing.assert_allclose(bigger.rotations, anim.rotations, atol=1e-9)
    np.testing.assert_allclose(bigger.root_location, anim.root_location, atol=1e-9)
    yaw = Rotation.from_euler("y", 90, degrees=True)
    turned = retarget(yaw.apply(motion.reshape(-1, 3)).reshape(motion.shape), rig)
    root = rig.index(anim.root_bone)
    others = [b for b in range(rig.num_bones) if b != root]
    # Turning the whole motion only changes the root bone: every local key below stays put.
    np.testing.assert_allclose(turned.rotations[:, others], anim.rotations[:, others], atol=1e-7)
    assert not np.allclose(turned.rotations[:, root], anim.rotations[:, root], atol=1e-3)


def test_bone_order_does_not_matter():
    rig = rigify_rig()
    perm = np.random.default_rng(5).permutation(rig.num_bones)  # children before parents too
    inverse = np.argsort(perm)
    parents = tuple(int(inverse[rig.parents[i]]) if rig.parents[i] >= 0 else -1 for i in perm)
    shuffled = RigDescription(tuple(rig.names[i] for i in perm), parents, rig.rest_matrices[perm])
    motion = random_motion(seed=6)
    a, b = retarget(motion, rig), retarget(motion, shuffled)
    np.testing.assert_allclose(b.rotations, a.rotations[:, perm], atol=1e-12)
    np.testing.assert_allclose(b.root_location, a.root_location, atol=1e-12)


def test_explicit_map_and_bad_inputs():
    rig = bandai_rig()
    with pytest.raises(InputError, match=r"\(T, 22, 3\)"):
        retarget(np.zeros((10, 21, 3)), rig)
    with pytest.raises(InputError, match="NaN"):
        retarget(np.full((2, 22, 3), np.nan), rig)
    with pytest.raises(InputError, match="other bone names"):
        retarget(random_motion(4), rig, resolve_map(mixamo_rig().names))
    with pytest.raises(InputError, match="pelvis must be one bone"):
        retarget(random_motion(4), rig, resolve_map(rig.names, explicit={"pelvis": {"Hips": 1, "Spine": 1}}))
    with pytest.raises(InputError, match="coincide"):
        retarget(np.zeros((3, 22, 3)), rig)
    with pytest.raises(InputError, match="local_quats"):
        rig_pose_to_canonical(rig, np.zeros((2, 3, 4)))


def test_real_bandai_clip_on_mixamo(bandai_clips):
    canonical = pytest.importorskip("engine.formats.canonical")
    run = [p for p in bandai_clips if "_run_" in p.name] or bandai_clips  # fast limbs
    motion = np.asarray(canonical.load_motion(run[0]).positions, dtype=np.float64)[:80]
    rig = mixamo_rig()
    anim = retarget(motion, rig)
    back = rig_pose_to_canonical(rig, anim.rotations, anim.root_location)
    for j, a, _, _ in aimed_pairs(rig):
        cos = np.einsum("tc,tc->t", unit(back[:, a] - back[:, j]), unit(motion[:, a] - motion[:, j]))
        assert cos.min() > 0.999, (JOINT_NAMES[j], cos.min())
    # No pops: a bone's key never turns by more than 60 degrees in one 50 ms frame (a twist flip
    # would show as ~180; the fastest real bones here move about 50 degrees per frame).
    step = np.degrees(2 * np.arccos(np.clip(np.einsum("tnc,tnc->tn", anim.rotations[1:], anim.rotations[:-1]), -1, 1)))
    assert step.max() < 60.0
    # Feet stay on the floor: the lowest joint of the retargeted body is near y = 0 when the clip's is.
    floor_gap = back[..., 1].min(axis=1) - anim.scale * motion[..., 1].min(axis=1)
    assert np.abs(floor_gap).max() < 0.05


def test_single_pose_and_location_bone():
    rig = rigify_rig()
    anim = retarget(random_motion(seed=8)[:5], rig)
    frames = rig_pose_to_canonical(rig, anim.rotations, anim.root_location)
    one = rig_pose_to_canonical(rig, anim.rotations[2], anim.root_location[2])
    np.testing.assert_allclose(one, frames[2], atol=1e-12)
    # The animator moved the top-level `root` bone: the whole body moves by that location, taken
    # from the bone's rest axes to armature space, read back in canonical axes.
    shift = np.array([0.1, 0.2, -0.3])
    moved = rig_pose_to_canonical(rig, anim.rotations[2], shift, location_bone="root")
    root = rig.index("root")
    expected = (rig.rest_rotations[root] @ shift) @ rig.canonical_to_armature
    still = rig_pose_to_canonical(rig, anim.rotations[2])
    np.testing.assert_allclose(moved - still, np.broadcast_to(expected, (22, 3)), atol=1e-12)


@pytest.mark.parametrize("rig_name", ["minimal", "bandai"])
def test_bone_spanning_virtual_joints_follows_the_chest_twist(rig_name):
    """The upper body turns 50 degrees about the spine relative to the hips; on a rig whose spine
    bones span SMPL's virtual joints, the shoulders (hanging off the spine bone) must turn too."""
    rig = RIGS[rig_name]()
    local = np.zeros((3, 22, 4))
    local[..., 0] = 1.0
    local[:, 9] = axis_angle_to_quat(np.array([0.0, np.radians(50.0), 0.0]))  # spine3 twists
    local[:, 12] = axis_angle_to_quat(np.array([0.0, np.radians(-50.0), 0.0]))  # the head looks ahead
    offsets = default_rest_offsets()
    motion = forward_kinematics(local, np.broadcast_to(offsets[0], (3, 3)), offsets)
    back = rig_pose_to_canonical(rig, retarget(motion, rig).rotations)
    shoulders = unit(back[:, 16] - back[:, 17]), unit(motion[:, 16] - motion[:, 17])
    assert np.einsum("tc,tc->t", *shoulders).min() > 0.99


@pytest.mark.parametrize("rig_name", ["smpl", "mixamo", "rigify"])
def test_retarget_of_a_read_back_pose_is_idempotent(rig_name):
    """Rig keys -> canonical -> keys gives the same keys when every SMPL joint is a bone (the
    pose-editing path: an unedited pose comes back unchanged, twist included)."""
    rig = RIGS[rig_name]()
    first = retarget(random_motion(seed=9), rig)
    again = retarget(rig_pose_to_canonical(rig, first.rotations, first.root_location), rig)
    dots = np.abs(np.einsum("tnc,tnc->tn", first.rotations, again.rotations))
    assert np.degrees(2 * np.arccos(np.clip(dots, 0, 1))).max() < 1e-3
    np.testing.assert_allclose(again.root_location, first.root_location, atol=1e-9 / rig.metres_per_unit)
    assert again.scale == pytest.approx(1.0)


def test_mapping_travels_with_the_description():
    """The add-on puts the animator's preset and custom map into the rig header (rig_io.rig_wire)."""
    rig = bandai_rig()
    header, arrays = rig.to_wire()
    # Custom: the pelvis on the floor-level root bone instead of Hips (an animator's odd choice).
    custom = RigDescription.from_wire(
        {**header, "mapping_preset": "custom", "mapping": {"pelvis": "joint_Root"}}, arrays
    )
    assert custom.to_wire()[0]["mapping"] == {"pelvis": "joint_Root"}
    assert retarget(random_motion(4), custom).root_bone == "joint_Root"
    assert (
        retarget(random_motion(4), RigDescription.from_wire({**header, "mapping_preset": "auto"}, arrays)).root_bone
        == "Hips"
    )
    with pytest.raises(InputError, match="preset"):
        retarget(random_motion(4), RigDescription.from_wire({**header, "mapping_preset": "maya"}, arrays))
    with pytest.raises(InputError, match="unknown source joint"):
        retarget(random_motion(4), RigDescription.from_wire({**header, "mapping": {"pelvis": "Pelvis_X"}}, arrays))
    with pytest.raises(InputError, match="mapping"):
        RigDescription.from_wire({**header, "mapping": ["pelvis", "Hips"]}, arrays)
