"""A ZMTP 3.x front for the engine's public tcp endpoint, so a huge multipart message never sits in memory.

Why: libzmq's ROUTER hands a multipart message to the application only once all its frames have
arrived, and ZMQ_MAXMSGSIZE bounds one frame, not a message: 64 frames x 16 MiB grew the server by
1 GiB before the bounded read (engine/front_socket.py) could refuse it. Here the server's ROUTER
listens on an inproc endpoint instead, and this front owns the public endpoint as a zmq.STREAM socket
(libzmq hands over raw TCP bytes as they arrive, nothing buffered whole). It speaks ZMTP 3.1 with the
NULL mechanism itself (RFC 23/ZMTP https://rfc.zeromq.org/spec/23/, RFC 37/ZMTP 3.1
https://rfc.zeromq.org/spec/37/, NULL in RFC 23 section "The NULL Security Mechanism"):

- per connection: the 64-byte greeting (as server, mechanism NULL), a READY command with
  Socket-Type ROUTER; the peer's READY must name a socket type a ROUTER talks to (DEALER, REQ or
  ROUTER, RFC 28/REQREP), else the connection is closed. PING gets a PONG; ERROR closes; other
  commands are ignored, as RFC 37 says.
- frames are parsed incrementally (`ZmtpReader`) and a message's frames and bytes are counted as
  they stream (`MessageGate`):
  * a frame over the per-frame limit (max(max_array_bytes, max_header_bytes), what the ROUTER's
    MAXMSGSIZE was) closes the connection at its frame header, without reading it (as libzmq did);
  * a message over `max_frames` or `max_total_bytes`, or with more frames than its header's
    "arrays" list describes, is skipped byte by byte from that point: only its header frame is
    kept. The server still decides the reply: it gets a stand-in message that its bounded read and
    decoder refuse with exactly the reply the whole message would have got (`too_large`, or
    `bad_array` for the frame-count mismatch), so counters, error texts and reply order stay the
    server's. The connection stays open for the next request.
  * a message within the limits is forwarded whole.
- forwarding: one DEALER per TCP connection connected to the server's ROUTER on an inproc
  endpoint, so the server code is unchanged and replies come back on that DEALER; the front frames
  them as ZMTP and writes them to the STREAM socket. The DEALER's routing id starts with `LOCAL` or
  `REMOTE` (decided here from the TCP Peer-Address by engine/server_info.py's rule), so `info` still
  hides local details from remote clients (`identity_is_local`).
- back-pressure, so engine/outbox.py's promises hold: a connection whose replies the STREAM socket
  cannot take (EAGAIN: the client reads slowly) is not read from its DEALER until they leave, so the
  inproc pipe fills and the server's ROUTER_MANDATORY send raises EAGAIN as it did for a TCP peer.
  A request the server's pipe cannot take yet stalls reading the STREAM socket (every connection:
  the server is not reading at all then); libzmq then stops reading TCP (its STREAM RCVHWM).

CURVE binds keep libzmq's ROUTER (encrypted frames cannot be parsed without implementing CURVE),
and so do ipc:// and the proxy mode: engine/front_socket.py chooses. One thread runs the front
(`ZmtpFront.start`); ZeroMQ sockets are used only from that thread after `bind`.
"""

from __future__ import annotations

import errno
import json
import logging
import struct
import threading
import time
from collections import deque
from collections.abc import Callable

import numpy as np
import zmq

from engine import protocol
from engine.server_info import peer_is_local

logger = logging.getLogger(__name__)

# Routing ids of the per-connection DEALERs: the server reads locality from the first byte.
LOCAL = b"L"
REMOTE = b"R"

FLAG_MORE, FLAG_LONG, FLAG_COMMAND = 0x01, 0x02, 0x04
GREETING_BYTES = 64
MAX_COMMAND_BYTES = 64 * 1024  # READY carries a few short properties; anything bigger is hostile
ROUTER_PEERS = (b"DEALER", b"REQ", b"ROUTER")  # RFC 28/REQREP: what a ROUTER talks to
SMALL_FRAME = 64 * 1024  # frames up to this are kept in a bytearray, larger in an untouched np.empty
STREAM_RCVHWM = 256  # STREAM chunks (up to 8 KiB each) libzmq holds per connection before it stops reading TCP
IDLE_POLL_MS = 100  # how often an idle front looks at its stop flag
BUSY_POLL_MS = 5  # retry interval while replies or a request wait for room


class ZmtpError(Exception):
    """The peer broke ZMTP (or the limits); its connection is closed."""


def greeting(as_server: bool = False) -> bytes:
    """Our 64-byte ZMTP 3.1 greeting with the NULL mechanism (RFC 23 "Greeting"; as-server is 0 with NULL)."""
    return b"\xff" + b"\x00" * 8 + b"\x7f" + bytes([3, 1]) + b"NULL".ljust(20, b"\x00") + bytes([as_server]) + bytes(31)


def frame_header(size: int, more: bool = False, command: bool = False) -> bytes:
    """The flags byte and size of one ZMTP frame (short when the size fits one byte)."""
    flags = (FLAG_MORE if more else 0) | (FLAG_COMMAND if command else 0)
    if size > 255:
        return struct.pack(">BQ", flags | FLAG_LONG, size)
    return struct.pack(">BB", flags, size)


def command(name: bytes, data: bytes = b"") -> bytes:
    """A whole command frame: name length, name, data."""
    body = bytes([len(name)]) + name + data
    return frame_header(len(body), command=True) + body


def ready(socket_type: bytes = b"ROUTER") -> bytes:
    """Our READY command: the Socket-Type property (RFC 23 "Commands", metadata)."""
    name = b"Socket-Type"
    return command(b"READY", bytes([len(name)]) + name + struct.pack(">I", len(socket_type)) + socket_type)


def parse_properties(data: bytes) -> dict[bytes, bytes]:
    """The metadata of a READY command: {name: value}; raises ZmtpError when malformed."""
    properties, at = {}, 0
    while at < len(data):
        length = data[at]
        name = data[at + 1 : at + 1 + length]
        at += 1 + length
        if len(name) != length or at + 4 > len(data):
            raise ZmtpError("malformed READY metadata")
        (size,) = struct.unpack_from(">I", data, at)
        value = data[at + 4 : at + 4 + size]
        if len(value) != size:
            raise ZmtpError("malformed READY metadata")
        at += 4 + size
        properties[name.lower()] = value
    return properties


def identity_is_local(identity: bytes) -> bool:
    """Whether a request that the front forwarded (routing id = its DEALER's) came from this machine."""
    return identity[:1] == LOCAL


class ZmtpReader:
    """Incremental ZMTP 3.x parser: feed it bytes split anywhere, it calls `handler` per event.

    Events: on_greeting(major, minor, mechanism: bytes, as_server: bool); on_command(name, data)
    for a whole command frame; on_frame(more: bool, size: int) at a message frame's header, then
    on_data(chunk: memoryview) for its payload in order (valid only during the call), then
    on_frame_end(more). Raises ZmtpError on a bad signature, a version below 3, reserved flag bits,
    or a command over MAX_COMMAND_BYTES; the handler may raise ZmtpError too.
    """

    def __init__(self, handler: object) -> None:
        self.handler = handler
        self._head = bytearray()  # greeting or frame header bytes not yet complete
        self._state = "greeting"
        self._need = GREETING_BYTES
        self._flags = 0
        self._left = 0  # payload bytes of the current frame still to come
        self._command = bytearray()

    def feed(self, data: bytes | memoryview) -> None:
        view = memoryview(data).cast("B") if not isinstance(data, memoryview) else data
        at, end = 0, len(view)
        while at < end:
            if self._state == "body":
                take = min(self._left, end - at)
                self._body(view[at : at + take])
                at += take
                continue
            take = min(self._need - len(self._head), end - at)
            self._head += view[at : at + take]
            at += take
            if self._state == "greeting":
                self._check_signature()
            if len(self._head) == self._need:
                self._header_done()

    def _check_signature(self) -> None:
        head = self._head
        if head[:1] and head[0] != 0xFF:
            raise ZmtpError("not a ZMTP peer (bad signature)")
        if len(head) >= 10 and not head[9] & 0x01:
            raise ZmtpError("not a ZMTP peer (bad signature)")
        if len(head) >= 11 and head[10] < 3:
            raise ZmtpError(f"ZMTP {head[10]}.x peer; this engine speaks ZMTP 3")

    def _header_done(self) -> None:
        head, self._head = bytes(self._head), bytearray()
        if self._state == "greeting":
            self.handler.on_greeting(head[10], head[11], head[12:32].rstrip(b"\x00"), bool(head[32]))
            self._state, self._need = "flags", 1
        elif self._state == "flags":
            self._flags = head[0]
            if self._flags & ~(FLAG_MORE | FLAG_LONG | FLAG_COMMAND):
                raise ZmtpError(f"reserved frame flag bits set ({self._flags:#x})")
            self._state, self._need = "size", 8 if self._flags & FLAG_LONG else 1
        else:
            size = int.from_bytes(head, "big")
            if size >= 1 << 63:
                raise ZmtpError("frame size over 2**63")
            self._left = size
            if self._flags & FLAG_COMMAND:
                if size > MAX_COMMAND_BYTES:
                    raise ZmtpError(f"command frame of {size} bytes")
                self._command = bytearray()
            else:
                self.handler.on_frame(bool(self._flags & FLAG_MORE), size)
            self._state = "body"
            if size == 0:
                self._body(memoryview(b""))

    def _body(self, chunk: memoryview) -> None:
        self._left -= len(chunk)
        if self._flags & FLAG_COMMAND:
            self._command += chunk
        elif chunk:
            self.handler.on_data(chunk)
        if self._left:
            return
        self._state, self._need = "flags", 1
        if self._flags & FLAG_COMMAND:
            body = bytes(self._command)
            length = body[0] if body else 0
            if not body or len(body) < 1 + length:
                raise ZmtpError("malformed command frame")
            self.handler.on_command(body[1 : 1 + length], body[1 + length :])
        else:
            self.handler.on_frame_end(bool(self._flags & FLAG_MORE))


def _too_large_message(limits: protocol.Limits, header: bytes) -> list[bytes]:
    """A stand-in the server's bounded read refuses as too_large, naming the request by `header`."""
    return [header] + [b""] * limits.max_frames


class MessageGate:
    """Counts one connection's message frames and bytes as they stream; keeps only what may pass.

    `deliver(frames)` gets each message: the whole message when it is within `limits` and matches
    its header's array count, else a small stand-in the server refuses with the same reply
    (module docstring). A frame over the per-frame limit raises ZmtpError (the connection closes).
    """

    def __init__(self, limits: protocol.Limits, deliver: Callable[[list], None]) -> None:
        self.limits = limits
        self.per_frame = max(limits.max_array_bytes, limits.max_header_bytes)
        self.deliver = deliver
        self.skipped_bytes = 0  # payload bytes read past without keeping them (all messages)
        self._reset()

    def _reset(self) -> None:
        self.frames: list = []  # kept frames (bytearray or np.ndarray), the current one last
        self.count = 0  # frames of this message so far
        self.total = 0  # bytes of this message so far (claimed by frame headers)
        self.mode = "keep"  # keep | over (limits) | cut (more frames than the header describes)
        self.declared: int | None = None  # arrays the header describes, when it could be read
        self._keeping = False
        self._offset = 0

    def on_frame(self, more: bool, size: int) -> None:
        if size > self.per_frame:
            raise ZmtpError(f"a frame of {size} bytes is over the per-frame limit {self.per_frame}")
        self.count += 1
        self.total += size
        limits = self.limits
        if self.mode != "over" and (self.count > limits.max_frames or self.total > limits.max_total_bytes):
            self.mode = "over"
            del self.frames[1:]
        if self.mode == "keep" and self.declared is not None and self.count - 1 > self.declared:
            self.mode = "cut"
            del self.frames[1:]
        self._keeping = self.mode == "keep" or self.count == 1
        if self._keeping:
            self.frames.append(bytearray(size) if size <= SMALL_FRAME else np.empty(size, np.uint8))
            self._offset = 0

    def on_data(self, chunk: memoryview) -> None:
        if not self._keeping:
            self.skipped_bytes += len(chunk)
            return
        frame = self.frames[-1]
        memoryview(frame)[self._offset : self._offset + len(chunk)] = chunk
        self._offset += len(chunk)

    def on_frame_end(self, more: bool) -> None:
        if self.count == 1 and self._keeping:
            self.declared = self._arrays_declared(self.frames[0])
        if not more:
            self.deliver(self._message())
            self._reset()

    def _arrays_declared(self, frame) -> int | None:
        """len(header["arrays"]) of a readable request header, else None (no early cut)."""
        if len(frame) > self.limits.max_header_bytes:
            return None
        try:
            header = json.loads(bytes(frame))
        except (ValueError, RecursionError):
            return None
        arrays = header.get("arrays", []) if isinstance(header, dict) else None
        return len(arrays) if isinstance(arrays, list) else None

    def _message(self) -> list:
        header = self.frames[0] if self.frames else b""
        if self.mode == "keep":
            return self.frames
        header = bytes(header) if len(header) <= self.limits.max_header_bytes else b""
        if self.mode == "over":
            return _too_large_message(self.limits, header)
        # Within the limits but with more frames than the header describes: the same frame count of
        # empty frames gets the decoder's bad_array reply ("header describes N arrays but M ...").
        return [header] + [b""] * (self.count - 1)


class Connection:
    """One TCP peer of the STREAM socket: its ZMTP state, message gate, DEALER and pending output."""

    def __init__(self, front: ZmtpFront, stream_id: bytes, local: bool) -> None:
        self.front = front
        self.stream_id = stream_id
        self.local = local
        self.reader = ZmtpReader(self)
        self.gate = MessageGate(front.limits, self._deliver)
        self.greeted = False
        self.ready = False
        self.dealer: zmq.Socket | None = None
        self.outgoing: deque = deque()  # byte chunks for the STREAM socket, in order
        self.incoming: deque[list] = deque()  # requests the server's pipe could not take yet

    # ZmtpReader events -------------------------------------------------------------------
    def on_greeting(self, major: int, minor: int, mechanism: bytes, as_server: bool) -> None:
        if mechanism != b"NULL":
            raise ZmtpError(f"mechanism {mechanism!r}; this endpoint speaks NULL only (CURVE needs --keys)")
        self.greeted = True
        self.front.write(self, ready())

    def on_command(self, name: bytes, data: bytes) -> None:
        if name == b"ERROR":
            raise ZmtpError(f"the peer sent ERROR {data[1:].decode('utf-8', 'replace')!r}")
        if not self.ready:
            if name != b"READY":
                raise ZmtpError(f"expected READY, got {name!r}")
            socket_type = parse_properties(data).get(b"socket-type", b"")
            if socket_type not in ROUTER_PEERS:
                raise ZmtpError(f"a {socket_type.decode('ascii', 'replace')} socket cannot talk to a ROUTER")
            self.ready = True
            self.dealer = self.front.connect_dealer(self)
        elif name == b"PING":
            self.front.write(self, command(b"PONG", data[2:18]))  # TTL (2 bytes), then the context
        # Anything else (PONG, SUBSCRIBE, unknown commands) is ignored (RFC 37).

    def on_frame(self, more: bool, size: int) -> None:
        if not self.ready:
            raise ZmtpError("a message before the READY handshake")
        self.gate.on_frame(more, size)

    def on_data(self, chunk: memoryview) -> None:
        self.gate.on_data(chunk)

    def on_frame_end(self, more: bool) -> None:
        self.gate.on_frame_end(more)

    # forwarding --------------------------------------------------------------------------
    def _deliver(self, frames: list) -> None:
        self.incoming.append(frames)
        self.push_incoming()

    def push_incoming(self) -> None:
        """Hand the waiting requests to the server, in order, as far as its pipe takes them."""
        while self.incoming:
            try:
                self.dealer.send_multipart(self.incoming[0], flags=zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            self.incoming.popleft()


class ZmtpFront:
    """The STREAM socket on the public endpoint and the thread that serves it (module docstring).

    `bind` opens the socket in the calling thread (so a bad address raises there), `start` runs
    the loop on a thread, `stop(seconds)` lets the replies already on their way leave, then closes.
    """

    def __init__(self, context: zmq.Context, backend: str, limits: protocol.Limits) -> None:
        self.context = context
        self.backend = backend  # the server ROUTER's inproc endpoint
        self.limits = limits
        self.stream: zmq.Socket | None = None
        self.connections: dict[bytes, Connection] = {}
        self.closed_ids: set[bytes] = set()  # closed by us: their disconnect notice is not a new peer
        self.poller = zmq.Poller()
        self._stop = threading.Event()
        self._linger_s = 0.0
        self._thread: threading.Thread | None = None

    def bind(self, endpoint: str) -> str:
        stream = self.context.socket(zmq.STREAM)
        stream.linger = 0
        stream.rcvhwm = STREAM_RCVHWM
        if "[" in endpoint:  # an IPv6 literal: tcp://[::1]:5555
            stream.setsockopt(zmq.IPV6, 1)
        try:
            stream.bind(endpoint)
        except zmq.ZMQError:
            stream.close(linger=0)
            raise
        self.stream = stream
        return stream.getsockopt_string(zmq.LAST_ENDPOINT)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="engine-zmtp-front", daemon=True)
        self._thread.start()

    def stop(self, seconds: float = 0.0) -> None:
        """Stop taking requests; forward the replies on their way for up to `seconds`; close."""
        self._linger_s = seconds
        self._stop.set()
        if self._thread is not None:
            self._thread.join(seconds + 5.0)

    # the loop (front thread only) ---------------------------------------------------------
    def _run(self) -> None:
        self.poller.register(self.stream, zmq.POLLIN)
        try:
            while not self._stop.is_set():
                try:
                    self._step()
                except Exception:  # one bad step must not end the engine's front door
                    logger.exception("ZMTP front step failed; serving on")
            self._finish()
        finally:
            for connection in list(self.connections.values()):
                self._drop(connection)
            self.stream.close(linger=int(self._linger_s * 1000))

    def _step(self) -> None:
        stalled = any(c.incoming for c in self.connections.values())
        busy = stalled or any(c.outgoing for c in self.connections.values())
        self.poller.register(self.stream, 0 if stalled else zmq.POLLIN)
        events = dict(self.poller.poll(BUSY_POLL_MS if busy else IDLE_POLL_MS))
        for connection in list(self.connections.values()):
            if connection.incoming:
                connection.push_incoming()
            if connection.dealer is not None and events.get(connection.dealer):
                self._replies(connection)
            self._flush(connection)
        if events.get(self.stream):
            self._read_stream()

    def _finish(self) -> None:
        """On stop: no more requests; the replies already queued for each peer still leave."""
        deadline = time.monotonic() + self._linger_s
        while time.monotonic() < deadline:
            pending = False
            for connection in list(self.connections.values()):
                if connection.dealer is not None and not connection.outgoing:
                    self._replies(connection)
                self._flush(connection)
                pending = pending or bool(connection.outgoing)
            if not pending:
                return
            time.sleep(BUSY_POLL_MS / 1000)

    def _read_stream(self) -> None:
        for _ in range(256):  # bounded burst: replies get their turn under a flood
            try:
                identity = self.stream.recv(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            data = self.stream.recv(copy=False)
            stream_id = identity.bytes
            connection = self.connections.get(stream_id)
            if len(data) == 0:  # STREAM_NOTIFY: a peer connected, or disconnected
                if connection is not None:
                    self._drop(connection)
                elif stream_id in self.closed_ids:
                    self.closed_ids.discard(stream_id)
                else:
                    self._accept(stream_id, peer_is_local(data, None))
                continue
            if connection is None:
                continue  # bytes from a peer we closed a moment ago
            try:
                connection.reader.feed(data.buffer)
            except ZmtpError as error:
                logger.info("closing a client connection: %s", error)
                self._close(connection)
                continue
            if connection.incoming:
                return  # the server's pipe is full: read nothing more until it takes this one

    def _accept(self, stream_id: bytes, local: bool) -> None:
        connection = Connection(self, stream_id, local)
        self.connections[stream_id] = connection
        self.write(connection, greeting())

    def connect_dealer(self, connection: Connection) -> zmq.Socket:
        dealer = self.context.socket(zmq.DEALER)
        dealer.linger = 0
        dealer.setsockopt(zmq.ROUTING_ID, (LOCAL if connection.local else REMOTE) + connection.stream_id)
        dealer.connect(self.backend)
        self.poller.register(dealer, zmq.POLLIN)
        return dealer

    def _replies(self, connection: Connection) -> None:
        """Frame the server's next reply to this peer as ZMTP (only when its previous one left)."""
        while not connection.outgoing:
            try:
                frames = connection.dealer.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            small = bytearray()
            for index, frame in enumerate(frames):
                buffer = frame.buffer
                small += frame_header(len(buffer), more=index + 1 < len(frames))
                if len(buffer) <= SMALL_FRAME:
                    small += buffer
                else:
                    connection.outgoing.append(bytes(small))
                    connection.outgoing.append(frame)
                    small = bytearray()
            if small:
                connection.outgoing.append(bytes(small))
            self._flush(connection)

    def write(self, connection: Connection, data: bytes) -> None:
        connection.outgoing.append(data)
        self._flush(connection)

    def _flush(self, connection: Connection) -> None:
        while connection.outgoing:
            try:
                self.stream.send_multipart([connection.stream_id, connection.outgoing[0]], zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return  # the client reads slowly: its DEALER is not read until this leaves
            except zmq.ZMQError as error:
                if error.errno != errno.EHOSTUNREACH:
                    raise
                self._drop(connection)
                return
            connection.outgoing.popleft()

    def _close(self, connection: Connection) -> None:
        """Close a connection from our side (a ZMTP violation or a frame over the limit)."""
        try:
            self.stream.send_multipart([connection.stream_id, b""], zmq.NOBLOCK)
        except zmq.ZMQError:
            pass  # already gone
        self.closed_ids.add(connection.stream_id)
        self._drop(connection)

    def _drop(self, connection: Connection) -> None:
        self.connections.pop(connection.stream_id, None)
        if connection.dealer is not None:
            self.poller.unregister(connection.dealer)
            connection.dealer.close(linger=0)
            connection.dealer = None
