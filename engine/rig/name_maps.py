"""Maps from a source skeleton's joint or bone names onto the 22 SMPL joints.

A `JointMap` says, for every SMPL joint, which source joints make it: usually one joint (weight 1),
sometimes a *virtual* joint, a weighted blend of source joints (the Bandai skeleton has no bone for
SMPL's spine2, so it is the midpoint of Spine and Chest). Maps come from presets (`smpl`, `mixamo`,
`rigify`, `bandai`), from automatic matching of normalised names, and from an explicit user map
that overrides both.

Required and derived joints (a design decision, see REQUIRED_JOINTS): the limbs, pelvis, neck and
head must exist in the source; spine1/spine2/spine3 and the collars may be missing and are then
derived as blends of joints that exist (spine joints interpolate along pelvis -> neck, a collar sits
between spine3, neck and the shoulder; proportions from the SMPL neutral rest pose).

    >>> jm = resolve_map(["Hips", "Spine", "Chest", ...])        # preset detected or auto-matched
    >>> smpl_positions = jm.apply(source_positions)             # (T, S, 3) -> (T, 22, 3)
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from engine.errors import InputError
from engine.motion.skeleton import JOINT_INDEX, JOINT_NAMES, NUM_JOINTS
from engine.rig.name_presets import PRESET_MARKERS, PRESET_NAMES, PRESETS, Source

# Joints a source skeleton must provide; all others can be derived (see _DERIVED_BLENDS).
REQUIRED_JOINTS: tuple[str, ...] = (
    "pelvis",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
    "left_foot",
    "right_foot",
    "neck",
    "head",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
)
OPTIONAL_JOINTS: tuple[str, ...] = tuple(n for n in JOINT_NAMES if n not in REQUIRED_JOINTS)

# Blends of other SMPL joints that stand in for a missing optional joint, tried in order. The
# weights come from the SMPL neutral rest pose (skeleton.default_rest_positions): spine1, spine2 and
# spine3 sit at 0.22, 0.48 and 0.60 of the pelvis -> neck height; a collar is the least-squares
# blend of spine3, neck and shoulder (within 1 cm there).
_DERIVED_BLENDS: dict[str, tuple[dict[str, float], ...]] = {
    "spine1": ({"pelvis": 0.78, "neck": 0.22},),
    "spine3": ({"spine1": 0.5, "neck": 0.5}, {"pelvis": 0.4, "neck": 0.6}),
    "spine2": ({"spine1": 0.3, "spine3": 0.7},),
    "left_collar": ({"spine3": 0.36, "neck": 0.19, "left_shoulder": 0.45},),
    "right_collar": ({"spine3": 0.36, "neck": 0.19, "right_shoulder": 0.45},),
}
_DERIVE_ORDER = ("spine1", "spine3", "spine2", "left_collar", "right_collar")


@dataclass(frozen=True)
class JointMap:
    """How to build the 22 SMPL joints from a source skeleton's joints.

    `blends[j]` lists `(source index, weight)` pairs for SMPL joint j (weights sum to 1); a joint
    with a single pair of weight 1 is *direct*, any other is virtual. `derived` names the SMPL
    joints that were filled in because the source lacked them.
    """

    source_names: tuple[str, ...]
    blends: tuple[tuple[tuple[int, float], ...], ...]
    preset: str | None = None
    derived: tuple[str, ...] = ()

    def weight_matrix(self) -> np.ndarray:
        """`(22, S)` float64 matrix W with smpl = W @ source."""
        weights = np.zeros((NUM_JOINTS, len(self.source_names)))
        for j, blend in enumerate(self.blends):
            for index, weight in blend:
                weights[j, index] += weight
        return weights

    def apply(self, positions: np.ndarray) -> np.ndarray:
        """Source joint positions `(..., S, 3)` -> SMPL-22 positions `(..., 22, 3)`, same dtype."""
        positions = np.asarray(positions)
        if positions.shape[-2:] != (len(self.source_names), 3):
            raise InputError(
                f"joint positions have shape {positions.shape}, expected (..., "
                f"{len(self.source_names)}, 3) for the {len(self.source_names)} mapped source joints."
            )
        out = np.einsum("js,...sc->...jc", self.weight_matrix(), positions)
        return out.astype(positions.dtype, copy=False)

    def direct_source(self, joint: str) -> str | None:
        """The single source joint behind an SMPL joint, or None when it is virtual."""
        blend = self.blends[JOINT_INDEX[joint]]
        if len(blend) == 1 and abs(blend[0][1] - 1.0) < 1e-9:
            return self.source_names[blend[0][0]]
        return None

    def as_dict(self) -> dict[str, dict[str, float]]:
        """JSON-friendly view: SMPL joint -> {source name: weight}."""
        return {JOINT_NAMES[j]: {self.source_names[i]: w for i, w in blend} for j, blend in enumerate(self.blends)}


def _strip_namespace(name: str) -> str:
    """Drop FBX/glTF namespaces: "mixamorig2:Hips" -> "Hips", "Armature|Hips" -> "Hips"."""
    name = re.split(r"[:|]", name)[-1]
    return re.sub(r"(?i)^mixamorig\d*_?", "", name) if name.lower().startswith("mixamorig") else name


def _lookup_table(names: Sequence[str]) -> dict[str, int]:
    """Exact and namespace-stripped name -> index (first occurrence wins)."""
    table: dict[str, int] = {}
    for i, name in enumerate(names):
        table.setdefault(name, i)
    for i, name in enumerate(names):
        table.setdefault(_strip_namespace(name), i)
    return table


def _resolve_source(source: Source, table: Mapping[str, int]) -> dict[int, float] | None:
    if isinstance(source, str):
        return {table[source]: 1.0} if source in table else None
    if all(name in table for name, _ in source):
        return {table[name]: weight for name, weight in source}
    return None


def _preset_entries(preset: str, names: Sequence[str]) -> dict[str, dict[int, float]]:
    table = _lookup_table(names)
    entries: dict[str, dict[int, float]] = {}
    for joint, alternatives in PRESETS[preset].items():
        for source in alternatives:
            resolved = _resolve_source(source, table)
            if resolved is not None:
                entries[joint] = resolved
                break
    return entries


# ---- automatic matching by normalised name -------------------------------------------------
_SIDE_PATTERNS = (
    re.compile(r"(?i)^(left|right)[._\- ]?"),  # left_hip, LeftUpLeg, Left Arm
    re.compile(r"^([LR])[._\- ]"),  # L_Hip, R.arm
    re.compile(r"^([lr])_"),  # l_hip
    re.compile(r"(?i)[._\- ](left|right|l|r)$"),  # thigh.L, UpperLeg_R, foot_l
    re.compile(r"(?i)(left|right)$"),  # ThighLeft
)
# Sided cores (after lower-casing and removing separators) -> SMPL joint suffix.
_SIDED_CORES = {
    "upleg": "hip",
    "thigh": "hip",
    "upperleg": "hip",
    "hip": "hip",
    "legupper": "hip",
    "leg": "knee",
    "shin": "knee",
    "lowerleg": "knee",
    "knee": "knee",
    "calf": "knee",
    "leglower": "knee",
    "ankle": "ankle",
    "foot": "ankle?",
    "toe": "foot",
    "toes": "foot",
    "toebase": "foot",
    "ball": "foot",
    "collar": "collar",
    "clavicle": "collar",
    "shoulder": "collar?",
    "arm": "shoulder",
    "upperarm": "shoulder",
    "armupper": "shoulder",
    "forearm": "elbow",
    "lowerarm": "elbow",
    "elbow": "elbow",
    "armlower": "elbow",
    "hand": "wrist",
    "wrist": "wrist",
}
_CENTRE_CORES = {"hips": "pelvis", "pelvis": "pelvis", "hip": "pelvis", "neck": "neck", "head": "head"}
_SPINE_CORE = re.compile(r"^(spine|chest|upperchest)(\d*)$")


def normalise_name(name: str) -> tuple[str | None, str]:
    """Split a bone name into (side, core): "mixamorig:LeftUpLeg" -> ("left", "upleg").

    side is "left", "right" or None; core is lower case without separators, prefixes
    (namespaces, Rigify DEF-/ORG-, 3ds Max Bip01) or side tokens.
    """
    name = _strip_namespace(name)
    name = re.sub(r"(?i)^(def|org)[-_]", "", name)
    name = re.sub(r"(?i)^bip\d*[ _]", "", name)
    side = None
    for pattern in _SIDE_PATTERNS:
        match = pattern.search(name)
        if match:
            side = "left" if match.group(1)[0].lower() == "l" else "right"
            name = name[: match.start()] + name[match.end() :]
            break
    return side, re.sub(r"[._\- ]", "", name).lower()


def auto_match(names: Sequence[str]) -> dict[str, dict[int, float]]:
    """SMPL joint -> {source index: 1.0} from normalised names; first candidate in order wins."""
    entries: dict[str, dict[int, float]] = {}
    parsed = [normalise_name(name) for name in names]
    spine: list[tuple[int, int, int]] = []  # (rank of core, number, index)
    for side in ("left", "right"):
        cores = {core for s, core in parsed if s == side}
        has_collar = bool(cores & {"collar", "clavicle"})
        has_ankle = "ankle" in cores
        for i, (s, core) in enumerate(parsed):
            if s != side or core not in _SIDED_CORES:
                continue
            joint = _SIDED_CORES[core]
            if joint == "ankle?":  # "foot" is SMPL's ankle unless the rig also names an ankle
                joint = "foot" if has_ankle else "ankle"
            elif joint == "collar?":  # "shoulder" is the collar unless a collar/clavicle exists
                joint = "shoulder" if has_collar else "collar"
            entries.setdefault(f"{side}_{joint}", {i: 1.0})
    for i, (s, core) in enumerate(parsed):
        if s is not None:
            continue
        if core in _CENTRE_CORES:
            entries.setdefault(_CENTRE_CORES[core], {i: 1.0})
        match = _SPINE_CORE.match(core)
        if match:
            rank = ("spine", "chest", "upperchest").index(match.group(1))
            spine.append((rank, int(match.group(2) or 0), i))
    spine.sort()
    slots = {1: ("spine1",), 2: ("spine1", "spine3"), 3: ("spine1", "spine2", "spine3")}
    chosen = spine if len(spine) <= 3 else [spine[0], spine[len(spine) // 2], spine[-1]]
    for joint, (_, _, i) in zip(slots.get(len(chosen), ()), chosen):
        entries.setdefault(joint, {i: 1.0})
    return entries


def _score(preset: str, names: Sequence[str]) -> tuple[int, int, int]:
    entries = _preset_entries(preset, names)
    required = sum(joint in entries for joint in REQUIRED_JOINTS)
    markers = sum(marker in _lookup_table(names) for marker in PRESET_MARKERS[preset])
    return required, len(entries), markers


def detect_preset(names: Sequence[str]) -> str | None:
    """The preset whose names cover every required SMPL joint best, or None if none covers all."""
    best, best_score = None, (len(REQUIRED_JOINTS) - 1, -1, -1)
    for preset in PRESETS:
        score = _score(preset, names)
        if score > best_score:
            best, best_score = preset, score
    return best


def _explicit_entries(explicit: Mapping[str, object], names: Sequence[str], source: str) -> dict[str, dict[int, float]]:
    table = _lookup_table(names)
    entries: dict[str, dict[int, float]] = {}
    for joint, value in explicit.items():
        if joint not in JOINT_INDEX:
            raise InputError(
                f"{source}: explicit joint map key '{joint}' is not an SMPL joint; use one of {', '.join(JOINT_NAMES)}."
            )
        if isinstance(value, str):
            blend = {value: 1.0}
        elif isinstance(value, Mapping) and all(isinstance(w, (int, float)) for w in value.values()):
            blend = dict(value)
        else:
            raise InputError(
                f"{source}: explicit joint map for '{joint}' must be a bone name or "
                f"{{bone name: weight}}, got {value!r}."
            )
        unknown = [name for name in blend if name not in table]
        if unknown:
            raise InputError(
                f"{source}: explicit joint map for '{joint}' names unknown source joint(s) "
                f"{unknown}; the skeleton has: {', '.join(names)}."
            )
        total = float(sum(blend.values()))
        if total <= 0:
            raise InputError(f"{source}: explicit joint map for '{joint}': weights must sum to a positive number.")
        entries[joint] = {table[name]: float(w) / total for name, w in blend.items()}
    return entries


def _derive_missing(entries: dict[str, dict[int, float]]) -> list[str]:
    """Fill optional joints from _DERIVED_BLENDS in place; returns the names it filled."""
    derived = []
    for joint in _DERIVE_ORDER:
        if joint in entries:
            continue
        for recipe in _DERIVED_BLENDS[joint]:
            if all(part in entries for part in recipe):
                blend: dict[int, float] = {}
                for part, weight in recipe.items():
                    for index, w in entries[part].items():
                        blend[index] = blend.get(index, 0.0) + weight * w
                entries[joint] = blend
                derived.append(joint)
                break
    return derived


def resolve_map(
    names: Sequence[str],
    preset: str | None = None,
    explicit: Mapping[str, object] | None = None,
    source: str = "skeleton",
) -> JointMap:
    """Map a source skeleton's joint names onto SMPL-22.

    preset: one of PRESET_NAMES, "auto" (name matching only) or None (detect a preset, else auto).
    explicit: SMPL joint name -> source name or {source name: weight}; overrides the preset.
    source: what to call the skeleton in error messages (e.g. the file path).
    Raises InputError listing the required SMPL joints that stayed unmapped.
    """
    names = list(names)
    if preset is not None and preset != "auto" and preset not in PRESETS:
        raise InputError(f"unknown rig preset '{preset}'; choose one of {', '.join(PRESET_NAMES)} or 'auto'.")
    chosen = detect_preset(names) if preset is None else (None if preset == "auto" else preset)
    entries = _preset_entries(chosen, names) if chosen else auto_match(names)
    entries.update(_explicit_entries(explicit or {}, names, source))
    derived = _derive_missing(entries)
    # Optional joints are only ever missing because required ones are, so name the required ones.
    missing = [joint for joint in REQUIRED_JOINTS if joint not in entries]
    if missing:
        how = f"preset '{chosen}'" if chosen else "automatic name matching"
        raise InputError(
            f"{source}: {how} left these required SMPL joints unmapped: {', '.join(missing)}. "
            f"Pass another preset ({', '.join(PRESET_NAMES)}) or an explicit map of SMPL joint -> "
            f"bone name (spine1-3 and collars are optional). Joints found: {', '.join(names)}."
        )
    blends = tuple(tuple(sorted(entries[joint].items())) for joint in JOINT_NAMES)
    return JointMap(tuple(names), blends, chosen, tuple(derived))
