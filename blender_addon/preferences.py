"""Add-on preferences: where the engine is, how long to wait, how to start a local one."""

from __future__ import annotations

import bpy

DEFAULT_ADDRESS = "tcp://127.0.0.1:5555"  # the engine's default ROUTER endpoint (DESIGN.md, wire protocol)


class MOTIONCOPILOT_AP_preferences(bpy.types.AddonPreferences):
    # The extension is imported as bl_ext.<repo>.motion_copilot: never hard-code that name.
    bl_idname = __package__

    engine_address: bpy.props.StringProperty(
        name="Engine address",
        default=DEFAULT_ADDRESS,
        description="ZeroMQ endpoint of the Motion Copilot engine (tcp://host:port)",
    )
    timeout_seconds: bpy.props.FloatProperty(
        name="Timeout (s)",
        default=30.0,
        min=0.5,
        max=3600.0,
        description="Give up on a request when the engine has shown no sign of life (reply or progress) for this long",
    )
    engine_python: bpy.props.StringProperty(
        name="Engine Python",
        subtype="FILE_PATH",
        default="",
        description="Python interpreter of the environment where the engine is installed "
        "(used by 'Start local engine'); empty = start nothing",
    )
    model_bundle: bpy.props.StringProperty(
        name="Model bundle",
        subtype="DIR_PATH",
        default="",
        description="Model bundle directory passed to the local engine; empty = the engine's default bundle",
    )

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        layout.prop(self, "engine_address")
        layout.prop(self, "timeout_seconds")
        box = layout.box()
        box.label(text="Start local engine")
        box.prop(self, "engine_python")
        box.prop(self, "model_bundle")


def get_preferences(context: bpy.types.Context) -> MOTIONCOPILOT_AP_preferences | None:
    """This add-on's preferences, or None when the package is imported without being enabled."""
    addon = context.preferences.addons.get(__package__)
    return addon.preferences if addon is not None else None


def engine_settings(context: bpy.types.Context) -> tuple[str, float]:
    """(address, timeout in seconds), falling back to the defaults outside an enabled add-on."""
    prefs = get_preferences(context)
    if prefs is None:
        return DEFAULT_ADDRESS, 30.0
    return prefs.engine_address, prefs.timeout_seconds


def local_engine_command(context: bpy.types.Context) -> list[str] | None:
    """argv that starts the engine locally, or None when no engine Python is configured."""
    prefs = get_preferences(context)
    if prefs is None or not prefs.engine_python:
        return None
    command = [bpy.path.abspath(prefs.engine_python), "-m", "engine.cli", "serve", "--bind", prefs.engine_address]
    if prefs.model_bundle:
        command += ["--bundle", bpy.path.abspath(prefs.model_bundle)]
    return command


def register() -> None:
    bpy.utils.register_class(MOTIONCOPILOT_AP_preferences)


def unregister() -> None:
    bpy.utils.unregister_class(MOTIONCOPILOT_AP_preferences)
