"""Engine processes that start, die, restart, sit behind a proxy or demand CURVE keys; and the
server in-process with a tiny bundle, to see model ops wired to it and batched.

Split from tests/test_server.py (one shared engine there): every test here starts its own engine
process(es) or server, so they are the slow half.
Run: pytest -q tests/test_server_lifecycle.py   (several engine processes, ~30 s)
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import zmq
from engine_process import PROJECT_ROOT, EngineProcess
from tiny_bundle import write_tiny_bundle

from engine.bundle import load_bundle, models_of
from engine.client import CurveKeys, EngineClient, EngineTimeout, RemoteError
from engine.commands.keygen import generate_keys
from engine.motion import skeleton
from engine.operations import build_operations
from engine.server import EngineServer, ServerConfig

POSE = skeleton.default_rest_positions().astype(np.float32)  # (22, 3) T-pose, metres


def _error(client: EngineClient, op: str, args=None, arrays=None) -> RemoteError:
    with pytest.raises(RemoteError) as caught:
        client.request(op, args, arrays)
    assert len(caught.value.message) > 20  # a sentence, not a bare code
    return caught.value


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


def test_proxy_spreads_requests_over_engines_it_started():
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


def test_model_ops_are_wired_to_the_bundle_batch_and_info_shows_the_bundle(tmp_path, monkeypatch):
    """build_operations binds each model op to the bundle's models: equal unseeded requests share one
    model call, `info` shows the bundle, and an op whose component is missing names it."""
    bundle = load_bundle(write_tiny_bundle(tmp_path, ("tokenizer", "language_model")))
    lm, _ = models_of(bundle, "cpu").language()
    calls: list[int] = []
    generate_motion = lm.generate_motion

    def counted(prompts, lengths=None, sampling=None, conditions=None):
        calls.append(len(prompts))
        time.sleep(0.05)  # a slower "forward", so that the requests queue up behind it
        return generate_motion(prompts, lengths, sampling, conditions)

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
