"""The server's parts that need no process: the batch scheduler (engine/batching.py) and the
bundle manifest (engine/bundle.py) that `info` shows.

Split from tests/test_server.py, which drives a real engine process. Run:
pytest -q tests/test_server_units.py   (well under a second)
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from engine.batching import BatchPolicy, Scheduler
from engine.bundle import load_bundle
from engine.job import Job


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


def test_scheduler_refuses_beyond_its_job_and_byte_budget():
    scheduler = Scheduler(BatchPolicy(max_queued=2, max_queued_bytes=1000), {"a": True})
    big = Job(identity=b"c", request_id="big", op="a", args={}, arrays={"x": np.zeros(100)})
    assert big.nbytes == 800 and not scheduler.full(big.nbytes)
    scheduler.add(big)
    assert scheduler.full(800) and not scheduler.full(200)
    scheduler.add(_job("a", "small", received=0.0))
    assert scheduler.full(0)  # two jobs queued
    scheduler.next_batch(now=1e9)
    assert (scheduler.queued, scheduler.queued_bytes) == (0, 0)
