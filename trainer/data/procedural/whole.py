"""Whole-body primitives: squats, lunges, sitting, crouching, jumps and hops, kicks, balancing,
bows and stretches.

Closed-chain poses (both feet down while the pelvis moves) go through `legs.place_legs`, so the
feet stay where they are; airborne phases clear the contacts and `solve` flies the root on a
ballistic arc. Each primitive takes a numpy Generator and returns `(Body, params)`.
"""

from __future__ import annotations

import numpy as np

from .arms import HOLD, twist_arm
from .body import SIDES, Body, bend_elbow, bend_spine, bump, leg, neutral_body, raise_arm, smooth_step
from .legs import place_legs
from .solve import DT


def _other(side: str) -> str:
    return "right" if side == "left" else "left"


def _keys(frames: int, times: list[float], values: list[float]) -> np.ndarray:
    """Piecewise smooth curve through (frame, value) keys, eased between each pair."""
    t = np.arange(frames, dtype=np.float64)
    out = np.full(frames, values[0], dtype=np.float64)
    for (t0, v0), (t1, v1) in zip(zip(times[:-1], values[:-1]), zip(times[1:], values[1:])):
        w = smooth_step((t - t0) / max(t1 - t0, 1e-6))
        out = np.where(t >= t0, v0 + (v1 - v0) * w, out)
    return out


def squat(rng: np.random.Generator) -> tuple[Body, dict]:
    reps = int(rng.integers(1, 6))
    rep_frames = int(rng.integers(24, 40))
    deep = bool(rng.random() < 0.5)
    frames = min(196, 2 * HOLD + reps * rep_frames)
    t = np.arange(frames, dtype=np.float64)
    down = sum(bump(t, HOLD + k * rep_frames, HOLD + (k + 1) * rep_frames) for k in range(reps))
    body = neutral_body(frames)
    drop = 0.42 if deep else 0.25
    place_legs(body, drop * down, -0.22 * down if deep else -0.14 * down, (35.0 if deep else 22.0) * down)
    for arm in SIDES:  # arms forward for balance
        raise_arm(body, arm, forward=80.0 * down)
    return body, {"repetitions": reps, "amplitude": "deep" if deep else "shallow"}


def crouch(rng: np.random.Generator) -> tuple[Body, dict]:
    hold = int(rng.integers(10, 50))
    frames = 2 * HOLD + 40 + hold
    body = neutral_body(frames)
    low = _keys(frames, [HOLD, HOLD + 20, HOLD + 20 + hold, HOLD + 40 + hold], [0, 1, 1, 0])
    place_legs(body, 0.46 * low, -0.2 * low, 34.0 * low)
    bend_spine(body, forward=15.0 * low)
    for arm in SIDES:
        raise_arm(body, arm, forward=45.0 * low)
        bend_elbow(body, arm, 30.0 * low)
    return body, {"hold_seconds": round(hold * DT, 1)}


def _sit(frames: int, seated: np.ndarray, lean: np.ndarray) -> Body:
    body = neutral_body(frames)
    # Seat about 45 cm high: the pelvis goes down and back over the seat, the trunk leans
    # forward while the weight moves and comes back up once seated.
    place_legs(body, 0.42 * seated, -0.32 * seated, 8.0 * seated + 30.0 * lean)
    for arm in SIDES:
        raise_arm(body, arm, forward=30.0 * seated + 20.0 * lean)
        bend_elbow(body, arm, 40.0 * seated)
    return body


def sit_down(rng: np.random.Generator) -> tuple[Body, dict]:
    move = int(rng.integers(24, 40))
    frames = HOLD + move + int(rng.integers(10, 30))
    t = np.arange(frames, dtype=np.float64)
    seated = smooth_step((t - HOLD) / move)
    return _sit(frames, seated, bump(t, HOLD, HOLD + move)), {}


def stand_up(rng: np.random.Generator) -> tuple[Body, dict]:
    body, params = sit_down(rng)
    flipped = Body(body.quats[::-1].copy(), body.heading[::-1].copy(), body.contacts[::-1].copy())
    return flipped, params


def lunge(rng: np.random.Generator) -> tuple[Body, dict]:
    """Step forward into a lunge, sink, rise and step back."""
    side = str(rng.choice(SIDES))
    step = float(rng.uniform(0.5, 0.75))
    hold = int(rng.integers(4, 20))
    frames = 2 * HOLD + 64 + hold
    t = np.arange(frames, dtype=np.float64)
    a, b = HOLD, HOLD + 16  # front foot swings out
    c, d = b + 16, b + 16 + hold  # sink, hold
    e, f = d + 16, d + 32  # rise, step back
    out = _keys(frames, [a, b, e, f], [0, 1, 1, 0])
    lift = bump(t, a, b) + bump(t, e, f)
    sink = _keys(frames, [b, c, d, e], [0, 1, 1, 0])
    shift = {side: np.stack([0.12 * lift, step * out], axis=-1)}
    body = neutral_body(frames)
    # The back heel rises as the body sinks: a flat back foot would need an impossible ankle bend.
    place_legs(
        body,
        0.05 * out + 0.27 * sink,
        0.45 * step * out,
        5.0 * sink,
        ankle_shift=shift,
        heel_raise={_other(side): 45.0 * np.maximum(out, sink)},
    )
    body.contacts[:, SIDES.index(side)] = lift < 0.02
    for arm in SIDES:
        raise_arm(body, arm, sideways=15.0 * sink)
    return body, {"side": side}


def _flights(frames: int, starts: list[int], airtime: int) -> np.ndarray:
    air = np.zeros(frames, dtype=bool)
    for s in starts:
        air[s : s + airtime] = True
    return air


def jump(rng: np.random.Generator, forward: bool = False) -> tuple[Body, dict]:
    """Crouch, spring off both feet, fly (ballistic), land and absorb; `reps` jumps in a row."""
    reps = int(rng.integers(1, 4))
    airtime = int(rng.integers(6, 10))  # 0.30-0.45 s in the air: 11-25 cm of rise
    rep_frames = airtime + 20
    frames = 2 * HOLD + reps * rep_frames + 6
    t = np.arange(frames, dtype=np.float64)
    starts = [HOLD + 10 + k * rep_frames for k in range(reps)]
    air = _flights(frames, starts, airtime)
    # Crouch before take-off and after landing; legs extend and toes point while airborne.
    crouch_ = sum(bump(t, s - 10, s) + bump(t, s + airtime, s + airtime + 12) for s in starts)
    crouch_ = np.minimum(crouch_, 1.0)
    body = neutral_body(frames)
    place_legs(body, 0.2 * crouch_, -0.08 * crouch_, 20.0 * crouch_)
    tuck = sum(bump(t, s, s + airtime) for s in starts)
    for side in SIDES:
        leg(body, side, hip=10.0 * tuck, knee=20.0 * tuck, ankle=-25.0 * tuck)
        swing = sum(bump(t, s - 10, s + airtime) for s in starts)
        raise_arm(body, side, forward=-30.0 * crouch_ * (1 - swing) + 110.0 * swing * (tuck > 0.01))
    body.contacts[air] = False
    distance = 0.0
    if forward:
        speed = float(rng.uniform(1.2, 2.4))
        body.flight_velocity = np.where(air[:, None], [0.0, 0.0, speed], np.nan)
        distance = round(speed * airtime * DT, 2)
    return body, {
        "repetitions": reps,
        "direction": "forward" if forward else "up",
        "distance": distance,
        "airtime": round(airtime * DT, 2),
    }


def jump_up(rng: np.random.Generator) -> tuple[Body, dict]:
    return jump(rng, forward=False)


def jump_forward(rng: np.random.Generator) -> tuple[Body, dict]:
    return jump(rng, forward=True)


def hop(rng: np.random.Generator) -> tuple[Body, dict]:
    """Lift one leg and hop on the other a few times."""
    side = str(rng.choice(SIDES))  # the leg hopped on
    reps = int(rng.integers(2, 7))
    airtime = int(rng.integers(4, 7))
    rep_frames = airtime + 8
    frames = 2 * HOLD + 16 + reps * rep_frames
    t = np.arange(frames, dtype=np.float64)
    starts = [HOLD + 12 + k * rep_frames for k in range(reps)]
    air = _flights(frames, starts, airtime)
    lifted = _keys(frames, [HOLD, HOLD + 10, frames - HOLD - 4, frames - 2], [0, 1, 1, 0])
    body = neutral_body(frames)
    leg(body, _other(side), hip=35.0 * lifted, knee=80.0 * lifted)
    give = np.minimum(sum(bump(t, s - 6, s) + bump(t, s + airtime, s + airtime + 6) for s in starts), 1.0)
    leg(body, side, hip=15.0 * give, knee=30.0 * give, ankle=15.0 * give - 20.0 * air)
    for arm in SIDES:
        raise_arm(body, arm, sideways=25.0 * lifted)
    body.contacts[:, SIDES.index(_other(side))] = lifted < 0.02
    body.contacts[air] = False
    return body, {"side": side, "repetitions": reps}


def jumping_jacks(rng: np.random.Generator) -> tuple[Body, dict]:
    reps = int(rng.integers(2, 7))
    rep_frames = int(rng.integers(14, 20))
    airtime = 4
    frames = 2 * HOLD + reps * rep_frames + 4
    t = np.arange(frames, dtype=np.float64)
    starts = []
    for k in range(reps):
        s = HOLD + k * rep_frames
        starts += [s, s + rep_frames // 2]
    # The legs open and close only while airborne: planted feet cannot spread.
    open_ = np.zeros(frames)
    for i, s in enumerate(starts):
        move = smooth_step((t - s) / (airtime - 1))
        open_ = open_ + (move if i % 2 == 0 else -move)
    body = neutral_body(frames)
    for side in SIDES:
        twist_arm(body, side, -70.0 * open_)
        raise_arm(body, side, sideways=150.0 * open_)
        leg(body, side, abduct=12.0 * open_, knee=10.0 * np.isin(np.arange(frames), starts))
    body.contacts[_flights(frames, starts, airtime)] = False
    return body, {"repetitions": reps}


def kick(rng: np.random.Generator) -> tuple[Body, dict]:
    side = str(rng.choice(SIDES))
    high = bool(rng.random() < 0.5)
    frames = 2 * HOLD + 30
    body = neutral_body(frames)
    k0 = HOLD
    chamber = _keys(frames, [k0, k0 + 8, k0 + 12, k0 + 20, k0 + 28], [0, 1, 1, 1, 0])
    extend = _keys(frames, [k0 + 8, k0 + 12, k0 + 16, k0 + 20], [0, 1, 1, 0])
    hip = (55.0 + (35.0 if high else 15.0) * extend) * chamber
    leg(body, side, hip=hip, knee=95.0 * chamber * (1 - extend) + 5.0 * extend, ankle=-20.0 * extend)
    leg(body, _other(side), knee=10.0 * chamber)
    bend_spine(body, forward=-10.0 * extend)
    for arm in SIDES:  # guard
        raise_arm(body, arm, forward=35.0 * chamber, sideways=10.0 * chamber)
        bend_elbow(body, arm, 90.0 * chamber)
    body.contacts[:, SIDES.index(side)] = chamber < 0.02
    return body, {"side": side, "amplitude": "high" if high else "low"}


def balance(rng: np.random.Generator) -> tuple[Body, dict]:
    side = str(rng.choice(SIDES))  # the leg stood on
    hold = int(rng.integers(30, 110))
    frames = 2 * HOLD + 24 + hold
    lifted = _keys(frames, [HOLD, HOLD + 12, HOLD + 12 + hold, HOLD + 24 + hold], [0, 1, 1, 0])
    body = neutral_body(frames)
    t = np.arange(frames) * DT
    sway = 3.0 * np.sin(2 * np.pi * 0.7 * t) * lifted  # small corrections, as balancing people make
    leg(body, _other(side), hip=float(rng.uniform(40, 80)) * lifted, knee=85.0 * lifted)
    leg(body, side, abduct=sway)
    for arm in SIDES:
        raise_arm(body, arm, sideways=(70.0 + sway) * lifted)
    body.contacts[:, SIDES.index(_other(side))] = lifted < 0.02
    return body, {"side": side, "hold_seconds": round(hold * DT, 1)}


def bow(rng: np.random.Generator) -> tuple[Body, dict]:
    depth = float(rng.uniform(20.0, 70.0))
    hold = int(rng.integers(4, 30))
    frames = 2 * HOLD + 32 + hold
    bent = _keys(frames, [HOLD, HOLD + 16, HOLD + 16 + hold, HOLD + 32 + hold], [0, 1, 1, 0])
    body = neutral_body(frames)
    # Hips go back as the trunk folds so the weight stays over the feet.
    place_legs(body, 0.01 * bent, -0.12 * np.sin(np.radians(depth)) * bent, 0.7 * depth * bent)
    bend_spine(body, forward=0.3 * depth * bent)
    return body, {"amplitude": "deeply" if depth > 45 else "slightly"}


def stretch_up(rng: np.random.Generator) -> tuple[Body, dict]:
    hold = int(rng.integers(10, 50))
    frames = 2 * HOLD + 40 + hold
    up = _keys(frames, [HOLD, HOLD + 20, HOLD + 20 + hold, HOLD + 40 + hold], [0, 1, 1, 0])
    body = neutral_body(frames)
    for arm in SIDES:
        raise_arm(body, arm, forward=170.0 * up)
        bend_elbow(body, arm, -8.0 * up)
    bend_spine(body, forward=-8.0 * up)
    return body, {"hold_seconds": round(hold * DT, 1)}


def side_stretch(rng: np.random.Generator) -> tuple[Body, dict]:
    side = str(rng.choice(SIDES))  # the side leaned towards
    hold = int(rng.integers(10, 40))
    frames = 2 * HOLD + 40 + hold
    lean = _keys(frames, [HOLD, HOLD + 20, HOLD + 20 + hold, HOLD + 40 + hold], [0, 1, 1, 0])
    body = neutral_body(frames)
    arm = _other(side)  # the arm on the far side goes over the head
    twist_arm(body, arm, -70.0 * lean)
    raise_arm(body, arm, sideways=160.0 * lean)
    bend_spine(body, right=(25.0 if side == "right" else -25.0) * lean)
    return body, {"side": side, "hold_seconds": round(hold * DT, 1)}


def toe_touch(rng: np.random.Generator) -> tuple[Body, dict]:
    reps = int(rng.integers(1, 4))
    rep_frames = int(rng.integers(30, 45))
    frames = min(196, 2 * HOLD + reps * rep_frames)
    t = np.arange(frames, dtype=np.float64)
    down = np.minimum(1.3 * sum(bump(t, HOLD + k * rep_frames, HOLD + (k + 1) * rep_frames) for k in range(reps)), 1.0)
    body = neutral_body(frames)
    place_legs(body, 0.03 * down, -0.13 * down, 75.0 * down)
    bend_spine(body, forward=40.0 * down)
    for arm in SIDES:  # arms hang towards the floor from the folded trunk, hands by the feet
        raise_arm(body, arm, forward=105.0 * down)
        bend_elbow(body, arm, -8.0 * down)
    return body, {"repetitions": reps}
