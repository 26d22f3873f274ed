"""The server's front socket: a ROUTER bound for clients, or a DEALER connected to a proxy backend.

Apart from the I/O loop (engine/server.py) because its options carry promises of their own:
a plain (non-CURVE) tcp:// bind puts engine/zmtp_front.py in front of the ROUTER, which then binds
an inproc endpoint: that front reads ZMTP itself and counts a message's frames and bytes as they
stream, so a message over the limits is skipped, never held whole (libzmq's ROUTER buffers every
frame of a message before handing it over); CURVE, ipc:// and proxy (DEALER) fronts keep libzmq's
own reading, where MAXMSGSIZE makes libzmq disconnect a peer whose single frame is over the limits
before buffering it in full. ROUTER_MANDATORY makes a reply to a peer that cannot take it raise
(EAGAIN / EHOSTUNREACH) instead of vanishing (engine/outbox.py relies on it); an address that
cannot be used becomes an InputError of one sentence that says what to do (`motion-engine serve`
exits 2); a message is read frame by frame, so one with too many or too large frames is drained and
dropped instead of kept.
"""

from __future__ import annotations

import errno
import itertools

import zmq

from engine import protocol
from engine.curve_keys import CurveAuth
from engine.errors import InputError
from engine.server_info import peer_is_local
from engine.zmtp_front import ZmtpFront, identity_is_local

_backends = itertools.count()


def open_front(
    context: zmq.Context,
    bind: str | None,
    connect: str | None,
    limits: protocol.Limits,
    curve: CurveAuth | None,
    zmtp: bool = True,
) -> tuple[zmq.Socket, str, ZmtpFront | None]:
    """(socket, endpoint, zmtp): `connect` (a proxy backend) when given, else `bind` (port * picks a
    free one; the endpoint names the port it picked). `curve`, when given, is enabled on the socket
    and stopped again when the address cannot be used. `zmtp`: the running ZMTP front of a plain
    tcp:// bind (the socket then listens on inproc behind it; stop it before closing the socket),
    else None; `zmtp=False` binds libzmq's ROUTER on tcp too (`serve --no-zmtp-front`). Raises
    InputError when the address cannot be used."""
    where = connect or bind or ""
    try:
        if zmtp and bind and not connect and curve is None and bind.startswith("tcp://"):
            return _open_behind_zmtp(context, bind, limits)
        return _open(context, bind, connect, limits, curve)
    except zmq.ZMQError as error:
        if curve is not None:
            curve.stop()
        if error.errno == errno.EADDRINUSE:
            raise InputError(
                f"{where} is already in use (another engine?); stop it or pick another port, "
                "e.g. --bind tcp://127.0.0.1:5556 (port * picks a free one)."
            ) from None
        raise InputError(
            f"cannot {'connect to' if connect else 'bind'} {where} ({error}); "
            "use tcp://HOST:PORT, tcp://[IPv6]:PORT or ipc://PATH."
        ) from None


def _open(
    context: zmq.Context, bind: str | None, connect: str | None, limits: protocol.Limits, curve: CurveAuth | None
) -> tuple[zmq.Socket, str, ZmtpFront | None]:
    socket = context.socket(zmq.DEALER if connect else zmq.ROUTER)
    socket.linger = 0
    # libzmq disconnects a peer whose single frame exceeds this, before buffering it in full.
    socket.setsockopt(zmq.MAXMSGSIZE, max(limits.max_array_bytes, limits.max_header_bytes))
    if not connect:
        # A reply to a peer that cannot take it raises (EAGAIN / EHOSTUNREACH) instead of vanishing.
        socket.setsockopt(zmq.ROUTER_MANDATORY, 1)
    if "[" in (connect or bind or ""):  # an IPv6 literal: tcp://[::1]:5555
        socket.setsockopt(zmq.IPV6, 1)
    try:
        if curve is not None:
            curve.enable(socket)
        if connect:
            socket.connect(connect)
            return socket, connect, None
        socket.bind(bind)
        return socket, socket.getsockopt_string(zmq.LAST_ENDPOINT), None
    except zmq.ZMQError:
        socket.close(linger=0)
        raise


def _open_behind_zmtp(context: zmq.Context, bind: str, limits: protocol.Limits) -> tuple[zmq.Socket, str, ZmtpFront]:
    """The ROUTER on an inproc endpoint and engine/zmtp_front.py's STREAM socket on `bind`."""
    backend = f"inproc://engine-front-{id(context)}-{next(_backends)}"
    socket = context.socket(zmq.ROUTER)
    socket.linger = 0
    socket.setsockopt(zmq.ROUTER_MANDATORY, 1)
    socket.bind(backend)
    zmtp = ZmtpFront(context, backend, limits)
    try:
        endpoint = zmtp.bind(bind)
    except zmq.ZMQError:
        socket.close(linger=0)
        raise
    zmtp.start()
    return socket, endpoint, zmtp


def recv_bounded(
    front: zmq.Socket, limits: protocol.Limits, connect: str | None, behind_zmtp: bool = False
) -> tuple[bytes, list[bytes], protocol.ProtocolError | None, bool]:
    """(identity, frames, problem, local) of the next message (zmq.Again when there is none),
    reading frame by frame so a message with too many or too large frames is drained and dropped
    instead of kept (only its header stays, for the id; `problem` says why). `local`: the client is
    on this machine (engine/server_info.py; `behind_zmtp`: the ZMTP front decided it and wrote it
    in the routing id); `connect` as in `open_front`."""
    first = front.recv(zmq.NOBLOCK, copy=False)
    identity = first.bytes
    local = identity_is_local(identity) if behind_zmtp else peer_is_local(first, connect)
    frames: list[bytes] = []
    total, problem = 0, None
    while front.getsockopt(zmq.RCVMORE):
        frame = front.recv()
        if problem is not None:
            continue
        total += len(frame)
        if len(frames) >= limits.max_frames or total > limits.max_total_bytes:
            del frames[1:]
            problem = protocol.ProtocolError(
                protocol.ERR_TOO_LARGE,
                (
                    f"message exceeds the limits ({limits.max_frames} frames, "
                    f"{limits.max_total_bytes} bytes); send less data per request"
                ),
            )
        else:
            frames.append(frame)
    return identity, frames, problem, local
