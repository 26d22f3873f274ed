"""The "Motion Copilot" tab in the 3D View sidebar (N panel): rig, generate, pose, progress.

Messages (errors, descriptions, long progress status) are wrapped over as many label lines as the
sidebar's width needs: a single `layout.label` is clipped in the middle with an ellipsis, which
cut engine errors to "Generate failed: ri...re optional). Joints".
"""

from __future__ import annotations

from collections.abc import Callable

import blf
import bpy

from .operators import target_armature

CATEGORY = "Motion Copilot"
UNIT_PX = 20  # Blender's widget unit (UI_UNIT_X) at UI scale 1.0, in pixels
# Label width lost to the panel's side padding (style.panelspace, 8 px a side), the text margin
# inside a label (UI_TEXT_MARGIN_X, 0.4 units a side), the icon column (1 unit) and the region's
# scroll bar, in widget units: an estimate from Blender's layout constants with slack for sub-panels
# and themes (not measured in a windowed Blender), erring towards wrapping early over clipping.
LABEL_MARGIN_UNITS = 4.0
FALLBACK_REGION_PX = 300  # the sidebar's default width, for drawing without a region (scripts, tests)
UI_FONT_ID = 0  # blf's id of Blender's default UI font


def ui_scale(context: bpy.types.Context) -> float:
    """The resolution scale UI widgets are drawn with (0 in background mode, so fall back)."""
    prefs = context.preferences
    return prefs.system.ui_scale or prefs.view.ui_scale or 1.0


def text_measure(font_px: float) -> Callable[[str], float]:
    """Width in pixels of a string in the UI font at font_px, via blf; a 0.6 em per character
    estimate where blf cannot measure (it has no font)."""
    try:
        blf.size(UI_FONT_ID, font_px)
        if blf.dimensions(UI_FONT_ID, "Wm")[0] > 0:
            return lambda text: blf.dimensions(UI_FONT_ID, text)[0]
    except Exception:  # noqa: BLE001 - any blf failure falls back to the estimate, never breaks drawing
        pass
    return lambda text: 0.6 * font_px * len(text)


def wrap_text(text: str, max_px: float, measure: Callable[[str], float]) -> list[str]:
    """Greedy word wrap of text into lines no wider than max_px (measure gives pixels).

    Line breaks in text are kept; a word wider than a line (a path, a JSON blob) is cut by
    characters. Joining the lines with spaces gives back the words of text in order."""
    lines: list[str] = []
    for paragraph in text.splitlines():
        line = ""
        for word in paragraph.split():
            candidate = f"{line} {word}" if line else word
            if measure(candidate) <= max_px:
                line = candidate
                continue
            if line:
                lines.append(line)
            while len(word) > 1 and measure(word) > max_px:
                cut = max(1, next((n for n in range(len(word) - 1, 0, -1) if measure(word[:n]) <= max_px), 1))
                lines.append(word[:cut])
                word = word[cut:]
            line = word
        if line:
            lines.append(line)
    return lines


def message_lines(text: str, region_width_px: float | None, scale: float = 1.0, font_points: float = 11.0) -> list[str]:
    """text wrapped for a sidebar label region_width_px wide (None: the default sidebar width)."""
    width = region_width_px or FALLBACK_REGION_PX * scale
    max_px = max(width - LABEL_MARGIN_UNITS * UNIT_PX * scale, 4 * UNIT_PX * scale)
    return wrap_text(text, max_px, text_measure(font_points * scale))


def draw_message(layout: bpy.types.UILayout, context: bpy.types.Context, text: str, icon: str = "NONE") -> None:
    """Labels for text, one per wrapped line; the icon on the first, later lines indented alike."""
    region = context.region
    scale = ui_scale(context)
    points = context.preferences.ui_styles[0].widget.points
    col = layout.column(align=True)
    for i, line in enumerate(message_lines(text, region.width if region else None, scale, points)):
        col.label(text=line, icon=icon if i == 0 else ("BLANK1" if icon != "NONE" else "NONE"))


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
            status = state.status or "Working..."
            region = context.region
            if len(message_lines(status, region.width if region else None, ui_scale(context))) > 1:
                draw_message(box, context, status)
                status = f"{round(100 * state.progress)}%"
            box.progress(factor=state.progress, type="BAR", text=status)
            box.operator("motion_copilot.cancel", icon="CANCEL")
        if state.last_error:
            draw_message(layout, context, state.last_error, icon="ERROR")


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
        row.prop(settings, "lock_seed", text="", icon="LOCKED" if settings.lock_seed else "UNLOCKED")
        row.prop(settings, "variations")
        row = layout.row(align=True)
        row.prop(settings, "push_to_nla")
        row.prop(settings, "fit_scene_range")
        layout.prop(settings, "generate_anyway")
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
        row = layout.row(align=True)
        row.operator("motion_copilot.correct_pose", icon="POSE_HLT")
        row.prop(settings, "pose_blend_frames")
        layout.operator("motion_copilot.describe_pose", icon="TEXT")
        row = layout.row(align=True)
        row.prop(settings, "compare_frame")
        row.operator("motion_copilot.describe_change", text="Describe Change")
        text = context.window_manager.motion_copilot_job.last_text
        if text:
            draw_message(layout, context, text, icon="INFO")


CLASSES = (MOTIONCOPILOT_PT_main, MOTIONCOPILOT_PT_generate, MOTIONCOPILOT_PT_pose)


def register() -> None:
    for cls in CLASSES:
        bpy.utils.register_class(cls)


def unregister() -> None:
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
