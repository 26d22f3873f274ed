"""Upper-body primitives: waves, claps, punches, throws, reaching, arm raises and circles.

Feet stay planted (both contacts on) so the root never moves. Each primitive takes a numpy
Generator and returns `(Body, params)`; `side` is "left", "right" or "both".
"""

from __future__ import annotations

import numpy as np

from .body import SIDES, X_AXIS, Body, bend_elbow, bend_spine, bump, envelope, neutral_body, raise_arm, side_sign
from .legs import place_legs  # leaning forward moves the hips back over the feet

HOLD = 8  # frames of quiet standing before and after an action, so it starts and ends at rest


def _frames_for(reps: int, rep_frames: int, rise: int) -> tuple[int, np.ndarray, np.ndarray]:
    frames = min(196, HOLD * 2 + 2 * rise + reps * rep_frames)
    t = np.arange(frames, dtype=np.float64)
    weight = envelope(frames - 2 * HOLD, rise, rise)
    weight = np.concatenate([np.zeros(HOLD), weight, np.zeros(HOLD)])
    return frames, t, weight


def twist_arm(body: Body, side: str, degrees: np.ndarray | float) -> Body:
    """Rotate the upper arm about its own bone: negative turns it out (a bent forearm points up
    when the arm is raised sideways), positive turns it in (forearms point at each other in front)."""
    return body.rotate_local(f"{side}_shoulder", X_AXIS, degrees)


def _arms(side: str) -> tuple[str, ...]:
    return SIDES if side == "both" else (side,)


def wave(rng: np.random.Generator) -> tuple[Body, dict]:
    side = str(rng.choice(["left", "right", "left", "right", "both"]))
    reps = int(rng.integers(2, 7))
    rep_frames = int(rng.integers(7, 12))
    high = bool(rng.random() < 0.5)
    frames, t, weight = _frames_for(reps, rep_frames, 12)
    body = neutral_body(frames)
    swing = np.sin(2 * np.pi * (t - HOLD - 12) / rep_frames) * (weight > 0.99) * weight
    for arm in _arms(side):
        twist_arm(body, arm, -90.0 * weight)
        raise_arm(body, arm, sideways=(140.0 if high else 85.0) * weight, forward=10.0 * weight)
        bend_elbow(body, arm, (55.0 if high else 75.0) * weight + 25.0 * swing)
    return body, {"side": side, "repetitions": reps, "amplitude": "high" if high else "shoulder height"}


def clap(rng: np.random.Generator) -> tuple[Body, dict]:
    reps = int(rng.integers(2, 9))
    rep_frames = int(rng.integers(6, 10))
    frames, t, weight = _frames_for(reps, rep_frames, 10)
    body = neutral_body(frames)
    apart = 0.5 - 0.5 * np.cos(2 * np.pi * (t - HOLD - 10) / rep_frames)  # 0 when the hands meet
    apart = np.where(weight > 0.99, apart, 1.0)
    for arm in SIDES:
        # Turned in (positive twist) the bent forearms point at each other, so the hands meet at
        # the midline in front of the chest (wrists about 2 cm apart) and part by about 30 cm.
        twist_arm(body, arm, 40.0 * weight)
        raise_arm(body, arm, forward=55.0 * weight, sideways=(-20.0 + 27.0 * apart) * weight)
        bend_elbow(body, arm, 55.0 * weight)
    return body, {"repetitions": reps}


def punch(rng: np.random.Generator) -> tuple[Body, dict]:
    side = str(rng.choice(["left", "right", "both"]))
    reps = int(rng.integers(1, 6))
    rep_frames = int(rng.integers(8, 13))
    frames, t, weight = _frames_for(reps, rep_frames, 10)
    body = neutral_body(frames)
    start = HOLD + 10
    twist = np.zeros(frames)
    extend = {arm: np.zeros(frames) for arm in SIDES}
    for k in range(reps):
        arm = side if side != "both" else SIDES[k % 2]
        strike = bump(t, start + k * rep_frames, start + (k + 1) * rep_frames)
        extend[arm] += strike
        twist += -side_sign(arm) * 15.0 * strike  # the trunk turns into the punch
    for arm in SIDES:  # guard: fists up in front of the chin (arm turned in), elbows bent
        twist_arm(body, arm, 35.0 * weight)
        raise_arm(body, arm, forward=(35.0 + 50.0 * extend[arm]) * weight, sideways=-5.0 * weight)
        bend_elbow(body, arm, (120.0 - 115.0 * extend[arm]) * weight)
    bend_spine(body, twist_left=twist)
    return body, {"side": side, "repetitions": reps}


def throw(rng: np.random.Generator) -> tuple[Body, dict]:
    """Overhand throw: wind up with the hand behind the head, then whip the arm forward and down."""
    side = str(rng.choice(SIDES))
    windup, release = int(rng.integers(12, 18)), int(rng.integers(6, 10))
    frames = 2 * HOLD + windup + release + 24
    t = np.arange(frames, dtype=np.float64)
    body = neutral_body(frames)
    s = side_sign(side)
    back = np.interp(t, [HOLD, HOLD + windup, HOLD + windup + release, frames - HOLD], [0, 1, 0, 0])
    fwd = np.interp(t, [HOLD, HOLD + windup, HOLD + windup + release, frames - HOLD], [0, 0, 1, 0])
    twist_arm(body, side, -90.0 * back)
    raise_arm(body, side, sideways=100.0 * back + 30.0 * fwd, forward=10.0 * back + 70.0 * fwd)
    bend_elbow(body, side, 100.0 * back + 10.0 * fwd)
    bend_spine(body, forward=-5.0 * back + 20.0 * fwd, twist_left=s * 25.0 * back - s * 25.0 * fwd)
    other = "right" if side == "left" else "left"
    raise_arm(body, other, forward=40.0 * back + 10.0 * fwd)
    return body, {"side": side}


REACH_TARGETS = {  # direction -> (forward flexion, sideways abduction, trunk forward lean) degrees
    "forward": (85.0, 0.0, 15.0),
    "up": (165.0, 10.0, -5.0),
    "to the side": (10.0, 85.0, 0.0),
    "down": (40.0, 0.0, 55.0),
}


def reach(rng: np.random.Generator) -> tuple[Body, dict]:
    side = str(rng.choice(["left", "right", "both"]))
    direction = str(rng.choice(list(REACH_TARGETS)))
    hold = int(rng.integers(6, 30))
    frames, t, weight = _frames_for(1, hold, 16)
    body = neutral_body(frames)
    forward, sideways, lean = REACH_TARGETS[direction]
    for arm in _arms(side):
        raise_arm(body, arm, forward=forward * weight, sideways=sideways * weight)
        bend_elbow(body, arm, -8.0 * weight)  # straighten the relaxed elbow to reach

    place_legs(body, 0.02 * weight * (lean > 20), -0.15 * np.sin(np.radians(lean)) * weight, lean * weight * 0.6)
    bend_spine(body, forward=lean * weight * 0.4)
    return body, {"side": side, "direction": direction}


def raise_arms(rng: np.random.Generator) -> tuple[Body, dict]:
    side = str(rng.choice(["left", "right", "both"]))
    plane = str(rng.choice(["forward", "sideways"]))
    height = float(rng.choice([90.0, 170.0]))
    reps = int(rng.integers(1, 4))
    rep_frames = int(rng.integers(20, 32))
    frames = min(196, 2 * HOLD + reps * rep_frames)
    t = np.arange(frames, dtype=np.float64)
    lift = sum(bump(t, HOLD + k * rep_frames, HOLD + (k + 1) * rep_frames) for k in range(reps))
    lift = np.minimum(lift * 1.4, 1.0)  # hold at the top for a moment
    body = neutral_body(frames)
    for arm in _arms(side):
        if plane == "forward":
            raise_arm(body, arm, forward=height * lift)
        else:
            twist_arm(body, arm, -60.0 * lift * (height > 100))  # the arm turns out to go overhead
            raise_arm(body, arm, sideways=height * lift)
        bend_elbow(body, arm, -8.0 * lift)
    return body, {
        "side": side,
        "direction": plane,
        "repetitions": reps,
        "amplitude": "overhead" if height > 100 else "shoulder height",
    }


def arm_circles(rng: np.random.Generator) -> tuple[Body, dict]:
    side = str(rng.choice(["left", "right", "both", "both"]))
    direction = str(rng.choice(["forward", "backward"]))
    reps = int(rng.integers(3, 9))
    rep_frames = int(rng.integers(10, 18))
    radius = float(rng.uniform(12.0, 35.0))
    frames, t, weight = _frames_for(reps, rep_frames, 12)
    body = neutral_body(frames)
    angle = 2 * np.pi * (t - HOLD - 12) / rep_frames * (1.0 if direction == "forward" else -1.0)
    active = np.clip((t - HOLD - 12) / 6.0, 0.0, 1.0) * weight
    for arm in _arms(side):
        raise_arm(
            body,
            arm,
            forward=radius * np.sin(angle) * active,
            sideways=85.0 * weight + radius * (np.cos(angle) - 1.0) * active,
        )
        bend_elbow(body, arm, -8.0 * weight)
    return body, {
        "side": side,
        "direction": direction,
        "repetitions": reps,
        "amplitude": "large" if radius > 25 else "small",
    }
