"""The streaming ZMTP front of plain tcp binds (engine/zmtp_front.py): its parser fed bytes split
anywhere, its message gate against the server's own refusals, and a real `motion-engine serve`
process reached by real pyzmq clients and by a raw TCP socket speaking ZMTP by hand.

Run: pytest -q tests/test_zmtp_front.py   (~20 s)
"""

from __future__ import annotations

import json
import random
import socket
import struct
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import zmq
from engine_process import EngineProcess

from engine import protocol
from engine.front_socket import recv_bounded
from engine.server import EngineServer, ServerConfig
from engine.zmtp_wire import (
    FLAG_COMMAND,
    FLAG_LONG,
    FLAG_MORE,
    MAX_COMMAND_BYTES,
    MessageGate,
    ZmtpError,
    ZmtpReader,
    command,
    frame_header,
    greeting,
    parse_properties,
    ready,
)

MIB = 1024 * 1024
LIMITS = protocol.DEFAULT_LIMITS


# ----------------------------------------------------------------------------- the parser
class Recorder:
    """Collects ZmtpReader events; payload chunks are joined per frame."""

    def __init__(self) -> None:
        self.events: list[tuple] = []

    def on_greeting(self, major, minor, mechanism, as_server):
        self.events.append(("greeting", major, minor, mechanism, as_server))

    def on_command(self, name, data):
        self.events.append(("command", name, bytes(data)))

    def on_frame(self, more, size):
        self.events.append(("frame", more, size, b""))

    def on_data(self, chunk):
        kind, more, size, data = self.events[-1]
        self.events[-1] = (kind, more, size, data + bytes(chunk))

    def on_frame_end(self, more):
        self.events.append(("end", more))


def _message(*frames: bytes) -> bytes:
    return b"".join(frame_header(len(f), more=i + 1 < len(frames)) + f for i, f in enumerate(frames))


STREAM = (
    greeting()
    + ready(b"DEALER")
    + command(b"PING", b"\x00\x0ahello")
    + _message(b'{"v":1}', b"x" * 300, b"")  # a short, a long and an empty frame
    + command(b"FUTURE", b"ignored by the front")
    + _message(b"y" * 255)
)
EXPECTED = [
    ("greeting", 3, 1, b"NULL", False),
    ("command", b"READY", ready(b"DEALER")[8:]),
    ("command", b"PING", b"\x00\x0ahello"),
    ("frame", True, 7, b'{"v":1}'),
    ("end", True),
    ("frame", True, 300, b"x" * 300),
    ("end", True),
    ("frame", False, 0, b""),
    ("end", False),
    ("command", b"FUTURE", b"ignored by the front"),
    ("frame", False, 255, b"y" * 255),
    ("end", False),
]


def test_reader_events_are_the_same_however_the_bytes_are_split():
    whole = Recorder()
    ZmtpReader(whole).feed(STREAM)
    assert whole.events == EXPECTED
    byte_by_byte = Recorder()
    reader = ZmtpReader(byte_by_byte)
    for i in range(len(STREAM)):
        reader.feed(STREAM[i : i + 1])
    assert byte_by_byte.events == EXPECTED
    rng = random.Random(0)
    for _ in range(200):
        cuts = sorted(rng.sample(range(1, len(STREAM)), rng.randint(1, 12)))
        recorder = Recorder()
        reader = ZmtpReader(recorder)
        for start, end in zip([0, *cuts], [*cuts, len(STREAM)]):
            reader.feed(memoryview(STREAM)[start:end])
        assert recorder.events == EXPECTED, cuts


def test_frame_headers_follow_rfc_23():
    assert frame_header(0) == b"\x00\x00"
    assert frame_header(255, more=True) == bytes([FLAG_MORE, 255])
    assert frame_header(256) == bytes([FLAG_LONG]) + struct.pack(">Q", 256)
    assert command(b"PONG")[:1] == bytes([FLAG_COMMAND])
    assert len(greeting()) == 64 and greeting()[:1] == b"\xff" and greeting()[9:12] == b"\x7f\x03\x01"
    assert parse_properties(ready(b"ROUTER")[8:]) == {b"socket-type": b"ROUTER"}


@pytest.mark.parametrize(
    "data, why",
    [
        (b"GET / HTTP/1.1\r\n", "signature"),
        (b"\xff" + bytes(8) + b"\x7e", "signature"),
        (b"\xff" + bytes(8) + b"\x7f\x02", "ZMTP 2"),
        (greeting() + b"\x08\x00", "reserved"),
        (greeting() + bytes([FLAG_COMMAND | FLAG_LONG]) + struct.pack(">Q", MAX_COMMAND_BYTES + 1), "command"),
    ],
)
def test_reader_refuses_what_is_not_zmtp_3(data, why):
    reader = ZmtpReader(Recorder())
    with pytest.raises(ZmtpError, match=why):
        for i in range(len(data)):  # found at the first byte that shows it, not at the end
            reader.feed(data[i : i + 1])


def test_malformed_ready_metadata_is_refused():
    with pytest.raises(ZmtpError):
        parse_properties(b"\x0bSocket-Type\x00\x00\x00\x09ROUTER")


# ----------------------------------------------------------------------------- the gate
def _gate_pass(frames: list[bytes], limits: protocol.Limits = LIMITS) -> tuple[list[bytes], int]:
    """What the gate delivers for one message streamed through it in 7-byte pieces, and what it skipped."""
    delivered: list[list] = []
    gate = MessageGate(limits, delivered.append)
    for i, frame in enumerate(frames):
        more = i + 1 < len(frames)
        gate.on_frame(more, len(frame))
        for at in range(0, len(frame), 7):
            gate.on_data(memoryview(frame)[at : at + 7])
        gate.on_frame_end(more)
    assert len(delivered) == 1
    return [bytes(f) for f in delivered[0]], gate.skipped_bytes


def _server_reply(frames: list[bytes], limits: protocol.Limits) -> tuple[str, str]:
    """(code, message) the server's bounded read and decoder give `frames` (inproc ROUTER)."""
    context = zmq.Context.instance()
    with context.socket(zmq.ROUTER) as router, context.socket(zmq.DEALER) as dealer:
        endpoint = f"inproc://gate-{time.monotonic_ns()}"
        router.bind(endpoint)
        dealer.connect(endpoint)
        dealer.send_multipart(frames)
        assert router.poll(2000)
        _, received, problem, _ = recv_bounded(router, limits, None)
    try:
        if problem is not None:
            raise problem
        protocol.decode_message(received, limits)
    except protocol.ProtocolError as error:
        return error.code, error.message
    return "ok", ""


def test_gate_passes_a_message_within_the_limits_whole():
    frames = protocol.encode_request("describe_pose", {}, {"pose": np.ones((22, 3), np.float32)})
    big = protocol.encode_request("x", {}, {"a": np.arange(300_000, dtype=np.float32)})  # a 1.2 MB frame
    for message in (frames, big):
        assert _gate_pass(message) == (message, 0)


@pytest.mark.parametrize(
    "frames",
    [
        [protocol.encode_request("ping")[0]] + [b"z" * 100] * 3,  # more frames than the header describes
        [protocol.encode_request("ping")[0]] + [b"z"] * 30,  # ... and over max_frames
        [json.dumps({"v": 1, "id": "a", "op": "x", "arrays": [{}] * 3}).encode()] + [b"z" * 500] * 3,  # over bytes
    ],
)
def test_gate_stand_ins_get_the_reply_the_whole_message_would_get(frames):
    limits = protocol.Limits(max_total_bytes=1000)
    passed, skipped = _gate_pass(frames, limits)
    assert skipped > 0 and sum(map(len, passed[1:])) == 0  # nothing past the header was kept
    assert _server_reply(passed, limits) == _server_reply(frames, limits)
    assert _server_reply(passed, limits)[0] in (protocol.ERR_TOO_LARGE, protocol.ERR_BAD_ARRAY)


def test_a_frame_over_the_per_frame_limit_closes_the_connection():
    gate = MessageGate(protocol.Limits(max_array_bytes=1000), lambda frames: None)
    with pytest.raises(ZmtpError, match="per-frame"):
        gate.on_frame(False, 70_000)  # over max(max_array_bytes, max_header_bytes), at its header


# ----------------------------------------------------------------------------- a real engine
@pytest.fixture(scope="module")
def engine():
    with EngineProcess("--no-bundle", "--enable-test-ops") as process:
        # Loading the operations grows the server's memory: measure only once `info` says they are ready.
        while not _dealer_exchange(process.endpoint, protocol.encode_request("info"), timeout=60).result[
            "models_ready"
        ]:
            time.sleep(0.2)
        yield process


def _dealer_exchange(endpoint: str, frames: list, timeout: float = 30.0) -> protocol.Message:
    with zmq.Context.instance().socket(zmq.DEALER) as dealer:
        dealer.linger = 0
        dealer.connect(endpoint)
        dealer.send_multipart(frames, copy=False)
        assert dealer.poll(timeout * 1000), "no reply"
        return protocol.decode_message(dealer.recv_multipart())


def _peak_growth_mib(pid: int, action) -> float:
    def kib(key: str) -> int:
        line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith(key + ":"))
        return int(line.split()[1])

    Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := VmRSS
    before = kib("VmRSS")
    action()
    return (kib("VmHWM") - before) / 1024


def test_many_frames_over_the_limit_are_too_large_without_growing_the_server(engine):
    """8 frames x 8 MiB, each under the per-frame limit: libzmq's ROUTER held all 64 MiB first."""
    piece = np.zeros(8 * MIB, np.uint8)
    with zmq.Context.instance().socket(zmq.DEALER) as dealer:
        dealer.linger = 0
        dealer.connect(engine.endpoint)
        replies: list[protocol.Message] = []

        def send_and_wait(frames: list) -> None:
            dealer.send_multipart(frames, copy=False)
            assert dealer.poll(30_000)
            replies.append(protocol.decode_message(dealer.recv_multipart()))

        send_and_wait(protocol.encode_request("ping"))  # the connection and its DEALER exist before
        header = protocol.encode_request("ping", request_id="huge")[0]
        growth = _peak_growth_mib(engine.pid, lambda: send_and_wait([header] + [piece] * 8))
        assert replies[-1].error["code"] == protocol.ERR_TOO_LARGE and replies[-1].id == "huge"
        assert growth < 16, growth
        send_and_wait(protocol.encode_request("ping"))  # the same connection serves on
        assert replies[-1].status == "ok" and replies[-1].result["pong"] is True


def test_a_legal_large_request_passes_whole(engine):
    payload = {"x": np.arange(4 * MIB, dtype=np.float32)}  # 16 MiB array frame
    reply = _dealer_exchange(engine.endpoint, protocol.encode_request("synthetic_forward", {}, payload))
    assert reply.status == "ok", reply.error


class RawZmtp:
    """A TCP socket speaking ZMTP by hand, to reach what pyzmq never sends."""

    def __init__(self, endpoint: str, socket_type: bytes = b"DEALER", mechanism: bytes = b"NULL") -> None:
        host, port = endpoint.split("://", 1)[1].rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=5)
        hello = bytearray(greeting())
        hello[12:32] = mechanism.ljust(20, b"\x00")
        self.sock.sendall(bytes(hello) + ready(socket_type))
        self.recorder = Recorder()
        self.reader = ZmtpReader(self.recorder)

    def read_until(self, count: int, timeout: float = 5.0) -> list[tuple]:
        """Events until there are `count` of them; the socket's end when the peer closes."""
        deadline = time.monotonic() + timeout
        while len(self.recorder.events) < count and time.monotonic() < deadline:
            data = self.sock.recv(65536)
            if not data:
                self.recorder.events.append(("closed",))
                break
            self.reader.feed(data)
        return self.recorder.events

    def close(self) -> None:
        self.sock.close()


def test_handshake_ping_pong_and_a_request_by_hand(engine):
    raw = RawZmtp(engine.endpoint, b"REQ")  # REQ is a ROUTER peer too (RFC 28)
    try:
        events = raw.read_until(2)
        assert events[0] == ("greeting", 3, 1, b"NULL", False)
        assert events[1][:2] == ("command", b"READY") and parse_properties(events[1][2]) == {b"socket-type": b"ROUTER"}
        raw.sock.sendall(command(b"PING", b"\x00\x00ctx") + command(b"NOSUCH", b"?"))
        assert raw.read_until(3)[2] == ("command", b"PONG", b"ctx")
        raw.sock.sendall(_message(*protocol.encode_request("ping", request_id="by-hand")))
        reply = protocol.decode_message([event[3] for event in raw.read_until(5)[3:5] if event[0] == "frame"])
        assert reply.id == "by-hand" and reply.status == "ok"
    finally:
        raw.close()


@pytest.mark.parametrize("socket_type, mechanism", [(b"PUB", b"NULL"), (b"DEALER", b"CURVE")])
def test_incompatible_peers_are_disconnected(engine, socket_type, mechanism):
    raw = RawZmtp(engine.endpoint, socket_type, mechanism)
    try:
        assert raw.read_until(10)[-1] == ("closed",)
    finally:
        raw.close()
    assert _dealer_exchange(engine.endpoint, protocol.encode_request("ping")).status == "ok"


def test_libzmq_heartbeats_are_answered(engine):
    """A DEALER with ZMTP heartbeats closes a connection whose peer never answers PING."""
    context = zmq.Context.instance()
    with context.socket(zmq.DEALER) as dealer:
        dealer.linger = 0
        for option, value in ((zmq.HEARTBEAT_IVL, 50), (zmq.HEARTBEAT_TIMEOUT, 200), (zmq.HEARTBEAT_TTL, 1000)):
            dealer.setsockopt(option, value)
        monitor = dealer.get_monitor_socket(zmq.EVENT_DISCONNECTED)
        dealer.connect(engine.endpoint)
        dealer.send_multipart(protocol.encode_request("ping"))
        assert dealer.poll(10_000)
        dealer.recv_multipart()
        time.sleep(1.0)  # ~20 PINGs
        assert monitor.poll(0) == 0, "the connection was dropped: PING unanswered"
        dealer.send_multipart(protocol.encode_request("ping"))
        assert dealer.poll(10_000)
        dealer.disable_monitor()
        monitor.close()


def _non_loopback_address() -> str | None:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing interface
            address = probe.getsockname()[0]
    except OSError:
        return None
    return None if address.startswith("127.") else address


def test_info_behind_the_front_still_tells_local_from_remote_clients():
    address = _non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    server = EngineServer(ServerConfig(bind=f"tcp://{address}:*"), {}, {"pid": 4242})
    server.bind()
    assert server.zmtp is not None
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        remote = _dealer_exchange(server.endpoint, protocol.encode_request("info"))
        assert "pid" not in remote.result  # reached over eth0: not this machine's loopback
    finally:
        server.stop()
        thread.join(10)
    server = EngineServer(ServerConfig(bind="tcp://127.0.0.1:*"), {}, {"pid": 4242})
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    server.bind()
    thread.start()
    try:
        assert _dealer_exchange(server.endpoint, protocol.encode_request("info")).result["pid"] == 4242
    finally:
        server.stop()
        thread.join(10)
