"""The engine through its real server process on loopback, driven by the real client.

Every test here shares one `motion-engine serve --no-bundle --enable-test-ops` process: requests,
errors, progress, cancel, batching. Engines started per test (restart, CURVE, proxy, a bundle) are
tests/test_server_lifecycle.py; the scheduler and the bundle manifest, without a process,
tests/test_server_units.py.
Run: pytest -q tests/test_server.py   (one engine process, ~15 s)
"""

from __future__ import annotations

import importlib.util
import json
import threading
import time

import numpy as np
import pytest
from engine_process import EngineProcess

from engine import protocol
from engine.client import EngineClient, RemoteError
from engine.motion import skeleton

HAS_DESCRIBE = importlib.util.find_spec("engine.describe") is not None
HAS_RETARGET = importlib.util.find_spec("engine.rig.retarget") is not None
POSE = skeleton.default_rest_positions().astype(np.float32)  # (22, 3) T-pose, metres
MOTION = np.repeat(POSE[None], 6, axis=0)  # (6, 22, 3)


@pytest.fixture(scope="module")
def engine():
    with EngineProcess("--no-bundle", "--enable-test-ops", "--batch-window-ms", "10") as process:
        yield process


@pytest.fixture
def client(engine):
    with EngineClient(engine.endpoint, timeout=15) as client:
        yield client


def _error(client: EngineClient, op: str, args=None, arrays=None) -> RemoteError:
    with pytest.raises(RemoteError) as caught:
        client.request(op, args, arrays)
    assert len(caught.value.message) > 20  # a sentence, not a bare code
    return caught.value


def test_ping_and_info(client, engine):
    assert client.request("ping").result["pong"] is True
    info = client.request("info").result
    assert info["protocol_version"] == protocol.PROTOCOL_VERSION
    assert info["device"] == "cpu" and info["numpy"] == np.__version__
    assert info["endpoint"] == engine.endpoint
    assert set(info["operations"]) >= {"text_to_motion", "retarget", "cancel", "sleep"}
    assert info["operations"]["text_to_motion"]["available"] is False
    assert info["bundle"]["path"] is None and "tokenizer" in info["bundle"]["missing"]


@pytest.mark.parametrize(
    "op, args, arrays, component",
    [
        ("text_to_motion", {"text": "a person walks forward"}, None, "tokenizer"),
        ("motion_to_text", {}, {"motion": MOTION}, "tokenizer"),
        ("predict", {"frames": 20}, {"motion": MOTION}, "tokenizer"),
        ("inbetween", {"frames": 10}, {"start": MOTION, "end": MOTION}, "tokenizer"),
        ("edit_pose", {"text": "bend the left knee"}, {"pose": POSE}, "pose editor"),
        ("describe_change", {"method": "model"}, {"pose_a": POSE, "pose_b": POSE}, "correction writer"),
    ],
)
def test_model_ops_without_bundle_say_what_is_missing(client, op, args, arrays, component):
    error = _error(client, op, args, arrays)
    assert error.code == "model_unavailable" and error.request_id
    assert component in error.message and "motion-train" in error.message


@pytest.mark.skipif(not HAS_DESCRIBE, reason="engine/describe (engineer C) not in this checkout")
def test_describe_pose_and_change(client):
    raised = POSE.copy()
    raised[skeleton.JOINT_INDEX["left_wrist"], 1] += 0.5
    raised[skeleton.JOINT_INDEX["left_elbow"], 1] += 0.25
    text = client.request("describe_pose", {"deterministic": True}, {"pose": POSE}).result["text"]
    assert isinstance(text, str) and len(text.split()) >= 3
    again = client.request("describe_pose", {"deterministic": True}, {"pose": POSE}).result["text"]
    assert again == text
    change = client.request("describe_change", {"deterministic": True}, {"pose_a": POSE, "pose_b": raised}).result[
        "text"
    ]
    assert "left" in change.lower()
    seeded = [client.request("describe_pose", {"seed": 7}, {"pose": raised}).result["text"] for _ in range(2)]
    assert seeded[0] == seeded[1]


@pytest.mark.skipif(not HAS_RETARGET, reason="engine/rig/retarget.py (engineer R) not in checkout")
def test_retarget_onto_an_smpl_named_rig(client):
    from engine.rig.description import RigDescription

    heads = skeleton.default_rest_positions()
    tails = heads + np.array([0.0, 0.05, 0.0])
    for joint in range(skeleton.NUM_JOINTS):
        children = skeleton.children_of(joint)
        if children:
            tails[joint] = heads[children[0]]
    rig = RigDescription.from_head_tail_roll(
        list(skeleton.JOINT_NAMES), list(skeleton.PARENTS), heads, tails, up_axis="Y", forward_axis="Z"
    )
    header, arrays = rig.to_wire()
    reply = client.request("retarget", {"rig": header}, {"positions": MOTION, **arrays})
    assert reply.arrays["rotations"].shape == (6, 22, 4)
    assert reply.arrays["root_location"].shape == (6, 3)
    norms = np.linalg.norm(reply.arrays["rotations"], axis=-1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-6)
    wrong_preset = _error(client, "retarget", {"rig": header, "preset": "mixamo"}, {"positions": MOTION, **arrays})
    assert wrong_preset.code == "bad_input" and "unmapped" in wrong_preset.message
    bad = _error(client, "retarget", {"rig": {"names": ["a"]}}, {"positions": MOTION, "rest_matrices": np.eye(4)[None]})
    assert bad.code == "bad_input"


def test_errors_are_replies_and_the_server_stays_up(client, engine):
    assert _error(client, "dance").code == "unknown_op"
    assert _error(client, "text_to_motion", {"text": "walk", "speed": 2}).code == "bad_args"
    assert _error(client, "text_to_motion", {"text": "x" * 5000}).code == "bad_args"
    assert _error(client, "describe_pose", {}, {"pose": POSE[:5]}).code == "bad_array"
    nan_pose = POSE.copy()
    nan_pose[0, 0] = np.nan
    assert _error(client, "describe_pose", {}, {"pose": nan_pose}).code == "bad_array"
    # hand-made frames: wrong version, unknown header field, a shape that lies about its bytes
    frames = protocol.encode_request("ping", request_id="raw-1")
    for change, code in (({"v": 99}, "bad_version"), ({"extra": 1}, "unknown_field")):
        header = {**json.loads(frames[0]), **change}
        client.socket.send_multipart([json.dumps(header).encode()])
        reply = client.poll(10)[0]
        assert (reply.id, reply.status, reply.error["code"]) == ("raw-1", "error", code)
    lying = protocol.encode_request("describe_pose", arrays={"pose": POSE}, request_id="raw-2")
    client.socket.send_multipart([lying[0], lying[1][:-4]])
    assert client.poll(10)[0].error["code"] == "bad_array"
    assert client.request("ping").result["pong"] and engine.alive()


def test_progress_then_one_final_reply(client):
    seen: list[tuple[float, str]] = []
    reply = client.request(
        "sleep", {"seconds": 0.4, "steps": 4}, progress=lambda fraction, message: seen.append((fraction, message))
    )
    assert reply.result == {"slept": 0.4}
    assert [fraction for fraction, _ in seen] == [0.25, 0.5, 0.75, 1.0]
    assert seen[-1][1] == "step 4 of 4"


def test_ping_is_answered_while_a_slow_job_runs(client):
    slow = client.send("sleep", {"seconds": 3.0, "steps": 30})
    time.sleep(0.2)
    start = time.monotonic()
    for _ in range(5):
        client.request("ping", timeout=2)
    assert (time.monotonic() - start) / 5 < 0.5
    assert client.request("info").result["running"] == 1  # the slow job really is still running
    assert client.cancel(slow)["state"] == "running"
    with pytest.raises(RemoteError, match="cancelled"):
        client.wait(slow, timeout=5)


def test_cancel_running_and_queued_jobs(client, engine):
    running = client.send("sleep", {"seconds": 20.0, "steps": 200})
    time.sleep(0.3)
    queued = client.send("sleep", {"seconds": 20.0})  # one worker: this one waits
    time.sleep(0.1)
    assert client.cancel(queued) == {"target": queued, "state": "queued", "cancelled": True}
    start = time.monotonic()
    assert client.cancel(running)["state"] == "running"
    for target in (queued, running):
        with pytest.raises(RemoteError) as caught:
            client.wait(target, timeout=5)
        assert caught.value.code == "cancelled"
    assert time.monotonic() - start < 2.0  # far less than the 20 s the job would take
    assert client.cancel("no-such-request")["state"] == "unknown"
    with EngineClient(engine.endpoint, timeout=5) as other:  # a client cannot cancel others' jobs
        mine = client.send("sleep", {"seconds": 0.5})
        assert other.cancel(mine)["state"] == "unknown"
        assert client.wait(mine).result == {"slept": 0.5}


def test_duplicate_request_id_in_flight_is_refused(client):
    client.send("sleep", {"seconds": 0.5}, request_id="same-id")
    client.send("sleep", {"seconds": 0.5}, request_id="same-id")
    finals = []
    deadline = time.monotonic() + 5
    while len(finals) < 2 and time.monotonic() < deadline:
        finals += [m for m in client.poll(0.5) if m.status != "progress"]
    assert sorted(m.status for m in finals) == ["error", "ok"]
    assert next(m for m in finals if m.status == "error").error["code"] == "bad_message"


def test_concurrent_clients_get_their_own_replies_and_are_batched(engine):
    results: dict[int, list] = {}

    def run(index: int) -> None:
        with EngineClient(engine.endpoint, timeout=20) as client:
            ids = [
                client.send(
                    "synthetic_forward", {"fixed_ms": 20, "item_ms": 1}, {"x": np.full(3, index * 100 + n, np.float32)}
                )
                for n in range(10)
            ]
            results[index] = [client.wait(request_id) for request_id in ids]

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(results) == list(range(8))
    for index, replies in results.items():
        assert [r.arrays["y"][0] for r in replies] == [2.0 * (index * 100 + n) for n in range(10)]
    assert max(r.result["batch_size"] for replies in results.values() for r in replies) > 1
