"""Every model operator end to end through the add-on: the engine's real server (engine/server.py)
runs in a thread with its real retargeting and describers, and with stand-in MODEL handlers that
answer with real mocap (a Bandai sample clip), in the reply shapes of the real ops (docs/model_ops.md):
predict and inbetween answer ONLY the new frames, in the rig's own frame. What is checked is the
add-on's side: requests it builds, the reply handling, and what lands in the scene. The same paths
with the real model ops (a tiny untrained bundle) are in tests/test_addon_models.py.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from blender_fixtures import NAME_TABLE, ROOT, bpy, empty_scene, fcurves_of, installed_addon, limb_bones, make_armature

pytestmark = pytest.mark.blender
CLIP = ROOT / "engine/assets/samples/dataset-2_walk_active_009.bvh"


@pytest.fixture(scope="module")
def server():
    operations = pytest.importorskip("engine.operations")
    from engine import server as engine_server
    from engine.formats.canonical import load_motion

    walk = load_motion(CLIP).positions.astype(np.float32)  # (T, 22, 3) metres, Y up, 20 fps
    seen: list = []

    def text_to_motion(job):
        seen.append((job.op, dict(job.args)))
        frames = job.args.get("frames", 60)
        return {"frames": frames, "fps": 20.0}, {"positions": walk[:frames]}

    def predict(job):
        seen.append((job.op, dict(job.args), job.arrays["motion"].shape))
        frames = job.args["frames"]
        return {"frames": frames, "fps": 20.0}, {
            "positions": walk[1 : frames + 1] - walk[0, :1] + job.arrays["motion"][-1:, :1]
        }

    def inbetween(job):
        seen.append((job.op, dict(job.args)))
        w = np.linspace(0, 1, job.args["frames"] + 2)[1:-1, None, None]  # strictly between the two poses
        positions = ((1 - w) * job.arrays["start"][-1] + w * job.arrays["end"][0]).astype(np.float32)
        return {"frames": len(positions), "fps": 20.0}, {"positions": positions}

    def edit_pose(job):
        seen.append((job.op, dict(job.args)))
        if job.args["text"] == "keep the pose":  # what the editor does with no change: pose A
            from engine.describe.joints import normalise  # turned to face +Z, at the origin

            pose = normalise(np.asarray(job.arrays["pose"], np.float64)[None])[0].astype(np.float32)
        else:
            pose = walk[30]
        # The real op's reply schema (engine/protocol_ops.py): pose and SMPL local quats, float32.
        return {"sampled": False}, {"pose": pose, "quats": np.tile(np.float32([1, 0, 0, 0]), (22, 1))}

    def motion_to_text(job):
        seen.append((job.op, job.arrays["motion"].shape))
        return {"text": "a person walks forward"}, {}

    table = {
        op: operations.Operation(operations.single(fn), False)
        for op, fn in (
            ("text_to_motion", text_to_motion),
            ("predict", predict),
            ("inbetween", inbetween),
            ("edit_pose", edit_pose),
            ("motion_to_text", motion_to_text),
            ("retarget", operations.retarget),
            ("rig_to_canonical", operations.rig_to_canonical),
        )
    }
    table["describe_pose"] = operations.Operation(operations.describe_pose, True)  # batch handler
    config = engine_server.ServerConfig(bind="tcp://127.0.0.1:*")
    srv = engine_server.EngineServer(config, table, {"name": "test"})
    ready = threading.Event()
    thread = threading.Thread(target=srv.serve_forever, args=(ready,), daemon=True)
    thread.start()
    assert ready.wait(10)
    yield srv.endpoint, seen
    srv.stop()
    thread.join(5)


@pytest.fixture
def rig(server):
    name, _ = installed_addon()
    scene = empty_scene(30)
    prefs = bpy.context.preferences.addons[name].preferences
    prefs.engine_address, prefs.timeout_seconds = server[0], 20.0
    rows = limb_bones([row[1] for row in NAME_TABLE], scale=100.0)
    hand = next(r for r in rows if r[0] == "mixamorig:LeftHand")
    finger_tail = tuple(np.array(hand[3]) + (8.0, 0.0, 0.0))
    rows.append(("mixamorig:LeftHandIndex1", hand[0], hand[3], finger_tail, 0.0))  # unmapped by SMPL
    obj = make_armature("Mixamo", rows)
    obj.scale = (0.01, 0.01, 0.01)
    scene.motion_copilot.mapping_preset = "MIXAMO"
    scene.frame_set(5)
    return scene, obj


def test_generate_variations_and_nla(rig, server):
    scene, obj = rig
    settings = scene.motion_copilot
    settings.prompt, settings.length_seconds, settings.seed, settings.variations = "walk forward", 3.0, 7, 2
    settings.lock_seed = True  # the animator's own seed
    assert bpy.ops.motion_copilot.generate(wait=True) == {"FINISHED"}
    t2m = [args for op, args, *_ in server[1] if op == "text_to_motion"][-2:]
    assert [a["seed"] for a in t2m] == [7, 8] and all(a["frames"] == 60 for a in t2m)
    assert sorted(a.name for a in bpy.data.actions) == ["MC_walk_forward", "MC_walk_forward_001"]
    action = obj.animation_data.action
    assert action.name == "MC_walk_forward_001" and action["prompt"] == "walk forward"
    assert action.frame_range[0] == pytest.approx(5) and action.frame_range[1] == pytest.approx(5 + 59 * 1.5)
    curves = fcurves_of(obj)
    assert len(curves) == 23 * 4 + 3 and all(len(fc.keyframe_points) == 60 for fc in curves)
    # The engine moved the hips forward over 3 s of walking; the rig follows in world space.
    scene.frame_set(5)
    start = obj.matrix_world @ obj.pose.bones["mixamorig:Hips"].head
    scene.frame_set(int(5 + 59 * 1.5))
    end = obj.matrix_world @ obj.pose.bones["mixamorig:Hips"].head
    assert (end - start).length > 1.0 and abs(start.z - 0.92) < 0.1

    settings.push_to_nla, settings.variations = True, 1
    assert bpy.ops.motion_copilot.generate(wait=True) == {"FINISHED"}
    assert obj.animation_data.action == action  # NLA push keeps the assignment
    strips = [s for t in obj.animation_data.nla_tracks for s in t.strips]
    assert [s.action.name for s in strips] == ["MC_walk_forward_002"]


def test_continue_inbetween_describe_and_correct_pose(rig, server):
    scene, obj = rig
    settings = scene.motion_copilot
    settings.prompt, settings.length_seconds, settings.variations = "walk", 2.0, 1
    bpy.ops.motion_copilot.generate(wait=True)
    first = obj.animation_data.action

    settings.continue_seconds = 1.0
    assert bpy.ops.motion_copilot.continue_motion(wait=True) == {"FINISHED"}
    op, args, history_shape = [s for s in server[1] if s[0] == "predict"][-1]
    assert args["frames"] == 20 and history_shape[1:] == (22, 3) and history_shape[0] >= 20
    cont = obj.animation_data.action
    # A new action: the take, then 20 frames from one engine frame (1.5 scene frames at 30 fps)
    # after its last key: never over it.
    assert cont != first and tuple(cont.frame_range) == pytest.approx((5, first.frame_range[1] + 20 * 1.5))
    assert (scene.frame_start, scene.frame_end) == (5, round(cont.frame_range[1]))  # fitted to the take
    frames = sorted({kp.co[0] for fc in fcurves_of(obj) for kp in fc.keyframe_points})
    assert frames[39] == pytest.approx(first.frame_range[1]) and frames[40] == pytest.approx(frames[39] + 1.5)

    settings.inbetween_start, settings.inbetween_end = 5, 35
    assert bpy.ops.motion_copilot.inbetween(wait=True) == {"FINISHED"}
    # 30 frames at 30 fps = 20 engine steps: the 19 frames strictly between 5 and 35, in a copy
    # of the continued take whose keys at and outside 5 and 35 stay.
    assert [s for s in server[1] if s[0] == "inbetween"][-1][1]["frames"] == 19
    filled = obj.animation_data.action
    assert filled["previous_action"] == cont.name and tuple(filled.frame_range) == pytest.approx(cont.frame_range)
    frames = sorted({kp.co[0] for fc in fcurves_of(obj) for kp in fc.keyframe_points})
    inside = [f for f in frames if 5 < f < 35]
    assert len(inside) == 19 and inside[0] == pytest.approx(6.5) and inside[-1] == pytest.approx(33.5)

    assert bpy.ops.motion_copilot.describe_motion(wait=True) == {"FINISHED"}
    assert bpy.context.window_manager.motion_copilot_job.last_text == "a person walks forward"

    assert bpy.ops.motion_copilot.describe_pose(wait=True) == {"FINISHED"}
    assert len(bpy.context.window_manager.motion_copilot_job.last_text.split()) > 3

    action = obj.animation_data.action
    n_actions = len(bpy.data.actions)
    scene.frame_set(12)
    assert bpy.ops.motion_copilot.correct_pose(wait=True) == {"FINISHED"}
    assert len(bpy.data.actions) == n_actions and obj.animation_data.action == action  # edited in place
    keyed = {kp.co[0] for fc in fcurves_of(obj) if "rotation_quaternion" in fc.data_path for kp in fc.keyframe_points}
    assert 12.0 in keyed
    finger = [fc for fc in fcurves_of(obj) if "LeftHandIndex1" in fc.data_path]
    assert all(12.0 not in {kp.co[0] for kp in fc.keyframe_points} for fc in finger)  # hands left alone


def test_correcting_a_walked_and_turned_pose_keys_it_where_it_stood(rig, server):
    """The round trip of a pose edit: rig -> rig_to_canonical -> editor (answers at the origin,
    facing +Z) -> retarget with the placement -> keys. An edit that changes nothing leaves every
    mapped joint where it was, though the character has walked away from the origin and turned."""
    scene, obj = rig
    obj.rotation_euler = (0.0, 0.0, 0.9)  # the whole rig turned in the scene as well
    settings = scene.motion_copilot
    settings.prompt, settings.length_seconds, settings.variations = "walk", 3.0, 1
    assert bpy.ops.motion_copilot.generate(wait=True) == {"FINISHED"}
    scene.frame_set(60)
    names = [row[1] for row in NAME_TABLE]
    before = np.array([tuple(obj.matrix_world @ obj.pose.bones[n].head) for n in names])
    assert np.linalg.norm(before[0, :2] - tuple(obj.matrix_world.translation)[:2]) > 1.0  # walked away
    settings.pose_prompt = "keep the pose"
    assert bpy.ops.motion_copilot.correct_pose(wait=True) == {"FINISHED"}
    scene.frame_set(60)
    after = np.array([tuple(obj.matrix_world @ obj.pose.bones[n].head) for n in names])
    err = np.linalg.norm(after - before, axis=-1)
    print(f"identity pose edit: max joint displacement {err.max() * 1000:.2f} mm")
    assert err.max() < 0.005, err.max()
