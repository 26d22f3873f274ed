"""The "Motion Copilot" tab in the 3D View sidebar (N panel): rig, generate, pose, progress."""

from __future__ import annotations

import bpy

from .operators import target_armature

CATEGORY = "Motion Copilot"


class _Panel:
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = CATEGORY


class MOTIONCOPILOT_PT_main(_Panel, bpy.types.Panel):
    bl_label = "Motion Copilot"

    def draw(self, context):
        layout = self.layout
        settings, state = context.scene.motion_copilot, context.window_manager.motion_copilot_job
        row = layout.row(align=True)
        row.label(
            text=f"Engine: {state.connection}", icon="CHECKMARK" if state.connection == "connected" else "QUESTION"
        )
        row.operator("motion_copilot.ping", text="", icon="FILE_REFRESH")
        row.operator("motion_copilot.start_engine", text="", icon="PLAY")
        layout.prop(settings, "target")
        layout.prop(settings, "mapping_preset")
        if settings.mapping_preset == "CUSTOM":
            layout.prop(settings, "custom_mapping", text="")
        if target_armature(context) is None:
            layout.label(text="Select an armature, or:", icon="INFO")
        layout.operator("motion_copilot.create_smpl_armature", icon="ARMATURE_DATA")
        if state.running:
            box = layout.box()
            box.progress(factor=state.progress, type="BAR", text=state.status or "Working...")
            box.operator("motion_copilot.cancel", icon="CANCEL")
        if state.last_error:
            layout.label(text=state.last_error, icon="ERROR")


class MOTIONCOPILOT_PT_generate(_Panel, bpy.types.Panel):
    bl_label = "Generate"
    bl_parent_id = "MOTIONCOPILOT_PT_main"

    def draw(self, context):
        layout, settings = self.layout, context.scene.motion_copilot
        layout.prop(settings, "prompt", text="")
        row = layout.row(align=True)
        row.prop(settings, "length_unit", expand=True)
        layout.prop(settings, "length_seconds" if settings.length_unit == "SECONDS" else "length_frames")
        row = layout.row(align=True)
        row.prop(settings, "seed")
        row.prop(settings, "variations")
        layout.prop(settings, "push_to_nla")
        layout.operator("motion_copilot.generate", icon="PLAY")
        layout.separator()
        layout.prop(settings, "continue_seconds")
        layout.operator("motion_copilot.continue_motion", icon="FF")
        row = layout.row(align=True)
        row.prop(settings, "inbetween_start")
        row.prop(settings, "inbetween_end")
        layout.operator("motion_copilot.inbetween", icon="KEYFRAME")
        layout.operator("motion_copilot.describe_motion", icon="TEXT")


class MOTIONCOPILOT_PT_pose(_Panel, bpy.types.Panel):
    bl_label = "Pose"
    bl_parent_id = "MOTIONCOPILOT_PT_main"

    def draw(self, context):
        layout, settings = self.layout, context.scene.motion_copilot
        layout.prop(settings, "pose_prompt", text="")
        layout.operator("motion_copilot.correct_pose", icon="POSE_HLT")
        layout.operator("motion_copilot.describe_pose", icon="TEXT")
        row = layout.row(align=True)
        row.prop(settings, "compare_frame")
        row.operator("motion_copilot.describe_change", text="Describe Change")
        text = context.window_manager.motion_copilot_job.last_text
        if text:
            layout.label(text=text, icon="INFO")


CLASSES = (MOTIONCOPILOT_PT_main, MOTIONCOPILOT_PT_generate, MOTIONCOPILOT_PT_pose)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)


def unregister() -> None:
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
