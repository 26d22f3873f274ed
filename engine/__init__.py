"""Motion Copilot inference engine: canonical motion, models, descriptions, retargeting, server.

The engine never imports bpy; the Blender add-on talks to it over ZeroMQ (engine/protocol.py).
"""

__version__ = "0.1.0"
