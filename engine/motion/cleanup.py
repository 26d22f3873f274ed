"""Clean generated motion before it leaves the engine: constant bone lengths and planted feet.

Why: the motion-language model writes joint positions frame by frame (HumanML3D features decoded by
recover_from_ric), so nothing holds a bone's length or a standing foot still: on the held-out
prompts bones change length by several per cent within a clip and feet slide while planted, which
a viewer sees at once and which the add-on's IK and the CLI's BVH/npy outputs would carry.

    clean = clean_motion(joints)                              # generate: the canonical skeleton
    clean = clean_motion(joints, lengths=bone_lengths_of(prefix), fixed=[0])   # keep frame 0 as given

Two steps, both on joints `(T, 22, 3)` metres, Y up, 20 fps (engine.motion.skeleton):

1. Bone lengths (`fix_bone_lengths`): every bone gets its target length on every frame. Legs and
   arms are placed by two-bone IK (engine.motion.kinematics.two_bone_ik) so the ankles and wrists
   stay where the model put them (feet on the floor, hands where they reach) and the knees and
   elbows bend in the plane they bent in; the other bones keep the model's direction and take the
   target length, walking the tree from the pelvis (which is kept). Not IK -> FK on the rest
   skeleton: its rigid pelvis and chest put the model's hips ~7.6 cm (mean) from where it drew
   them on a generated run, and the feet with them; this keeps the model's pose and gives every
   bone a constant length (the angles between bones at the pelvis and chest stay the model's).
2. Planted feet (`plant_feet`): a foot joint (ankle, toe) is in contact when it is near its floor
   level and slow (`foot_contacts`, after the height + speed test of Guo et al. 2022's HumanML3D
   features, github.com/EricGuo5513/HumanML3D `motion_representation.ipynb` foot_detect, with a
   floor level per clip, or the model's own contact channels); during a contact run it is pinned
   on the floor plane where it is slowest in the run (or where a `fixed` frame has it), the
   correction faded in and out over BLEND_FRAMES frames, and the leg is re-solved by two-bone IK
   so bone lengths stay exact (the foot-skate clean-up of Kovar et al. 2002, "Footskate cleanup
   for motion capture editing", reduced to per-frame leg IK).

Frames listed in `fixed` (the seam poses of predict / in-between) are never planted away from
where they are; they still get the target bone lengths, which leaves a pose that already has them
unchanged.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from engine.motion.kinematics import two_bone_ik
from engine.motion.skeleton import FPS, JOINT_INDEX, PARENTS, bone_lengths, default_rest_positions

logger = logging.getLogger(__name__)

# (root, middle, end) of the two-bone limbs: the end joint is kept where the model put it.
LIMBS: tuple[tuple[int, int, int], ...] = tuple(
    (JOINT_INDEX[f"{side}_{a}"], JOINT_INDEX[f"{side}_{b}"], JOINT_INDEX[f"{side}_{c}"])
    for side in ("left", "right")
    for a, b, c in (("hip", "knee", "ankle"), ("shoulder", "elbow", "wrist"))
)
# (ankle, toe) of each foot; HumanML3D's fid_l / fid_r.
FEET: tuple[tuple[int, int], ...] = (
    (JOINT_INDEX["left_ankle"], JOINT_INDEX["left_foot"]),
    (JOINT_INDEX["right_ankle"], JOINT_INDEX["right_foot"]),
)
CONTACT_HEIGHT_M = 0.03  # a foot joint this near its floor level may be planted (a heel rising off: 3-12 cm)
CONTACT_SPEED_MS = 1.0  # ... if it also moves slower than this horizontally (HumanML3D: 0.89 m/s at 20 fps)
FLOOR_PERCENTILE = 5.0  # a foot joint's floor level: this percentile of its height over the clip
MIN_CONTACT_FRAMES = 2  # shorter contact runs are left alone
BLEND_FRAMES = 3  # the pin fades in and out over this many frames either side of a run


def canonical_bone_lengths() -> np.ndarray:
    """Bone lengths `(22,)` metres of the default rest skeleton (the one the model's training
    features were normalised to, engine.motion.features); index 0 (the root) is 0."""
    return bone_lengths(default_rest_positions()[None])[0]


def bone_lengths_of(joints: np.ndarray) -> np.ndarray:
    """Median bone lengths `(22,)` metres of a clip `(T, 22, 3)` (the skeleton a given motion is on)."""
    return np.median(bone_lengths(np.asarray(joints, np.float64)), axis=0)


def fix_bone_lengths(joints: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """`joints` `(T, 22, 3)` with bone j's length set to `lengths[j]` `(22,)` on every frame.

    The pelvis stays; ankles and wrists stay where they are when the limb reaches them (two-bone
    IK); every other bone keeps its direction. Returns float64 `(T, 22, 3)`.
    """
    source = np.asarray(joints, dtype=np.float64)
    lengths = np.asarray(lengths, dtype=np.float64)
    out = np.empty_like(source)
    out[:, 0] = source[:, 0]
    limb_of_end = {end: (root, middle) for root, middle, end in LIMBS}
    middles = {middle for _, middle, _ in LIMBS}
    rest = default_rest_positions()
    for j in range(1, len(PARENTS)):
        parent = PARENTS[j]
        if j in middles:
            continue  # placed with its limb's end joint (every middle joint's index is below its end's)
        if j in limb_of_end:
            root, middle = limb_of_end[j]
            out[:, middle], out[:, j] = two_bone_ik(
                out[:, root], source[:, middle], source[:, j], lengths[middle], lengths[j]
            )
            continue
        bone = source[:, j] - source[:, parent]
        size = np.linalg.norm(bone, axis=-1, keepdims=True)
        fallback = rest[j] - rest[parent]
        direction = np.where(size > 1e-9, bone / np.maximum(size, 1e-9), fallback / np.linalg.norm(fallback))
        out[:, j] = out[:, parent] + direction * lengths[j]
    return out


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of each run of True in a 1-D mask."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]))


def foot_contacts(joints: np.ndarray, hint: np.ndarray | None = None) -> np.ndarray:
    """Contacts `(T, 2, 2)` bool of (left, right) x (ankle, toe): near the joint's floor level
    (CONTACT_HEIGHT_M above its FLOOR_PERCENTILE height) and either slower than CONTACT_SPEED_MS
    horizontally (central differences) or marked in `hint` `(T, 2, 2)` bool (the model's own
    foot-contact channels of the HumanML3D features, when there are some); one-frame gaps are
    filled, runs under MIN_CONTACT_FRAMES dropped."""
    joints = np.asarray(joints, dtype=np.float64)
    ids = np.array(FEET)  # (2, 2)
    feet = joints[:, ids]  # (T, 2, 2, 3)
    height = feet[..., 1] - np.percentile(feet[..., 1], FLOOR_PERCENTILE, axis=0)
    flat = feet[..., [0, 2]]
    if len(joints) > 1:
        velocity = np.gradient(flat, axis=0) * FPS
    else:
        velocity = np.zeros_like(flat)
    slow = np.linalg.norm(velocity, axis=-1) < CONTACT_SPEED_MS
    if hint is not None:
        slow |= np.asarray(hint, bool).reshape(slow.shape)
    contact = (height < CONTACT_HEIGHT_M) & slow
    for foot in range(2):
        for part in range(2):
            mask = contact[:, foot, part]
            for start, stop in _runs(~mask):  # fill one-frame gaps between contacts
                if stop - start == 1 and start > 0 and stop < len(mask):
                    mask[start] = True
            for start, stop in _runs(mask.copy()):
                if stop - start < MIN_CONTACT_FRAMES:
                    mask[start:stop] = False
    return contact


def _pins(positions: np.ndarray, contact: np.ndarray, fixed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shifts `(T, 2)` (x, z) that pin one joint's floor position `(T, 2)` during each contact
    run, and how pinned each frame is `(T,)` in [0, 1]. Inside a run the joint goes to the run's
    anchor; the correction at each end of the run fades out over BLEND_FRAMES frames (the offset
    fades, so a foot lifting off keeps its own motion). Nothing moves on fixed frames."""
    frames = len(positions)
    shift, weight = np.zeros_like(positions), np.zeros(frames)
    for start, stop in _runs(contact):
        held = np.nonzero(fixed[start:stop])[0]
        if len(held):
            anchor = positions[start + held[0]]
        else:  # where the joint is slowest: the moment it is most surely down
            steps = np.linalg.norm(np.diff(positions[max(0, start - 1) : stop + 1], axis=0), axis=-1)
            anchor = positions[start + int(np.argmin(steps[: stop - start]))]
        for t in range(max(0, start - BLEND_FRAMES), min(frames, stop + BLEND_FRAMES)):
            edge = min(max(t, start), stop - 1)
            w = 1.0 - abs(t - edge) / (BLEND_FRAMES + 1)
            if w > weight[t]:
                shift[t], weight[t] = (anchor - positions[edge]) * w, w
    shift[fixed], weight[fixed] = 0.0, 0.0
    return shift, weight


def plant_feet(
    joints: np.ndarray, contact: np.ndarray | None = None, fixed: Sequence[int] | np.ndarray = ()
) -> np.ndarray:
    """`joints` `(T, 22, 3)` with each foot held still on the floor plane while in contact.

    contact: `(T, 2, 2)` from foot_contacts (computed when None); fixed: frame indices left as
    they are. The ankle (or, when only the toe is down, the whole foot with the toe) is moved
    horizontally to its pin; the leg is re-solved by two-bone IK from the hip (lengths kept) and
    the toe is turned towards its own pin. Returns float64 `(T, 22, 3)`.
    """
    joints = np.asarray(joints, dtype=np.float64)
    out = joints.copy()
    if len(joints) < 2:
        return out
    contact = foot_contacts(joints) if contact is None else np.asarray(contact, bool)
    held = np.zeros(len(joints), bool)
    held[np.asarray(list(fixed), dtype=np.int64)] = True
    lengths = bone_lengths_of(joints)
    for foot, (ankle, toe) in enumerate(FEET):
        knee = PARENTS[ankle]
        hip = PARENTS[knee]
        ankle_xz, toe_xz = joints[:, ankle][:, [0, 2]], joints[:, toe][:, [0, 2]]
        ankle_shift, ankle_w = _pins(ankle_xz, contact[:, foot, 0], held)
        toe_shift, toe_w = _pins(toe_xz, contact[:, foot, 1], held)
        # A joint not pinned itself moves with the other one of its foot (the foot is one piece).
        ankle_move = ankle_shift + (1.0 - ankle_w)[:, None] * toe_shift
        toe_move = toe_shift + (1.0 - toe_w)[:, None] * ankle_shift
        moved = (ankle_w > 0) | (toe_w > 0)
        if not moved.any():
            continue
        goal = joints[:, ankle].copy()
        goal[:, [0, 2]] += ankle_move
        knee_at, ankle_at = two_bone_ik(joints[:, hip], joints[:, knee], goal, lengths[knee], lengths[ankle])
        toe_goal = joints[:, toe].copy()
        toe_goal[:, [0, 2]] += toe_move
        direction = toe_goal - ankle_at
        direction /= np.maximum(np.linalg.norm(direction, axis=-1, keepdims=True), 1e-9)
        toe_at = ankle_at + direction * lengths[toe]
        out[moved, knee], out[moved, ankle], out[moved, toe] = knee_at[moved], ankle_at[moved], toe_at[moved]
    return out


def clean_motion(
    joints: np.ndarray,
    lengths: np.ndarray | None = None,
    fixed: Sequence[int] = (),
    plant: bool = True,
    hint: np.ndarray | None = None,
) -> np.ndarray:
    """Generated joints `(T, 22, 3)` -> the same motion with constant bone lengths and planted feet.

    lengths: target bone lengths `(22,)` metres (default: the canonical skeleton,
    canonical_bone_lengths; predict / in-between pass the given motion's, bone_lengths_of);
    fixed: frame indices that must keep their foot positions (seam poses); plant: False keeps the
    feet as the model made them (bone lengths only); hint: the model's foot contacts `(T, 2, 2)`
    bool (see foot_contacts). Returns float32 `(T, 22, 3)`.
    """
    joints = np.asarray(joints, dtype=np.float64)
    target = canonical_bone_lengths() if lengths is None else np.asarray(lengths, np.float64)
    fixed = [int(f) % len(joints) for f in fixed] if len(joints) else []
    out = fix_bone_lengths(joints, target)
    if plant:
        contact = foot_contacts(out, hint)
        out = plant_feet(out, contact=contact, fixed=fixed)
        logger.debug("clean-up: %d frames, %.0f%% foot-joint frames planted", len(out), 100 * contact.mean())
    return np.ascontiguousarray(out, dtype=np.float32)
