"""Load any supported motion file as canonical SMPL-22 motion, and save canonical motion back.

Canonical = global joint positions `(T, 22, 3)` float32, metres, Y up, 20 fps, on the floor
(min y = 0), frame 0's root at x = z = 0 and facing +Z (HumanML3D conventions, DESIGN.md).

Supported files:
- `.bvh`: any skeleton, mapped onto SMPL-22 by a rig preset, automatic name matching or an explicit
  map (engine.rig.name_maps); units given or detected from the body's size; resampled to 20 fps
  in joint-rotation space.
- `.npy`: HumanML3D features `(T, 263)` or joints `(T, 22, 3)` (already 20 fps).
- `.npz`: this module's own files (key `positions`) or AMASS SMPL-H/SMPL-X files (keys `poses`,
  `trans`; needs the user's body model files, see engine.formats.amass).

    >>> motion = load_motion("clip.bvh", preset="bandai")     # units detected (Bandai: cm)
    >>> save_motion(motion, "clip.npy")
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.errors import InputError
from engine.formats.amass import load_amass_joints
from engine.formats.bvh import read_bvh, write_bvh
from engine.formats.resample import resample_positions
from engine.motion.features import canonicalize as features_canonicalize
from engine.motion.features import features_to_joints
from engine.motion.kinematics import inverse_kinematics, rest_offsets_matching_lengths
from engine.motion.skeleton import FPS, JOINT_NAMES, NUM_JOINTS, PARENTS, default_rest_offsets
from engine.rig.name_maps import resolve_map

SUFFIXES = (".bvh", ".npy", ".npz")
# Metres per file unit for --units.
UNIT_SCALES: dict[str, float] = {"m": 1.0, "cm": 0.01, "mm": 0.001, "inch": 0.0254, "ft": 0.3048}
# Upright height (ankle -> head joint, summed bone lengths, see upright_height) of people in metres:
# 0.5 m covers small children, 2.5 m giants. Units are detected when exactly one unit puts the
# skeleton in this range; inches and feet overlap centimetres/metres and must be given.
PLAUSIBLE_HEIGHT_M = (0.5, 2.5)
# (child, parent) bones summed by upright_height: each leg (averaged), then the trunk.
_LEG_BONES = (((7, 4), (4, 1), (1, 0)), ((8, 5), (5, 2), (2, 0)))
_TRUNK_BONES = ((3, 0), (6, 3), (9, 6), (12, 9), (15, 12))


@dataclass
class CanonicalMotion:
    """A motion on the canonical skeleton: positions `(T, 22, 3)` float32, metres, Y up."""

    positions: np.ndarray
    fps: float = FPS
    source: str = ""
    labels: dict = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return int(self.positions.shape[0])


def upright_height(positions: np.ndarray) -> float:
    """Height of the head joint if the body stood straight: summed bone lengths ankle -> knee ->
    hip -> pelvis -> spine -> neck -> head, median over frames, left and right legs averaged.
    `(T, 22, 3)` in any unit -> same unit. About 1.5 m for the SMPL neutral body."""
    positions = np.asarray(positions, dtype=np.float64)

    def length(bones) -> np.ndarray:
        return sum(np.linalg.norm(positions[:, c] - positions[:, p], axis=-1) for c, p in bones)

    total = 0.5 * (length(_LEG_BONES[0]) + length(_LEG_BONES[1])) + length(_TRUNK_BONES)
    return float(np.median(total))


def unit_scale(units: str | float | None, positions: np.ndarray, source: str) -> float:
    """Metres per file unit: from `units` ("m", "cm", ..., or a number) or detected."""
    if isinstance(units, (int, float)) and not isinstance(units, bool):
        if not (np.isfinite(units) and units > 0):
            raise InputError(f"{source}: units scale {units} must be a positive number of metres per unit.")
        return float(units)
    if units is not None:
        if units not in UNIT_SCALES:
            raise InputError(
                f"unknown units '{units}'; use one of {', '.join(UNIT_SCALES)} or a number of metres per file unit."
            )
        return UNIT_SCALES[units]
    height = upright_height(positions)
    fits = [
        name
        for name in ("m", "cm", "mm")
        if PLAUSIBLE_HEIGHT_M[0] <= height * UNIT_SCALES[name] <= PLAUSIBLE_HEIGHT_M[1]
    ]
    if len(fits) != 1:
        raise InputError(
            f"{source}: cannot tell the length unit (the skeleton is {height:.3g} units tall); "
            f"pass units ({', '.join(UNIT_SCALES)})."
        )
    return UNIT_SCALES[fits[0]]


def canonicalize(positions: np.ndarray) -> np.ndarray:
    """Floor at y = 0, frame-0 root at x = z = 0, frame-0 facing +Z: `(T, 22, 3)` -> float32.

    engine.motion.features.canonicalize (HumanML3D's recipe: Guo et al. 2022,
    github.com/EricGuo5513/HumanML3D, `motion_representation.ipynb` `process_file`), cast.
    """
    return np.asarray(features_canonicalize(positions), dtype=np.float32)


def _check_joints(positions: np.ndarray, source: str) -> np.ndarray:
    if positions.ndim != 3 or positions.shape[1:] != (NUM_JOINTS, 3) or positions.shape[0] == 0:
        raise InputError(
            f"{source}: joint positions have shape {positions.shape}; expected (T, 22, 3) SMPL-22 joints with T >= 1."
        )
    if not np.isfinite(positions).all():
        raise InputError(f"{source}: joint positions contain NaN or infinity.")
    return positions


def bvh_to_smpl22(
    path: str | Path,
    preset: str | None = None,
    units: str | float | None = None,
    explicit: Mapping[str, object] | None = None,
    fps: float = FPS,
) -> np.ndarray:
    """BVH file -> SMPL-22 positions `(T', 22, 3)` float64 metres at `fps`, NOT canonicalised."""
    clip = read_bvh(path)
    joint_map = resolve_map(clip.names, preset=preset, explicit=explicit, source=str(path))
    positions = joint_map.apply(clip.global_positions(fps=fps))
    return positions * unit_scale(units, positions, str(path))


def _load_npy(path: Path, units: str | float | None) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as error:
        raise InputError(f"{path}: not a plain numpy array file ({error}).") from None
    if array.ndim == 2 and array.shape[1] == 263:
        return np.asarray(features_to_joints(array), dtype=np.float64)
    if array.ndim == 2 and array.shape[1] == 251:
        raise InputError(
            f"{path}: 251-dim KIT-ML features use the 21-joint KIT skeleton, which is not "
            "SMPL-22; convert HumanML3D (263-dim) or joint files instead."
        )
    joints = _check_joints(np.asarray(array, dtype=np.float64), str(path))
    return joints * unit_scale(units if units is not None else "m", joints, str(path))


def _load_npz(path: Path, units: str | float | None, body_model: str | Path | None) -> tuple[np.ndarray, float]:
    try:
        archive = np.load(path, allow_pickle=False)
        keys = set(archive.files)
    except (ValueError, OSError) as error:
        raise InputError(f"{path}: not a numpy .npz archive without pickled objects ({error}).") from None
    if "positions" in keys:
        joints = _check_joints(np.asarray(archive["positions"], dtype=np.float64), str(path))
        fps = float(archive["fps"]) if "fps" in keys else FPS
        return joints * unit_scale(units if units is not None else "m", joints, str(path)), fps
    if {"poses", "trans"} <= keys:
        return load_amass_joints(path, body_model), FPS
    raise InputError(
        f"{path}: the .npz has keys {sorted(keys)}; expected 'positions' (T, 22, 3) or AMASS keys 'poses' and 'trans'."
    )


def load_motion(
    path: str | Path,
    preset: str | None = None,
    units: str | float | None = None,
    explicit_map: Mapping[str, object] | None = None,
    body_model: str | Path | None = None,
) -> CanonicalMotion:
    """Read a .bvh / .npy / .npz motion into canonical SMPL-22 motion at 20 fps.

    preset / explicit_map: how BVH joints map onto SMPL-22 (engine.rig.name_maps.resolve_map).
    units: length unit of the file ("m", "cm", "mm", "inch", "ft" or metres per unit); BVH units
    are detected from the body size when omitted, arrays default to metres.
    body_model: folder with the user's SMPL-H/SMPL-X model files, for AMASS .npz.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise InputError(f"{path}: unsupported motion file type '{suffix}'; use one of {', '.join(SUFFIXES)}.")
    if not path.is_file():
        raise InputError(f"{path}: file not found.")
    fps = FPS
    if suffix == ".bvh":
        positions = bvh_to_smpl22(path, preset, units, explicit_map)
    elif suffix == ".npy":
        positions = _load_npy(path, units)
    else:
        positions, fps = _load_npz(path, units, body_model)
    if abs(fps - FPS) > 1e-6:
        positions = resample_positions(positions, fps, FPS)
    return CanonicalMotion(canonicalize(positions), FPS, str(path))


def save_motion(motion: CanonicalMotion, path: str | Path, order: str = "ZXY") -> None:
    """Write canonical motion as .npy (joints `(T, 22, 3)` float32), .npz (positions, fps,
    joint_names) or .bvh (SMPL-22 joint names, metres, `order` Euler channels).

    The BVH rest skeleton is the default SMPL-22 T-pose with the motion's bone lengths; the
    pelvis and chest branches keep the motion's own geometry so that re-reading the file gives
    back the same joint positions (inverse kinematics is exact only for a matching rest).
    """
    path = Path(path)
    positions = _check_joints(np.asarray(motion.positions, dtype=np.float64), f"motion for {path}")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        np.save(path, positions.astype(np.float32))
    elif suffix == ".npz":
        np.savez(
            path, positions=positions.astype(np.float32), fps=np.float64(motion.fps), joint_names=np.array(JOINT_NAMES)
        )
    elif suffix == ".bvh":
        offsets = bvh_rest_offsets(positions)
        quats, root = inverse_kinematics(positions, offsets)
        write_bvh(path, JOINT_NAMES, PARENTS, offsets, quats, root, motion.fps, order=order)
    else:
        raise InputError(f"{path}: cannot write '{suffix}' files; use one of {', '.join(SUFFIXES)}.")


def _kabsch(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Rotation `(3, 3)` that best maps the rows of source onto the rows of target."""
    u, _, vt = np.linalg.svd(source.T @ target)
    d = np.sign(np.linalg.det(u @ vt))
    return (u @ np.diag([1.0, 1.0, d]) @ vt).T


def bvh_rest_offsets(positions: np.ndarray) -> np.ndarray:
    """Rest offsets `(22, 3)` metres for writing `positions` `(T, 22, 3)` as BVH.

    Single-child bones: default SMPL-22 T-pose directions, the clip's mean bone lengths. The two
    branching joints (pelvis: hips + spine1, spine3: neck + collars) keep the clip's frame-0
    child offsets, turned by the rotation that best aligns them with the T-pose (Kabsch), so the
    rest still looks like a T-pose while inverse kinematics reproduces those joints exactly.
    """
    template = default_rest_offsets()
    offsets = rest_offsets_matching_lengths(positions, template)
    for joint, kids in ((0, [1, 2, 3]), (9, [12, 13, 14])):
        observed = positions[0, kids] - positions[0, joint]
        offsets[kids] = observed @ _kabsch(observed, template[kids]).T
    offsets[0] = 0.0
    return offsets
