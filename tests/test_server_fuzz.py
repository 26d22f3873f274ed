"""Fuzzing the real server: malformed headers, wrong dtypes, lying shapes, huge claimed sizes,
NaN arrays, unknown ops and random bytes. Every input must get exactly one final reply carrying its
request id (or "" when the header is unreadable), the server must stay up, and its memory bounded.

Run: pytest -q -s tests/test_server_fuzz.py          (~15 s; prints the number of inputs tried)
     pytest -q -s -m slow tests/test_server_fuzz.py  (10x more examples)
"""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest
import zmq
from engine_process import EngineProcess
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import protocol
from engine.client import EngineClient

REPLY_TIMEOUT_MS = 10_000
RSS_GROWTH_LIMIT_KIB = 64 * 1024  # far below what keeping fuzz inputs around would cost
KNOWN_CODES = {
    protocol.ERR_BAD_MESSAGE,
    protocol.ERR_BAD_VERSION,
    protocol.ERR_TOO_LARGE,
    protocol.ERR_BAD_ARRAY,
    protocol.ERR_UNKNOWN_FIELD,
    protocol.ERR_UNKNOWN_OP,
    protocol.ERR_BAD_ARGS,
    protocol.ERR_BAD_INPUT,
    protocol.ERR_MODEL_UNAVAILABLE,
    protocol.ERR_BUSY,
}
COUNTS = {"inputs": 0, "ok": 0, "error": 0}
FUZZ_SETTINGS = dict(deadline=None, suppress_health_check=list(HealthCheck), database=None)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)
ops = st.one_of(st.sampled_from(sorted(protocol.OPERATIONS)), st.text(max_size=12))
dtype_names = st.one_of(
    st.sampled_from(sorted(protocol.DTYPES)), st.sampled_from(["float16", "uint8", "bool", "object", "<f4", ""])
)
shapes = st.lists(st.one_of(st.integers(0, 30), st.sampled_from([22, 3, 2**31, 10**15, -1])), max_size=5)


@st.composite
def structured_requests(draw) -> list[bytes]:
    """Headers close to valid, so the fuzz reaches the deeper checks (args, arrays, schemas)."""
    header: dict = {
        "v": draw(st.sampled_from([1, 1, 1, 0, 2, "1"])),
        "id": draw(st.one_of(st.uuids().map(lambda u: u.hex), st.text(max_size=10))),
        "op": draw(ops),
        "args": draw(
            st.one_of(
                st.dictionaries(
                    st.sampled_from(
                        ["text", "seed", "frames", "target", "deterministic", "method", "rig", "temperature", "junk"]
                    ),
                    json_values,
                    max_size=3,
                ),
                json_values,
            )
        ),
    }
    frames: list[bytes] = []
    descriptors = []
    for _ in range(draw(st.integers(0, 3))):
        name = draw(st.sampled_from(["pose", "pose_a", "pose_b", "motion", "positions", "x", ""]))
        dtype, shape = draw(dtype_names), draw(shapes)
        descriptors.append({"name": name, "dtype": dtype, "shape": shape})
        # honest frames stay far below the per-frame limit (a frame over it gets the peer dropped, no reply)
        honest = dtype in protocol.DTYPES and all(0 <= n <= 64 for n in shape) and math.prod(shape) <= 100_000
        if honest and draw(st.booleans()):  # the frame matches its descriptor, values random
            count = math.prod(shape)
            element = st.floats(width=32) if dtype.startswith("float") else st.integers(-(2**31), 2**31 - 1)
            values = draw(st.lists(element, min_size=count, max_size=count)) if count <= 200 else [0] * count
            frames.append(np.asarray(values, dtype=protocol.DTYPES[dtype]).tobytes())
        else:  # a frame whose size lies about the shape
            frames.append(draw(st.binary(max_size=300)))
    header["arrays"] = draw(st.one_of(st.just(descriptors), json_values))
    if draw(st.booleans()):
        header[draw(st.sampled_from(["colour", "status", "result", "progress"]))] = draw(json_values)
    return [json.dumps(header).encode(), *frames]


@st.composite
def nan_requests(draw) -> list[bytes]:
    pose = np.asarray(
        draw(st.lists(st.floats(width=32, allow_nan=True, allow_infinity=True), min_size=66, max_size=66)),
        dtype=np.float32,
    ).reshape(22, 3)
    pose[draw(st.integers(0, 21)), draw(st.integers(0, 2))] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    return protocol.encode_request("describe_pose", arrays={"pose": pose})


@st.composite
def valid_pose_requests(draw) -> list[bytes]:
    """Well-formed describe requests with arbitrary finite geometry: reach the describer itself."""
    poses = [
        np.asarray(draw(st.lists(st.floats(-1e6, 1e6, width=32), min_size=66, max_size=66)), dtype=np.float32).reshape(
            22, 3
        )
        for _ in range(2)
    ]
    args = draw(st.fixed_dictionaries({}, optional={"seed": st.integers(0, 2**31 - 1), "deterministic": st.booleans()}))
    if draw(st.booleans()):
        return protocol.encode_request("describe_pose", args, {"pose": poses[0]})
    return protocol.encode_request("describe_change", args, {"pose_a": poses[0], "pose_b": poses[1]})


inputs = st.one_of(
    valid_pose_requests(),
    st.lists(st.binary(max_size=200), min_size=1, max_size=6),  # random bytes
    st.lists(json_values.map(lambda v: json.dumps(v).encode()), min_size=1, max_size=3),
    structured_requests(),
    nan_requests(),
)


@pytest.fixture(scope="module")
def engine():
    with EngineProcess("--no-bundle") as process:
        # The socket is up before the operations load; loading grows the server's memory, so the
        # fuzzer's memory bound is measured only once `info` says they are ready.
        with EngineClient(process.endpoint, timeout=60) as client:
            while not client.request("info").result["models_ready"]:
                time.sleep(0.2)
        yield process


@pytest.fixture(scope="module")
def socket(engine):
    context = zmq.Context.instance()
    dealer = context.socket(zmq.DEALER)
    dealer.linger = 0
    dealer.connect(engine.endpoint)
    yield dealer
    dealer.close()


def _exchange(socket: zmq.Socket, engine: EngineProcess, frames: list[bytes]) -> None:
    expected_id, _ = protocol.peek_request_id(frames[0])
    socket.send_multipart(frames)
    while True:
        assert socket.poll(REPLY_TIMEOUT_MS), f"no reply to {frames!r:.300}"
        reply = protocol.decode_message(socket.recv_multipart())
        if reply.status != "progress":
            break
    COUNTS["inputs"] += 1
    COUNTS[reply.status] += 1
    assert reply.id == expected_id
    if reply.status == "error":
        assert reply.error["code"] in KNOWN_CODES, reply.error
        assert len(reply.error["message"]) > 10
    assert engine.alive()


def _fuzz(engine: EngineProcess, socket: zmq.Socket, examples: int) -> None:
    for _ in range(20):  # warm up lazy imports and allocator pools before the baseline
        _exchange(socket, engine, protocol.encode_request("ping"))
    rss_before = engine.rss_kib()
    before = COUNTS["inputs"]

    @settings(max_examples=examples, **FUZZ_SETTINGS)
    @given(inputs)
    def check(frames: list[bytes]) -> None:
        _exchange(socket, engine, frames)

    check()
    _exchange(socket, engine, protocol.encode_request("ping"))
    growth = engine.rss_kib() - rss_before
    print(
        f"\nfuzz: {COUNTS['inputs'] - before} inputs tried ({COUNTS}), "
        f"server RSS {rss_before} KiB -> growth {growth} KiB"
    )
    assert growth < RSS_GROWTH_LIMIT_KIB


def test_fuzzed_requests_get_error_replies_and_memory_stays_bounded(engine, socket):
    _fuzz(engine, socket, examples=1000)


@pytest.mark.slow
def test_fuzz_many_more_inputs(engine, socket):
    _fuzz(engine, socket, examples=10000)


def test_oversized_inputs_are_refused_without_allocation(engine, socket):
    huge_claim = json.loads(protocol.encode_request("describe_pose")[0])
    huge_claim["arrays"] = [{"name": "pose", "dtype": "float64", "shape": [10**9, 10**9]}]
    _exchange(socket, engine, [json.dumps(huge_claim).encode(), b"\0" * 8])
    _exchange(socket, engine, [protocol.encode_request("ping")[0]] + [b"x"] * 100)  # too many frames
    _exchange(socket, engine, [b"{" * 70_000])  # header over the limit (and deeply nested)
    _exchange(socket, engine, [b"[" * 30_000 + b"]" * 30_000])  # within the limit, too deep to parse
    rss_before = engine.rss_kib()
    # 80 MB frame > the 64 MiB per-frame limit: libzmq drops the peer instead of buffering it
    context = zmq.Context.instance()
    with context.socket(zmq.DEALER) as rude:
        rude.linger = 0
        rude.connect(engine.endpoint)
        rude.send_multipart([protocol.encode_request("ping")[0], b"\0" * (80 * 1024 * 1024)])
        assert rude.poll(3000) == 0  # no reply: the connection was dropped per ZMQ_MAXMSGSIZE
    _exchange(socket, engine, protocol.encode_request("ping"))
    assert engine.rss_kib() - rss_before < RSS_GROWTH_LIMIT_KIB
