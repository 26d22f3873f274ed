"""The engine through its real server process on loopback, driven by the real client.

Run: pytest -q tests/test_server.py   (starts a few `motion-engine serve` processes, ~20 s)
"""

from __future__ import annotations

import importlib.util
import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import zmq
from engine_process import EngineProcess

from engine import protocol
from engine.batching import BatchPolicy, Scheduler
from engine.bundle import load_bundle
from engine.client import CurveKeys, EngineClient, EngineTimeout, RemoteError
from engine.motion import skeleton
from engine.operations import Job

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


def test_killed_server_times_out_then_a_restarted_one_serves_the_same_client():
    first = EngineProcess("--no-bundle", "--enable-test-ops")
    client = EngineClient(first.endpoint, timeout=2.0)
    try:
        assert client.request("ping").result["pong"]
        threading.Timer(0.3, first.kill).start()
        start = time.monotonic()
        with pytest.raises(EngineTimeout):
            client.request("sleep", {"seconds": 10.0})
        assert time.monotonic() - start < 2.0 + 0.5
        assert client.reconnects == 1
        with EngineProcess("--no-bundle", "--enable-test-ops", port=first.port) as second:
            assert client.request("ping", timeout=10).result["pong"]
            second.kill()
        # Lazy Pirate retries: the engine comes back while the client is still retrying
        retrying = EngineClient(first.endpoint, timeout=1.0, retries=20)
        threading.Timer(
            0.5, lambda: restarted.append(EngineProcess("--no-bundle", "--enable-test-ops", port=first.port))
        ).start()
        restarted: list[EngineProcess] = []
        assert retrying.request("ping").result["pong"] and retrying.reconnects >= 1
        retrying.close()
        restarted[0].stop()
    finally:
        client.close()
        first.kill()


def test_remote_bind_needs_opt_in_and_curve_keys(tmp_path):
    import subprocess
    import sys

    refused = subprocess.run(
        [sys.executable, "-m", "engine.cli", "serve", "--bind", "tcp://0.0.0.0:5999", "--device", "cpu"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2 and "--allow-remote" in refused.stderr
    no_keys = subprocess.run(
        [
            sys.executable,
            "-m",
            "engine.cli",
            "serve",
            "--bind",
            "tcp://0.0.0.0:5999",
            "--allow-remote",
            "--device",
            "cpu",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert no_keys.returncode == 2 and "keygen" in no_keys.stderr


def test_curve_keys_admit_authorized_clients_only(tmp_path):
    from engine.commands.keygen import generate_keys

    keys = generate_keys(tmp_path / "keys")
    with EngineProcess("--no-bundle", "--keys", str(tmp_path / "keys")) as engine:
        curve = CurveKeys.from_files(str(keys["server_public"]), str(keys["client_secret"]))
        with EngineClient(engine.endpoint, timeout=10, curve=curve) as trusted:
            assert trusted.request("ping").result["pong"]
        with EngineClient(engine.endpoint, timeout=1.0) as plain:
            with pytest.raises(EngineTimeout):
                plain.request("ping")
        public, secret = zmq.curve_keypair()  # a stranger with valid but unauthorised keys
        stranger = CurveKeys(curve.server_public, public, secret)
        with EngineClient(engine.endpoint, timeout=1.0, curve=stranger) as untrusted:
            with pytest.raises(EngineTimeout):
                untrusted.request("ping")


# ----------------------------------------------------------------------------- no process needed


def test_bundle_manifest_components_and_problems(tmp_path):
    (tmp_path / "tokenizer").mkdir()
    (tmp_path / "tokenizer" / "config.json").write_text('{"codebook_size": 512}')
    (tmp_path / "manifest.json").write_text(
        json.dumps(
            {
                "format": "motion-copilot-bundle",
                "version": 1,
                "components": {
                    "tokenizer": {"path": "tokenizer"},
                    "language_model": {"path": "lm"},
                    "pose_editor": {"path": "../../etc"},
                },
            }
        )
    )
    bundle = load_bundle(tmp_path)
    assert bundle.has("tokenizer") and not bundle.has("language_model")
    assert bundle.components["tokenizer"].config == {"codebook_size": 512}
    assert any("lm" in p for p in bundle.problems)
    assert any("leaves the bundle" in p for p in bundle.problems)
    message = bundle.missing_message("language_model", "text_to_motion")
    assert str(tmp_path) in message and "motion-train" in message
    assert load_bundle(tmp_path / "nowhere").problems  # unreadable manifest: recorded, not raised


def _job(op: str, request_id: str, received: float) -> Job:
    return Job(identity=b"c", request_id=request_id, op=op, args={}, arrays={}, received=received)


def test_scheduler_batches_within_the_window_and_caps_the_size():
    scheduler = Scheduler(BatchPolicy(window=0.01, max_batch=3), {"a": True, "slow": False})
    scheduler.add(_job("a", "a0", received=100.000))
    scheduler.add(_job("a", "a1", received=100.001))
    assert scheduler.next_batch(now=100.005) is None  # the oldest has waited 5 ms < 10 ms
    assert scheduler.wait_time(now=100.005) == pytest.approx(0.005)
    scheduler.add(_job("a", "a2", received=100.002))  # a full batch goes at once
    assert [j.request_id for j in scheduler.next_batch(now=100.005)] == ["a0", "a1", "a2"]
    scheduler.add(_job("a", "a3", received=100.006))
    scheduler.add(_job("a", "a4", received=100.007))
    assert scheduler.next_batch(now=100.010) is None
    assert scheduler.wait_time(now=100.010) == pytest.approx(0.006)
    scheduler.add(_job("slow", "s0", received=100.008))  # not batchable: ready at once
    assert [j.request_id for j in scheduler.next_batch(now=100.010)] == ["s0"]
    assert scheduler.wait_time(now=100.010) == pytest.approx(0.006)
    assert scheduler.remove(b"c", "a4").request_id == "a4"
    assert scheduler.remove(b"c", "a4") is None
    assert [j.request_id for j in scheduler.next_batch(now=100.020)] == ["a3"]
    assert scheduler.queued == 0 and scheduler.next_batch(now=200.0) is None
    assert scheduler.wait_time() is None


def test_scheduler_serves_the_oldest_ready_op_first():
    scheduler = Scheduler(BatchPolicy(window=0.0, max_batch=8), {"a": True, "b": True})
    scheduler.add(_job("b", "b0", received=1.0))
    scheduler.add(_job("a", "a0", received=2.0))
    scheduler.add(_job("b", "b1", received=3.0))
    assert [j.request_id for j in scheduler.next_batch(now=5.0)] == ["b0", "b1"]
    assert [j.request_id for j in scheduler.next_batch(now=5.0)] == ["a0"]


def test_proxy_spreads_requests_over_engines_it_started():
    import subprocess
    import sys

    from engine_process import PROJECT_ROOT

    proxy = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "engine.cli",
            "proxy",
            "--frontend",
            "tcp://127.0.0.1:*",
            "--backend",
            "tcp://127.0.0.1:*",
            "--engines",
            "2",
            "--",
            "--device",
            "cpu",
            "--no-bundle",
            "--enable-test-ops",
        ],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = proxy.stdout.readline()
        endpoint = line.split("clients -> ", 1)[1].split(",", 1)[0]
        # Wide deadlines: on a loaded CI machine two engine processes take 10-30 s to start.
        with EngineClient(endpoint, timeout=60) as client:
            ready: dict[int, bool] = {}
            deadline = time.monotonic() + 120
            while not (len(ready) == 2 and all(ready.values())) and time.monotonic() < deadline:
                info = client.request("info").result  # engines connect one by one
                ready[info["pid"]] = info["models_ready"]
            pids = set(ready)
            assert len(pids) == 2 and all(ready.values())
            start = time.monotonic()
            jobs = [client.send("sleep", {"seconds": 2.0}) for _ in range(2)]
            assert [client.wait(job).result for job in jobs] == [{"slept": 2.0}] * 2
            assert time.monotonic() - start < 3.5  # in parallel: one engine would need 4 s
    finally:
        proxy.terminate()
        proxy.wait(timeout=20)
    for pid in pids:  # the proxy stopped the engines it started
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()


def test_scheduler_refuses_beyond_its_job_and_byte_budget():
    import numpy as np

    scheduler = Scheduler(BatchPolicy(max_queued=2, max_queued_bytes=1000), {"a": True})
    big = Job(identity=b"c", request_id="big", op="a", args={}, arrays={"x": np.zeros(100)})
    assert big.nbytes == 800 and not scheduler.full(big.nbytes)
    scheduler.add(big)
    assert scheduler.full(800) and not scheduler.full(200)
    scheduler.add(_job("a", "small", received=0.0))
    assert scheduler.full(0)  # two jobs queued
    scheduler.next_batch(now=1e9)
    assert (scheduler.queued, scheduler.queued_bytes) == (0, 0)


def test_model_ops_are_wired_to_the_bundle_batch_and_info_shows_the_bundle(tmp_path, monkeypatch):
    """build_operations binds each model op to the bundle's models: equal unseeded requests share one
    model call, `info` shows the bundle, and an op whose component is missing names it."""
    from tiny_bundle import write_tiny_bundle

    from engine.bundle import models_of
    from engine.operations import build_operations
    from engine.server import EngineServer, ServerConfig

    bundle = load_bundle(write_tiny_bundle(tmp_path, ("tokenizer", "language_model")))
    lm, _ = models_of(bundle, "cpu").language()
    calls: list[int] = []
    generate_motion = lm.generate_motion

    def counted(prompts, lengths=None, sampling=None):
        calls.append(len(prompts))
        time.sleep(0.05)  # a slower "forward", so that the requests queue up behind it
        return generate_motion(prompts, lengths, sampling)

    monkeypatch.setattr(lm, "generate_motion", counted)
    server = EngineServer(
        ServerConfig(bind="tcp://127.0.0.1:*"),
        build_operations(bundle, "cpu"),
        {"device": "cpu", "bundle": bundle.describe()},
    )
    ready = threading.Event()
    thread = threading.Thread(target=server.serve_forever, args=(ready,), daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        with EngineClient(server.endpoint, timeout=60) as client:
            ids = [client.send("text_to_motion", {"text": "walk", "frames": 10 + n}) for n in range(6)]
            replies = [client.wait(request_id) for request_id in ids]
            assert [r.arrays["positions"].shape for r in replies] == [(10 + n, 22, 3) for n in range(6)]
            assert sum(calls) == 6 and max(calls) > 1  # batched
            info = client.request("info").result
            assert info["operations"]["text_to_motion"]["available"] is True
            assert info["bundle"]["components"]["tokenizer"]["config"] == json.loads(
                (tmp_path / "tokenizer" / "config.json").read_text()
            )
            error = _error(client, "edit_pose", {"text": "raise the arm"}, {"pose": POSE})
            assert str(tmp_path) in error.message and "pose editor" in error.message
    finally:
        server.stop()
        thread.join(5)
