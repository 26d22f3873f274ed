"""ZMTP 3.x framing for engine/zmtp_front.py: an incremental parser and a gate that counts a message.

Pure byte handling, no sockets, so each piece is tested fed bytes split anywhere
(tests/test_zmtp_front.py). The wire format is RFC 23/ZMTP (https://rfc.zeromq.org/spec/23/):
a 64-byte greeting (signature 0xFF ... 0x7F, version 3.x, mechanism name, as-server, filler), then
frames of a flags byte (MORE 0x01, LONG 0x02, COMMAND 0x04; the other bits reserved, zero) and a
1-byte or 8-byte big-endian size; a command frame's body is a name length, the name and its data
(READY carries metadata properties: name length, name, 4-byte value length, value). PING and PONG
are RFC 37/ZMTP 3.1 (https://rfc.zeromq.org/spec/37/).

`MessageGate` decides, as each frame header arrives, whether a message can still pass the
server's limits (`protocol.Limits`); one that cannot is skipped, not kept (engine/zmtp_front.py's
docstring says what the server gets instead).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable

import numpy as np

from engine import protocol

FLAG_MORE, FLAG_LONG, FLAG_COMMAND = 0x01, 0x02, 0x04
GREETING_BYTES = 64
MAX_COMMAND_BYTES = 64 * 1024  # READY carries a few short properties; anything bigger is hostile
ROUTER_PEERS = (b"DEALER", b"REQ", b"ROUTER")  # RFC 28/REQREP: what a ROUTER talks to
SMALL_FRAME = 64 * 1024  # frames up to this are kept in a bytearray, larger in an untouched np.empty


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
