"""Every operation's reply, built by the REAL engine (`motion-engine serve` with a tiny untrained
bundle and the test ops), read on the add-on's side: decoded and checked against its reply schema
by the add-on's own copy of the protocol (blender_addon/protocol*.py). Plus the engine's placement
helpers behind `retarget` (in_place, previous_key), called as the server calls them.

Run: pytest -q tests/test_reply_schemas.py   (writes a tiny bundle and starts one engine, ~15 s)
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import zmq
from engine_process import EngineProcess
from retarget_rigs import mixamo_rig, random_motion, smpl_rig
from tiny_bundle import write_tiny_bundle

from engine import protocol as engine_protocol
from engine.errors import InputError
from engine.motion import skeleton
from engine.operations import Job, retarget
from engine.rig import placement

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from blender_addon import protocol as addon_protocol  # the add-on's copy, no bpy needed

POSE = skeleton.default_rest_positions().astype(np.float32)  # (22, 3) T-pose, metres
WALK = random_motion(12).astype(np.float32)  # (12, 22, 3) walking and turning


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    bundle = write_tiny_bundle(tmp_path_factory.mktemp("bundle"))
    with EngineProcess("--bundle", str(bundle), "--threads", "1", "--enable-test-ops") as process:
        yield process


@pytest.fixture(scope="module")
def ask(engine):
    """ask(op, args, arrays) -> the final reply, decoded by the add-on's protocol copy."""
    context = zmq.Context.instance()
    socket = context.socket(zmq.DEALER)
    socket.linger = 0
    socket.connect(engine.endpoint)

    def ask(op: str, args: dict | None = None, arrays: dict | None = None) -> addon_protocol.Message:
        request_id = addon_protocol.new_request_id()
        socket.send_multipart(addon_protocol.encode_request(op, args, arrays, request_id))
        while True:
            assert socket.poll(60_000), f"no reply to {op}"
            message = addon_protocol.decode_message(socket.recv_multipart())
            if message.id == request_id and message.status != "progress":
                assert message.status == "ok", message.error
                return message

    yield ask
    socket.close(linger=0)


def _rig(make=smpl_rig) -> tuple[dict, dict, int]:
    header, arrays = make().to_wire()
    return header, {"rest_matrices": arrays["rest_matrices"]}, len(header["names"])


REQUESTS = {
    "ping": ({}, {}),
    "info": ({}, {}),
    "cancel": ({"target": "nobody"}, {}),
    "text_to_motion": ({"text": "a person walks", "frames": 8, "seed": 1}, {}),
    "motion_to_text": ({}, {"motion": WALK}),
    "predict": ({"frames": 4, "seed": 1}, {"motion": WALK}),
    "inbetween": ({"frames": 3, "seed": 1}, {"start": WALK[:2], "end": WALK[-2:]}),
    "edit_pose": ({"text": "Raise your left arm.", "seed": 1}, {"pose": POSE}),
    "describe_pose": ({"deterministic": True}, {"pose": POSE}),
    "describe_change": ({"deterministic": True, "method": "model"}, {"pose_a": POSE, "pose_b": WALK[3]}),
    "sleep": ({"seconds": 0.01, "steps": 2}, {}),
    "synthetic_forward": ({"fixed_ms": 1.0}, {"x": np.ones(3, np.float32)}),
}


def test_every_operation_is_covered():
    assert set(REQUESTS) | {"retarget", "rig_to_canonical"} == set(addon_protocol.OPERATIONS)


@pytest.mark.parametrize("op", sorted(REQUESTS))
def test_engine_replies_match_their_schema_on_the_addon_side(ask, op):
    message = ask(op, *REQUESTS[op])
    spec = addon_protocol.validate_reply(message)
    assert {a.name for a in spec.reply if a.required} <= set(message.arrays)
    if op in ("text_to_motion", "predict", "inbetween"):  # the frames asked for, strictly new ones
        frames = REQUESTS[op][0]["frames"]
        assert message.arrays["positions"].shape == (frames, 22, 3) and message.result["frames"] == frames


def test_rig_ops_round_trip_with_bones_bound(ask):
    header, rig_arrays, bones = _rig()
    reply = ask("retarget", {"rig": header}, {"positions": WALK, **rig_arrays})
    addon_protocol.validate_reply(reply, {"N": bones, "T": len(WALK)})
    with pytest.raises(addon_protocol.ProtocolError, match="along N"):
        addon_protocol.validate_reply(reply, {"N": bones + 1})
    quats = np.array(reply.arrays["rotations"])
    for args, arrays in (
        (
            {"location_bone": reply.result["root_bone"]},
            {"local_quats": quats, "root_location": reply.arrays["root_location"]},
        ),
        ({}, {"pose_heads": np.zeros((2, bones, 3), np.float32)}),
    ):
        back = ask("rig_to_canonical", {"rig": header, **args}, {**arrays, **rig_arrays})
        spec = addon_protocol.validate_reply(back)
        assert spec.name == "rig_to_canonical" and back.arrays["positions"].dtype == np.float32
    # in_place and previous_key replies have the same schema.
    flipped = -quats[-1]
    reply = ask(
        "retarget",
        {"rig": header, "in_place": True},
        {"positions": WALK + np.float32([8, 0, 5]), "previous_key": flipped, **rig_arrays},
    )
    addon_protocol.validate_reply(reply, {"N": bones})
    assert (np.einsum("nc,nc->n", reply.arrays["rotations"][0], flipped) >= 0).all()


# ----------------------------------------------------------------------------- retarget's placement


def _retarget(args: dict, arrays: dict, make=smpl_rig) -> tuple[dict, dict]:
    header, rig_arrays, _ = _rig(make)
    return retarget(Job(b"test", "r", "retarget", {"rig": header, **args}, {**arrays, **rig_arrays}))


def test_in_place_keeps_a_motion_in_the_rigs_frame():
    """A predict answer 9 m from the origin stays where it is: moving the motion moves its root track
    by exactly that shift (in the root bone's axes and rig units), whereas without in_place the track
    moves by the shift times retarget's leg-length scale."""
    shift = np.array([8.0, 0.0, 4.0])
    far = WALK + shift.astype(np.float32)
    result, near_keys = _retarget({"in_place": True}, {"positions": WALK}, mixamo_rig)
    _, far_keys = _retarget({"in_place": True}, {"positions": far}, mixamo_rig)
    _, explicit = _retarget({"placement": placement.keep_place(far)}, {"positions": far}, mixamo_rig)
    np.testing.assert_allclose(far_keys["root_location"], explicit["root_location"])
    rig = mixamo_rig()
    moved = np.broadcast_to(placement.root_track_offset(rig, result["root_bone"], shift), (len(WALK), 3))
    np.testing.assert_allclose(far_keys["root_location"] - near_keys["root_location"], moved, atol=1e-4)
    np.testing.assert_allclose(far_keys["rotations"], near_keys["rotations"], atol=1e-5)
    _, plain_near = _retarget({}, {"positions": WALK}, mixamo_rig)
    _, plain_far = _retarget({}, {"positions": far}, mixamo_rig)
    assert abs(result["scale"] - 1.0) > 0.01  # the test rig's legs differ from the motion's
    np.testing.assert_allclose(
        plain_far["root_location"] - plain_near["root_location"], moved * result["scale"], atol=1e-4
    )


def test_in_place_and_placement_together_are_refused():
    with pytest.raises(InputError, match="either 'placement' or 'in_place'"):
        _retarget({"in_place": True, "placement": {"yaw": 0.0, "offset": [0, 0, 0]}}, {"positions": WALK})


def test_previous_key_sets_the_first_signs_and_keeps_continuity():
    _, plain = _retarget({}, {"positions": WALK})
    rotations = plain["rotations"]
    previous = rotations[0].copy()
    previous[::2] *= -1  # every other bone's key in the other hemisphere
    _, following = _retarget({}, {"positions": WALK, "previous_key": previous})
    got = following["rotations"]
    assert (np.einsum("nc,nc->n", got[0], previous) >= 0).all()
    assert (np.einsum("tnc,tnc->tn", got[1:], got[:-1]) >= 0).all()  # still continuous
    np.testing.assert_allclose(np.abs(got), np.abs(rotations))  # same rotations, signs only
    with pytest.raises(InputError, match="'previous_key' has 3 bones"):
        _retarget({}, {"positions": WALK, "previous_key": previous[:3]})


def test_the_engine_protocol_and_the_addon_copy_agree_on_every_schema():
    assert repr(engine_protocol.OPERATIONS) == repr(addon_protocol.OPERATIONS)
