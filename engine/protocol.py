"""Motion Copilot protocol: validation of requests and replies against the operation schemas
(`protocol_ops.py`) over the wire format (`protocol_wire.py`). Re-exports both: import this module.

Stdlib + numpy only. The Blender add-on ships byte-identical copies of the three modules
(tests/test_addon_client.py checks them), so none may import torch or anything from `engine`; the
sibling imports are relative for that reason. Split in three to keep each module under 400 lines.

The engine's tests check each operation's outcome against its reply schema (`check_reply`); the
add-on's client runs `validate_reply` on every `ok` reply and reads reply arrays by their schema
names, never by their shapes. Unknown ops, arguments, arrays and result keys are rejected, never
ignored.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from .protocol_ops import OPERATIONS, ArgSpec, ArraySpec, OperationSpec, ResultSpec
from .protocol_wire import (
    DEFAULT_LIMITS,
    DTYPES,
    ERR_BAD_ARGS,
    ERR_BAD_ARRAY,
    ERR_BAD_INPUT,
    ERR_BAD_MESSAGE,
    ERR_BAD_REPLY,
    ERR_BAD_VERSION,
    ERR_BUSY,
    ERR_CANCELLED,
    ERR_INTERNAL,
    ERR_MODEL_UNAVAILABLE,
    ERR_SHUTTING_DOWN,
    ERR_TIMEOUT,
    ERR_TOO_LARGE,
    ERR_UNKNOWN_FIELD,
    ERR_UNKNOWN_OP,
    ERR_UNKNOWN_PROMPT,
    FLOAT_DTYPES,
    MAX_ID_CHARS,
    MAX_NAME_CHARS,
    MAX_NDIM,
    PROTOCOL_VERSION,
    REPLY_FIELDS,
    REQUEST_FIELDS,
    STATUSES,
    Limits,
    Message,
    ProtocolError,
    decode_message,
    encode_error,
    encode_ok,
    encode_progress,
    encode_reply,
    encode_request,
    new_request_id,
    peek_request_id,
)

__all__ = [
    "DEFAULT_LIMITS",
    "DTYPES",
    "ERR_BAD_ARGS",
    "ERR_BAD_ARRAY",
    "ERR_BAD_INPUT",
    "ERR_BAD_MESSAGE",
    "ERR_BAD_REPLY",
    "ERR_BAD_VERSION",
    "ERR_BUSY",
    "ERR_CANCELLED",
    "ERR_INTERNAL",
    "ERR_MODEL_UNAVAILABLE",
    "ERR_SHUTTING_DOWN",
    "ERR_TIMEOUT",
    "ERR_TOO_LARGE",
    "ERR_UNKNOWN_FIELD",
    "ERR_UNKNOWN_OP",
    "ERR_UNKNOWN_PROMPT",
    "FLOAT_DTYPES",
    "MAX_ID_CHARS",
    "MAX_NAME_CHARS",
    "MAX_NDIM",
    "OPERATIONS",
    "PROTOCOL_VERSION",
    "REPLY_FIELDS",
    "REQUEST_FIELDS",
    "STATUSES",
    "ArgSpec",
    "ArraySpec",
    "Limits",
    "Message",
    "OperationSpec",
    "ProtocolError",
    "ResultSpec",
    "check_reply",
    "decode_message",
    "encode_error",
    "encode_ok",
    "encode_progress",
    "encode_reply",
    "encode_request",
    "new_request_id",
    "peek_request_id",
    "validate_reply",
    "validate_request",
]


# ----------------------------------------------------------------------------- validation

_KINDS = {"str": str, "prompt": str, "int": int, "float": (int, float), "bool": bool, "object": dict, "list": list}


def _wrong_kind(kind: str, value: Any) -> bool:
    # bool is an int subclass in Python; JSON true must not pass as 1.
    return not isinstance(value, _KINDS[kind]) or (kind in ("int", "float") and isinstance(value, bool))


def _check_arg(op: str, spec: ArgSpec, value: Any, limits: Limits) -> None:
    where = f"{op}: argument '{spec.name}'"
    if _wrong_kind(spec.kind, value):
        raise ProtocolError(ERR_BAD_ARGS, f"{where} must be of type {spec.kind}, got {type(value).__name__}")
    if spec.kind in ("str", "prompt"):
        limit = limits.max_prompt_chars if spec.kind == "prompt" else spec.max_length
        if len(value) > limit:
            raise ProtocolError(ERR_BAD_ARGS, f"{where} has {len(value)} characters; the limit is {limit}. Shorten it.")
        if spec.kind == "prompt" and not value.strip():
            raise ProtocolError(ERR_BAD_ARGS, f"{where} is empty; type an instruction")
    if spec.choices and value not in spec.choices:
        raise ProtocolError(ERR_BAD_ARGS, f"{where} must be one of {list(spec.choices)}, got {value!r}")
    if spec.kind in ("int", "float"):
        if (spec.minimum is not None and value < spec.minimum) or (spec.maximum is not None and value > spec.maximum):
            raise ProtocolError(ERR_BAD_ARGS, f"{where} = {value} is outside [{spec.minimum}, {spec.maximum}]")


def _check_array(where: str, spec: ArraySpec, array: np.ndarray, dims: dict, code: str, request: bool) -> None:
    """dtype, shape, named dimensions (bound in `dims`: name -> (size, where it was bound)), finiteness."""
    if array.dtype.name not in spec.dtypes:
        raise ProtocolError(code, f"{where} must be {' or '.join(spec.dtypes)}, got {array.dtype.name}")
    expected = "(" + ", ".join("N" if n is None else str(n) for n in spec.shape) + ")"
    if array.ndim != len(spec.shape) or any(type(n) is int and n != got for n, got in zip(spec.shape, array.shape)):
        raise ProtocolError(code, f"{where} must have shape {expected}, got {tuple(array.shape)}")
    for dim, got in zip(spec.shape, array.shape):
        if isinstance(dim, str):
            size, source = dims.setdefault(dim, (got, where))
            if got != size:
                raise ProtocolError(code, f"{where} has {got} along {dim} but {source} has {size}")
    if request and spec.shape and spec.shape[0] is None and array.shape[0] == 0:
        raise ProtocolError(code, f"{where} is empty; send at least one frame")
    if spec.finite and array.dtype.kind == "f" and not np.isfinite(array).all():
        raise ProtocolError(code, f"{where} contains NaN or infinite values; check the source animation")


def _check_arrays(op: str, specs: tuple, arrays: dict, dims: dict, code: str, request: bool) -> None:
    wanted = {spec.name: spec for spec in specs}
    extra = sorted(set(arrays) - set(wanted))
    if extra:
        raise ProtocolError(code, f"{op}: unexpected array(s) {extra}; allowed: {sorted(wanted) or 'none'}")
    for spec in specs:
        if spec.name in arrays:
            _check_array(f"{op}: array '{spec.name}'", spec, np.asarray(arrays[spec.name]), dims, code, request)
        elif spec.required:
            raise ProtocolError(code, f"{op}: missing required array '{spec.name}'")


def validate_request(
    message: Message, limits: Limits = DEFAULT_LIMITS, operations: dict[str, OperationSpec] = OPERATIONS
) -> OperationSpec:
    """Check op, args and arrays of a decoded request against its schema; returns the op's spec."""
    spec = operations.get(message.op)
    if spec is None:
        raise ProtocolError(
            ERR_UNKNOWN_OP, f"unknown operation '{message.op}'; this engine serves: {', '.join(sorted(operations))}"
        )
    known = {arg.name: arg for arg in spec.args}
    unknown = sorted(set(message.args) - set(known))
    if unknown:
        raise ProtocolError(
            ERR_BAD_ARGS, f"{spec.name}: unknown argument(s) {unknown}; allowed: {sorted(known) or 'none'}"
        )
    for arg in spec.args:
        if arg.name in message.args:
            _check_arg(spec.name, arg, message.args[arg.name], limits)
        elif arg.required:
            raise ProtocolError(ERR_BAD_ARGS, f"{spec.name}: missing required argument '{arg.name}'")
    _check_text(spec.name, message.args)
    _check_arrays(spec.name, spec.arrays, message.arrays, {}, ERR_BAD_ARRAY, request=True)
    _check_work(spec, message.arrays, limits)
    return spec


def _check_text(op: str, args: dict) -> None:
    """Every string of the args must be encodable as UTF-8: JSON may carry a lone surrogate
    ("\\ud800"), which Python decodes but no tokenizer or encoder can take."""
    try:
        json.dumps(args, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as error:
        raise ProtocolError(
            ERR_BAD_ARGS, f"{op}: the arguments hold text that is not valid Unicode ({error.reason}); send UTF-8 text"
        ) from None


def _check_work(spec: OperationSpec, arrays: dict, limits: Limits) -> None:
    """The work bounds of Limits (frames, bones, frames x bones), checked before any work starts."""
    bones = int(arrays[spec.bones_of].shape[0]) if spec.bones_of in arrays else 0
    if bones > limits.max_bones:
        raise ProtocolError(
            ERR_TOO_LARGE, f"{spec.name}: the rig has {bones} bones; the limit is {limits.max_bones} (max_bones)"
        )
    for name in spec.frames_of:
        if name not in arrays:
            continue
        frames = int(arrays[name].shape[0])
        if frames > limits.max_motion_frames:
            raise ProtocolError(
                ERR_TOO_LARGE,
                f"{spec.name}: '{name}' has {frames} frames; the limit is {limits.max_motion_frames} "
                "(max_motion_frames); send a shorter clip",
            )
        if bones and frames * bones > limits.max_bone_frames:
            raise ProtocolError(
                ERR_TOO_LARGE,
                f"{spec.name}: '{name}' is {frames} frames x {bones} bones = {frames * bones} bone-frames; "
                f"the limit is {limits.max_bone_frames} (max_bone_frames); send fewer frames per request",
            )


def check_reply(
    op: str,
    result: dict,
    arrays: dict[str, np.ndarray],
    dims: dict[str, int] | None = None,
    operations: dict[str, OperationSpec] = OPERATIONS,
) -> OperationSpec:
    """Check an `ok` reply's result keys and arrays (dtype, shape) against `op`'s reply schema.

    dims binds dimension names the caller knows, e.g. {"N": number of rig bones}. Raises
    ProtocolError(ERR_BAD_REPLY) naming the key or array; returns the op's spec.
    """
    spec = operations.get(op)
    if spec is None:
        raise ProtocolError(ERR_BAD_REPLY, f"a reply to unknown operation '{op}'")
    if not isinstance(result, dict):
        raise ProtocolError(ERR_BAD_REPLY, f"{op}: the result must be an object, got {type(result).__name__}")
    if spec.result is not None:
        known = {key.name: key for key in spec.result}
        unknown = sorted(set(result) - set(known))
        if unknown:
            raise ProtocolError(ERR_BAD_REPLY, f"{op}: unexpected result key(s) {unknown}; allowed: {sorted(known)}")
        for key in spec.result:
            if key.name not in result:
                if key.required:
                    raise ProtocolError(ERR_BAD_REPLY, f"{op}: the result has no '{key.name}'")
            elif not (key.nullable and result[key.name] is None) and _wrong_kind(key.kind, result[key.name]):
                got = type(result[key.name]).__name__
                raise ProtocolError(ERR_BAD_REPLY, f"{op}: result '{key.name}' must be of type {key.kind}, got {got}")
    bound = {name: (size, "the caller") for name, size in (dims or {}).items()}
    _check_arrays(f"{op} reply", spec.reply, arrays, bound, ERR_BAD_REPLY, request=False)
    return spec


def validate_reply(
    message: Message, dims: dict[str, int] | None = None, operations: dict[str, OperationSpec] = OPERATIONS
) -> OperationSpec:
    """`check_reply` on a decoded `ok` reply (progress and error replies carry no result)."""
    if message.status != "ok":
        raise ProtocolError(ERR_BAD_REPLY, f"only ok replies carry a result; this one is {message.status!r}")
    return check_reply(message.op, message.result or {}, message.arrays, dims, operations)
