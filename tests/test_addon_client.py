"""The add-on's ZeroMQ client (no bpy needed) against an in-process ROUTER that speaks the protocol.

The stand-in server here is driven step by step by the test (no thread), so orderings such as
"reply to the second request first" are deterministic. Tests against the real engine server live
in tests/test_addon_engine.py.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest
import zmq
from engine_process import EngineProcess

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from blender_addon import client as mc_client  # noqa: E402
from blender_addon import protocol  # noqa: E402


class StandIn:
    """A ROUTER bound to a free loopback port; the test decides when and what it answers."""

    def __init__(self, ctx: zmq.Context) -> None:
        self.sock = ctx.socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.port = self.sock.bind_to_random_port("tcp://127.0.0.1")
        self.address = f"tcp://127.0.0.1:{self.port}"

    def receive(self, n: int, timeout: float = 2.0) -> list[tuple[bytes, protocol.Message]]:
        got, end = [], time.monotonic() + timeout
        while len(got) < n and time.monotonic() < end:
            if self.sock.poll(20):
                identity, *frames = self.sock.recv_multipart()
                got.append((identity, protocol.decode_message(frames)))
        assert len(got) == n, f"stand-in expected {n} requests, got {len(got)}"
        return got

    def send(self, identity: bytes, frames: list[bytes]) -> None:
        self.sock.send_multipart([identity, *frames])


@pytest.fixture
def ctx():
    context = zmq.Context()
    yield context
    context.destroy(linger=0)


def tick_until(client, jobs, timeout=3.0):
    end = time.monotonic() + timeout
    while not all(j.done for j in jobs) and time.monotonic() < end:
        client.tick()
        time.sleep(0.005)


@pytest.mark.parametrize("name", ["protocol.py", "protocol_ops.py", "protocol_wire.py"])
def test_protocol_copy_is_byte_identical(name):
    assert (ROOT / "blender_addon" / name).read_bytes() == (ROOT / "engine" / name).read_bytes(), (
        f"blender_addon/{name} must be a copy of engine/{name}: cp engine/protocol*.py blender_addon/"
    )


def test_addon_never_imports_torch_or_engine():
    import ast

    for path in (ROOT / "blender_addon").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                assert not any(n.split(".")[0] in ("torch", "engine", "trainer") for n in names), path


def test_several_jobs_in_flight_answered_out_of_order_with_arrays(ctx):
    server = StandIn(ctx)
    client = mc_client.EngineClient(server.address, timeout=5, context=ctx)
    pose = np.arange(66, dtype=np.float32).reshape(22, 3)
    a = client.submit("describe_pose", {"deterministic": True}, {"pose": pose})
    b = client.submit("ping")
    (ident, req_a), (_, req_b) = server.receive(2)
    assert {req_a.op, req_b.op} == {"describe_pose", "ping"}
    req_pose = req_a if req_a.op == "describe_pose" else req_b
    np.testing.assert_array_equal(req_pose.arrays["pose"], pose)
    # Answer the later request first, with progress on the other.
    second, first = (req_b, req_a) if req_a.op == "describe_pose" else (req_a, req_b)
    server.send(ident, protocol.encode_ok(second.id, second.op, {"pong": True}))
    server.send(ident, protocol.encode_progress(first.id, first.op, 0.5, "half"))
    tick_until(client, [b])
    assert b.state == mc_client.OK and b.result == {"pong": True}
    assert not a.done
    tick_until(client, [a], timeout=0.2)
    assert a.progress == pytest.approx(0.5) and a.progress_message == "half"
    server.send(ident, protocol.encode_ok(first.id, first.op, {"text": "arms up"}))
    tick_until(client, [a])
    assert a.state == mc_client.OK and a.result["text"] == "arms up"
    client.close()


def _edit_pose_answer(ctx, result: dict, arrays: dict) -> mc_client.Job:
    """An edit_pose job answered by the stand-in with `result` and `arrays`."""
    server = StandIn(ctx)
    client = mc_client.EngineClient(server.address, timeout=5, context=ctx)
    job = client.submit("edit_pose", {"text": "raise the left arm"}, {"pose": np.zeros((22, 3), np.float32)})
    ((ident, req),) = server.receive(1)
    server.send(ident, protocol.encode_ok(req.id, req.op, result, arrays))
    tick_until(client, [job])
    client.close()
    return job


def test_reply_arrays_arrive_under_their_schema_names(ctx):
    pose, quats = np.arange(66, dtype=np.float32).reshape(22, 3), np.ones((22, 4), np.float32)
    job = _edit_pose_answer(ctx, {"sampled": False}, {"pose": pose, "quats": quats})
    assert job.state == mc_client.OK and sorted(job.arrays) == ["pose", "quats"]
    np.testing.assert_array_equal(job.arrays["pose"], pose)


@pytest.mark.parametrize(
    "result,arrays,words",
    [
        ({"sampled": False}, {"pose": np.zeros((22, 3), np.float32)}, "missing required array 'quats'"),
        (
            {"sampled": False},
            {"pose": np.zeros((22, 3)), "quats": np.ones((22, 4), np.float32)},
            "float32, got float64",
        ),
        (
            {"sampled": False},
            {"pose": np.zeros((21, 3), np.float32), "quats": np.ones((22, 4), np.float32)},
            "shape (22, 3), got (21, 3)",
        ),
        (
            {"sampled": False},
            {"pose": np.zeros((22, 3), np.float32), "quats": np.ones((22, 4), np.float32), "q": np.ones(2)},
            "unexpected array(s) ['q']",
        ),
        ({}, {"pose": np.zeros((22, 3), np.float32), "quats": np.ones((22, 4), np.float32)}, "no 'sampled'"),
    ],
)
def test_reply_off_its_schema_fails_the_job_naming_what_is_wrong(ctx, result, arrays, words):
    job = _edit_pose_answer(ctx, result, arrays)
    assert job.state == mc_client.ERROR and job.error_code == protocol.ERR_BAD_REPLY
    assert words in job.error_message and "matching versions" in job.error_message
    assert job.arrays == {}  # nothing half-read reaches the operator


def test_engine_error_keeps_code_and_sentence(ctx):
    server = StandIn(ctx)
    client = mc_client.EngineClient(server.address, timeout=5, context=ctx)
    job = client.submit("text_to_motion", {"text": "walk", "frames": 40})
    ((ident, req),) = server.receive(1)
    server.send(
        ident,
        protocol.encode_error(req.id, req.op, "model_unavailable", "the bundle has no language model; train one."),
    )
    tick_until(client, [job])
    assert (job.state, job.error_code) == (mc_client.ERROR, "model_unavailable")
    assert job.error_message == "the bundle has no language model; train one."
    client.close()


def test_no_engine_times_out_with_a_clear_sentence_then_recovers(ctx):
    sock = ctx.socket(zmq.ROUTER)  # reserve a free port, then free it: nobody listens there
    port = sock.bind_to_random_port("tcp://127.0.0.1")
    sock.close(linger=0)
    address = f"tcp://127.0.0.1:{port}"
    client = mc_client.EngineClient(address, timeout=0.3, context=ctx)
    start = time.monotonic()
    job = client.submit("ping")
    tick_until(client, [job], timeout=2.0)
    elapsed = time.monotonic() - start
    assert job.state == mc_client.ERROR and job.error_code == protocol.ERR_TIMEOUT
    assert address in job.error_message and "motion-engine serve" in job.error_message
    assert 0.3 <= elapsed < 1.0
    assert client._socket is None  # Lazy Pirate: the stale socket (with the queued ping) is gone
    # The engine comes up on that port: the next request goes through a fresh socket.
    server = StandIn.__new__(StandIn)
    server.sock = ctx.socket(zmq.ROUTER)
    server.sock.setsockopt(zmq.LINGER, 0)
    server.sock.bind(address)
    job2 = client.submit("ping")
    ((ident, req),) = server.receive(1)
    assert req.id == job2.id  # the timed-out ping was not delivered late
    server.send(ident, protocol.encode_ok(req.id, "ping", {"pong": True}))
    tick_until(client, [job2])
    assert job2.state == mc_client.OK
    client.close()


def test_progress_extends_the_deadline_and_cancel_ignores_late_replies(ctx):
    server = StandIn(ctx)
    client = mc_client.EngineClient(server.address, timeout=0.4, context=ctx)
    job = client.submit("sleep", {"seconds": 1.0})
    ((ident, req),) = server.receive(1)
    for i in range(4):  # 4 x 0.2 s = 0.8 s > timeout, alive thanks to progress
        server.send(ident, protocol.encode_progress(req.id, req.op, (i + 1) / 5))
        tick_until(client, [job], timeout=0.2)
    assert not job.done and job.progress == pytest.approx(0.8)
    client.cancel(job)
    assert job.state == mc_client.CANCELLED
    ((_, cancel),) = server.receive(1)
    assert cancel.op == "cancel" and cancel.args == {"target": req.id}
    server.send(ident, protocol.encode_ok(req.id, req.op, {"slept": 1.0}))
    time.sleep(0.05)
    assert client.tick() == []  # the late ok reply is dropped
    assert job.state == mc_client.CANCELLED and job.result == {}
    client.close()


def test_unreadable_reply_fails_the_job_with_a_version_hint(ctx):
    server = StandIn(ctx)
    client = mc_client.EngineClient(server.address, timeout=5, context=ctx)
    job = client.submit("ping")
    ((ident, req),) = server.receive(1)
    server.send(ident, [b'{"v":99,"id":"%s","op":"ping","status":"ok","arrays":[]}' % req.id.encode()])
    tick_until(client, [job])
    assert job.state == mc_client.ERROR and job.error_code == protocol.ERR_BAD_VERSION
    assert "matching versions" in job.error_message
    client.close()


def test_timeout_counts_silence_and_a_queued_job_shows_its_position(ctx):
    """Against the real engine: a job queued behind a 14 s job outlives a 5 s timeout, because the
    engine tells it its queue position at least every 2 s (5 s, not 3: a loaded CI box delays messages)."""
    with EngineProcess("--no-bundle", "--enable-test-ops") as engine:
        client = mc_client.EngineClient(engine.endpoint, timeout=5.0, context=ctx)
        info = client.submit("info")
        while tick_until_ok(client, info) and not info.result["models_ready"]:  # loading stalls the GIL
            time.sleep(0.2)
            info = client.submit("info")
        blocker = client.submit("sleep", {"seconds": 14.0, "steps": 1})
        queued = client.submit("sleep", {"seconds": 0.1, "steps": 1})
        messages, positions = set(), set()
        end = time.monotonic() + 45
        while not (blocker.done and queued.done) and time.monotonic() < end:
            client.tick()
            messages.add(queued.progress_message)
            positions.add(queued.queue_position)
            time.sleep(0.01)
        assert (blocker.state, queued.state) == (mc_client.OK, mc_client.OK), (blocker, queued)
        assert any(message.startswith("queued: position 1") for message in messages), messages
        assert 1 in positions, positions  # the number the panel shows, not only words
        client.close()


def tick_until_ok(client, job, timeout=30.0) -> bool:
    tick_until(client, [job], timeout)
    return job.state == mc_client.OK
