"""The rig description the Blender add-on sends once per armature, and its wire form.

A rig is a list of bones: names, parent indices (-1 for a root), and each bone's rest matrix, the
bone-to-armature 4x4 transform in the armature's own space (Blender's `Bone.matrix_local`: the
columns of its rotation are the bone's local X, Y (along the bone) and Z axes, its translation is the
bone's head). Blender is Z up with characters facing -Y; the canonical skeleton is Y up facing +Z
(engine/motion/skeleton.py). The conversion between the two lives here, not in the add-on:
`up_axis`/`forward_axis` say how the armature's data is oriented and `metres_per_unit` how big
one armature unit is (0.01 for a Mixamo FBX imported in centimetres).

    rig = RigDescription.from_head_tail_roll(names, parents, heads, tails, rolls)
    header, arrays = rig.to_wire()          # JSON dict + {"rest_matrices": (N, 4, 4) float64, ...}
    same = RigDescription.from_wire(header, arrays)

Tests: `pytest -q tests/test_retarget.py`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.errors import InputError

AXES = {"X": (1.0, 0.0, 0.0), "Y": (0.0, 1.0, 0.0), "Z": (0.0, 0.0, 1.0)}
# A rest matrix is Blender float32 data: allow that much drift from a pure rotation.
ORTHONORMAL_TOLERANCE = 1e-4
WIRE_KIND = "rig_description"
WIRE_VERSION = 1


def axis_vector(axis: str) -> np.ndarray:
    """ "X", "-Y", "+Z"... -> unit vector `(3,)` float64; InputError for anything else."""
    text = str(axis).strip().upper()
    sign = -1.0 if text.startswith("-") else 1.0
    key = text.lstrip("+-")
    if key not in AXES or len(text) - len(key) > 1:
        raise InputError(f"axis '{axis}' is not valid: use X, Y or Z with an optional sign, e.g. 'Z' or '-Y'.")
    return sign * np.array(AXES[key])


def blender_bone_matrix(heads: np.ndarray, tails: np.ndarray, rolls: np.ndarray) -> np.ndarray:
    """Blender's rest matrix of bones from head, tail and roll (`vec_roll_to_mat3_normalized`).

    heads, tails `(N, 3)` armature units; rolls `(N,)` radians -> `(N, 4, 4)` float64. The bone's
    Y axis points from head to tail; X and Z come from the shortest rotation of +Y onto that
    direction, then a rotation by `roll` about it. Re-implemented (not imported) because the engine
    never imports bpy; the formula and its thresholds are Blender's
    (source/blender/blenkernel/intern/armature.cc), checked in tests against the documented case
    "a bone along +Z with roll 0 has a rest rotation of +90 degrees about X" (the SMPL Blender
    add-on builds its rigs on that: github.com/Meshcapade/SMPL_blender_addon, `meshcapade_addon/blender.py`).
    """
    heads, tails = np.asarray(heads, np.float64), np.asarray(tails, np.float64)
    rolls = np.asarray(rolls, np.float64)
    vec = tails - heads
    length = np.linalg.norm(vec, axis=-1, keepdims=True)
    if np.any(length < 1e-9):
        bad = np.flatnonzero(length[..., 0] < 1e-9)
        raise InputError(
            f"bones {bad.tolist()} have zero length (head == tail); Blender cannot "
            "hold such bones, so the description is corrupt: re-send it from the armature."
        )
    x, y, z = np.moveaxis(vec / length, -1, 0)
    theta_alt = x * x + z * z
    # theta = 1 + y. Blender (float32) swaps in a truncated series near -Y, whose error leaves
    # its matrices ~1e-5 off orthonormal; in float64 the exact 1 - sqrt(1 - alt) form is precise.
    theta = np.where(y < 0, theta_alt / (1.0 + np.sqrt(np.clip(1.0 - theta_alt, 0.0, None))), 1.0 + y)
    singular = (theta_alt <= 2.5e-4**2) & (1.0 + y <= 6.1e-3)  # Blender's two thresholds
    theta = np.where(singular, 1.0, theta)
    base = np.zeros(vec.shape[:-1] + (3, 3))
    base[..., 0, 0] = 1 - x * x / theta
    base[..., 1, 0], base[..., 0, 1] = -x, x
    base[..., 1, 1] = y
    base[..., 2, 1], base[..., 1, 2] = z, -z
    base[..., 2, 2] = 1 - z * z / theta
    base[..., 2, 0] = base[..., 0, 2] = -x * z / theta
    base[singular] = np.diag([-1.0, -1.0, 1.0])  # exactly -Y: Blender's symmetry about Z
    nor = vec / length
    rot = _axis_angle_matrix(nor, rolls) @ base
    out = np.zeros(vec.shape[:-1] + (4, 4))
    out[..., :3, :3] = rot
    out[..., :3, 3] = heads
    out[..., 3, 3] = 1.0
    return out


def _axis_angle_matrix(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rodrigues: unit axes `(..., 3)`, angles `(...)` radians -> `(..., 3, 3)`."""
    c, s = np.cos(angle)[..., None, None], np.sin(angle)[..., None, None]
    x, y, z = np.moveaxis(axis, -1, 0)
    cross = np.zeros(axis.shape[:-1] + (3, 3))
    cross[..., 0, 1], cross[..., 0, 2] = -z, y
    cross[..., 1, 0], cross[..., 1, 2] = z, -x
    cross[..., 2, 0], cross[..., 2, 1] = -y, x
    outer = axis[..., :, None] * axis[..., None, :]
    return c * np.eye(3) + s * cross + (1 - c) * outer


def canonical_to_armature_matrix(up_axis: str, forward_axis: str) -> np.ndarray:
    """`(3, 3)` rotation whose columns are the canonical left (+X), up (+Y) and facing (+Z)
    directions in armature axes: armature = M @ canonical. ("Z", "-Y") is Blender's convention."""
    up, forward = axis_vector(up_axis), axis_vector(forward_axis)
    left = np.cross(up, forward)  # canonical X = Y cross Z, so left = up x forward
    return np.stack([left, up, forward], axis=1)


def axes_from_world_matrix(world_matrix: np.ndarray, scene_metres_per_unit: float = 1.0) -> tuple[str, str, float]:
    """(up_axis, forward_axis, metres_per_unit) of an armature from its object's `matrix_world`.

    Blender's world is Z up with characters facing -Y; an FBX armature often sits under an object
    rotated +90 degrees about X with scale 0.01, so its own data is Y up in centimetres. The world
    directions are taken back into armature space and snapped to the nearest signed axis.
    """
    world = _check_array(world_matrix, (4, 4), "world_matrix")
    linear = world[:3, :3]
    scales = np.linalg.norm(linear, axis=0)
    if np.any(scales < 1e-12) or np.linalg.det(linear) <= 0:
        raise InputError(
            "rig description: world_matrix is singular or mirrored; apply the object's "
            "scale/rotation (Ctrl+A) or send up_axis/forward_axis explicitly."
        )
    inverse = np.linalg.inv(linear)
    up = _snap(inverse @ np.array([0.0, 0.0, 1.0]))
    back = inverse @ np.array([0.0, -1.0, 0.0])
    back[np.abs(axis_vector(up)) > 0.5] = 0.0  # facing must be perpendicular to up
    forward = _snap(back)
    return up, forward, float(np.cbrt(np.linalg.det(linear))) * float(scene_metres_per_unit)


def _snap(vector: np.ndarray) -> str:
    i = int(np.argmax(np.abs(vector)))
    return ("-" if vector[i] < 0 else "") + "XYZ"[i]


def topological_order(parents: Sequence[int], what: str = "rig") -> tuple[int, ...]:
    """Bone indices ordered parents-first; InputError on out-of-range parents or cycles."""
    n = len(parents)
    children: list[list[int]] = [[] for _ in range(n)]
    roots = []
    for i, p in enumerate(parents):
        if p == -1:
            roots.append(i)
        elif 0 <= p < n and p != i:
            children[p].append(i)
        else:
            raise InputError(
                f"{what}: bone {i} has parent index {p}; parents must be -1 (root) or "
                f"the index of another bone in 0..{n - 1}."
            )
    order, stack = [], roots[::-1]
    while stack:
        i = stack.pop()
        order.append(i)
        stack.extend(children[i][::-1])
    if len(order) != n:
        cyclic = sorted(set(range(n)) - set(order))
        raise InputError(
            f"{what}: bones {cyclic} form a parent cycle (no path to a root); every "
            "bone must descend from a bone whose parent is -1."
        )
    return tuple(order)


@dataclass(frozen=True, eq=False)
class RigDescription:
    """An armature's bones at rest, as the add-on reads them from Blender.

    names: N unique bone names. parents: N ints, -1 for roots, any order (see `order`).
    rest_matrices: `(N, 4, 4)` float64, bone-to-armature (Blender `Bone.matrix_local`), armature units.
    heads, tails: optional `(N, 3)` float64 rest head/tail, armature units; rolls: optional `(N,)`
    radians (informative; the maths uses rest_matrices, whose translation is the head).
    up_axis, forward_axis: the armature-space directions of the character's up and facing
    ("Z", "-Y" for Blender; "Y", "Z" for a Y-up armature such as an FBX armature under a rotated object).
    metres_per_unit: size of one armature unit in metres (1.0 in Blender metres, 0.01 for centimetres).
    mapping_preset, mapping: the animator's choice of joint map, kept with the rig so one message
    says everything: a preset name of engine/rig/name_maps.py ("auto"/"custom"/None: detect, then
    match names) and an explicit {SMPL joint: bone name or {bone name: weight}} that overrides it.
    """

    names: tuple[str, ...]
    parents: tuple[int, ...]
    rest_matrices: np.ndarray
    heads: np.ndarray | None = None
    tails: np.ndarray | None = None
    rolls: np.ndarray | None = None
    up_axis: str = "Z"
    forward_axis: str = "-Y"
    metres_per_unit: float = 1.0
    mapping_preset: str | None = None
    mapping: Mapping[str, Any] | None = None
    order: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            names = tuple(self.names) if not isinstance(self.names, str) else None
        except TypeError:
            names = None
        if not names or not all(isinstance(n, str) and n for n in names):
            raise InputError("rig description: 'names' must be a non-empty list of non-empty bone names.")
        if len(set(names)) != len(names):
            dupes = sorted({n for n in names if names.count(n) > 1})
            raise InputError(f"rig description: bone names must be unique, repeated: {dupes}.")
        n = len(names)
        try:
            parents = tuple(int(p) for p in self.parents)
        except (TypeError, ValueError):
            raise InputError("rig description: 'parents' must be a list of integers (-1 for a root).") from None
        if len(parents) != n:
            raise InputError(f"rig description: {len(parents)} parents for {n} bones; send one parent per bone.")
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "parents", parents)
        object.__setattr__(self, "order", topological_order(parents, "rig description"))
        object.__setattr__(self, "rest_matrices", _check_matrices(self.rest_matrices, n))
        for key, shape in (("heads", (n, 3)), ("tails", (n, 3)), ("rolls", (n,))):
            value = getattr(self, key)
            if value is not None:
                object.__setattr__(self, key, _check_array(value, shape, key))
        up, forward = axis_vector(self.up_axis), axis_vector(self.forward_axis)
        if abs(float(up @ forward)) > 0.5:
            raise InputError(
                f"rig description: up_axis '{self.up_axis}' and forward_axis "
                f"'{self.forward_axis}' must be perpendicular (e.g. 'Z' and '-Y')."
            )
        try:
            scale = float(self.metres_per_unit)
        except (TypeError, ValueError):
            scale = float("nan")
        if not np.isfinite(scale) or scale <= 0:
            raise InputError(
                f"rig description: metres_per_unit must be a positive number, got {self.metres_per_unit!r}."
            )
        object.__setattr__(self, "metres_per_unit", scale)
        if self.mapping_preset is not None and not isinstance(self.mapping_preset, str):
            raise InputError("rig description: 'mapping_preset' must be a preset name such as 'mixamo'.")
        if self.mapping is not None and not isinstance(self.mapping, Mapping):
            raise InputError("rig description: 'mapping' must be a JSON object {SMPL joint: bone name}.")

    @classmethod
    def from_head_tail_roll(
        cls,
        names: Sequence[str],
        parents: Sequence[int],
        heads: np.ndarray,
        tails: np.ndarray,
        rolls: np.ndarray | None = None,
        **kwargs: Any,
    ) -> RigDescription:
        """Build from edit-bone data: heads/tails `(N, 3)` armature units, rolls `(N,)` radians (default 0)."""
        n = len(names)
        heads, tails = _check_array(heads, (n, 3), "heads"), _check_array(tails, (n, 3), "tails")
        rolls = np.zeros(n) if rolls is None else _check_array(rolls, (n,), "rolls")
        matrices = blender_bone_matrix(heads, tails, rolls)
        return cls(tuple(names), tuple(parents), matrices, heads, tails, rolls, **kwargs)

    @property
    def num_bones(self) -> int:
        return len(self.names)

    @property
    def rest_heads(self) -> np.ndarray:
        """`(N, 3)` float64: bone heads at rest, armature units (the matrices' translations)."""
        return self.rest_matrices[:, :3, 3]

    @property
    def rest_rotations(self) -> np.ndarray:
        """`(N, 3, 3)` float64: bone-local axes in armature space (columns X, Y along bone, Z)."""
        return self.rest_matrices[:, :3, :3]

    @property
    def canonical_to_armature(self) -> np.ndarray:
        """`(3, 3)` rotation taking canonical axes (left +X, up +Y, facing +Z) to armature axes."""
        return canonical_to_armature_matrix(self.up_axis, self.forward_axis)

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise InputError(f"rig has no bone named '{name}'.") from None

    def to_wire(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON-able header and named float64 arrays (little-endian, C order) for the protocol."""
        header = {
            "kind": WIRE_KIND,
            "version": WIRE_VERSION,
            "names": list(self.names),
            "parents": list(self.parents),
            "up_axis": self.up_axis,
            "forward_axis": self.forward_axis,
            "metres_per_unit": self.metres_per_unit,
        }
        if self.mapping_preset is not None:
            header["mapping_preset"] = self.mapping_preset
        if self.mapping is not None:
            header["mapping"] = dict(self.mapping)
        arrays = {"rest_matrices": self.rest_matrices}
        for key in ("heads", "tails", "rolls"):
            if getattr(self, key) is not None:
                arrays[key] = getattr(self, key)
        return header, {k: np.ascontiguousarray(v, dtype="<f8") for k, v in arrays.items()}

    @classmethod
    def from_wire(cls, header: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> RigDescription:
        """Inverse of `to_wire`; every problem becomes an InputError naming the field."""
        if not isinstance(header, Mapping) or header.get("kind", WIRE_KIND) != WIRE_KIND:
            raise InputError(f"rig description header must be a JSON object with kind '{WIRE_KIND}'.")
        version = header.get("version", WIRE_VERSION)
        if not isinstance(version, int) or version > WIRE_VERSION:
            raise InputError(
                f"rig description version {version!r} is not supported: this engine reads "
                f"versions up to {WIRE_VERSION}; update the engine or the add-on so they match."
            )
        for key in ("names", "parents"):
            if not isinstance(header.get(key), list):
                raise InputError(f"rig description header needs a list '{key}'.")
        if "rest_matrices" not in arrays:
            raise InputError("rig description: array 'rest_matrices' (N, 4, 4) float64 is missing.")
        optional = {k: arrays[k] for k in ("heads", "tails", "rolls") if k in arrays}
        up, forward, scale = "Z", "-Y", 1.0
        world = arrays.get("world_matrix", header.get("world_matrix"))
        if world is not None:  # the add-on's rig_io sends the armature object's matrix_world
            up, forward, scale = axes_from_world_matrix(world, header.get("scene_metres_per_unit", 1.0))
        return cls(
            tuple(header["names"]),
            tuple(header["parents"]),
            arrays["rest_matrices"],
            up_axis=str(header.get("up_axis", up)),
            forward_axis=str(header.get("forward_axis", forward)),
            metres_per_unit=header.get("metres_per_unit", scale),
            mapping_preset=header.get("mapping_preset"),
            mapping=header.get("mapping"),
            **optional,
        )


def _check_array(value: Any, shape: tuple[int, ...], name: str) -> np.ndarray:
    try:
        array = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"rig description: '{name}' must be numbers of shape {shape}.") from None
    if array.shape != shape:
        raise InputError(f"rig description: '{name}' has shape {array.shape}, expected {shape}.")
    if not np.all(np.isfinite(array)):
        raise InputError(f"rig description: '{name}' contains NaN or infinite values; re-send the armature data.")
    return array


def _check_matrices(value: Any, n: int) -> np.ndarray:
    mats = _check_array(value, (n, 4, 4), "rest_matrices")
    if not np.allclose(mats[:, 3], [0.0, 0.0, 0.0, 1.0], atol=1e-6):
        raise InputError(
            "rig description: 'rest_matrices' must have a last row of (0, 0, 0, 1) (send Bone.matrix_local, row-major)."
        )
    rot = mats[:, :3, :3]
    error = np.abs(rot.transpose(0, 2, 1) @ rot - np.eye(3)).max(axis=(1, 2))
    det = np.linalg.det(rot)
    bad = np.flatnonzero((error > ORTHONORMAL_TOLERANCE) | (det < 0))
    if bad.size:
        raise InputError(
            f"rig description: rest matrices of bones {bad.tolist()[:10]} are not pure "
            "rotations plus a head position (scaled or mirrored); send Bone.matrix_local."
        )
    # Snap to the nearest rotation (polar decomposition): Blender's float32 matrices are ~1e-6
    # off, and the retarget maths uses R^T as R^-1.
    u, _, vt = np.linalg.svd(rot)
    mats = mats.copy()
    mats[:, :3, :3] = u @ vt
    return mats
