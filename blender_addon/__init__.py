"""Motion Copilot: Blender add-on that animates the animator's own rig from text.

The add-on is thin: it reads and writes Blender data (rig_io.py), talks to the separate inference
engine over ZeroMQ (client.py) and draws a sidebar tab (panels.py). All maths and models live in the
engine, so this package needs only numpy (shipped with Blender) and pyzmq (bundled as wheels).
It ships as a Blender extension: imports are relative and the package name is never hard-coded,
because Blender imports it as `bl_ext.<repository>.motion_copilot`.

This file only registers classes; build the extension with `python scripts/build_extension.py`.
"""

from __future__ import annotations

# Submodules are imported inside register(): client.py and protocol.py stay importable (and
# testable) without bpy, and only the Blender-facing modules need it.


def _modules() -> tuple:
    from . import operators, panels, preferences, properties  # noqa: PLC0415 - they import bpy; client/protocol must not

    return (preferences, properties, operators, panels)


def register() -> None:
    for module in _modules():
        module.register()


def unregister() -> None:
    for module in reversed(_modules()):
        module.unregister()
