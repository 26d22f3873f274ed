"""The extension as Blender installs it: build + validate, install into bpy, operators and panels,
and every engine operator with the engine stopped (clear error within the timeout, scene unchanged).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from blender_fixtures import (
    ADDON_ID,
    NAME_TABLE,
    ROOT,
    bpy,
    empty_scene,
    fcurves_of,
    installed_addon,
    limb_bones,
    make_armature,
    smooth_motion,
)

pytestmark = pytest.mark.blender

ENGINE_OPERATORS = (
    "ping",
    "generate",
    "continue_motion",
    "inbetween",
    "describe_motion",
    "correct_pose",
    "describe_pose",
    "describe_change",
)


def addon_module():
    import sys

    name, _ = installed_addon()
    return sys.modules[name]


def free_address() -> str:
    import zmq

    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.ROUTER)
    port = sock.bind_to_random_port("tcp://127.0.0.1")
    sock.close(linger=0)
    return f"tcp://127.0.0.1:{port}"


def test_manifest_lists_pyzmq_for_every_platform_and_python():
    import sys

    sys.path.insert(0, str(ROOT / "scripts"))
    import build_extension

    wheels = build_extension.manifest_wheels((ROOT / "blender_manifest.toml").read_text())
    for platform in ("manylinux", "win_amd64", "macosx"):
        for abi in ("cp311-cp311", "cp313-cp313", "cp314-cp314"):  # Blender 4.2-5.0 / 5.1+ / distributions
            assert any(platform in w and abi in w for w in wheels), (platform, abi)
    args = build_extension.pip_download_args(Path(wheels[2]).name)
    assert args[:1] == ["pyzmq==" + Path(wheels[2]).name.split("-")[1]]
    assert args[args.index("--python-version") + 1] == "3.13" and args[args.index("--abi") + 1] == "cp313"


def test_build_validate_install_enable():
    name, zip_path = installed_addon()
    assert zip_path.exists() and zip_path.name.startswith(f"{ADDON_ID}-")
    # package_install_files reports FINISHED even on failure: check the files and the add-on list.
    user = Path(os.environ["BLENDER_USER_RESOURCES"])
    installed = list(user.rglob(f"extensions/user_default/{ADDON_ID}/blender_manifest.toml"))
    assert installed, f"extension files not found under {user}"
    assert (installed[0].parent / "rig_io.py").exists() and (installed[0].parent / "protocol.py").exists()
    assert name in bpy.context.preferences.addons
    for op in ENGINE_OPERATORS + ("cancel", "start_engine", "create_smpl_armature"):
        assert getattr(bpy.ops.motion_copilot, op).get_rna_type() is not None
    for panel in ("MOTIONCOPILOT_PT_main", "MOTIONCOPILOT_PT_generate", "MOTIONCOPILOT_PT_pose"):
        assert hasattr(bpy.types, panel)
    prefs = bpy.context.preferences.addons[name].preferences
    assert prefs.bl_rna.properties["engine_address"].default == "tcp://127.0.0.1:5555"


def test_poll_needs_an_armature_and_panels_draw():
    module = addon_module()
    empty_scene()
    with bpy.context.temp_override(active_object=None):
        assert not bpy.ops.motion_copilot.generate.poll()
        assert bpy.ops.motion_copilot.ping.poll()  # ping needs no rig
    assert bpy.ops.motion_copilot.create_smpl_armature() == {"FINISHED"}
    obj = bpy.context.active_object
    assert obj.type == "ARMATURE" and len(obj.data.bones) == 22
    # Selected and active, Rig left empty (= the active armature) and Mapping on Auto: nothing
    # pinned to this armature (it used to pin Rig and Mapping = SMPL, which broke the next rig).
    settings = bpy.context.scene.motion_copilot
    assert obj.select_get() and settings.target is None and settings.mapping_preset == "AUTO"
    assert bpy.ops.motion_copilot.generate.poll()
    for cls in module.panels.CLASSES:  # draw code runs against a recording layout
        panel = mock.MagicMock()
        cls.draw(panel, bpy.context)
        assert panel.layout.method_calls, cls


def scene_snapshot(obj):
    scene = bpy.context.scene
    quats = np.array([pb.rotation_quaternion for pb in obj.pose.bones])
    keys = sorted((fc.data_path, fc.array_index, len(fc.keyframe_points)) for fc in fcurves_of(obj))
    return (
        sorted(bpy.data.actions.keys()),
        sorted(bpy.data.objects.keys()),
        scene.frame_current,
        obj.animation_data.action.name,
        keys,
        quats.round(6).tolist(),
        len(obj.animation_data.nla_tracks),
    )


@pytest.mark.parametrize("rig", ["smpl", "mixamo"])
def test_every_operator_reports_a_clear_error_without_engine_and_changes_nothing(rig):
    name, _ = installed_addon()
    scene = empty_scene(24)
    if rig == "smpl":
        bpy.ops.motion_copilot.create_smpl_armature()
        obj = bpy.context.active_object
    else:
        obj = make_armature("Mixamo", limb_bones([row[1] for row in NAME_TABLE], scale=100.0))
        obj.scale = (0.01, 0.01, 0.01)  # as an FBX import in centimetres
        scene.motion_copilot.mapping_preset = "MIXAMO"
    from blender_addon import rig_io

    quats, root = smooth_motion(30, 22)
    rig_io.write_motion(
        obj,
        scene,
        "animator_take",
        [b.name for b in obj.pose.bones],
        quats,
        root,
        obj.pose.bones[0].name,
        start_frame=1,
    )
    scene.frame_set(12)
    prefs = bpy.context.preferences.addons[name].preferences
    prefs.engine_address, prefs.timeout_seconds = free_address(), 0.5
    before = scene_snapshot(obj)
    for op in ENGINE_OPERATORS:
        start = time.monotonic()
        with pytest.raises(RuntimeError, match="No answer from the Motion Copilot engine at tcp://127.0.0.1"):
            getattr(bpy.ops.motion_copilot, op)(wait=True)
        assert time.monotonic() - start < 0.5 + 0.5, op
        assert scene_snapshot(obj) == before, op
    state = bpy.context.window_manager.motion_copilot_job
    assert state.running == 0 and "No answer" in state.last_error and state.connection == "not reachable"


def test_bad_custom_mapping_is_reported_before_anything_is_sent():
    installed_addon()
    scene = empty_scene()
    bpy.ops.motion_copilot.create_smpl_armature()
    scene.motion_copilot.mapping_preset = "CUSTOM"
    scene.motion_copilot.custom_mapping = "{not json"
    with pytest.raises(RuntimeError, match="custom mapping is not valid JSON"):
        bpy.ops.motion_copilot.describe_pose(wait=True)


WHEEL_INSTALL_SCRIPT = """
import glob, os, sys
import bpy
bpy.ops.wm.read_factory_settings(use_empty=True)
bpy.ops.extensions.package_install_files(filepath=sys.argv[1], repo="user_default", enable_on_install=True)
site = glob.glob(os.environ["BLENDER_USER_RESOURCES"] + "/extensions/.local/lib/python*/site-packages/zmq")
print("RESULT", "bl_ext.user_default.motion_copilot" in bpy.context.preferences.addons, bool(site))
"""


def test_platform_zip_with_bundled_pyzmq_installs(tmp_path):
    """The real Linux zip (wheels inside) installs and Blender unpacks pyzmq from it. Runs in a
    subprocess: one extension id per bpy process. Needs the wheel cache (no downloads in tests)."""
    import platform
    import subprocess
    import sys

    cache = ROOT / "build" / "wheels"
    if platform.system() != "Linux" or not list(cache.glob("pyzmq-*-cp311-*manylinux*.whl")):
        pytest.skip("no cached pyzmq wheels: run `python scripts/build_extension.py` once")
    sys.path.insert(0, str(ROOT / "scripts"))
    import build_extension

    zips = build_extension.build(tmp_path / "dist", with_wheels=True, cache=cache)
    linux = [z for z in zips if z.name.endswith("linux_x64.zip")]
    assert len(zips) == 4 and len(linux) == 1
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(tmp_path / "user"))
    out = subprocess.run(
        [sys.executable, "-c", WHEEL_INSTALL_SCRIPT, str(linux[0])],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    assert "RESULT True True" in out, out[-2000:]
