"""Wire-format tests: encode/decode round trips and every validation rule of engine/protocol.py."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pytest

from engine import protocol as p

PROTOCOL_FILE = Path(p.__file__)
PROTOCOL_MODULES = ("protocol", "protocol_ops", "protocol_wire")


def _header(frames: list[bytes]) -> dict:
    return json.loads(frames[0])


def _with_header(frames: list[bytes], **changes) -> list[bytes]:
    header = _header(frames)
    header.update(changes)
    return [json.dumps(header).encode(), *frames[1:]]


def _code(frames, limits=p.DEFAULT_LIMITS) -> str:
    with pytest.raises(p.ProtocolError) as caught:
        p.validate_request(p.decode_message(frames, limits), limits)
    assert caught.value.message  # every rejection carries a sentence
    return caught.value.code


@pytest.mark.parametrize("name", PROTOCOL_MODULES)
def test_protocol_modules_import_only_stdlib_numpy_and_each_other(name):
    tree = ast.parse((PROTOCOL_FILE.parent / f"{name}.py").read_text())
    absolute = {
        alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    absolute |= {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0
    }
    assert absolute <= {"__future__", "json", "math", "uuid", "collections", "dataclasses", "typing", "numpy"}
    # Siblings only, relative (the add-on's copies import each other the same way).
    relative = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level}
    assert relative <= set(PROTOCOL_MODULES) - {name}


@pytest.mark.parametrize("name", PROTOCOL_MODULES)
def test_protocol_modules_stay_under_400_lines(name):
    assert len((PROTOCOL_FILE.parent / f"{name}.py").read_text().splitlines()) <= 400


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int64"])
def test_round_trip_keeps_values_dtype_and_shape(dtype):
    rng = np.random.default_rng(0)
    motion = (rng.standard_normal((7, 22, 3)) * 100).astype(dtype)
    frames = p.encode_request("motion_to_text", {"seed": 5}, {"motion": motion}, request_id="r1")
    message = p.decode_message(frames)
    assert message.is_request and message.id == "r1" and message.args == {"seed": 5}
    decoded = message.arrays["motion"]
    assert decoded.dtype == np.dtype(dtype) and decoded.shape == (7, 22, 3)
    np.testing.assert_array_equal(decoded, motion)
    assert not decoded.flags.writeable  # zero-copy view on the received frame


def test_wire_bytes_are_little_endian_even_from_big_endian_arrays():
    big = np.arange(6, dtype=">f4").reshape(2, 3)
    frames = p.encode_request("ping", arrays={"a": big})
    assert frames[1] == np.arange(6, dtype="<f4").tobytes()
    assert _header(frames)["arrays"] == [{"name": "a", "dtype": "float32", "shape": [2, 3]}]


def test_non_contiguous_arrays_are_sent_in_c_order():
    array = np.arange(12, dtype=np.float32).reshape(3, 4).T
    decoded = p.decode_message(p.encode_request("ping", arrays={"a": array})).arrays["a"]
    np.testing.assert_array_equal(decoded, array)


def test_replies_round_trip():
    ok = p.decode_message(p.encode_ok("r", "info", {"x": 1}, {"y": np.ones(3, np.int64)}))
    assert (ok.status, ok.result, ok.arrays["y"].tolist()) == ("ok", {"x": 1}, [1, 1, 1])
    error = p.decode_message(p.encode_error("r", "info", p.ERR_BAD_ARGS, "fix it"))
    assert error.error == {"code": "bad_args", "message": "fix it"} and not error.is_request
    progress = p.decode_message(p.encode_progress("r", "sleep", 1.7, "half"))
    assert progress.progress == {"fraction": 1.0, "message": "half"}  # clamped to [0, 1]


def test_encoding_rejects_unsupported_dtype_and_nan_args():
    with pytest.raises(p.ProtocolError, match="float16"):
        p.encode_request("ping", arrays={"a": np.zeros(2, np.float16)})
    with pytest.raises(ValueError):
        p.encode_request("sleep", {"seconds": float("nan")})


def test_version_unknown_fields_and_bad_json_are_rejected():
    frames = p.encode_request("ping")
    assert _code(_with_header(frames, v=2)) == p.ERR_BAD_VERSION
    assert _code(_with_header(frames, v=True)) == p.ERR_BAD_VERSION
    assert _code(_with_header(frames, colour="red")) == p.ERR_UNKNOWN_FIELD
    assert _code(_with_header(frames, id="")) == p.ERR_BAD_MESSAGE
    assert _code(_with_header(frames, id="x" * 500)) == p.ERR_BAD_MESSAGE
    assert _code([b"{not json"]) == p.ERR_BAD_MESSAGE
    assert _code([b"\xff\xfe"]) == p.ERR_BAD_MESSAGE
    assert _code([b"[1, 2]"]) == p.ERR_BAD_MESSAGE
    assert _code([b'{"v": NaN}']) == p.ERR_BAD_MESSAGE
    assert _code([]) == p.ERR_BAD_MESSAGE


def test_sizes_are_checked_before_allocation():
    frames = p.encode_request("motion_to_text", arrays={"motion": np.zeros((2, 22, 3), np.float32)})
    # a shape that lies about the frame's size
    assert (
        _code(_with_header(frames, arrays=[{"name": "motion", "dtype": "float32", "shape": [3, 22, 3]}]))
        == p.ERR_BAD_ARRAY
    )
    # a huge claimed size is refused from the header alone (nothing of that size exists)
    huge = [{"name": "motion", "dtype": "float64", "shape": [10**12, 22, 3]}]
    assert _code(_with_header(frames, arrays=huge)) == p.ERR_TOO_LARGE
    small = p.Limits(max_array_bytes=100, max_total_bytes=10_000, max_frames=3, max_header_bytes=400)
    assert _code(frames, small) == p.ERR_TOO_LARGE  # 528-byte array > 100
    assert _code([b" " * 500], small) == p.ERR_TOO_LARGE
    assert _code([b"{}"] * 4, small) == p.ERR_TOO_LARGE
    assert _code([frames[0], b"\0" * 20_000], small) == p.ERR_TOO_LARGE
    # descriptor count must match frame count
    assert _code(frames[:1]) == p.ERR_BAD_ARRAY
    for bad in (
        [{"name": "m", "dtype": "float16", "shape": [1]}],
        [{"name": "m", "dtype": "float32", "shape": [-1]}],
        [{"name": "m", "dtype": "float32", "shape": [1.5]}],
        [{"name": "m", "dtype": "float32", "shape": [1], "extra": 1}],
        [{"name": "m", "dtype": "float32", "shape": [1] * 9}],
        "nope",
    ):
        assert _code(_with_header([frames[0], b"\0" * 4], arrays=bad)) in (p.ERR_BAD_ARRAY,)


def test_duplicate_array_names_are_rejected():
    frames = p.encode_request("ping", arrays={"a": np.zeros(1, np.float32)})
    header = _header(frames)
    header["arrays"] *= 2
    assert _code([json.dumps(header).encode(), frames[1], frames[1]]) == p.ERR_BAD_ARRAY


def test_operation_schemas_check_ops_args_and_arrays():
    pose = np.zeros((22, 3), np.float32)
    assert p.validate_request(
        p.decode_message(p.encode_request("describe_pose", {"seed": 1}, {"pose": pose}))
    ).batchable
    assert _code(p.encode_request("dance")) == p.ERR_UNKNOWN_OP
    assert _code(p.encode_request("describe_pose", {"colour": 1}, {"pose": pose})) == p.ERR_BAD_ARGS
    assert _code(p.encode_request("describe_pose", {"seed": "1"}, {"pose": pose})) == p.ERR_BAD_ARGS
    assert _code(p.encode_request("describe_pose", {"seed": -1}, {"pose": pose})) == p.ERR_BAD_ARGS
    assert _code(p.encode_request("describe_pose", {"deterministic": 1}, {"pose": pose})) == p.ERR_BAD_ARGS
    assert (
        _code(p.encode_request("text_to_motion", {"frames": True, "text": "walk"})) == p.ERR_BAD_ARGS
    )  # JSON true is not an int
    assert _code(p.encode_request("text_to_motion", {})) == p.ERR_BAD_ARGS
    assert _code(p.encode_request("text_to_motion", {"text": "   "})) == p.ERR_BAD_ARGS
    assert _code(p.encode_request("text_to_motion", {"text": "a" * 1001})) == p.ERR_BAD_ARGS
    assert (
        _code(p.encode_request("describe_change", {"method": "magic"}, {"pose_a": pose, "pose_b": pose}))
        == p.ERR_BAD_ARGS
    )
    assert _code(p.encode_request("describe_pose")) == p.ERR_BAD_ARRAY
    assert _code(p.encode_request("describe_pose", arrays={"pose": pose, "x": pose})) == p.ERR_BAD_ARRAY
    assert _code(p.encode_request("describe_pose", arrays={"pose": pose[:21]})) == p.ERR_BAD_ARRAY
    assert _code(p.encode_request("describe_pose", arrays={"pose": pose.astype(np.int32)})) == p.ERR_BAD_ARRAY
    assert _code(p.encode_request("motion_to_text", arrays={"motion": np.zeros((0, 22, 3))})) == p.ERR_BAD_ARRAY
    nan_pose = pose.copy()
    nan_pose[3, 1] = np.nan
    assert _code(p.encode_request("describe_pose", arrays={"pose": nan_pose})) == p.ERR_BAD_ARRAY


def test_prompt_limit_comes_from_limits():
    frames = p.encode_request("text_to_motion", {"text": "walk in a circle"})
    assert _code(frames, p.Limits(max_prompt_chars=5)) == p.ERR_BAD_ARGS
    p.validate_request(p.decode_message(frames))


def test_peek_request_id_survives_garbage():
    assert p.peek_request_id(p.encode_request("ping", request_id="abc")[0]) == ("abc", "ping")
    assert p.peek_request_id(b"\x00\xff") == ("", "")
    assert p.peek_request_id(b'{"id": 5, "op": "ping"}') == ("", "ping")


def test_every_operation_has_a_doc_and_consistent_specs():
    for name, spec in p.OPERATIONS.items():
        assert spec.name == name and spec.doc
        assert len({a.name for a in spec.args}) == len(spec.args)
        for array in spec.arrays:
            assert set(array.dtypes) <= set(p.DTYPES)


# ----------------------------------------------------------------------------- reply schemas


def _retarget_reply(frames: int = 5, bones: int = 7) -> tuple[dict, dict]:
    result = {
        "kind": "rig_animation",
        "bone_names": [f"b{i}" for i in range(bones)],
        "root_bone": "b0",
        "fps": 20.0,
        "scale": 1.0,
        "driven_bones": ["b0"],
    }
    return result, {"rotations": np.zeros((frames, bones, 4)), "root_location": np.zeros((frames, 3))}


def test_every_operation_names_its_reply():
    for spec in p.OPERATIONS.values():
        assert spec.result is not None or spec.name == "info", spec.name
        for array in spec.reply:  # reply arrays have exact dtypes: the reader knows what it gets
            assert array.dtypes and all(d in p.DTYPES for d in array.dtypes), (spec.name, array.name)
    assert p.OPERATIONS["text_to_motion"].reply[0].shape == ("T", 22, 3)
    assert p.OPERATIONS["text_to_motion"].reply[0].dtypes == ("float32",)
    assert {a.name for a in p.OPERATIONS["retarget"].reply} == {"rotations", "root_location"}


def test_a_good_reply_passes_both_sides_of_the_wire():
    result, arrays = _retarget_reply()
    message = p.decode_message(p.encode_ok("r", "retarget", result, arrays))
    assert p.validate_reply(message, {"N": 7}).name == "retarget"


@pytest.mark.parametrize(
    "change,words",
    [
        (lambda r, a: a.pop("root_location"), "missing required array 'root_location'"),
        (lambda r, a: a.update(rotations=np.zeros((5, 7, 4), np.float32)), "must be float64, got float32"),
        (lambda r, a: a.update(rotations=np.zeros((5, 7, 3))), "must have shape (T, N, 4), got (5, 7, 3)"),
        (lambda r, a: a.update(root_location=np.zeros((6, 3))), "has 6 along T but"),
        (lambda r, a: a.update(extra=np.zeros(2)), "unexpected array(s) ['extra']"),
        (lambda r, a: a.update(rotations=np.full((5, 7, 4), np.nan)), "NaN"),
        (lambda r, a: r.pop("root_bone"), "the result has no 'root_bone'"),
        (lambda r, a: r.update(root_bone=3), "result 'root_bone' must be of type str, got int"),
        (lambda r, a: r.update(scale=True), "result 'scale' must be of type float, got bool"),
        (lambda r, a: r.update(colour="red"), "unexpected result key(s) ['colour']"),
    ],
)
def test_a_reply_off_its_schema_is_named(change, words):
    result, arrays = _retarget_reply()
    change(result, arrays)
    with pytest.raises(p.ProtocolError) as caught:
        p.check_reply("retarget", result, arrays)
    assert caught.value.code == p.ERR_BAD_REPLY and words in caught.value.message


def test_caller_bound_dimensions_and_nullable_results():
    result, arrays = _retarget_reply(bones=7)
    with pytest.raises(p.ProtocolError, match="has 7 along N but the caller has 8"):
        p.check_reply("retarget", result, arrays, {"N": 8})
    positions = {"positions": np.zeros((3, 22, 3), np.float32)}
    placement = {"yaw": 0.0, "offset": [0.0, 0.0, 0.0]}
    p.check_reply("rig_to_canonical", {"root_bone": "hips", "location_bone": None, "placement": placement}, positions)
    with pytest.raises(p.ProtocolError, match="'root_bone' must be of type str, got NoneType"):
        p.check_reply("rig_to_canonical", {"root_bone": None, "location_bone": None, "placement": placement}, positions)
    assert p.check_reply("info", {"anything": [1, 2]}, {}).name == "info"  # info is free-form
    with pytest.raises(p.ProtocolError, match="unknown operation 'dance'"):
        p.check_reply("dance", {}, {})


def test_only_ok_replies_are_validated():
    with pytest.raises(p.ProtocolError, match="only ok replies"):
        p.validate_reply(p.decode_message(p.encode_progress("r", "sleep", 0.5)))


def test_an_empty_array_claiming_an_absurd_dimension_is_too_large():
    # 0 elements, 0 bytes, but numpy cannot build a view with a 10**15 dimension (found by the fuzzer).
    header = {"v": 1, "id": "r", "op": "ping", "args": {}}
    header["arrays"] = [{"name": "pose", "dtype": "float32", "shape": [0, 5, 10**15]}]
    assert _code([json.dumps(header).encode(), b""]) == p.ERR_TOO_LARGE
