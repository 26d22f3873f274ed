"""Motion Copilot operation schemas: what each operation takes and gives back.

Stdlib only; `protocol.py` validates messages against these records and re-exports them (import
`protocol`). The Blender add-on ships a byte-identical copy (see protocol_wire.py).

Every operation names its request arguments and arrays and its reply: the result keys of its `ok`
reply and the reply arrays with dtype and shape. A shape entry is an int, None (free) or a
dimension name that must be the same size wherever it appears in one message: "T" frames, "N" the
bones of the rig the request describes (a caller may bind them, e.g. N = len(rig names)).
"""

from __future__ import annotations

from dataclasses import dataclass

from .protocol_wire import FLOAT_DTYPES, MAX_ID_CHARS, MAX_NAME_CHARS

# ----------------------------------------------------------------------------- the canonical skeleton

# Every motion on the wire is joint positions (T, 22, 3) in this order (SMPL's first 22 body joints,
# as in HumanML3D: Guo et al. 2022, github.com/EricGuo5513/HumanML3D, paramUtil.py t2m_kinematic_chain),
# so the order is part of the protocol; engine/motion/skeleton.py and the add-on both read it here.
# fmt: off
CANONICAL_JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle",
    "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
)
# fmt: on
CANONICAL_PARENTS: tuple[int, ...] = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19)

# ----------------------------------------------------------------------------- schema records


@dataclass(frozen=True)
class ArgSpec:
    """One JSON argument. kind: str | prompt | int | float | bool | object | list."""

    name: str
    kind: str
    required: bool = False
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple = ()
    max_length: int = 256  # for str; prompts use Limits.max_prompt_chars


@dataclass(frozen=True)
class ArraySpec:
    """One array frame. `shape` entries: an int, None (free) or a dimension name ("T", "N") that
    is the same size across the message, e.g. ("T", 22, 3) = positions of T frames."""

    name: str
    shape: tuple
    dtypes: tuple = FLOAT_DTYPES
    required: bool = True
    finite: bool = True


@dataclass(frozen=True)
class ResultSpec:
    """One key of an `ok` reply's result. kind: str | int | float | bool | object | list."""

    name: str
    kind: str
    required: bool = True
    nullable: bool = False


@dataclass(frozen=True)
class OperationSpec:
    """An operation: request `args` and `arrays`; its `ok` reply's `result` keys (None: a free-form
    object, only `info`) and `reply` arrays."""

    name: str
    args: tuple = ()
    arrays: tuple = ()
    result: tuple | None = ()
    reply: tuple = ()
    batchable: bool = False  # requests of this op may be grouped into one model call
    test_only: bool = False  # served only with `motion-engine serve --enable-test-ops`
    doc: str = ""
    # Work bounds (Limits): arrays whose first axis counts frames (<= max_motion_frames, and with a
    # rig: frames x bones <= max_bone_frames), and the array whose first axis counts the rig's bones.
    frames_of: tuple = ()
    bones_of: str = ""


# ----------------------------------------------------------------------------- the operations

_SEED = ArgSpec("seed", "int", minimum=0, maximum=2**31 - 1)
_FRAMES = ArgSpec("frames", "int", minimum=1, maximum=2000)
_MOTION = ArraySpec("motion", (None, 22, 3))  # (T, 22, 3) joint positions, metres, Y up, 20 fps
_POSE = ArraySpec("pose", (22, 3))  # (22, 3) joint positions, metres, Y up
_TEXT = (ResultSpec("text", "str"),)
# Model motions: positions (T, 22, 3) float32, metres, Y up, 20 fps; result frames (T) and fps.
_MOTION_RESULT = (ResultSpec("frames", "int"), ResultSpec("fps", "float"))
_POSITIONS = (ArraySpec("positions", ("T", 22, 3), dtypes=("float32",)),)
# rig: engine/rig/description.py RigDescription.to_wire() header; its arrays travel beside the
# op's own. mapping: SMPL joint name -> bone name (or {bone: weight}), overriding the preset.
_RIG_ARGS = (
    ArgSpec("rig", "object", required=True),
    ArgSpec("preset", "str", max_length=MAX_NAME_CHARS),
    ArgSpec("mapping", "object"),
)
_RIG_ARRAYS = (
    ArraySpec("rest_matrices", (None, 4, 4), dtypes=("float64", "float32")),
    ArraySpec("heads", (None, 3), required=False),
    ArraySpec("tails", (None, 3), required=False),
    ArraySpec("rolls", (None,), required=False),
)

OPERATIONS: dict[str, OperationSpec] = {
    spec.name: spec
    for spec in (
        OperationSpec(
            "ping",
            result=(ResultSpec("pong", "bool"), ResultSpec("time", "float", False), ResultSpec("queued", "int", False)),
            doc="liveness check; result {'pong': true}",
        ),
        OperationSpec("info", result=None, doc="versions, device, bundle components and their configs, operations"),
        OperationSpec(
            "cancel",
            (ArgSpec("target", "str", required=True, max_length=MAX_ID_CHARS),),
            result=(ResultSpec("target", "str"), ResultSpec("state", "str"), ResultSpec("cancelled", "bool")),
            doc="cancel your own queued or running request `target`",
        ),
        OperationSpec(
            "text_to_motion",
            (
                ArgSpec("text", "prompt", required=True),
                _FRAMES,
                _SEED,
                ArgSpec("temperature", "float", minimum=0.0, maximum=10.0),
                ArgSpec("top_k", "int", minimum=0, maximum=100000),
                ArgSpec("top_p", "float", minimum=0.0, maximum=1.0),
                ArgSpec("anyway", "bool"),
            ),
            result=_MOTION_RESULT,
            reply=_POSITIONS,
            batchable=True,
            doc="text -> positions (frames, 22, 3), frame 0 at the origin facing +Z; a prompt far from every "
            "training caption answers error unknown_prompt (details.closest: what it can do) unless anyway: true",
        ),
        OperationSpec(
            "motion_to_text",
            (_SEED,),
            (_MOTION,),
            result=_TEXT,
            batchable=True,
            doc="motion -> caption",
            frames_of=("motion",),
        ),
        OperationSpec(
            "predict",
            (ArgSpec("text", "prompt"), _FRAMES, _SEED),
            (_MOTION,),
            result=_MOTION_RESULT,
            reply=_POSITIONS,
            batchable=True,
            doc="continue a motion: positions (frames, 22, 3), only the new frames, in the motion's own placement",
            frames_of=("motion",),
        ),
        OperationSpec(
            "inbetween",
            (ArgSpec("text", "prompt"), ArgSpec("frames", "int", required=True, minimum=1, maximum=2000), _SEED),
            (ArraySpec("start", (None, 22, 3)), ArraySpec("end", (None, 22, 3))),
            result=_MOTION_RESULT,
            reply=_POSITIONS,
            batchable=True,
            doc="positions (frames, 22, 3) strictly between start[-1] and end[0], in their placement",
            frames_of=("start", "end"),
        ),
        OperationSpec(
            "edit_pose",
            (ArgSpec("text", "prompt", required=True), _SEED),
            (_POSE,),
            result=(ResultSpec("sampled", "bool"),),
            # pose at the origin facing +Z, lowest joint on y = 0; quats: SMPL local (w, x, y, z)
            reply=(ArraySpec("pose", (22, 3), dtypes=("float32",)), ArraySpec("quats", (22, 4), dtypes=("float32",))),
            batchable=True,
            doc="pose + correction text -> pose",
        ),
        OperationSpec(
            "describe_pose",
            (ArgSpec("deterministic", "bool"), _SEED),
            (_POSE,),
            result=_TEXT,
            batchable=True,
            doc="pose -> description (rule-based posecodes)",
        ),
        OperationSpec(
            "describe_change",
            (ArgSpec("deterministic", "bool"), _SEED, ArgSpec("method", "str", choices=("rules", "model"))),
            (ArraySpec("pose_a", (22, 3)), ArraySpec("pose_b", (22, 3))),
            result=_TEXT,
            batchable=True,
            doc="pose A, pose B -> correction instruction",
        ),
        # placement: {"yaw": radians, "offset": [x, y, z] metres} from rig_to_canonical: the motion's
        # frame 0 (a model's answer, at the origin facing +Z) is turned and moved to where the rig
        # stood. in_place: the positions already lie in the rig's frame (a predict or inbetween
        # answer): they stay where they are. previous_key: (N, 4) the rig's local quaternions at the
        # key the motion follows; the reply's first frame takes the sign nearest to it.
        OperationSpec(
            "retarget",
            (*_RIG_ARGS, ArgSpec("placement", "object"), ArgSpec("in_place", "bool")),
            (
                ArraySpec("positions", (None, 22, 3)),
                ArraySpec("previous_key", (None, 4), required=False),
                *_RIG_ARRAYS,
            ),
            result=(
                ResultSpec("kind", "str"),
                ResultSpec("bone_names", "list"),
                ResultSpec("root_bone", "str"),
                ResultSpec("fps", "float"),
                ResultSpec("scale", "float"),
                ResultSpec("driven_bones", "list"),
            ),
            # rotations: pose_bone.rotation_quaternion (w, x, y, z) of every bone, sign-continuous
            # over time; root_location: pose_bones[root_bone].location, rig units.
            reply=(
                ArraySpec("rotations", ("T", "N", 4), dtypes=("float64",)),
                ArraySpec("root_location", ("T", 3), dtypes=("float64",)),
            ),
            doc="canonical motion (T, 22, 3) -> a described rig's local rotations (T, N, 4) and root track (T, 3)",
            frames_of=("positions",),
            bones_of="rest_matrices",
        ),
        # Either local_quats: pose_bone.rotation_quaternion (w, x, y, z) of every bone in the order of
        # the rig's names, with root_location: pose_bone.location of `location_bone` (default: the
        # pelvis bone); or pose_heads: every bone's evaluated pose_bone.head (armature space), which
        # includes constraints (Rigify's DEF bones follow theirs) and bone scale.
        OperationSpec(
            "rig_to_canonical",
            (*_RIG_ARGS, ArgSpec("location_bone", "str", max_length=MAX_NAME_CHARS)),
            (
                ArraySpec("local_quats", (None, None, 4), required=False),
                ArraySpec("root_location", (None, 3), required=False),
                ArraySpec("pose_heads", (None, None, 3), required=False),
                *_RIG_ARRAYS,
            ),
            result=(
                ResultSpec("root_bone", "str"),
                ResultSpec("location_bone", "str", nullable=True),
                ResultSpec("placement", "object"),
            ),
            reply=_POSITIONS,
            doc="a described rig's pose track (T, N, 4) + root track (T, 3), or its posed bone "
            "heads (T, N, 3) -> canonical positions (T, 22, 3) in the rig's frame; "
            "result: root_bone, location_bone, placement",
            frames_of=("local_quats", "pose_heads", "root_location"),
            bones_of="rest_matrices",
        ),
        OperationSpec(
            "sleep",
            (
                ArgSpec("seconds", "float", required=True, minimum=0.0, maximum=60.0),
                ArgSpec("steps", "int", minimum=1, maximum=1000),
            ),
            result=(ResultSpec("slept", "float"),),
            test_only=True,
            doc="test op: a slow, cancellable job that reports progress",
        ),
        OperationSpec(
            "synthetic_forward",
            (
                ArgSpec("fixed_ms", "float", minimum=0.0, maximum=1000.0),
                ArgSpec("item_ms", "float", minimum=0.0, maximum=1000.0),
            ),
            (ArraySpec("x", (None,), required=False),),
            result=(ResultSpec("batch_size", "int"),),
            reply=(ArraySpec("y", (None,), required=False),),
            batchable=True,
            test_only=True,
            doc="test op: sleeps fixed_ms per call + item_ms per item, mimicking a forward",
        ),
    )
}
