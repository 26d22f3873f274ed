"""Retargeting checked inside real Blender (the PyPI `bpy` module): the engine's rest matrices
equal Blender's `Bone.matrix_local`, and keys from `retarget` put Blender's posed bones exactly
where the engine's own rig FK says. Run: `pytest -q tests/test_retarget_blender.py`.
"""

from __future__ import annotations

import numpy as np
import pytest
from blender_fixtures import bpy, empty_scene, make_armature  # first: sets up bpy's user dir
from retarget_rigs import RIGS, random_motion

from engine.rig.retarget import _rig_forward_kinematics, retarget

pytestmark = pytest.mark.blender


def _armature(rig):
    rows = [
        (name, rig.names[p] if p >= 0 else None, tuple(h), tuple(t), float(r))
        for name, p, h, t, r in zip(rig.names, rig.parents, rig.heads, rig.tails, rig.rolls)
    ]
    # make_armature needs parents created first: add bones parents-first.
    return make_armature("Rig", [rows[b] for b in rig.order])


@pytest.mark.parametrize("rig_name", list(RIGS))
def test_rest_matrices_and_keys_match_blender(rig_name):
    empty_scene()
    rig = RIGS[rig_name]()
    obj = _armature(rig)
    bones = obj.data.bones
    matrix_local = np.array([np.array(bones[name].matrix_local) for name in rig.names])
    scale = np.abs(rig.rest_heads).max()
    # Blender stores float32 and, for bones near -Y, swaps 1 + y for a truncated series (error
    # up to ~3e-5); the engine computes the exact value in float64.
    np.testing.assert_allclose(matrix_local[:, :3, :3], rig.rest_rotations, atol=1e-4)
    np.testing.assert_allclose(matrix_local[:, :3, 3], rig.rest_heads, atol=2e-6 * scale)

    anim = retarget(random_motion(num_frames=6, seed=7), rig)
    expected = np.zeros((len(anim.rotations), rig.num_bones, 3))
    locations = np.zeros_like(expected)
    locations[:, rig.index(anim.root_bone)] = anim.root_location
    expected = _rig_forward_kinematics(rig, anim.rotations, locations)
    for t in range(len(anim.rotations)):
        for b, name in enumerate(rig.names):
            pb = obj.pose.bones[name]
            pb.rotation_mode = "QUATERNION"
            pb.rotation_quaternion = anim.rotations[t, b]
            pb.location = anim.root_location[t] if name == anim.root_bone else (0.0, 0.0, 0.0)
        bpy.context.view_layer.update()
        heads = np.array([np.array(obj.pose.bones[name].head) for name in rig.names])
        np.testing.assert_allclose(heads, expected[t], atol=1e-5 * scale)
