"""PoseFix pair mining on synthetic clips (arm and leg swings, random heading and placement)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.motion import skeleton
from trainer.data import pairs as pm

J = skeleton.JOINT_INDEX


def _rotate_about(points: np.ndarray, pivot: np.ndarray, axis: str, angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    matrix = {"x": [[1, 0, 0], [0, c, -s], [0, s, c]], "z": [[c, -s, 0], [s, c, 0], [0, 0, 1]]}[axis]
    return (points - pivot) @ np.array(matrix).T + pivot


def _clip(rng: np.random.Generator, frames: int = 60) -> np.ndarray:
    """A clip of swinging limbs, rotated to a random heading and moved to a random place."""
    rest = skeleton.default_rest_positions()
    t = np.arange(frames) / 20.0
    freq, phase = rng.uniform(0.3, 1.2, 4), rng.uniform(0, 2 * np.pi, 4)
    clip = np.repeat(rest[None], frames, axis=0)
    limbs = [
        ("left_shoulder", ("left_elbow", "left_wrist"), "z", 1.4),
        ("right_shoulder", ("right_elbow", "right_wrist"), "z", -1.4),
        ("left_hip", ("left_knee", "left_ankle", "left_foot"), "x", -1.2),
        ("right_shoulder", ("right_elbow", "right_wrist"), "x", -1.5),
    ]
    for f in range(frames):
        for k, (pivot, moved, axis, amp) in enumerate(limbs):
            idx = [J[m] for m in moved]
            angle = amp * 0.5 * (1 + np.sin(2 * np.pi * freq[k] * t[f] + phase[k]))
            clip[f, idx] = _rotate_about(clip[f, idx], clip[f, J[pivot]], axis, angle)
    yaw = rng.uniform(-np.pi, np.pi)
    c, s = np.cos(yaw), np.sin(yaw)
    turn = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    return clip @ turn.T + np.array([rng.uniform(-2, 2), 0, rng.uniform(-2, 2)])


@pytest.fixture(scope="module")
def mined() -> tuple[list, pm.PairSet, pm.PairConfig]:
    rng = np.random.default_rng(0)
    clips = [(f"P{i:06d}", _clip(rng)) for i in range(12)]
    clips += [(f"M{name}", skeleton_mirror(pos)) for name, pos in clips[:3]]
    config = pm.PairConfig(
        pose_set=200,
        pose_fraction=1.0,
        stride=2,
        min_diff_in=3,
        min_diff_out=5,
        min_similarity=0.3,
        max_similarity=0.95,
    )
    return clips, pm.mine_pairs(clips, config), config


def skeleton_mirror(positions: np.ndarray) -> np.ndarray:
    mirrored = positions[:, list(skeleton.MIRROR_MAP)].copy()
    mirrored[..., 0] *= -1
    return mirrored


def test_pair_rules(mined) -> None:
    clips, pairs, config = mined
    assert pairs.pose_a.shape == pairs.pose_b.shape == (len(pairs), 22, 3)
    kinds = set(pairs.kind)
    assert {"in", "out_one_way"} <= kinds or {"in", "out_two_way"} <= kinds, kinds
    from engine.describe.captioner import evaluate_posecodes
    from engine.describe.joints import heading_angle

    lookup = dict(clips)
    used_a, used_b = set(), set()
    for i, kind in enumerate(pairs.kind):
        clip_a, frame_a = pairs.id_a[i].split(":")
        clip_b, frame_b = pairs.id_b[i].split(":")
        pose_a, pose_b = lookup[clip_a][int(frame_a)], lookup[clip_b][int(frame_b)]
        classes, _, supers = evaluate_posecodes(np.stack([pose_a, pose_b]), None, absolute_only=False)
        differing = int((classes[0] != classes[1]).sum() + (supers[0] != supers[1]).sum())
        assert abs(heading_angle(pairs.pose_a[i : i + 1].astype(np.float64))[0]) < 1e-4
        if kind == "in":
            assert clip_a == clip_b and 0 < int(frame_b) - int(frame_a) <= 10
            assert differing > config.min_diff_in
            assert pairs.id_a[i] not in used_a and pairs.id_b[i] not in used_b
            used_a.add(pairs.id_a[i])
            used_b.add(pairs.id_b[i])
            # B keeps A's frame: the stored heading change is the real one.
            real = np.degrees(heading_angle(np.stack([pose_b]))[0] - heading_angle(np.stack([pose_a]))[0])
            assert abs((pairs.yaw_change_deg[i] - real + 180) % 360 - 180) < 1e-2
        else:
            assert clip_a.lstrip("M") != clip_b.lstrip("M")
            assert differing > config.min_diff_out
            assert abs(heading_angle(pairs.pose_b[i : i + 1].astype(np.float64))[0]) < 1e-4
            assert pairs.yaw_change_deg[i] == 0
    two_way = {(a, b) for a, b, k in zip(pairs.id_a, pairs.id_b, pairs.kind) if k == "out_two_way"}
    assert all((b, a) in two_way for a, b in two_way)


def test_deterministic_and_texts(mined, tmp_path) -> None:
    clips, pairs, config = mined
    again = pm.mine_pairs(clips, config)
    assert again.id_a == pairs.id_a and again.id_b == pairs.id_b
    np.testing.assert_array_equal(again.pose_b, pairs.pose_b)
    texts = pm.describe_pairs(pairs, seed=0)
    assert len(texts) == len(pairs) and all(isinstance(t, str) and t for t in texts)
    pm.save_pairs(pairs, texts, tmp_path, "train")
    with np.load(tmp_path / "pairs_train.npz", allow_pickle=False) as data:
        assert data["pose_a"].shape == (len(pairs), 22, 3) and list(data["kind"]) == pairs.kind


def test_farthest_point_sampling_spreads() -> None:
    points = np.zeros((50, 22, 3))
    points[:, 0, 0] = np.arange(50) ** 2 / 50.0
    chosen = pm.farthest_point_sampling(points, 3)
    assert list(chosen) == [0, 49, int(np.argmin(np.abs(points[:, 0, 0] - 49 / 2)))]
    with pytest.raises(ValueError, match="similarity"):
        pm.PairConfig(min_similarity=0.9, max_similarity=0.5)
