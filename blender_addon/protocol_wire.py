"""Motion Copilot wire format: framing, headers, array frames, size limits, encode and decode.

Stdlib + numpy only. The operation schemas live in `protocol_ops.py` and their validation in
`protocol.py`, which re-exports every name here and there: import `protocol`. The Blender add-on
ships byte-identical copies of the three modules (tests/test_addon_client.py checks them), so none
may import torch or anything from `engine`.

A message is a ZeroMQ multipart message:
    frame 0      UTF-8 JSON header (an object)
    frames 1..n  raw little-endian array buffers, described in order by header["arrays"] as
                 [{"name": str, "dtype": "float32"|"float64"|"int32"|"int64", "shape": [int, ...]}]

Request header fields:  v (int), id (str), op (str), args (object), arrays (list).
Reply header fields:    v, id, op, status ("progress" | "ok" | "error"), arrays, and
                        result (object, with "ok"), error {"code", "message"[, "details"]} (with
                        "error"; "details" is an optional object of code-specific data),
                        progress {"fraction" in [0, 1], "message"} (with "progress").
A request gets zero or more `progress` replies, then exactly one `ok` or `error` reply, all carrying
the request id ("" in the error reply to a request whose header could not be read). Unknown header
fields are rejected, never ignored. Every size is checked against `Limits` before anything is
allocated; decoded arrays are read-only views on the received frames. No pickle anywhere.

Limits (all in `Limits`, one place; a request over any of them is answered `too_large`, naming it):
- the message: frames, bytes per frame, bytes in all, header bytes, elements per array. On a plain
  tcp:// bind the engine reads ZMTP itself (engine/zmtp_front.py) and counts a message's frames and
  bytes as they arrive: a message over the limits is skipped as it streams (never held whole) and
  answered `too_large`; a peer that sends a frame over the per-frame limit is disconnected at that
  frame's header (its request gets no reply). With CURVE keys, on ipc:// and behind a proxy libzmq
  reads: it gets the per-frame limit (ZMQ_MAXMSGSIZE, the same disconnect) but hands a multipart
  message over only once all of it has arrived, so there a message of many frames, each under the
  limit, is held whole before it is refused (only authorised key holders can send over CURVE).
- the work, before it starts (protocol.validate_request): prompt characters, frames of a motion or
  rig track (`max_motion_frames`), rig bones (`max_bones`) and frames x bones of a rig track
  (`max_bone_frames`, which bounds both the engine's working memory and a `retarget` reply at
  32 bytes per bone-frame); a batch holds at most `BatchPolicy.max_batch` requests.
- the reply: an `ok` reply larger than `max_total_bytes` (or an array over `max_array_bytes`) is
  replaced by a `too_large` error, so a client with the same limits can always read it.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

PROTOCOL_VERSION = 1

# Little-endian on the wire whatever the host is ("<"); the names are what headers carry.
DTYPES: dict[str, np.dtype] = {
    "float32": np.dtype("<f4"),
    "float64": np.dtype("<f8"),
    "int32": np.dtype("<i4"),
    "int64": np.dtype("<i8"),
}
FLOAT_DTYPES = ("float32", "float64")
STATUSES = ("progress", "ok", "error")
REQUEST_FIELDS = frozenset({"v", "id", "op", "args", "arrays"})
REPLY_FIELDS = frozenset({"v", "id", "op", "status", "arrays", "result", "error", "progress"})
MAX_ID_CHARS = 128  # uuid4 hex is 32; leave room for client prefixes
MAX_NAME_CHARS = 64
MAX_NDIM = 6

# Machine-readable error codes carried in reply["error"]["code"].
ERR_BAD_MESSAGE = "bad_message"  # framing or header JSON is malformed
ERR_BAD_VERSION = "bad_version"
ERR_TOO_LARGE = "too_large"
ERR_BAD_ARRAY = "bad_array"
ERR_UNKNOWN_FIELD = "unknown_field"
ERR_UNKNOWN_OP = "unknown_op"
ERR_BAD_ARGS = "bad_args"
ERR_BAD_INPUT = "bad_input"
ERR_MODEL_UNAVAILABLE = "model_unavailable"
# text_to_motion: the prompt is far from every training caption; details {"closest": [caption, ...],
# "score", "threshold", "clause"}. The request argument `anyway: true` generates regardless.
ERR_UNKNOWN_PROMPT = "unknown_prompt"
ERR_CANCELLED = "cancelled"
ERR_BUSY = "busy"
ERR_INTERNAL = "internal_error"
ERR_SHUTTING_DOWN = "shutting_down"  # the engine stopped (SIGTERM, Ctrl-C) before answering
ERR_TIMEOUT = "timeout"  # raised client-side only: no reply within the deadline
ERR_BAD_REPLY = "bad_reply"  # raised client-side only: an ok reply does not match its op's reply schema


class ProtocolError(Exception):
    """A message violates the wire format; `code` is one of the ERR_* constants."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Limits:
    """Size limits, checked before allocation. Defaults fit a 5-minute 20 fps motion easily."""

    max_header_bytes: int = 64 * 1024
    max_frames: int = 17  # header + 16 arrays
    # 32 MiB holds the largest legal array (a (T, N, 4) float64 track of max_bone_frames) and
    # is libzmq's per-frame limit: any 1 GiB message of at most max_frames frames has a larger one.
    max_array_bytes: int = 32 * 1024 * 1024
    max_total_bytes: int = 64 * 1024 * 1024
    max_elements: int = 16 * 1024 * 1024  # per array
    max_prompt_chars: int = 1000
    # Work bounds (see the module docstring), measured to keep the largest legal request of each op
    # under 512 MB of server memory: benchmarks/bench_hostile_clients.py.
    max_motion_frames: int = 12000  # frames of any motion or rig track (10 min at 20 fps)
    max_bones: int = 4096  # bones of a described rig
    max_bone_frames: int = 1_000_000  # frames x bones of a rig track (retarget, rig_to_canonical)


DEFAULT_LIMITS = Limits()


@dataclass
class Message:
    """A decoded, validated message. `arrays` maps name -> read-only little-endian ndarray."""

    version: int
    id: str
    op: str
    args: dict = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    status: str | None = None  # None for requests
    result: dict | None = None
    error: dict | None = None
    progress: dict | None = None

    @property
    def is_request(self) -> bool:
        return self.status is None


# ----------------------------------------------------------------------------- encoding


def new_request_id() -> str:
    return uuid.uuid4().hex


def _encode(header: dict, arrays: dict[str, np.ndarray] | None) -> list[bytes]:
    descriptors, buffers = [], []
    for name, array in (arrays or {}).items():
        array = np.asarray(array)
        dtype_name = array.dtype.name
        if dtype_name not in DTYPES:
            raise ProtocolError(
                ERR_BAD_ARRAY,
                f"array '{name}' has dtype {dtype_name}; convert it to one of {', '.join(DTYPES)} before sending",
            )
        wire = np.ascontiguousarray(array, dtype=DTYPES[dtype_name])
        descriptors.append({"name": name, "dtype": dtype_name, "shape": list(wire.shape)})
        buffers.append(wire.tobytes())
    header["arrays"] = descriptors
    # allow_nan=False: NaN is not JSON; a float arg must be finite to be sent at all.
    return [json.dumps(header, separators=(",", ":"), allow_nan=False).encode("utf-8"), *buffers]


def encode_request(
    op: str, args: dict | None = None, arrays: dict[str, np.ndarray] | None = None, request_id: str | None = None
) -> list[bytes]:
    """Frames of a request. Arrays keep their dtype (must be one of DTYPES) and are sent C-ordered."""
    header = {"v": PROTOCOL_VERSION, "id": request_id or new_request_id(), "op": op, "args": dict(args or {})}
    return _encode(header, arrays)


def encode_reply(
    request_id: str,
    op: str,
    status: str,
    result: dict | None = None,
    arrays: dict[str, np.ndarray] | None = None,
    error: dict | None = None,
    progress: dict | None = None,
) -> list[bytes]:
    """Frames of a reply; prefer the helpers encode_ok / encode_error / encode_progress."""
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
    header: dict[str, Any] = {"v": PROTOCOL_VERSION, "id": request_id, "op": op, "status": status}
    if status == "ok":
        header["result"] = dict(result or {})
    elif status == "error":
        header["error"] = dict(error or {})
    else:
        header["progress"] = dict(progress or {})
    return _encode(header, arrays)


def encode_ok(
    request_id: str, op: str, result: dict | None = None, arrays: dict[str, np.ndarray] | None = None
) -> list[bytes]:
    return encode_reply(request_id, op, "ok", result=result, arrays=arrays)


def encode_error(request_id: str, op: str, code: str, message: str, details: dict | None = None) -> list[bytes]:
    error = {"code": code, "message": message}
    if details is not None:  # code-specific data, e.g. unknown_prompt's closest captions
        error["details"] = details
    return encode_reply(request_id, op, "error", error=error)


def encode_progress(
    request_id: str, op: str, fraction: float, message: str = "", queue_position: int | None = None
) -> list[bytes]:
    """A progress reply: `fraction` in [0, 1], a short message, and for a request still waiting its
    1-based `queue_position` (1 = next to run)."""
    fraction = min(max(float(fraction), 0.0), 1.0) if math.isfinite(fraction) else 0.0
    progress: dict = {"fraction": fraction, "message": str(message)}
    if queue_position is not None:
        progress["queue_position"] = int(queue_position)
    return encode_reply(request_id, op, "progress", progress=progress)


# ----------------------------------------------------------------------------- decoding


def peek_request_id(header_frame: bytes, limits: Limits = DEFAULT_LIMITS) -> tuple[str, str]:
    """Best-effort (id, op) of a possibly invalid header, so an error reply can name the request."""
    try:
        if len(header_frame) > limits.max_header_bytes:
            return "", ""
        header = json.loads(header_frame.decode("utf-8"))
        rid, op = header.get("id", ""), header.get("op", "")
        rid = rid if isinstance(rid, str) and len(rid) <= MAX_ID_CHARS else ""
        op = op if isinstance(op, str) and len(op) <= MAX_NAME_CHARS else ""
        return rid, op
    except Exception:  # noqa: BLE001 - anything unreadable simply has no id
        return "", ""


def _reject_constant(token: str) -> float:
    raise ValueError(f"{token} is not valid JSON")


def _parse_header(frame: bytes, limits: Limits) -> dict:
    if len(frame) > limits.max_header_bytes:
        raise ProtocolError(
            ERR_TOO_LARGE,
            f"header is {len(frame)} bytes; the limit is {limits.max_header_bytes}. Send large data as array frames.",
        )
    try:
        header = json.loads(frame.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise ProtocolError(ERR_BAD_MESSAGE, f"frame 0 must be a UTF-8 JSON object: {error}") from None
    if not isinstance(header, dict):
        raise ProtocolError(ERR_BAD_MESSAGE, f"frame 0 must be a JSON object, got {type(header).__name__}")
    return header


def _check_header_fields(header: dict) -> None:
    allowed = REPLY_FIELDS if "status" in header else REQUEST_FIELDS
    unknown = sorted(set(header) - allowed)
    if unknown:
        raise ProtocolError(ERR_UNKNOWN_FIELD, f"unknown header field(s) {unknown}; allowed: {sorted(allowed)}")
    version = header.get("v")
    if type(version) is not int or version != PROTOCOL_VERSION:
        raise ProtocolError(
            ERR_BAD_VERSION,
            f"protocol version {version!r} is not supported; this "
            f"side speaks v{PROTOCOL_VERSION}. Update the add-on or the engine.",
        )
    for name in ("id", "op"):
        value = header.get(name)
        limit = MAX_ID_CHARS if name == "id" else MAX_NAME_CHARS
        # A reply may carry "" when it answers a request whose id/op could not be read.
        empty_ok = "status" in header
        if not isinstance(value, str) or not (value or empty_ok) or len(value) > limit:
            raise ProtocolError(
                ERR_BAD_MESSAGE, f"header '{name}' must be a non-empty string of at most {limit} characters"
            )
    if "args" in header and not isinstance(header["args"], dict):
        raise ProtocolError(ERR_BAD_ARGS, "header 'args' must be a JSON object")
    status = header.get("status")
    if status is not None and status not in STATUSES:
        raise ProtocolError(ERR_BAD_MESSAGE, f"status must be one of {STATUSES}, got {status!r}")


def _descriptor(entry: Any, index: int, limits: Limits) -> tuple[str, np.dtype, tuple, int]:
    """(name, dtype, shape, nbytes) of one array descriptor, computed without allocating."""
    if not isinstance(entry, dict) or set(entry) != {"name", "dtype", "shape"}:
        raise ProtocolError(
            ERR_BAD_ARRAY, f"arrays[{index}] must be an object with exactly 'name', 'dtype' and 'shape'"
        )
    name, dtype_name, shape = entry["name"], entry["dtype"], entry["shape"]
    if not isinstance(name, str) or not name or len(name) > MAX_NAME_CHARS:
        raise ProtocolError(ERR_BAD_ARRAY, f"arrays[{index}].name must be a short non-empty string")
    if not isinstance(dtype_name, str) or dtype_name not in DTYPES:
        raise ProtocolError(ERR_BAD_ARRAY, f"array '{name}' has dtype {dtype_name!r}; allowed: {', '.join(DTYPES)}")
    if not isinstance(shape, list) or len(shape) > MAX_NDIM or not all(type(n) is int and n >= 0 for n in shape):
        raise ProtocolError(
            ERR_BAD_ARRAY,
            f"array '{name}' shape must be a list of at most {MAX_NDIM} non-negative integers, got {shape!r}",
        )
    elements = math.prod(shape)  # Python ints: a lying shape cannot overflow here
    # max(shape): an empty array may still claim a dimension numpy cannot index ([0, 10**15]).
    if elements > limits.max_elements or max(shape, default=0) > limits.max_elements:
        raise ProtocolError(
            ERR_TOO_LARGE,
            f"array '{name}' claims shape {shape} ({elements} elements); the limit is {limits.max_elements} elements",
        )
    nbytes = elements * DTYPES[dtype_name].itemsize
    if nbytes > limits.max_array_bytes:
        raise ProtocolError(
            ERR_TOO_LARGE, f"array '{name}' claims {nbytes} bytes; the limit is {limits.max_array_bytes}"
        )
    return name, DTYPES[dtype_name], tuple(shape), nbytes


def decode_message(frames: Sequence[bytes], limits: Limits = DEFAULT_LIMITS) -> Message:
    """Validate and decode a request or reply (no routing frames). Raises ProtocolError.

    Checks, in order and before any allocation: frame count, total bytes, header size and JSON,
    header fields and version, each descriptor's dtype/shape/claimed size, and that each frame's byte
    count equals prod(shape) * itemsize. Arrays are zero-copy read-only views on the frames.
    """
    if not frames:
        raise ProtocolError(ERR_BAD_MESSAGE, "empty message: frame 0 must be a JSON header")
    if len(frames) > limits.max_frames:
        raise ProtocolError(
            ERR_TOO_LARGE,
            f"message has {len(frames)} frames; the limit is "
            f"{limits.max_frames} (a header plus {limits.max_frames - 1} arrays)",
        )
    total = sum(len(frame) for frame in frames)
    if total > limits.max_total_bytes:
        raise ProtocolError(ERR_TOO_LARGE, f"message is {total} bytes; the limit is {limits.max_total_bytes}")
    header = _parse_header(bytes(frames[0]), limits)
    _check_header_fields(header)
    entries = header.get("arrays", [])
    if not isinstance(entries, list) or len(entries) != len(frames) - 1:
        count = len(entries) if isinstance(entries, list) else "no valid"
        raise ProtocolError(ERR_BAD_ARRAY, f"header describes {count} arrays but {len(frames) - 1} array frames follow")
    arrays: dict[str, np.ndarray] = {}
    for index, (entry, frame) in enumerate(zip(entries, frames[1:])):
        name, dtype, shape, nbytes = _descriptor(entry, index, limits)
        if name in arrays:
            raise ProtocolError(ERR_BAD_ARRAY, f"array name '{name}' appears twice")
        if len(frame) != nbytes:
            raise ProtocolError(
                ERR_BAD_ARRAY,
                f"array '{name}' claims shape {list(shape)} "
                f"{entry['dtype']} = {nbytes} bytes but its frame has {len(frame)}",
            )
        arrays[name] = np.frombuffer(frame, dtype=dtype).reshape(shape)
    return Message(
        version=header["v"],
        id=header["id"],
        op=header["op"],
        args=header.get("args", {}),
        arrays=arrays,
        status=header.get("status"),
        result=header.get("result"),
        error=header.get("error"),
        progress=header.get("progress"),
    )
