"""What an animator meets in a session, through the add-on's operators on the real bpy and the real
engine server (engine/server.py in a thread with a stand-in text_to_motion that reports progress like
a model would): the "Engine:" line follows every reply and every timeout, Check Connection answers
within 2 s with the engine stopped, the progress bar moves with plain-English status, a created SMPL
armature is selected with Auto mapping, each Generate draws a fresh seed unless it is locked, the
scene range fits the take, and an engine started from the panel stops with Blender.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest
from blender_fixtures import ROOT, bpy, empty_scene, installed_addon

pytestmark = pytest.mark.blender
CLIP = ROOT / "engine/assets/samples/dataset-2_walk_active_009.bvh"
PROGRESS_STEPS = 5


@pytest.fixture(scope="module")
def server():
    operations = pytest.importorskip("engine.operations")
    from engine import server as engine_server
    from engine.formats.canonical import load_motion

    walk = load_motion(CLIP).positions.astype(np.float32)  # (T, 22, 3) metres, Y up, 20 fps
    seeds: list[int] = []

    def text_to_motion(job):
        seeds.append(job.args["seed"])
        for step in range(PROGRESS_STEPS):  # a model's sampling loop, as the real ops report it
            time.sleep(0.15)
            job.progress((step + 1) / PROGRESS_STEPS, f"denoising step {step + 1} of {PROGRESS_STEPS}")
        frames = job.args.get("frames", 60)
        return {"frames": frames, "fps": 20.0}, {"positions": walk[:frames]}

    table = {
        "text_to_motion": operations.Operation(operations.single(text_to_motion), False),
        "retarget": operations.Operation(operations.single(operations.retarget), False),
    }
    srv = engine_server.EngineServer(engine_server.ServerConfig(bind="tcp://127.0.0.1:*"), table, {"name": "test"})
    ready = threading.Event()
    thread = threading.Thread(target=srv.serve_forever, args=(ready,), daemon=True)
    thread.start()
    assert ready.wait(10)
    yield srv.endpoint, seeds
    srv.stop()
    thread.join(5)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _scene(address: str, timeout: float = 20.0):
    name, _ = installed_addon()
    scene = empty_scene(24)
    prefs = bpy.context.preferences.addons[name].preferences
    prefs.engine_address, prefs.timeout_seconds = address, timeout
    return scene


def _operator_module():
    return sys.modules[f"{installed_addon()[0]}.operators"]


def test_check_connection_answers_within_two_seconds_and_the_engine_line_follows_replies(server):
    _scene(f"tcp://127.0.0.1:{_free_port()}", timeout=30.0)  # nobody listens there
    state = bpy.context.window_manager.motion_copilot_job
    start = time.monotonic()
    with pytest.raises(RuntimeError, match="No answer .* for 1.5 s"):
        bpy.ops.motion_copilot.ping(wait=True)
    elapsed = time.monotonic() - start
    print(f"Check Connection against a stopped engine: {elapsed:.2f} s (job timeout 30 s)")
    assert elapsed < 2.0 and state.connection == "not reachable"

    _scene(server[0])  # (a new file: a new window manager)
    state = bpy.context.window_manager.motion_copilot_job
    assert bpy.ops.motion_copilot.ping(wait=True) == {"FINISHED"}
    assert state.connection == "connected"

    # A job that times out turns "connected" into "not reachable" (no ping needed).
    name, _ = installed_addon()
    prefs = bpy.context.preferences.addons[name].preferences
    prefs.engine_address, prefs.timeout_seconds = f"tcp://127.0.0.1:{_free_port()}", 0.5
    bpy.ops.motion_copilot.create_smpl_armature()
    with pytest.raises(RuntimeError, match="No answer"):
        bpy.ops.motion_copilot.generate(wait=True)
    assert state.connection == "not reachable"


def test_progress_bar_moves_with_plain_english_status(server):
    scene = _scene(server[0])
    bpy.ops.motion_copilot.create_smpl_armature()
    scene.motion_copilot.length_seconds = 1.0
    tasks = sys.modules[f"{installed_addon()[0]}.tasks"]
    state = bpy.context.window_manager.motion_copilot_job
    assert bpy.ops.motion_copilot.generate() == {"FINISHED"}  # started, not waited for
    (task,) = tasks.RUNNER.tasks
    seen: list[tuple[float, str]] = []
    deadline = time.monotonic() + 20
    while not task.done and time.monotonic() < deadline:
        tasks.RUNNER.tick(bpy.context)
        seen.append((state.progress, state.status))
        time.sleep(0.02)
    assert task.state == "ok", task.message
    fractions = sorted({p for p, s in seen if s.startswith("Generating motion")})
    statuses = [s for _, s in seen]
    print("status lines:", sorted(set(statuses)))
    assert len(fractions) >= 3 and fractions[-1] >= 0.8  # it moves (the last one may come with the answer)
    assert "Generating motion\u2026 40%" in statuses and all(len(s) < 40 for s in statuses)
    assert not any("denoising" in s for s in statuses)  # the engine's own wording stays out
    assert state.running == 0 and state.status == ""


def test_created_armature_is_selected_with_auto_mapping_and_a_fresh_seed_per_generate(server):
    scene = _scene(server[0])
    settings = scene.motion_copilot
    settings.mapping_preset = "MIXAMO"  # left over from another rig
    assert bpy.ops.motion_copilot.create_smpl_armature() == {"FINISHED"}
    obj = bpy.context.active_object
    assert obj.select_get() and settings.target is None and settings.mapping_preset == "AUTO"

    settings.prompt, settings.length_seconds, settings.lock_seed = "walk forward", 4.8, False
    scene.frame_set(1)
    assert (scene.frame_start, scene.frame_end) == (1, 250)
    takes = []
    for _ in range(2):
        assert bpy.ops.motion_copilot.generate(wait=True) == {"FINISHED"}  # Auto detects SMPL names
        takes.append(obj.animation_data.action)
    seeds = [a["seed"] for a in takes]
    assert seeds[0] != seeds[1] and seeds == server[1][-2:] and settings.seed == seeds[1]
    assert takes[1]["prompt"] == "walk forward" and takes[1]["previous_action"] == takes[0].name
    # 4.8 s = 96 engine frames at 24 fps from frame 1: the scene range is the take's.
    assert (scene.frame_start, scene.frame_end) == (1, round(1 + 95 * 1.2))

    settings.lock_seed, settings.fit_scene_range = True, False
    scene.frame_end = 250
    assert bpy.ops.motion_copilot.generate(wait=True) == {"FINISHED"}
    assert obj.animation_data.action["seed"] == seeds[1] == server[1][-1] and scene.frame_end == 250


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie has exited; only its parent has not reaped it
        return f.read().split(") ", 1)[1][0] != "Z"


def test_engine_started_from_the_panel_stops_when_blender_quits(tmp_path):
    """A separate Python with bpy: enable the add-on, press Start (the real engine starts), quit;
    the engine must be gone (atexit), not left holding its port."""
    address = f"tcp://127.0.0.1:{_free_port()}"
    script = tmp_path / "session.py"
    script.write_text(
        textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT / "tests")!r})
        from blender_fixtures import bpy, installed_addon
        name, _ = installed_addon()
        prefs = bpy.context.preferences.addons[name].preferences
        prefs.engine_address, prefs.engine_python = {address!r}, {sys.executable!r}
        bpy.ops.motion_copilot.start_engine()
        ops = sys.modules[name + ".operators"]
        engine = ops.local_engine()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                bpy.ops.motion_copilot.ping(wait=True)
                break
            except RuntimeError:
                assert engine.poll() is None, "the engine exited"
        print("ENGINE", engine.pid, bpy.context.window_manager.motion_copilot_job.connection, flush=True)
        """)
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, str(script)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    line = next((x for x in out.stdout.splitlines() if x.startswith("ENGINE")), None)
    assert line is not None, out.stdout[-2000:] + out.stderr[-2000:]
    _, pid, connection = line.split()
    assert connection == "connected"  # it was the panel's engine that answered
    deadline = time.monotonic() + 5
    while _alive(int(pid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(int(pid)), "the engine the panel started outlived Blender"
