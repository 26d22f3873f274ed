"""The `rig_to_canonical` op (a rig's pose -> canonical positions) and `retarget`'s placement,
through a real `motion-engine serve` process and the real client.

Run: pytest -q tests/test_rig_pose_op.py   (one engine process, ~15 s)
"""

from __future__ import annotations

import numpy as np
import pytest
from engine_process import EngineProcess
from retarget_rigs import RIGS, aimed_pairs, blender_pose_heads, random_motion, unit

from engine import operations, rig_ops
from engine.client import EngineClient, RemoteError
from engine.describe.joints import heading_angle, normalise
from engine.motion.skeleton import JOINT_NAMES, default_rest_positions
from engine.rig.placement import placement_of

BODY_RIGS = ("smpl", "mixamo", "rigify", "bandai")


@pytest.fixture(scope="module")
def client():
    with EngineProcess("--no-bundle") as process, EngineClient(process.endpoint, timeout=30) as client:
        yield client


def _rig_wire(rig_name: str) -> tuple[object, dict, dict]:
    rig = RIGS[rig_name]()
    header, arrays = rig.to_wire()
    return rig, header, arrays


def _retarget(client, header, arrays, positions, **args):
    reply = client.request(
        "retarget", {"rig": header, **args}, {"positions": np.asarray(positions, np.float32), **arrays}
    )
    return reply.arrays["rotations"], reply.arrays["root_location"], reply.result


def _read(client, header, arrays, quats, root, **args):
    reply = client.request(
        "rig_to_canonical", {"rig": header, **args}, {"local_quats": quats, "root_location": root, **arrays}
    )
    return reply.arrays["positions"], reply.result


@pytest.mark.parametrize("rig_name", BODY_RIGS)
def test_a_retargeted_motion_reads_back_with_the_same_bone_directions(client, rig_name):
    rig, header, arrays = _rig_wire(rig_name)
    motion = random_motion(seed=3)
    rotations, root, meta = _retarget(client, header, arrays, motion)
    back, result = _read(client, header, arrays, rotations.astype(np.float32), root)
    assert back.dtype == np.float32 and back.shape == motion.shape
    assert result["root_bone"] == meta["root_bone"] == result["location_bone"]
    for j, a, _, _ in aimed_pairs(rig):  # bones with one mapped child: their direction is exact
        cos = np.einsum("tc,tc->t", unit(back[:, a] - back[:, j]), unit(motion[:, a] - motion[:, j]))
        assert cos.min() > 0.999, (rig_name, JOINT_NAMES[j], cos.min())
    # The rig's own size and place: scale 1 on the way back, the path the rig walked.
    pelvis_path = back[-1, 0, [0, 2]] - back[0, 0, [0, 2]]
    np.testing.assert_allclose(pelvis_path, meta["scale"] * (motion[-1, 0, [0, 2]] - motion[0, 0, [0, 2]]), atol=0.02)
    placement = result["placement"]
    assert placement["yaw"] == pytest.approx(float(heading_angle(back[:1].astype(np.float64))[0]), abs=1e-5)
    np.testing.assert_allclose(placement["offset"], [back[0, 0, 0], back[0, :, 1].min(), back[0, 0, 2]], atol=1e-5)


@pytest.mark.parametrize("rig_name", ("rigify", "mixamo"))
def test_pose_edit_round_trip_lands_at_the_same_place_and_heading(client, rig_name):
    """Read a turned, moved pose; canonicalise it as the pose editor does; retarget it with the
    placement: the same pose comes back where it was. A pose of other proportions (the editor's
    default skeleton) lands with its pelvis at the same spot and the same heading."""
    rig, header, arrays = _rig_wire(rig_name)
    motion = random_motion(num_frames=60, seed=5)
    rotations, root, _ = _retarget(client, header, arrays, motion)
    frame = 50  # the root has turned about 2 rad and walked about 3 m by now
    pose, result = _read(client, header, arrays, rotations[frame : frame + 1], root[frame : frame + 1])
    placement = result["placement"]
    assert abs(placement["yaw"]) > 0.5 and np.hypot(placement["offset"][0], placement["offset"][2]) > 1.0

    canonical = normalise(pose.astype(np.float64))  # facing +Z, pelvis over the origin, on the floor
    keys, track, _ = _retarget(client, header, arrays, canonical, placement=placement)
    again, _ = _read(client, header, arrays, keys, track)
    assert np.abs(again - pose).max() < 1e-3  # metres

    other = normalise(default_rest_positions()[None])  # T-pose of another skeleton, facing +Z
    keys, track, _ = _retarget(client, header, arrays, other, placement=placement)
    placed, result = _read(client, header, arrays, keys, track)
    np.testing.assert_allclose(placed[0, 0, [0, 2]], np.array(placement["offset"])[[0, 2]], atol=0.01)
    assert result["placement"]["yaw"] == pytest.approx(placement["yaw"], abs=0.02)
    assert placed[0, :, 1].min() == pytest.approx(placement["offset"][1], abs=0.01)


def test_location_bone_reads_the_rigify_root_and_single_poses(client):
    rig, header, arrays = _rig_wire("rigify")
    rotations, root, meta = _retarget(client, header, arrays, random_motion(num_frames=4, seed=1))
    quats = rotations[2:3]
    still, _ = _read(client, header, arrays, quats, np.zeros((1, 3)))
    shift = np.array([[0.5, 0.0, 0.2]])  # pose_bones["root"].location, in that bone's rest axes
    moved, result = _read(client, header, arrays, quats, shift, location_bone="root")
    assert result["location_bone"] == "root" and result["root_bone"] == meta["root_bone"] == "DEF-spine"
    # "root" is unposed, so the whole body moves by its rest axes times the location.
    expected = (rig.rest_rotations[rig.index("root")] @ shift[0]) @ rig.canonical_to_armature * rig.metres_per_unit
    np.testing.assert_allclose(moved - still, np.broadcast_to(expected, still.shape), atol=1e-5)
    reply = client.request("rig_to_canonical", {"rig": header}, {"local_quats": quats, **arrays})
    np.testing.assert_allclose(reply.arrays["positions"], still, atol=1e-6)  # no root track = zero


@pytest.mark.parametrize("rig_name", ("rigify", "bandai"))
def test_pose_heads_read_like_the_keys_that_made_them(client, rig_name):
    """Blender's evaluated bone heads (here by the independent Blender-rule oracle) give the
    same canonical positions as the keys: what the add-on sends, constraints included."""
    rig, header, arrays = _rig_wire(rig_name)
    rotations, root, meta = _retarget(client, header, arrays, random_motion(num_frames=12, seed=9))
    from_keys, _ = _read(client, header, arrays, rotations, root)
    heads = blender_pose_heads(rig, rotations, meta["root_bone"], root).astype(np.float32)
    reply = client.request("rig_to_canonical", {"rig": header}, {"pose_heads": heads, **arrays})
    np.testing.assert_allclose(reply.arrays["positions"], from_keys, atol=1e-5)
    assert reply.result["root_bone"] == meta["root_bone"] and reply.result["location_bone"] is None
    assert reply.result["placement"]["yaw"] == pytest.approx(placement_of(from_keys)["yaw"], abs=1e-5)
    np.testing.assert_allclose(reply.result["placement"]["offset"], placement_of(from_keys)["offset"], atol=1e-5)


def _error(client, args, arrays, op="rig_to_canonical") -> RemoteError:
    with pytest.raises(RemoteError) as caught:
        client.request(op, args, arrays)
    assert len(caught.value.message) > 30, caught.value.message  # a sentence, not a bare code
    return caught.value


def test_malformed_requests_get_error_replies(client):
    rig, header, arrays = _rig_wire("bandai")
    n = rig.num_bones
    quats = np.tile(np.array([1.0, 0.0, 0.0, 0.0], np.float32), (3, n, 1))
    ok = {"local_quats": quats, **arrays}
    cases = [  # (args, arrays, code, words in the message)
        ({"rig": header}, {**ok, "local_quats": quats[:, :-1]}, "bad_input", "bones"),
        ({"rig": header}, {**ok, "root_location": np.zeros((2, 3))}, "bad_input", "frames"),
        ({"rig": header}, {**ok, "local_quats": np.zeros_like(quats)}, "bad_input", "unit"),
        ({"rig": header, "location_bone": "Tail"}, ok, "bad_input", "Tail"),
        ({"rig": header}, {**ok, "local_quats": np.full_like(quats, np.nan)}, "bad_array", "NaN"),
        ({"rig": header}, {**ok, "local_quats": quats[..., :3]}, "bad_array", "shape"),
        ({"rig": header}, {"local_quats": quats}, "bad_array", "rest_matrices"),
        ({}, ok, "bad_args", "rig"),
        ({"rig": header, "frames": 3}, ok, "bad_args", "unknown"),
        ({"rig": {**header, "names": header["names"][:-1]}}, ok, "bad_input", "parents"),
        ({"rig": header, "preset": "rigify"}, ok, "bad_input", "rigify"),
        ({"rig": header}, {**arrays}, "bad_input", "exactly one"),
        ({"rig": header}, {**ok, "pose_heads": np.zeros((3, n, 3))}, "bad_input", "exactly one"),
        ({"rig": header}, {**arrays, "pose_heads": np.zeros((3, n + 1, 3))}, "bad_input", "bones"),
        (
            {"rig": header},
            {**arrays, "pose_heads": np.zeros((3, n, 3)), "root_location": np.zeros((3, 3))},
            "bad_input",
            "local_quats",
        ),
    ]
    for args, arrays_, code, words in cases:
        error = _error(client, args, arrays_)
        assert error.code == code and words.lower() in error.message.lower(), (args.keys(), error.message)
    pose = np.repeat(default_rest_positions()[None], 2, axis=0)
    for placement in (
        {"yaw": 1.0},
        {"yaw": "left", "offset": [0, 0, 0]},
        {"yaw": 0.0, "offset": [0, 0]},
        {"yaw": 0.0, "offset": [1e9, 0, 0]},
    ):
        error = _error(client, {"rig": header, "placement": placement}, {"positions": pose, **arrays}, "retarget")
        assert error.code == "bad_input" and "placement" in error.message
    assert client.request("ping").result["pong"] is True  # the server stays up


def test_long_tracks_are_read_in_chunks_with_progress(monkeypatch):
    """In-process: FK runs over chunks of frames (bounded memory), with the same result."""
    rig, header, arrays = _rig_wire("mixamo")
    from engine.rig.retarget import retarget

    anim = retarget(random_motion(num_frames=30, seed=7), rig)
    job_arrays = {"local_quats": anim.rotations, "root_location": anim.root_location, **arrays}
    whole = operations.rig_to_canonical(operations.Job(b"", "a", "rig_to_canonical", {"rig": header}, job_arrays))
    monkeypatch.setattr(rig_ops, "FK_BONE_FRAMES", 7 * rig.num_bones)
    seen = []
    job = operations.Job(
        b"",
        "b",
        "rig_to_canonical",
        {"rig": header},
        job_arrays,
        progress_sink=lambda job, fraction, message: seen.append(fraction),
    )
    chunked = operations.rig_to_canonical(job)
    np.testing.assert_array_equal(chunked[1]["positions"], whole[1]["positions"])
    assert chunked[0] == whole[0] and seen == pytest.approx([7 / 30, 14 / 30, 21 / 30, 28 / 30, 1.0])
    assert whole[0]["placement"] == placement_of(whole[1]["positions"])
