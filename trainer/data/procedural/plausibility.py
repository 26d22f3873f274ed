"""Plausibility checks for any canonical motion `(T, 22, 3)` (metres, Y up, 20 fps).

Run on every procedural sample and aggregated into dataset statistics. Each check reads joint
positions only, so the same code can judge real mocap or model output.

Thresholds and why:
- floor: no joint below -1 cm (the brief's bound; grounding is exact, so this catches real errors).
- skating: HumanML3D's contact label (squared displacement per frame < 0.002 m^2) plus a height
  test (ankle < 8.5 cm, i.e. 2.5 cm above its standing height; ball of the foot < 3 cm); a contact
  joint "skates" on a frame when it slides more than 2.5 cm horizontally (GMD's foot-skating
  threshold, Karunratanakul et al. 2023). A sample fails when over 10% of its contact frames
  skate. Calibrated on real mocap: over 60 random Bandai-Namco clips the per-clip ratio has median
  0 and maximum 8.5% (`python -m trainer.data.procedural --real DIR`), so the bound passes every
  real clip while catching a sliding generator.
- joint limits, from standard ranges of motion (AAOS) with some slack for measuring on joint
  centres: knee flexion -10..160 deg (negative = hyperextension), elbow flexion <= 160 deg (its
  sign cannot be read from positions without a hand joint), hip flexion -40..140 deg, hip
  abduction -35..80 deg, upper arm at most 70 deg behind the trunk's frontal plane.
- bones: every bone length within 1% of its first-frame length.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from engine.errors import InputError
from engine.motion.skeleton import NUM_JOINTS, bone_lengths, default_rest_positions

FLOOR_TOLERANCE = -0.01
CONTACT_DISPLACEMENT_SQ = 0.002  # HumanML3D feet_thre
CONTACT_HEIGHT = {7: 0.085, 8: 0.085, 10: 0.03, 11: 0.03}  # ankle, ankle, ball, ball (metres)
SKATE_STEP = 0.025  # metres per frame
SKATE_RATIO = 0.10
KNEE_RANGE = (-10.0, 160.0)
ELBOW_MAX = 160.0
HIP_FLEXION_RANGE = (-40.0, 140.0)
HIP_ABDUCTION_RANGE = (-35.0, 80.0)
SHOULDER_BEHIND_MAX = 70.0
BONE_TOLERANCE = 0.01
CHECKS = ("floor", "skating", "knee", "elbow", "hip", "shoulder", "bones")


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def _frame(lateral: np.ndarray, up: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Orthonormal body frame `(T, 3)` x3: lateral (to the body's left), up, forward."""
    x = _unit(lateral)
    y = _unit(up - np.sum(up * x, axis=-1, keepdims=True) * x)
    return x, y, np.cross(x, y)


def _components(v: np.ndarray, frame: tuple[np.ndarray, ...]) -> np.ndarray:
    return np.stack([np.sum(v * axis, axis=-1) for axis in frame], axis=-1)


def skating(positions: np.ndarray) -> tuple[float, int]:
    """Fraction of contact foot-frames that slide more than SKATE_STEP, and the contact count."""
    feet = list(CONTACT_HEIGHT)
    step = positions[1:, feet] - positions[:-1, feet]  # (T-1, 4, 3)
    height = np.maximum(positions[1:, feet, 1], positions[:-1, feet, 1])
    limit = np.array([CONTACT_HEIGHT[j] for j in feet])
    contact = (np.sum(step**2, axis=-1) < CONTACT_DISPLACEMENT_SQ) & (height < limit)
    slide = np.linalg.norm(step[..., [0, 2]], axis=-1)
    count = int(contact.sum())
    return (float((slide[contact] > SKATE_STEP).sum()) / count if count else 0.0), count


def joint_angles(positions: np.ndarray) -> dict[str, np.ndarray]:
    """Per-frame angles in degrees, both sides stacked on the last axis: `(T, 2)` each."""
    p = positions
    pelvis = _frame(p[:, 1] - p[:, 2], p[:, 3] - p[:, 0])
    torso = _frame(p[:, 16] - p[:, 17], p[:, 12] - p[:, 9])
    out: dict[str, list] = {"knee": [], "elbow": [], "hip_flexion": [], "hip_abduction": [], "shoulder_behind": []}
    for sign, (hip, knee, ankle, shoulder, elbow, wrist) in (
        (1.0, (1, 4, 7, 16, 18, 20)),
        (-1.0, (2, 5, 8, 17, 19, 21)),
    ):
        thigh, shin = _unit(p[:, knee] - p[:, hip]), _unit(p[:, ankle] - p[:, knee])
        bend = np.degrees(np.arccos(np.clip(np.sum(thigh * shin, axis=-1), -1, 1)))
        # Flexion leans the thigh towards the shin's front, which the foot points to; in
        # hyperextension the thigh leans behind it. Reading the front off the foot keeps the sign
        # right whatever the leg's yaw or depth of bend.
        foot = _unit(p[:, {7: 10, 8: 11}[ankle]] - p[:, ankle])
        front = foot - np.sum(foot * shin, axis=-1, keepdims=True) * shin
        flex_sign = np.sign(np.sum(thigh * front, axis=-1))
        out["knee"].append(np.where(flex_sign < 0, -bend, bend))
        upper, fore = _unit(p[:, elbow] - p[:, shoulder]), _unit(p[:, wrist] - p[:, elbow])
        out["elbow"].append(np.degrees(np.arccos(np.clip(np.sum(upper * fore, axis=-1), -1, 1))))
        t = _components(thigh, pelvis)
        out["hip_flexion"].append(np.degrees(np.arctan2(t[:, 2], -t[:, 1])))
        out["hip_abduction"].append(np.degrees(np.arcsin(np.clip(sign * t[:, 0], -1, 1))))
        a = _components(upper, torso)
        out["shoulder_behind"].append(np.degrees(np.arcsin(np.clip(-a[:, 2], -1, 1))))
    return {name: np.stack(values, axis=-1) for name, values in out.items()}


def _rest_reading() -> dict[str, np.ndarray]:
    """Angles measured on the standing rest pose (legs straight, arms hanging), to subtract:
    the SMPL pelvis-to-spine1 bone leans back about 13 deg, which would bias hip readings."""
    rest = default_rest_positions()
    hang = rest.copy()
    for shoulder, elbow, wrist in ((16, 18, 20), (17, 19, 21)):  # arms straight down from the shoulder
        for joint in (elbow, wrist):
            hang[joint] = rest[shoulder] - [0.0, np.linalg.norm(rest[joint] - rest[shoulder]), 0.0]
    angles = joint_angles(hang[None])
    return {"hip_flexion": angles["hip_flexion"][0], "hip_abduction": angles["hip_abduction"][0]}


def check_plausibility(positions: np.ndarray) -> dict[str, bool | float]:
    """Run every check on `(T, 22, 3)` positions; `<check>_ok` flags plus the measured values."""
    positions = np.asarray(positions, dtype=np.float64)
    if positions.ndim != 3 or positions.shape[1:] != (NUM_JOINTS, 3) or len(positions) < 2:
        raise InputError(
            f"plausibility checks need joint positions of shape (T >= 2, 22, 3), got "
            f"{positions.shape}; convert the motion to the SMPL-22 skeleton first"
        )
    if not np.isfinite(positions).all():
        raise InputError("plausibility checks got NaN or infinite joint positions; fix the motion first")
    angles = joint_angles(positions)
    for name, value in _rest_reading().items():
        angles[name] = angles[name] - value
    skate, contacts = skating(positions)
    lengths = bone_lengths(positions)[:, 1:]
    bone_dev = float(np.max(np.abs(lengths / np.maximum(lengths[:1], 1e-9) - 1.0)))
    result: dict[str, bool | float] = {
        "min_height": float(positions[..., 1].min()),
        "skate_ratio": skate,
        "contact_frames": float(contacts),
        "knee_min": float(angles["knee"].min()),
        "knee_max": float(angles["knee"].max()),
        "elbow_max": float(angles["elbow"].max()),
        "hip_flexion_min": float(angles["hip_flexion"].min()),
        "hip_flexion_max": float(angles["hip_flexion"].max()),
        "hip_abduction_min": float(angles["hip_abduction"].min()),
        "hip_abduction_max": float(angles["hip_abduction"].max()),
        "shoulder_behind_max": float(angles["shoulder_behind"].max()),
        "bone_deviation": bone_dev,
    }
    result["floor_ok"] = result["min_height"] > FLOOR_TOLERANCE
    result["skating_ok"] = skate <= SKATE_RATIO
    result["knee_ok"] = KNEE_RANGE[0] <= result["knee_min"] and result["knee_max"] <= KNEE_RANGE[1]
    result["elbow_ok"] = result["elbow_max"] <= ELBOW_MAX
    result["hip_ok"] = (
        HIP_FLEXION_RANGE[0] <= result["hip_flexion_min"]
        and result["hip_flexion_max"] <= HIP_FLEXION_RANGE[1]
        and HIP_ABDUCTION_RANGE[0] <= result["hip_abduction_min"]
        and result["hip_abduction_max"] <= HIP_ABDUCTION_RANGE[1]
    )
    result["shoulder_ok"] = result["shoulder_behind_max"] <= SHOULDER_BEHIND_MAX
    result["bones_ok"] = bone_dev <= BONE_TOLERANCE
    result["plausible"] = all(bool(result[f"{name}_ok"]) for name in CHECKS)
    return result


def aggregate_plausibility(results: Iterable[dict]) -> dict[str, float | int | dict]:
    """Dataset statistics: samples, failures per check (count and rate), and samples failing any."""
    results = list(results)
    total = len(results)
    failed = {name: sum(not r[f"{name}_ok"] for r in results) for name in CHECKS}
    any_failed = sum(not r["plausible"] for r in results)
    return {
        "samples": total,
        "failed_any": any_failed,
        "failed_any_rate": any_failed / total if total else 0.0,
        "failed": failed,
        "failed_rate": {name: (count / total if total else 0.0) for name, count in failed.items()},
        "mean_skate_ratio": float(np.mean([r["skate_ratio"] for r in results])) if total else 0.0,
    }
