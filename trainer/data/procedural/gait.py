"""Locomotion primitives: walking, jogging, running (forward, backward, curving), side steps,
turning on the spot and marching in place.

The leg curves are a simple but honest gait cycle over the phase (0 = heel strike): the hip
swings between flexion and extension, the knee has a small stance bump and a large swing peak,
the ankle dorsiflexes in mid-stance and plantarflexes at push-off (shapes after Winter's
normative gait data). Arms swing opposite to the legs. The root is not animated: `solve` moves it
so that the stance foot stays planted, so the speed is whatever stride length x cadence gives
(measured afterwards and reported in the parameters).

Each primitive takes a numpy Generator and returns `(Body, params)`.
"""

from __future__ import annotations

import numpy as np

from .body import (
    SIDES,
    Y_AXIS,
    Body,
    bend_elbow,
    bend_spine,
    bump,
    envelope,
    leg,
    neutral_body,
    raise_arm,
    side_sign,
    smooth_step,
    tilt_pelvis,
)
from .solve import DT

# name: (steps per minute range, hip swing amplitude deg, knee swing peak deg, knee stance bump deg,
#        stance fraction of the cycle, trunk lean deg, elbow bend deg)
GAITS = {
    "walk": ((95, 125), (20.0, 28.0), (55.0, 65.0), (8.0, 15.0), 0.60, 3.0, 15.0),
    "jog": ((150, 165), (26.0, 32.0), (80.0, 95.0), (25.0, 32.0), 0.42, 7.0, 75.0),
    "run": ((165, 185), (30.0, 37.0), (95.0, 115.0), (30.0, 38.0), 0.36, 10.0, 85.0),
}


SWING_SLOPE = 0.25  # swing-end hip speed relative to stance: keeps the late-swing overshoot human-sized


def _periodic_bump(phase: np.ndarray, centre: float, width: float) -> np.ndarray:
    """Gaussian bump on the unit circle of phases, peak 1 at `centre`."""
    d = (phase - centre + 0.5) % 1.0 - 0.5
    return np.exp(-0.5 * (d / width) ** 2)


def leg_curves(
    phase: np.ndarray, hip_amp: float, knee_peak: float, knee_stance: float, stance: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hip flexion, knee flexion and ankle dorsiflexion (degrees) over the gait phase `(T,)`."""
    phase = phase % 1.0
    # Hip: swept back at a constant rate through stance (the body then moves at a steady speed
    # over the planted foot), returned forward through swing on a Hermite curve whose end slopes
    # are a fraction of the stance slope (late-swing flexion peak, then the leg reaches down).
    slope = -2.0 * hip_amp / stance
    s = (phase - stance) / (1.0 - stance)
    m = SWING_SLOPE * slope * (1.0 - stance)
    swing = (
        -hip_amp * (2 * s**3 - 3 * s**2 + 1)
        + hip_amp * (-2 * s**3 + 3 * s**2)
        + m * (s**3 - 2 * s**2 + s)
        + m * (s**3 - s**2)
    )
    # Offset: gait hips flex more than they extend (about +30 / -10 deg in walking).
    hip = np.where(phase < stance, hip_amp + slope * phase, swing) + 0.5 * hip_amp
    knee = (
        3.0
        + knee_stance * _periodic_bump(phase, 0.25 * stance, 0.07)
        + knee_peak * _periodic_bump(phase, stance + 0.5 * (1.0 - stance), 0.11)
    )
    ankle = (
        8.0 * _periodic_bump(phase, 0.65 * stance, 0.1)
        - 18.0 * _periodic_bump(phase, stance, 0.05)
        - 4.0 * _periodic_bump(phase, 0.05, 0.04)
    )
    return hip, knee, ankle


def cycle(body: Body, phase: np.ndarray, weight: np.ndarray, gait: str, rng: np.random.Generator) -> dict:
    """Write one gait into `body` for left-leg phase `(T,)` scaled by `weight` `(T,)`; returns its parameters."""
    cadence_range, hip_range, knee_range, stance_knee_range, stance, lean, elbow = GAITS[gait]
    hip_amp = rng.uniform(*hip_range)
    knee_peak = rng.uniform(*knee_range)
    knee_stance = rng.uniform(*stance_knee_range)
    hips = {}
    for side, offset in zip(SIDES, (0.0, 0.5)):
        hip, knee, ankle = leg_curves(phase + offset, hip_amp, knee_peak, knee_stance, stance)
        # The knee fades in faster than the hip so the first steps already lift the foot clear of
        # the floor rather than shuffling it.
        leg(body, side, hip * weight, knee * np.sqrt(weight), ankle * weight)
        hips[side] = hip
        in_stance = ((phase + offset) % 1.0) < stance
        # Both feet stay down while the gait fades in; at the end the stance pattern runs on, so
        # the last steps close the feet under the body instead of sliding them together.
        starting = (weight < 0.15) & (np.arange(len(weight)) < len(weight) // 2)
        body.contacts[:, SIDES.index(side)] = in_stance | starting
    swing = 0.9 if gait == "walk" else 1.1
    for side, other in (("left", "right"), ("right", "left")):
        raise_arm(body, side, forward=swing * (hips[other] - 0.3 * hip_amp) * weight, sideways=4.0 * weight)
        bend_elbow(body, side, (elbow + 0.25 * elbow * np.sin(2 * np.pi * phase)) * weight)
    tilt_pelvis(body, lean * weight)
    bend_spine(body, twist_left=3.0 * np.sin(2 * np.pi * phase) * weight)
    body.rotate("pelvis", Y_AXIS, -4.0 * np.sin(2 * np.pi * phase) * weight)
    return {"hip_amplitude": round(hip_amp, 1)}


# direction -> heading reached after the first steps, degrees (left is +Y rotation, towards +X)
TOWARD = {"diagonal_left": 45, "diagonal_right": -45, "to_left": 90, "to_right": -90}


def _locomotion(rng: np.random.Generator, gait: str, direction: str) -> tuple[Body, dict]:
    steps_per_min = rng.uniform(*GAITS[gait][0])
    cycle_seconds = 120.0 / steps_per_min
    cycles = int(rng.integers(3, 7)) if gait == "walk" else int(rng.integers(4, 9))
    frames = int(min(196, round((cycles * cycle_seconds + 1.0) / DT)))
    body = neutral_body(frames)
    t = np.arange(frames) * DT
    sign = -1.0 if direction == "backward" else 1.0  # a walk played backwards is a backward walk
    phase = sign * t / cycle_seconds
    weight = envelope(frames, int(0.5 / DT), int(0.5 / DT))
    params = {"gait": gait, "direction": direction, "cadence": round(steps_per_min, 1)}
    params.update(cycle(body, phase, weight, gait, rng))
    if direction.startswith("curve"):
        turn_rate = rng.uniform(20.0, 45.0) * (1.0 if direction == "curve_left" else -1.0)  # deg/s
        body.heading = np.radians(np.cumsum(turn_rate * weight * DT))
        params["turn_degrees"] = round(float(np.degrees(body.heading[-1])), 0)
        params["side"] = direction.split("_")[1]
    if direction in TOWARD:
        # Head off that way: the body turns within the first steps, then goes straight.
        body.heading = np.radians(TOWARD[direction] * smooth_step(t / rng.uniform(0.8, 1.4)))
        params["turn_degrees"] = TOWARD[direction]
        params["side"] = direction.split("_")[1]
    return body, params


def walk(rng: np.random.Generator) -> tuple[Body, dict]:
    return _locomotion(rng, "walk", "forward")


def jog(rng: np.random.Generator) -> tuple[Body, dict]:
    return _locomotion(rng, "jog", "forward")


def run(rng: np.random.Generator) -> tuple[Body, dict]:
    return _locomotion(rng, "run", "forward")


def walk_backward(rng: np.random.Generator) -> tuple[Body, dict]:
    return _locomotion(rng, "walk", "backward")


def walk_curve(rng: np.random.Generator) -> tuple[Body, dict]:
    return _locomotion(rng, "walk", str(rng.choice(["curve_left", "curve_right"])))


def walk_toward(rng: np.random.Generator) -> tuple[Body, dict]:
    return _locomotion(rng, "walk", str(rng.choice(list(TOWARD))))


def run_toward(rng: np.random.Generator) -> tuple[Body, dict]:
    return _locomotion(rng, str(rng.choice(["jog", "run"])), str(rng.choice(list(TOWARD))))


def jog_curve(rng: np.random.Generator) -> tuple[Body, dict]:
    return _locomotion(rng, "jog", str(rng.choice(["curve_left", "curve_right"])))


def side_steps(rng: np.random.Generator) -> tuple[Body, dict]:
    """Step sideways: the leading leg steps out, weight shifts, the trailing leg closes in."""
    side = str(rng.choice(SIDES))
    lead, trail = side, ("right" if side == "left" else "left")
    steps = int(rng.integers(2, 6))
    step_frames = int(rng.integers(14, 22))
    spread = rng.uniform(14.0, 22.0)  # degrees of hip abduction for the step out
    frames = steps * step_frames + 20
    body = neutral_body(frames)
    t = np.arange(frames, dtype=np.float64) - 10
    lead_abd = np.zeros(frames)
    trail_abd = np.zeros(frames)
    for k in range(steps):
        s0 = k * step_frames
        out = smooth_step((t - s0) / (0.35 * step_frames))  # lead swings out
        shift = smooth_step((t - s0 - 0.35 * step_frames) / (0.15 * step_frames))  # weight moves across
        close = smooth_step((t - s0 - 0.5 * step_frames) / (0.35 * step_frames))  # trail closes in
        lead_abd += spread * (out - 0.5 * shift - 0.5 * close)
        trail_abd += spread * (0.5 * shift - 0.5 * close)
        lift_lead = bump(t, s0, s0 + 0.35 * step_frames)
        lift_trail = bump(t, s0 + 0.5 * step_frames, s0 + 0.85 * step_frames)
        # Hip and knee flex together so the lifted foot rises straight up, not forward.
        leg(body, lead, hip=25.0 * lift_lead, knee=50.0 * lift_lead)
        leg(body, trail, hip=25.0 * lift_trail, knee=50.0 * lift_trail)
        body.contacts[:, SIDES.index(lead)] &= lift_lead < 0.05
        body.contacts[:, SIDES.index(trail)] &= lift_trail < 0.05
    leg(body, lead, abduct=lead_abd)
    leg(body, trail, abduct=trail_abd)
    for arm in SIDES:
        raise_arm(body, arm, sideways=4.0)
    return body, {"side": side, "direction": side, "repetitions": steps}


def turn(rng: np.random.Generator) -> tuple[Body, dict]:
    """Turn on the spot by stepping: the planted foot keeps its heading, the lifted one turns."""
    side = str(rng.choice(SIDES))
    degrees = float(rng.choice([45.0, 90.0, 90.0, 135.0, 180.0]))
    steps = int(np.ceil(degrees / 45.0)) + 1
    step_frames = int(rng.integers(10, 15))
    frames = steps * step_frames + 24
    body = neutral_body(frames)
    t = np.arange(frames, dtype=np.float64) - 12
    order = (side, "right" if side == "left" else "left")
    for k in range(steps):
        foot = order[k % 2]
        lift = bump(t, k * step_frames, (k + 1) * step_frames)
        leg(body, foot, hip=20.0 * lift, knee=35.0 * lift, ankle=-5.0 * lift)
        body.contacts[:, SIDES.index(foot)] &= lift < 0.05
    progress = smooth_step(t / (steps * step_frames - 0.5 * step_frames))
    body.heading = np.radians(side_sign(side) * degrees * progress)
    return body, {"side": side, "direction": side, "degrees": int(degrees)}


def march(rng: np.random.Generator) -> tuple[Body, dict]:
    """March in place: knees lifted high, arms swinging, no travel."""
    steps = int(rng.integers(4, 12))
    step_frames = int(rng.integers(9, 14))
    height = rng.uniform(35.0, 65.0)
    frames = steps * step_frames + 20
    body = neutral_body(frames)
    t = np.arange(frames, dtype=np.float64) - 10
    for k in range(steps):
        foot = SIDES[k % 2]
        lift = bump(t, k * step_frames, (k + 1) * step_frames)
        # Knee flexion twice the hip's keeps the shin's tilt opposite to the thigh's: the foot rises straight up.
        leg(body, foot, hip=height * lift, knee=2.0 * height * lift, ankle=-10.0 * lift)
        body.contacts[:, SIDES.index(foot)] &= lift < 0.05
        other = SIDES[(k + 1) % 2]
        raise_arm(body, other, forward=0.6 * height * lift)
        bend_elbow(body, other, 60.0 * lift)
    return body, {"repetitions": steps, "amplitude": "high" if height > 55 else "moderate"}
