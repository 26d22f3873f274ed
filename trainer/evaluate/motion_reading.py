"""Read a motion the way a person would describe it, with plain geometry (no learned model).

Why: judging whether text-to-motion did what the prompt said with a learned evaluator grades the
model with a second model trained on the same captions. These readings are measured on the joints
themselves: does the pelvis travel, which way relative to where the body faces, how fast, how far
it turns, which hands go above the head and how often they swing while up, how long both feet are
off the floor, how far the pelvis drops, how far the trunk bends, how high a foot goes. A prompt's
rule (the held-out prompts under benchmarks/prompts/) is checked against them by `check_rule`.

Input: canonical motion, joints `(T, 22, 3)` float32/float64, metres, Y up, 20 fps, SMPL-22 order
(engine.motion.skeleton); frame 0 need not face +Z (directions are taken in the body's own frame,
from engine.motion.heading.heading_angle, frame by frame).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from engine.motion.heading import heading_angle
from engine.motion.skeleton import FPS, JOINT_INDEX, bone_lengths

PELVIS, NECK, HEAD = JOINT_INDEX["pelvis"], JOINT_INDEX["neck"], JOINT_INDEX["head"]
WRISTS = {"left": JOINT_INDEX["left_wrist"], "right": JOINT_INDEX["right_wrist"]}
SHOULDERS = {"left": JOINT_INDEX["left_shoulder"], "right": JOINT_INDEX["right_shoulder"]}
ANKLES = {"left": JOINT_INDEX["left_ankle"], "right": JOINT_INDEX["right_ankle"]}
KNEES = {"left": JOINT_INDEX["left_knee"], "right": JOINT_INDEX["right_knee"]}
FEET = [JOINT_INDEX[n] for n in ("left_ankle", "right_ankle", "left_foot", "right_foot")]

# Thresholds (metres, seconds, m/s). Checked on the Bandai-Namco clips: see
# benchmarks/bench_prompt_following.py, whose Real row reports how rules built on them fare.
MIN_TRAVEL_M = 0.4  # the pelvis ending less than this from where it started: no locomotion
MIN_TRAVEL_SPEED = 0.12  # ... and so is a mean travel speed below this (side steps: ~0.17)
ABOVE_HEAD_M = 0.05  # a wrist this far above the head joint is "above the head"
RAISED_M = -0.10  # a wrist higher than this above its shoulder (10 cm below it) is "raised": Bandai's
# feminine-style raises and waves stop just under shoulder height
HOLD_S = 0.25  # a hand counts as up when it stays up this long in all
SWING_M = 0.06  # a wave swing: the wrist moves sideways this far between turning points
AIRBORNE_M = 0.05  # lowest foot joint this far above its floor level: off the ground
STILL_JOINT_SPEED = 0.15  # every joint's mean speed (m/s) below this: standing still (a waving wrist: ~0.5)
STILL_TRAVEL_M = 0.3
CLAP_NEAR_M, CLAP_APART_M = 0.15, 0.25  # wrists closer than NEAR after being APART: one clap
CONTACT_M = 0.05  # a foot joint this near its floor level (both frames of a step) is planted (GMD's 5 cm)


@dataclass(frozen=True)
class MotionReading:
    """What a person would say about a motion, as numbers. Lengths in metres, angles in degrees
    (positive turn / lean = towards the body's left), times in seconds."""

    duration_s: float
    locomotion: str  # "none", "forward", "backward", "left", "right" (travel in the body's own frame)
    speed_ms: float  # pelvis path length (smoothed over 0.5 s) / duration
    travel_m: float  # that path length
    forward_m: float  # travel along the body's facing, summed frame by frame (negative: backwards)
    left_m: float  # travel towards the body's left (negative: to its right)
    turn_deg: float  # heading at the end minus at the start, unwrapped; positive = turned left
    left_above_head_s: float  # time the left wrist is above the head
    right_above_head_s: float
    left_raised_s: float  # time the left wrist is above the left shoulder
    right_raised_s: float
    left_wave_swings: int  # sideways swings of the left wrist while raised
    right_wave_swings: int
    airborne_s: float  # longest span with every foot joint off the floor
    jump_height_m: float  # highest lift of the lowest foot joint above the floor
    squat_depth_m: float  # standing pelvis height minus the lowest pelvis height
    start_drop_m: float  # standing pelvis height minus the pelvis height over the first 0.5 s
    end_drop_m: float  # ... over the last 0.5 s (sitting down ends low)
    bow_deg: float  # most forward lean of the trunk (pelvis -> neck) from vertical
    back_lean_deg: float  # most backward lean (positive = leaning back)
    side_lean_deg: float  # largest sideways lean, signed: positive = towards the body's left
    left_reach_m: float  # most the left wrist gets in front of its shoulder
    right_reach_m: float
    left_foot_height_m: float  # highest the left ankle rises above its floor level
    right_foot_height_m: float
    left_knee_lift_m: float  # highest the left knee rises above its usual height
    right_knee_lift_m: float
    lowest_wrist_m: float  # the lowest either wrist gets above the floor (toe touches)
    claps: int  # times the wrists come together after being apart
    joint_speed_ms: float  # mean speed of the fastest joint (its speed averaged over the motion)
    still: bool  # little travel and little joint motion
    foot_skate_ms: float  # median horizontal speed of foot joints while planted (nan: never planted)
    bone_drift_pct: float  # relative std of each bone's length within the clip, mean over bones, %

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def hand_above_head(self) -> str:
        return _sides(self.left_above_head_s, self.right_above_head_s)

    @property
    def hand_raised(self) -> str:
        return _sides(self.left_raised_s, self.right_raised_s)


def _sides(left_s: float, right_s: float) -> str:
    up = [left_s >= HOLD_S, right_s >= HOLD_S]
    return {(True, True): "both", (True, False): "left", (False, True): "right"}.get(tuple(up), "none")


def _smooth(values: np.ndarray, seconds: float) -> np.ndarray:
    """Centred moving average over `seconds` along axis 0 (edges held), same shape."""
    width = int(round(seconds * FPS)) | 1
    if width <= 1 or len(values) < 3:
        return values
    pad = width // 2
    padded = np.concatenate([np.repeat(values[:1], pad, 0), values, np.repeat(values[-1:], pad, 0)])
    kernel = np.ones(width) / width
    flat = padded.reshape(len(padded), -1)
    out = np.stack([np.convolve(flat[:, k], kernel, mode="valid") for k in range(flat.shape[1])], 1)
    return out.reshape(values.shape)


def _longest_run(mask: np.ndarray) -> int:
    best = run = 0
    for value in mask:
        run = run + 1 if value else 0
        best = max(best, run)
    return best


def _swings(lateral: np.ndarray, active: np.ndarray) -> int:
    """Sideways swings of at least SWING_M, counted only within `active` frames. A swing is a move
    from one turning point to the next (hysteresis: a turning point counts once the wrist has come
    back SWING_M from it)."""
    count, direction = 0, 0
    low = high = extreme = 0.0
    started = False
    for value, on in zip(lateral, active):
        if not on:
            started, direction = False, 0
            continue
        if not started:
            started, low, high = True, value, value
            continue
        if direction == 0:
            low, high = min(low, value), max(high, value)
            if value - low >= SWING_M or high - value >= SWING_M:
                direction, extreme, count = (1 if value - low >= SWING_M else -1), value, count + 1
        elif direction > 0:
            extreme = max(extreme, value)
            if extreme - value >= SWING_M:
                direction, extreme, count = -1, value, count + 1
        else:
            extreme = min(extreme, value)
            if value - extreme >= SWING_M:
                direction, extreme, count = 1, value, count + 1
    return count


def _claps(distance: np.ndarray) -> int:
    count, apart = 0, bool(distance[0] > CLAP_APART_M) if len(distance) else False
    for value in distance:
        if apart and value < CLAP_NEAR_M:
            count, apart = count + 1, False
        elif value > CLAP_APART_M:
            apart = True
    return count


def foot_skate(joints: np.ndarray) -> float:
    """Median horizontal speed (m/s) of the foot joints (ankles, toes) over the frame steps where the
    joint stays within CONTACT_M of its floor level (its 5th-percentile height) in both frames;
    nan when no foot joint is ever that low for a step. Real mocap: a few mm/s."""
    joints = np.asarray(joints, dtype=np.float64)
    feet = joints[:, FEET]
    low = feet[..., 1] - np.percentile(feet[..., 1], 5, axis=0) < CONTACT_M
    planted = low[1:] & low[:-1]
    speed = np.linalg.norm(np.diff(feet[..., [0, 2]], axis=0), axis=-1) * FPS
    return float(np.median(speed[planted])) if planted.any() else float("nan")


def bone_drift(joints: np.ndarray) -> float:
    """Relative spread of bone lengths within a clip, %: each bone's length std / mean over the
    frames, averaged over the 21 bones (0 on a rigid skeleton)."""
    lengths = bone_lengths(np.asarray(joints, dtype=np.float64))[:, 1:]
    return float(100.0 * np.mean(lengths.std(axis=0) / np.maximum(lengths.mean(axis=0), 1e-9)))


def read_motion(joints: np.ndarray) -> MotionReading:
    """Readings of one motion `(T, 22, 3)` metres, Y up, 20 fps (see MotionReading)."""
    joints = np.asarray(joints, dtype=np.float64)
    frames = len(joints)
    if joints.ndim != 3 or joints.shape[1:] != (22, 3) or frames < 2:
        raise ValueError(f"expected joints of shape (T >= 2, 22, 3), got {joints.shape}")
    dt = 1.0 / FPS
    duration = frames * dt

    # Facing, frame by frame: (sin h, 0, cos h) forward and (cos h, 0, -sin h) to the body's left.
    heading = _smooth(np.unwrap(heading_angle(joints)), 0.25)
    forward = np.stack([np.sin(heading), np.zeros(frames), np.cos(heading)], 1)
    left = np.stack([np.cos(heading), np.zeros(frames), -np.sin(heading)], 1)
    edge = max(1, min(5, frames // 4))
    turn = float(np.degrees(heading[-edge:].mean() - heading[:edge].mean()))

    # Travel: the pelvis on the floor, smoothed over half a second (gait sway out).
    root = _smooth(joints[:, PELVIS] * np.array([1.0, 0.0, 1.0]), 0.5)
    step = np.diff(root, axis=0)
    travel = float(np.linalg.norm(step, axis=1).sum())
    forward_m = float((step * forward[1:]).sum())
    left_m = float((step * left[1:]).sum())
    speed = travel / max(duration - dt, dt)
    net = float(np.linalg.norm(root[-1] - root[0]))
    if net < MIN_TRAVEL_M or speed < MIN_TRAVEL_SPEED:
        locomotion = "none"
    elif abs(forward_m) >= abs(left_m):
        locomotion = "forward" if forward_m > 0 else "backward"
    else:
        locomotion = "left" if left_m > 0 else "right"

    # Hands: above the head / above the shoulder, and sideways swings while raised.
    head_y = joints[:, HEAD, 1]
    above, raised, swings, reach = {}, {}, {}, {}
    for side, wrist in WRISTS.items():
        shoulder = joints[:, SHOULDERS[side]]
        up_head = joints[:, wrist, 1] > head_y + ABOVE_HEAD_M
        up_shoulder = joints[:, wrist, 1] > shoulder[:, 1] + RAISED_M
        above[side] = float(up_head.sum() * dt)
        raised[side] = float(up_shoulder.sum() * dt)
        relative = joints[:, wrist] - shoulder
        swings[side] = _swings((relative * left).sum(1), up_shoulder)
        reach[side] = float(max(0.0, (relative * forward).sum(1).max()))

    # Feet: the floor level of each foot joint is a low percentile of its own height.
    feet = joints[:, FEET, 1]
    lowest = (feet - np.percentile(feet, 5, axis=0)).min(axis=1)
    off = lowest > AIRBORNE_M
    airborne = _longest_run(off) * dt
    foot_height = {s: float(np.max(joints[:, a, 1] - np.percentile(joints[:, a, 1], 5))) for s, a in ANKLES.items()}
    knee_lift = {s: float(np.max(joints[:, k, 1] - np.median(joints[:, k, 1]))) for s, k in KNEES.items()}

    # Pelvis height: standing = a high percentile over the frames with a foot on the floor.
    pelvis_y = _smooth(joints[:, PELVIS, 1], 0.15)
    grounded = pelvis_y[~off] if (~off).any() else pelvis_y
    standing = float(np.percentile(grounded, 90))
    half = max(1, min(10, frames // 3))
    squat = max(0.0, standing - float(pelvis_y.min()))

    # Trunk: pelvis -> neck against vertical, split into forward and sideways lean.
    trunk = _smooth(joints[:, NECK] - joints[:, PELVIS], 0.25)
    fwd_lean = np.degrees(np.arctan2((trunk * forward).sum(1), trunk[:, 1]))
    sideways = (trunk * left).sum(1)
    # Out of the body's forward-vertical plane (stays right past a 90 degree bow).
    in_plane = np.sqrt(np.maximum((trunk**2).sum(1) - sideways**2, 1e-12))
    side_lean = np.degrees(np.arctan2(sideways, in_plane))
    side_extreme = float(side_lean[np.argmax(np.abs(side_lean))])

    wrists = joints[:, list(WRISTS.values())]
    speeds = np.linalg.norm(np.diff(joints, axis=0), axis=-1) / dt
    joint_speed = float(speeds.mean(axis=0).max())
    drift = float(np.linalg.norm((root - root[:1])[:, [0, 2]], axis=1).max())
    return MotionReading(
        duration_s=round(duration, 3),
        locomotion=locomotion,
        speed_ms=speed,
        travel_m=travel,
        forward_m=forward_m,
        left_m=left_m,
        turn_deg=turn,
        left_above_head_s=above["left"],
        right_above_head_s=above["right"],
        left_raised_s=raised["left"],
        right_raised_s=raised["right"],
        left_wave_swings=swings["left"],
        right_wave_swings=swings["right"],
        airborne_s=airborne,
        jump_height_m=float(lowest.max()),
        squat_depth_m=squat,
        start_drop_m=standing - float(pelvis_y[:half].mean()),
        end_drop_m=standing - float(pelvis_y[-half:].mean()),
        bow_deg=float(max(0.0, fwd_lean.max())),
        back_lean_deg=float(max(0.0, -fwd_lean.min())),
        side_lean_deg=side_extreme,
        left_reach_m=reach["left"],
        right_reach_m=reach["right"],
        left_foot_height_m=foot_height["left"],
        right_foot_height_m=foot_height["right"],
        left_knee_lift_m=knee_lift["left"],
        right_knee_lift_m=knee_lift["right"],
        lowest_wrist_m=float(wrists[..., 1].min()),
        claps=_claps(np.linalg.norm(wrists[:, 0] - wrists[:, 1], axis=-1)),
        joint_speed_ms=joint_speed,
        still=bool(joint_speed < STILL_JOINT_SPEED and travel < STILL_TRAVEL_M and drift < STILL_TRAVEL_M),
        foot_skate_ms=foot_skate(joints),
        bone_drift_pct=bone_drift(joints),
    )


# ----------------------------------------------------------------------------- rules

SIDED = {"left", "right", "both", "either", "none"}


def _side_ok(wanted: str, found: str) -> bool:
    """`found` (none/left/right/both) against `wanted`: a side means that side and not the other."""
    if wanted == "either":
        return found != "none"
    return found == wanted


def _named_sides(rule: dict) -> list[str]:
    wanted = rule.get("hand_raised", rule.get("hand_above_head", rule.get("hand", "either")))
    return ["left", "right"] if wanted in ("both", "either", "none") else [wanted]


def check_rule(rule: dict, reading: MotionReading) -> list[str]:
    """What a motion's reading breaks of a prompt's rule: [] when it passes.

    Keys (all optional, all must hold):
    - "locomotion": "none", "forward", "backward", "left", "right", "sideways" or "any", or a list of them;
    - "speed": [low, high] m/s;
    - "turn": "left" / "right" with "degrees_min" (default 45) and "degrees_max";
    - "hand_raised" / "hand_above_head": "left", "right", "both" (that hand and NOT the other), "either", "none";
    - "wave_swings_min": sideways swings of the hand(s) those keys name (both: each of them);
    - "hand": "left"/"right"/"either" for "reach_min"; "foot": ... for "foot_height_min", "knee_lift_min";
    - "side_lean": "left"/"right" with "side_lean_deg_min";
    - "still": true/false;
    - "<field>_min" / "<field>_max" for any numeric MotionReading field (e.g. "squat_depth_m_min").
    """
    values = reading.as_dict()
    failed: list[str] = []

    def need(ok: bool, text: str) -> None:
        if not ok:
            failed.append(text)

    for key, wanted in rule.items():
        if key == "locomotion":
            allowed = set([wanted] if isinstance(wanted, str) else wanted)
            if "sideways" in allowed:
                allowed |= {"left", "right"}
            if "any" in allowed:
                allowed |= {"forward", "backward", "left", "right"}
            need(reading.locomotion in allowed, f"locomotion {reading.locomotion}, wanted {wanted}")
        elif key == "speed":
            need(wanted[0] <= reading.speed_ms <= wanted[1], f"speed {reading.speed_ms:.2f} m/s not in {wanted}")
        elif key == "turn":
            signed = reading.turn_deg if wanted == "left" else -reading.turn_deg
            low, high = rule.get("degrees_min", 45.0), rule.get("degrees_max", 1e9)
            need(low <= signed <= high, f"turned {reading.turn_deg:+.0f} deg, wanted {wanted} {low}..{high}")
        elif key in ("hand_raised", "hand_above_head"):
            found = getattr(reading, key)
            need(_side_ok(wanted, found), f"{key} {found}, wanted {wanted}")
        elif key == "wave_swings_min":
            swings = [values[f"{side}_wave_swings"] for side in _named_sides(rule)]
            both = rule.get("hand_raised", rule.get("hand_above_head")) == "both"
            got = min(swings) if both else max(swings)
            need(got >= wanted, f"{got} wave swings, wanted >= {wanted}")
        elif key in ("reach_min", "foot_height_min", "knee_lift_min"):
            part = "hand" if key == "reach_min" else "foot"
            sides = ["left", "right"] if rule.get(part, "either") == "either" else [rule[part]]
            field = {"reach_min": "reach_m", "foot_height_min": "foot_height_m", "knee_lift_min": "knee_lift_m"}[key]
            got = max(values[f"{side}_{field}"] for side in sides)
            need(got >= wanted, f"{'/'.join(sides)} {field} {got:.2f}, wanted >= {wanted}")
        elif key == "side_lean":
            signed = reading.side_lean_deg if wanted == "left" else -reading.side_lean_deg
            low = rule.get("side_lean_deg_min", 10.0)
            need(signed >= low, f"side lean {reading.side_lean_deg:+.0f} deg, wanted {wanted} >= {low}")
        elif key == "still":
            need(reading.still == bool(wanted), f"still {reading.still}, wanted {wanted}")
        elif key in ("degrees_min", "degrees_max", "hand", "foot", "side_lean_deg_min"):
            continue  # qualifiers of the keys above
        elif key.endswith(("_min", "_max")) and key[:-4] in values:
            got, high = values[key[:-4]], key.endswith("_max")
            need(got <= wanted if high else got >= wanted, f"{key[:-4]} {got:.2f}, wanted {key[-3:]} {wanted}")
        else:
            raise KeyError(f"unknown rule key {key!r}")
    return failed
