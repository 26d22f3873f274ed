"""Helpers for the add-on tests that run on the real `bpy` module (Blender as a Python module).

Import this module before anything else imports bpy: it points BLENDER_USER_RESOURCES at a temp
dir so tests never touch ~/.config/blender. One bpy per process (re-importing re-registers
everything), so the set-up functions here are idempotent and shared by every test module:
`blender()` resets to factory settings once, `installed_addon()` builds the extension without
wheels, installs it with Blender's own installer and enables it once.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
ADDON_ID = "motion_copilot"
ADDON_MODULE = f"bl_ext.user_default.{ADDON_ID}"

_USER_DIR = tempfile.mkdtemp(prefix="mc_blender_user_")
os.environ.setdefault("BLENDER_USER_RESOURCES", _USER_DIR)
bpy = pytest.importorskip("bpy")
if str(ROOT) not in sys.path:  # so `import blender_addon.rig_io` works without the extension
    sys.path.insert(0, str(ROOT))

_STATE: dict = {}


def blender():
    """bpy after a single factory reset (read_factory_settings unregisters add-ons: do it first)."""
    if "reset" not in _STATE:
        bpy.ops.wm.read_factory_settings(use_empty=True)
        _STATE["reset"] = True
    return bpy


def installed_addon():
    """(module name, zip path) of the extension built without wheels and installed into bpy.

    Installed again if something since (a test's own factory reset) unregistered it."""
    if "addon" in _STATE and ADDON_MODULE not in bpy.context.preferences.addons:
        del _STATE["addon"]
    if "addon" not in _STATE:
        blender()
        sys.path.insert(0, str(ROOT / "scripts"))
        import build_extension

        out = Path(tempfile.mkdtemp(prefix="mc_ext_dist_"))
        (zip_path,) = build_extension.build(out, with_wheels=False)
        bpy.ops.extensions.package_install_files(filepath=str(zip_path), repo="user_default", enable_on_install=True)
        _STATE["addon"] = (ADDON_MODULE, zip_path)
    return _STATE["addon"]


def empty_scene(fps: int = 24):
    """Clear all data (keeps enabled add-ons) and set the scene frame rate."""
    blender()
    bpy.ops.wm.read_homefile(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = fps, 1.0
    scene.frame_set(1)
    return scene


def make_armature(name: str, bones: list[tuple[str, str | None, tuple, tuple, float]]):
    """Armature from (name, parent, head, tail, roll) rows, linked and made active."""
    data = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, data)
    bpy.context.scene.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    for bone_name, parent, head, tail, roll in bones:
        eb = data.edit_bones.new(bone_name)
        eb.head, eb.tail, eb.roll = head, tail, roll
        if parent:
            eb.parent = data.edit_bones[parent]
    bpy.ops.object.mode_set(mode="OBJECT")
    return obj


# SMPL joint -> (Mixamo name, Rigify deform name); SMPL order, so parents follow SMPL_PARENTS.
NAME_TABLE = [
    ("pelvis", "mixamorig:Hips", "DEF-spine"),
    ("left_hip", "mixamorig:LeftUpLeg", "DEF-thigh.L"),
    ("right_hip", "mixamorig:RightUpLeg", "DEF-thigh.R"),
    ("spine1", "mixamorig:Spine", "DEF-spine.001"),
    ("left_knee", "mixamorig:LeftLeg", "DEF-shin.L"),
    ("right_knee", "mixamorig:RightLeg", "DEF-shin.R"),
    ("spine2", "mixamorig:Spine1", "DEF-spine.002"),
    ("left_ankle", "mixamorig:LeftFoot", "DEF-foot.L"),
    ("right_ankle", "mixamorig:RightFoot", "DEF-foot.R"),
    ("spine3", "mixamorig:Spine2", "DEF-spine.003"),
    ("left_foot", "mixamorig:LeftToeBase", "DEF-toe.L"),
    ("right_foot", "mixamorig:RightToeBase", "DEF-toe.R"),
    ("neck", "mixamorig:Neck", "DEF-spine.004"),
    ("left_collar", "mixamorig:LeftShoulder", "DEF-shoulder.L"),
    ("right_collar", "mixamorig:RightShoulder", "DEF-shoulder.R"),
    ("head", "mixamorig:Head", "DEF-spine.006"),
    ("left_shoulder", "mixamorig:LeftArm", "DEF-upper_arm.L"),
    ("right_shoulder", "mixamorig:RightArm", "DEF-upper_arm.R"),
    ("left_elbow", "mixamorig:LeftForeArm", "DEF-forearm.L"),
    ("right_elbow", "mixamorig:RightForeArm", "DEF-forearm.R"),
    ("left_wrist", "mixamorig:LeftHand", "DEF-hand.L"),
    ("right_wrist", "mixamorig:RightHand", "DEF-hand.R"),
]


def limb_bones(names: list[str], roll: float = 0.0, scale: float = 1.0):
    """Bone rows for a 22-joint humanoid whose bones point from each joint to its first child.

    Mixamo/Rigify rigs aim bones along the limb (unlike SMPL rigs' +Z bones), which exercises
    non-trivial rest matrices. Positions: the SMPL rest skeleton, Z up, times `scale`.
    """
    from blender_addon.rig_io import SMPL_PARENTS, SMPL_REST_YUP

    heads = np.stack([SMPL_REST_YUP[:, 0], -SMPL_REST_YUP[:, 2], SMPL_REST_YUP[:, 1]], 1) * scale
    rows = []
    for j, name in enumerate(names):
        children = [c for c, p in enumerate(SMPL_PARENTS) if p == j]
        tail = heads[children[-1 if j == 0 else 0]] if children else heads[j] + (0, 0, 0.08 * scale)
        if np.linalg.norm(tail - heads[j]) < 1e-3:
            tail = heads[j] + (0, 0, 0.08 * scale)
        parent = names[SMPL_PARENTS[j]] if SMPL_PARENTS[j] >= 0 else None
        rows.append((name, parent, tuple(heads[j]), tuple(tail), roll))
    return rows


def fcurves_of(obj):
    """F-curves of obj's assigned action/slot on Blender 4.2 to 5.x."""
    adt = obj.animation_data
    if bpy.app.version >= (4, 4, 0):
        from bpy_extras import anim_utils

        return anim_utils.action_get_channelbag_for_slot(adt.action, adt.action_slot).fcurves
    return adt.action.fcurves


def random_quats(rng: np.random.Generator, shape: tuple[int, ...], max_angle: float = 0.6) -> np.ndarray:
    """Unit quaternions (wxyz) of rotations up to max_angle radians, shape + (4,)."""
    axis = rng.normal(size=shape + (3,))
    axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
    angle = rng.uniform(0, max_angle, size=shape + (1,))
    return np.concatenate([np.cos(angle / 2), axis * np.sin(angle / 2)], axis=-1)


def smooth_motion(n_frames: int, n_bones: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(T, N, 4) smoothly varying unit quaternions and a (T, 3) root path, for keyframe tests."""
    rng = np.random.default_rng(seed)
    axis = rng.normal(size=(1, n_bones, 3))
    axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
    t = np.arange(n_frames)[:, None, None] / 20.0
    angle = 0.5 * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 6, size=(1, n_bones, 1)))
    quats = np.concatenate([np.cos(angle / 2), axis * np.sin(angle / 2)], axis=-1)
    root = np.stack([0.1 * np.sin(t[:, 0, 0]), 0.02 * np.cos(3 * t[:, 0, 0]), 0.8 * t[:, 0, 0]], axis=1)
    return quats, root
