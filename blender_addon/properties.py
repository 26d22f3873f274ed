"""Add-on properties: per-file settings on the Scene, runtime job state on the WindowManager.

Scene settings (prompt, seed, target rig, ...) are saved with the .blend; the job state is runtime
only (WindowManager properties are not saved), so a reopened file never shows a stale "running".
"""

from __future__ import annotations

import bpy

SEED_MAX = 2**31 - 1 - 8  # the engine takes seeds up to 2**31 - 1; variations add up to 7

MAPPING_PRESETS = (
    ("AUTO", "Auto", "Detect the rig's naming scheme from its bone names"),
    ("SMPL", "SMPL", "SMPL / SMPL-X joint names (pelvis, left_hip, ...)"),
    ("MIXAMO", "Mixamo", "Mixamo names (mixamorig:Hips, ...)"),
    ("RIGIFY", "Rigify", "Rigify deform bones (DEF-spine, DEF-thigh.L, ...)"),
    ("BANDAI", "Bandai-Namco", "The Bandai-Namco mocap BVH skeleton"),
    ("CUSTOM", "Custom", "An explicit JSON mapping {SMPL joint: rig bone}"),
)


def _is_armature(_self, obj: bpy.types.Object) -> bool:
    return obj.type == "ARMATURE"


class MOTIONCOPILOT_PG_settings(bpy.types.PropertyGroup):
    """Per-scene settings of the Motion Copilot panel."""

    target: bpy.props.PointerProperty(
        name="Rig",
        type=bpy.types.Object,
        poll=_is_armature,
        description="Armature to animate; empty = the active object",
    )
    mapping_preset: bpy.props.EnumProperty(name="Mapping", items=MAPPING_PRESETS, default="AUTO")
    custom_mapping: bpy.props.StringProperty(
        name="Custom mapping",
        default="",
        description='JSON object from SMPL joint names to rig bone names, e.g. {"pelvis": "Hips"}',
    )

    prompt: bpy.props.StringProperty(name="Prompt", default="a person walks forward")
    length_unit: bpy.props.EnumProperty(
        name="Length unit",
        default="SECONDS",
        items=(("SECONDS", "Seconds", ""), ("FRAMES", "Frames", "Frames at the scene frame rate")),
    )
    length_seconds: bpy.props.FloatProperty(name="Length (s)", default=4.0, min=0.5, max=9.8)
    length_frames: bpy.props.IntProperty(name="Length (frames)", default=96, min=1, max=2000)
    seed: bpy.props.IntProperty(
        name="Seed",
        default=0,
        min=0,
        max=SEED_MAX,
        description="Seed of the last take (a fresh one is drawn per job unless 'Lock seed' is on)",
    )
    lock_seed: bpy.props.BoolProperty(
        name="Lock seed",
        default=False,
        description="Reuse this seed (the same prompt gives the same take); off: a fresh seed for every job",
    )
    fit_scene_range: bpy.props.BoolProperty(
        name="Fit scene range",
        default=True,
        description="Set the scene's start and end frames to the new take (undo with Ctrl-Z)",
    )
    variations: bpy.props.IntProperty(name="Variations", default=1, min=1, max=8)
    push_to_nla: bpy.props.BoolProperty(
        name="Push to NLA",
        default=False,
        description="Put each result on an NLA strip and keep the current action assigned",
    )
    generate_anyway: bpy.props.BoolProperty(
        name="Generate anyway",
        default=False,
        description="Generate even a prompt the engine finds far from everything its model can do "
        "(otherwise it refuses and names the closest things it can do)",
    )

    continue_seconds: bpy.props.FloatProperty(name="Continue (s)", default=2.0, min=0.5, max=9.8)
    inbetween_start: bpy.props.IntProperty(name="From frame", default=1)
    inbetween_end: bpy.props.IntProperty(name="To frame", default=48)

    pose_prompt: bpy.props.StringProperty(name="Correction", default="bend the left knee more")
    pose_blend_frames: bpy.props.FloatProperty(
        name="Blend",
        description="Frames either side over which a correction fades into an animated take (0: one key)",
        default=6.0,
        min=0.0,
        soft_max=48.0,
    )
    compare_frame: bpy.props.IntProperty(name="Other frame", default=1)

    def length_in_seconds(self, scene: bpy.types.Scene) -> float:
        if self.length_unit == "SECONDS":
            return self.length_seconds
        return self.length_frames / (scene.render.fps / scene.render.fps_base)


class MOTIONCOPILOT_PG_job_state(bpy.types.PropertyGroup):
    """What the panel shows about the engine and the running jobs (runtime only)."""

    connection: bpy.props.StringProperty(name="Connection", default="unknown")
    running: bpy.props.IntProperty(name="Running jobs", default=0)
    progress: bpy.props.FloatProperty(name="Progress", default=0.0, min=0.0, max=1.0, subtype="FACTOR")
    status: bpy.props.StringProperty(name="Status", default="")
    last_error: bpy.props.StringProperty(name="Last error", default="")
    last_text: bpy.props.StringProperty(name="Last description", default="")

    def begin_job(self) -> None:
        """Call when a job starts: the previous job's error no longer applies, so the panel stops
        showing it (a later success would otherwise sit under a stale error label)."""
        self.last_error = ""


_CLASSES = (MOTIONCOPILOT_PG_settings, MOTIONCOPILOT_PG_job_state)


def register() -> None:
    for cls in _CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.motion_copilot = bpy.props.PointerProperty(type=MOTIONCOPILOT_PG_settings)
    bpy.types.WindowManager.motion_copilot_job = bpy.props.PointerProperty(type=MOTIONCOPILOT_PG_job_state)


def unregister() -> None:
    del bpy.types.WindowManager.motion_copilot_job
    del bpy.types.Scene.motion_copilot
    for cls in reversed(_CLASSES):
        bpy.utils.unregister_class(cls)
