"""A ZMTP 3.x front for the engine's public tcp endpoint, so a huge multipart message never sits in memory.

Why: libzmq's ROUTER hands a multipart message to the application only once all its frames have
arrived, and ZMQ_MAXMSGSIZE bounds one frame, not a message: 64 frames x 16 MiB grew the server by
1 GiB before the bounded read (engine/front_socket.py) could refuse it. Here the server's ROUTER
listens on an inproc endpoint instead, and this front owns the public endpoint as a zmq.STREAM socket
(libzmq hands over raw TCP bytes as they arrive, nothing buffered whole). It speaks ZMTP 3.1 with the
NULL mechanism itself (RFC 23/ZMTP https://rfc.zeromq.org/spec/23/, RFC 37/ZMTP 3.1
https://rfc.zeromq.org/spec/37/; the framing, the parser and the gate are engine/zmtp_wire.py):

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
    kept (so at most max_total_bytes of any message is ever held, as for a legal one). The server still decides the reply: it gets a stand-in message that its bounded read and
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
(`ZmtpFront.start`); ZeroMQ sockets are used only from that thread after `bind`. Each client holds
one DEALER, so the context's MAX_SOCKETS (1023 by default) bounds the clients served at once; one
more is told nothing and disconnected (logged).
"""

from __future__ import annotations

import errno
import logging
import threading
import time
from collections import deque

import zmq

from engine import protocol
from engine.server_info import peer_is_local
from engine.zmtp_wire import (
    ROUTER_PEERS,
    SMALL_FRAME,
    MessageGate,
    ZmtpError,
    ZmtpReader,
    command,
    frame_header,
    greeting,
    parse_properties,
    ready,
)

logger = logging.getLogger(__name__)

# Routing ids of the per-connection DEALERs: the server reads locality from the first byte.
LOCAL = b"L"
REMOTE = b"R"

STREAM_RCVHWM = 256  # STREAM chunks (up to 8 KiB each) libzmq holds per connection before it stops reading TCP
IDLE_POLL_MS = 100  # how often an idle front looks at its stop flag
BUSY_POLL_MS = 5  # retry interval while replies or a request wait for room


def identity_is_local(identity: bytes) -> bool:
    """Whether a request that the front forwarded (routing id = its DEALER's) came from this machine."""
    return identity[:1] == LOCAL


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
            try:
                self.dealer = self.front.connect_dealer(self)
            except zmq.ZMQError as error:  # e.g. the context's MAX_SOCKETS (1023 by default) reached
                raise ZmtpError(f"cannot take another client now ({error})") from None
            self.ready = True
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
                else:  # (libzmq sends no notice for a connection we closed; a stray one dies at EHOSTUNREACH)
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
        while connection.dealer is not None and not connection.outgoing:  # None: dropped on the way
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
        self._drop(connection)

    def _drop(self, connection: Connection) -> None:
        self.connections.pop(connection.stream_id, None)
        if connection.dealer is not None:
            self.poller.unregister(connection.dealer)
            connection.dealer.close(linger=0)
            connection.dealer = None
