"""Render one frame of real mocap keyed by the add-on onto a Mixamo-named rig (Workbench) to a PNG.

    python scripts/render_addon_preview.py [--clip engine/assets/samples/dataset-2_walk_active_009.bvh]
                                           [--frame 40] [--out docs/addon_preview.png]

Pipeline, as in Blender with the engine running, but in one process: the clip is read onto the
canonical SMPL-22 skeleton (engine.formats.canonical), retargeted by the engine's retargeter onto
the rig the add-on describes (rig_io.rig_wire -> engine.rig.retarget), keyed by rig_io.write_motion
at the scene's 24 fps, then rendered with Workbench. The rig is a Mixamo-named armature in
centimetres (object scale 0.01, like an FBX import); bones point at their child joint, and one
capsule per bone (bone-parented) makes the rig visible in a render.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="mc_render_"))
sys.path.insert(0, str(ROOT))

import bpy  # noqa: E402  (bmesh and mathutils exist only after bpy is imported)

# isort: split
import bmesh  # noqa: E402
import numpy as np  # noqa: E402
from mathutils import Matrix, Vector  # noqa: E402

from blender_addon import rig_io  # noqa: E402
from engine.formats.canonical import load_motion  # noqa: E402
from engine.rig.description import RigDescription  # noqa: E402
from engine.rig.retarget import retarget  # noqa: E402


def mixamo_rig(scale: float = 100.0) -> bpy.types.Object:
    """Mixamo-named 22-bone rig on the SMPL rest pose, in centimetres, bones aimed at their child."""
    names = ["mixamorig:" + n for n in rig_io.MIXAMO_NAMES]
    rest = rig_io.SMPL_REST_YUP
    heads = np.stack([rest[:, 0], -rest[:, 2], rest[:, 1]], axis=1) * scale
    data = bpy.data.armatures.new("Mixamo")
    obj = bpy.data.objects.new("Mixamo", data)
    bpy.context.scene.collection.objects.link(obj)
    obj.scale = (1 / scale,) * 3
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    for j, name in enumerate(names):
        bone = data.edit_bones.new(name)
        children = [c for c, p in enumerate(rig_io.SMPL_PARENTS) if p == j]
        if j == 0:
            children = [3]  # the hips aim up the spine
        tail = heads[children[0]] if children else heads[j] + (0, 0, 0.1 * scale)
        if j in (15,):
            tail = heads[j] + (0, 0, 0.2 * scale)  # head bone up to the crown
        if j in (10, 11):
            tail = heads[j] + (0, -0.06 * scale, 0)  # toes point forward
        if j in (20, 21):
            tail = heads[j] + (np.sign(heads[j][0]) * 0.08 * scale, 0, 0)  # hands along the arm
        bone.head, bone.tail = heads[j], tail
        if rig_io.SMPL_PARENTS[j] >= 0:
            bone.parent = data.edit_bones[names[rig_io.SMPL_PARENTS[j]]]
    bpy.ops.object.mode_set(mode="OBJECT")
    return obj


def capsule(name: str, length: float, radius: float, material) -> bpy.types.Object:
    """A cylinder from y=0 to y=length with sphere caps, in bone-local axes (bones run along +Y)."""
    mesh = bpy.data.meshes.new(name)
    bm = bmesh.new()
    bmesh.ops.create_cone(
        bm,
        cap_ends=True,
        segments=16,
        radius1=radius,
        radius2=radius * 0.8,
        depth=length,
        matrix=Matrix.Translation((0, length / 2, 0)) @ Matrix.Rotation(-1.5708, 4, "X"),
    )
    for y in (0.0, length):
        bmesh.ops.create_uvsphere(bm, u_segments=12, v_segments=8, radius=radius, matrix=Matrix.Translation((0, y, 0)))
    bm.to_mesh(mesh)
    bm.free()
    mesh.materials.append(material)
    return bpy.data.objects.new(name, mesh)


def dress(rig: bpy.types.Object) -> None:
    """One capsule per bone, bone-parented (origin at the bone's tail, hence the -length shift)."""
    skin = bpy.data.materials.new("skin")
    skin.diffuse_color = (0.85, 0.55, 0.35, 1.0)
    for bone in rig.data.bones:
        radius = 7.0 if bone.name.endswith(("Hips", "Spine", "Spine1", "Spine2")) else 4.0
        part = capsule("cap_" + bone.name, bone.length, radius, skin)
        bpy.context.scene.collection.objects.link(part)
        part.parent, part.parent_type, part.parent_bone = rig, "BONE", bone.name
        part.location = (0.0, -bone.length, 0.0)


def stage(scene: bpy.types.Scene, target: tuple) -> None:
    floor_mesh = bpy.data.meshes.new("floor")
    bm = bmesh.new()
    bmesh.ops.create_grid(bm, x_segments=1, y_segments=1, size=6.0)
    bm.to_mesh(floor_mesh)
    bm.free()
    floor = bpy.data.objects.new("floor", floor_mesh)
    scene.collection.objects.link(floor)
    cam_data = bpy.data.cameras.new("cam")
    cam = bpy.data.objects.new("cam", cam_data)
    scene.collection.objects.link(cam)
    cam.location = (target[0] + 3.2, target[1] - 3.6, 1.7)
    direction = Vector(target) - cam.location
    cam.rotation_euler = direction.to_track_quat("-Z", "Y").to_euler()
    cam_data.lens = 60
    scene.camera = cam
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.display.shading.light = "STUDIO"
    scene.display.shading.color_type = "MATERIAL"
    scene.display.shading.show_shadows = True
    scene.render.resolution_x, scene.render.resolution_y = 480, 480
    scene.render.image_settings.file_format = "PNG"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, default=ROOT / "engine/assets/samples/dataset-2_walk_active_009.bvh")
    parser.add_argument("--frame", type=int, default=40, help="scene frame to render (24 fps)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "addon_preview.png")
    args = parser.parse_args(argv)

    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = 24, 1.0
    rig = mixamo_rig()
    rig_args, rig_arrays = rig_io.rig_wire(rig, scene)
    positions = load_motion(args.clip).positions  # (T, 22, 3) metres, Y up, 20 fps
    anim = retarget(positions, RigDescription.from_wire(rig_args, rig_arrays))
    action = rig_io.write_motion(
        rig,
        scene,
        rig_io.unique_action_name(args.clip.stem),
        list(anim.bone_names),
        anim.rotations,
        anim.root_location,
        anim.root_bone,
        start_frame=1,
    )
    dress(rig)
    scene.frame_set(args.frame)
    hips = rig.matrix_world @ rig.pose.bones["mixamorig:Hips"].head
    stage(scene, (hips.x, hips.y, 0.9))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    scene.render.filepath = str(args.out)
    bpy.ops.render.render(write_still=True)
    print(
        f"{action.name}: {len(positions)} samples keyed on frames {action.frame_range[:]}, "
        f"rendered frame {args.frame} to {args.out} ({args.out.stat().st_size / 1024:.0f} KB)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
