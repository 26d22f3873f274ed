"""One bad item fails only itself, and the seeding rule, through the real operation table
(engine/operations.py build_operations) with a tiny untrained bundle (tests/tiny_bundle.py)."""

from __future__ import annotations

import numpy as np
import pytest
from tiny_bundle import write_tiny_bundle

from engine.bundle import load_bundle, models_of
from engine.errors import InputError
from engine.job import Job, JobCancelled
from engine.jobs import run_each
from engine.motion.kinematics import rest_positions_from_offsets
from engine.motion.skeleton import default_rest_offsets
from engine.operations import build_operations


def _job(op: str, args: dict, arrays: dict | None = None, n: int = 0) -> Job:
    return Job(b"test", str(n), op, args, arrays or {})


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return load_bundle(write_tiny_bundle(tmp_path_factory.mktemp("bundle")))


@pytest.fixture(scope="module")
def operations(bundle):
    return build_operations(bundle, "cpu")


def _pose() -> np.ndarray:
    """The default rest pose `(22, 3)` metres."""
    return np.asarray(rest_positions_from_offsets(default_rest_offsets()), np.float32)


def test_run_each_gives_each_job_its_own_outcome():
    jobs = [_job("x", {"v": v}, n=i) for i, v in enumerate([1, 0, 2])]
    jobs[2].cancel_event.set()
    outcomes = run_each(jobs, lambda job: 10 // job.args["v"])
    assert outcomes[0] == 10 and isinstance(outcomes[1], ZeroDivisionError) and isinstance(outcomes[2], JobCancelled)


def test_a_bad_text_to_motion_item_fails_alone_and_the_rest_share_one_call(bundle, operations, monkeypatch):
    lm, _ = models_of(bundle, "cpu").language()
    calls: list[int] = []
    generate_motion = lm.generate_motion
    monkeypatch.setattr(
        lm, "generate_motion", lambda p, n=None, s=None, c=None: calls.append(len(p)) or generate_motion(p, n, s, c)
    )
    jobs = [
        _job("text_to_motion", {"text": "a person walks", "frames": 9}, n=0),
        _job("text_to_motion", {"text": "   "}, n=1),
        _job("text_to_motion", {"text": "walk", "frames": 5000}, n=2),
        _job("text_to_motion", {"text": "someone jumps", "frames": 12}, n=3),
    ]
    outcomes = operations["text_to_motion"].handler(jobs)
    assert outcomes[0][1]["positions"].shape == (9, 22, 3) and outcomes[3][1]["positions"].shape == (12, 22, 3)
    assert isinstance(outcomes[1], InputError) and "non-empty" in str(outcomes[1])
    assert isinstance(outcomes[2], InputError) and "longer than this model makes" in str(outcomes[2])
    assert calls == [2]  # the two good, unseeded requests: one model call


def test_seeded_requests_run_alone_and_repeat_whatever_their_batch(operations):
    seeded = {"text": "a man runs in a circle", "frames": 16, "seed": 5}
    alone = operations["text_to_motion"].handler([_job("text_to_motion", seeded)])[0]
    batch = operations["text_to_motion"].handler(
        [_job("text_to_motion", {"text": "walk", "frames": 8}), _job("text_to_motion", seeded, n=1)]
    )[1]
    np.testing.assert_array_equal(alone[1]["positions"], batch[1]["positions"])


def test_edit_pose_is_batched_and_a_bad_pose_fails_alone(bundle, operations, monkeypatch):
    from engine.models import posefix_handlers

    calls: list[int] = []
    edit_poses = posefix_handlers.edit_poses

    def counted(editor, poses, texts, sample, seed=None):
        calls.append(len(texts))
        return edit_poses(editor, poses, texts, sample, seed)

    monkeypatch.setattr(posefix_handlers, "edit_poses", counted)
    pose = _pose()
    jobs = [
        _job("edit_pose", {"text": "Raise your left arm."}, {"pose": pose}, 0),
        _job("edit_pose", {"text": "Bend your left knee more."}, {"pose": np.full((22, 3), np.nan, np.float32)}, 1),
        _job("edit_pose", {"text": "Lower your right arm a bit."}, {"pose": pose}, 2),
        _job("edit_pose", {"text": "Raise your left arm.", "seed": 3}, {"pose": pose}, 3),
    ]
    outcomes = operations["edit_pose"].handler(jobs)
    assert isinstance(outcomes[1], InputError)
    for index in (0, 2, 3):
        result, arrays = outcomes[index]
        assert arrays["pose"].shape == (22, 3) and arrays["quats"].shape == (22, 4)
        assert result["sampled"] is (index == 3)
    assert calls == [2, 1]  # the unseeded pair in one group, the seeded job alone
    again = operations["edit_pose"].handler([jobs[3]])[0]
    np.testing.assert_array_equal(again[1]["pose"], outcomes[3][1]["pose"])


def test_describe_pose_bad_item_fails_alone(operations):
    pose = _pose()
    outcomes = operations["describe_pose"].handler(
        [_job("describe_pose", {}, {"pose": pose}), _job("describe_pose", {}, {"pose": pose[:5]}, 1)]
    )
    assert isinstance(outcomes[0][0]["text"], str) and isinstance(outcomes[1], InputError)
