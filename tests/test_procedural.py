"""Procedural motions: determinism, every kind, canonical frame, captions that match the motion,
plausibility statistics, and checks that really catch implausible motion."""

from __future__ import annotations

import numpy as np
import pytest

from engine.motion.skeleton import FPS, NUM_JOINTS, bone_lengths
from trainer.data.procedural import (
    CHECKS,
    KINDS,
    PRIMITIVES,
    aggregate_plausibility,
    check_plausibility,
    generate_procedural,
    sample_kind,
)

SIDED = (
    "walk_toward",
    "run_toward",
    "walk_curve",
    "jog_curve",
    "wave",
    "punch",
    "throw",
    "kick",
    "hop",
    "balance",
    "lunge",
    "side_steps",
    "turn",
    "side_stretch",
    "reach",
    "raise_arms",
    "arm_circles",
)


def _facing(pose: np.ndarray) -> np.ndarray:
    """HumanML3D's facing: up x (right - left across hips and shoulders), unit, `(3,)`."""
    across = (pose[2] - pose[1]) + (pose[17] - pose[16])
    forward = np.cross([0.0, 1.0, 0.0], across)
    return forward / np.linalg.norm(forward)


def _first_with(kind: str, **wanted) -> tuple:
    """The first seed whose sample of `kind` has the wanted parameters."""
    for seed in range(200):
        sample = sample_kind(kind, seed)
        if all(sample.params.get(k) == v for k, v in wanted.items()):
            return sample
    raise AssertionError(f"no {kind} with {wanted} in 200 seeds")


def test_same_seed_same_arrays_and_other_seed_differs():
    a = list(generate_procedural(12, seed=5))
    b = list(generate_procedural(12, seed=5))
    c = list(generate_procedural(12, seed=6))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.positions, y.positions)
        assert x.captions == y.captions and x.params == y.params
    assert any(
        x.positions.shape != z.positions.shape or not np.array_equal(x.positions, z.positions) for x, z in zip(a, c)
    )
    assert len(list(generate_procedural(0, seed=1))) == 0


def test_at_least_thirty_kinds_plus_compositions():
    assert len(PRIMITIVES) >= 30
    assert "composition" in KINDS


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_is_canonical_and_captioned(kind):
    sample = sample_kind(kind, seed=3)
    p = sample.positions
    assert p.dtype == np.float32 and p.ndim == 3 and p.shape[1:] == (NUM_JOINTS, 3)
    assert 40 <= len(p) <= 196, "2 to 9.8 s at 20 fps"
    assert np.isfinite(p).all()
    np.testing.assert_allclose(p[0, 0, [0, 2]], 0.0, atol=1e-5)  # root X/Z at the origin
    assert _facing(p[0].astype(np.float64))[2] > 0.95  # facing +Z at frame 0
    assert p[..., 1].min() > -0.01 and p[:, [7, 8, 10, 11], 1].min() < 0.03  # on the floor, not floating
    assert len(sample.captions) >= 3 and len(set(sample.captions)) == len(sample.captions)
    assert sample.params["kind"] == kind and sample.params["frames"] == len(p)


@pytest.mark.parametrize("kind", SIDED)
def test_captions_name_the_side_and_never_the_other(kind):
    for side in ("left", "right"):
        sample = _first_with(kind, side=side)
        other = "right" if side == "left" else "left"
        for caption in sample.captions:
            assert side in caption or kind in ("turn", "balance", "side_stretch"), caption
            if kind not in ("balance", "side_stretch"):  # these two truthfully name both sides
                assert other not in caption, caption


def test_left_wave_moves_the_left_hand_only():
    for side, hand, other in (("left", 20, 21), ("right", 21, 20)):
        p = _first_with("wave", side=side).positions
        assert p[:, hand, 1].max() > p[:, 16, 1].max()  # the waving hand goes above the shoulders
        assert p[:, other, 1].max() < p[0, 0, 1]  # the other hand stays below the hips
        assert all(side in c for c in _first_with("wave", side=side).captions)


def test_kick_and_hop_use_the_named_leg():
    kick = _first_with("kick", side="left").positions
    assert kick[:, 7, 1].max() > kick[:, 8, 1].max() + 0.2  # left ankle swings up
    hop = _first_with("hop", side="right").positions  # hopping on the right foot: left leg held up
    middle = slice(len(hop) // 3, 2 * len(hop) // 3)
    assert np.median(hop[middle, 7, 1]) > np.median(hop[middle, 8, 1]) + 0.1


@pytest.mark.parametrize(
    "kind,direction,axis,sign",
    [
        ("walk", "forward", 2, 1.0),
        ("walk_backward", "backward", 2, -1.0),
        ("side_steps", "left", 0, 1.0),
        ("side_steps", "right", 0, -1.0),
    ],
)
def test_travel_matches_the_stated_direction(kind, direction, axis, sign):
    sample = _first_with(kind, direction=direction)
    travel = sample.positions[-1, 0] - sample.positions[0, 0]
    assert sign * travel[axis] > 0.3
    assert any(direction in c or (direction == "backward" and "backwards" in c) for c in sample.captions)


def test_locomotion_speeds_are_human():
    speeds = {g: [sample_kind(g, s).params["speed"] for s in range(6)] for g in ("walk", "jog", "run")}
    assert 0.6 < np.mean(speeds["walk"]) < 1.8
    assert np.mean(speeds["walk"]) < np.mean(speeds["jog"]) < np.mean(speeds["run"])
    assert 2.5 < np.mean(speeds["run"]) < 6.0


@pytest.mark.parametrize("kind", ["walk_toward", "run_toward"])
def test_heading_off_goes_the_named_way(kind):
    for direction, sign in (("diagonal_left", 1.0), ("to_right", -1.0)):
        sample = _first_with(kind, direction=direction)
        travel = sample.positions[-1, 0] - sample.positions[0, 0]
        assert sign * travel[0] > 1.0  # left is +X
        assert all(direction.split("_")[1] in c for c in sample.captions)
        if direction == "diagonal_left":
            assert travel[2] > 0.5 and 0.5 < travel[0] / travel[2] < 2.0  # about 45 degrees


def test_turn_ends_facing_the_named_side():
    for side, sign in (("left", 1.0), ("right", -1.0)):
        sample = _first_with("turn", side=side, degrees=90)
        facing = _facing(sample.positions[-1].astype(np.float64))
        assert sign * facing[0] > 0.9, facing  # left is +X in canonical space


def test_compositions_chain_parts_in_order_and_say_so():
    samples = [sample_kind("composition", s) for s in range(20)]
    for sample in samples:
        parts = sample.params["parts"]
        assert 2 <= len(parts) <= 3
        assert all(any(j in c for j in ("then", "after that")) for c in sample.captions)
        for before, after in zip(parts[:-1], parts[1:]):
            assert (before["kind"] == "sit_down") == (after["kind"] == "stand_up")
    assert len({tuple(p["kind"] for p in s.params["parts"]) for s in samples}) > 10


def test_plausibility_failures_under_one_percent_and_bones_constant():
    results = []
    for sample in generate_procedural(200, seed=0):
        result = check_plausibility(sample.positions)
        results.append(result)
        lengths = bone_lengths(sample.positions.astype(np.float64))[:, 1:]
        assert np.abs(lengths - lengths[0]).max() < 1e-4
    stats = aggregate_plausibility(results)
    assert stats["samples"] == 200 and set(stats["failed"]) == set(CHECKS)
    assert stats["failed_any_rate"] < 0.01, stats


def _standing(frames: int = 60) -> np.ndarray:
    return sample_kind("wave", seed=0).positions[:frames].astype(np.float64)


def test_checks_catch_broken_motion():
    good = _standing()
    assert check_plausibility(good)["plausible"]
    sunk = good.copy()
    sunk[30:, :, 1] -= 0.05
    assert not check_plausibility(sunk)["floor_ok"]
    sliding = good.copy()
    sliding[:, [7, 10], 2] += np.arange(len(good))[:, None] * 0.03  # left foot glides 0.6 m/s on the floor
    assert not check_plausibility(sliding)["skating_ok"]
    stretched = good.copy()
    stretched[20:, 18:21:2] += [0.05, 0.0, 0.0]  # left forearm and hand pulled off
    assert not check_plausibility(stretched)["bones_ok"]
    hyper = good.copy()
    knee, ankle = hyper[:, 4].copy(), hyper[:, 7] - hyper[:, 4]
    # Bend the left shin forward by 30 degrees about the X axis: a knee bending the wrong way.
    c, s = np.cos(np.radians(-30)), np.sin(np.radians(-30))
    rotated = np.stack([ankle[:, 0], c * ankle[:, 1] - s * ankle[:, 2], s * ankle[:, 1] + c * ankle[:, 2]], -1)
    hyper[:, 7] = knee + rotated
    hyper[:, 10] += rotated - ankle
    result = check_plausibility(hyper)
    assert not result["knee_ok"] and result["knee_min"] < -20


def test_aggregate_counts_each_check():
    results = [{f"{c}_ok": True for c in CHECKS} | {"plausible": True, "skate_ratio": 0.0} for _ in range(3)]
    results[1]["floor_ok"] = False
    results[1]["plausible"] = False
    stats = aggregate_plausibility(results)
    assert stats["failed"]["floor"] == 1 and stats["failed_any"] == 1
    assert stats["failed_rate"]["floor"] == pytest.approx(1 / 3)


def test_fps_is_the_canonical_twenty():
    assert FPS == 20.0  # the generator's frame timing (DT) is read from here


def test_bad_arguments_raise_input_errors():
    from engine.errors import InputError

    with pytest.raises(InputError, match="whole number"):
        list(generate_procedural(-1, seed=0))
    with pytest.raises(InputError, match="does not exist"):
        sample_kind("moonwalk", seed=0)
    with pytest.raises(InputError, match=r"\(T >= 2, 22, 3\)"):
        check_plausibility(np.zeros((10, 24, 3)))


def test_jump_after_a_turn_flies_the_new_way():
    """Flight velocities follow the heading: a forward jump after a left turn goes towards +X."""
    from trainer.data.procedural import gait, generator, whole
    from trainer.data.procedural.solve import solve

    rng = np.random.default_rng(0)
    while True:
        turn, params = gait.turn(rng)
        if params["side"] == "left" and params["degrees"] == 90:
            break
    jump, _ = whole.jump_forward(rng)
    positions = solve(generator._concat([turn, jump]))
    travel = positions[-1, 0] - positions[turn.frames, 0]
    assert travel[0] > 0.2 and abs(travel[2]) < 0.5 * travel[0]


def test_contact_sheet_draws_rows_side_by_side():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / "contact_sheet.py"
    spec = importlib.util.spec_from_file_location("contact_sheet", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows = module.procedural_rows(2, seed=0)
    sheet = module.build_sheet(rows, rows[:1])
    row = module.draw_row(rows[0][0], rows[0][1])
    assert sheet.width > 2 * row.width and sheet.height == 2 * row.height
    assert len(set(np.asarray(row.convert("L")).ravel().tolist())) > 2  # something was drawn


def test_claps_bring_the_hands_together_in_front():
    p = sample_kind("clap", seed=1).positions
    gap = np.linalg.norm(p[:, 20] - p[:, 21], axis=-1)
    in_front = p[:, [20, 21], 2].mean(axis=1) - p[:, 0, 2]
    assert gap.min() < 0.06 and in_front[gap.argmin()] > 0.2  # hands meet in front of the body
    assert gap[len(p) // 3 : 2 * len(p) // 3].max() > 0.2  # and part again between claps
