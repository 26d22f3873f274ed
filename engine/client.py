"""A Python client for the engine: a DEALER socket, polled with a deadline (Lazy Pirate style).

Numpy + pyzmq + engine/protocol.py only, so the Blender add-on can use the same logic.

    with EngineClient("tcp://127.0.0.1:5555", timeout=10) as client:
        reply = client.request("describe_pose", arrays={"pose": pose})  # pose (22, 3) float32
        print(reply.result["text"])

Every wait has a deadline. When it passes, the socket is closed with linger 0 and reopened (a
confused socket is never reused) and `EngineTimeout` is raised, or the request is resent if
`retries` allows (only do that for idempotent ops). Replies to other requests that arrive while
waiting are kept, so several requests can be in flight (`send` + `wait`). An `ok` reply is
checked against its operation's reply schema (`protocol.check_reply`): one that is not raises
`protocol.ProtocolError` with code `bad_reply`, naming the key or array.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import zmq

from engine import protocol

ProgressCallback = Callable[[float, str], None]


class EngineTimeout(TimeoutError):
    """No final reply within the deadline; the engine may be down or overloaded."""

    code = protocol.ERR_TIMEOUT


class RemoteError(Exception):
    """The engine answered `error`; `code` is machine-readable, str(self) a sentence to show."""

    def __init__(self, code: str, message: str, op: str = "", request_id: str = "") -> None:
        super().__init__(message)
        self.code, self.message, self.op, self.request_id = code, message, op, request_id


@dataclass
class Reply:
    id: str
    op: str
    result: dict = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class CurveKeys:
    """CURVE keys (z85 bytes) to reach an engine that binds a non-loopback address."""

    server_public: bytes
    client_public: bytes
    client_secret: bytes

    @classmethod
    def from_files(cls, server_public_file: str, client_secret_file: str) -> CurveKeys:
        import zmq.auth  # noqa: PLC0415 - 21 ms (asyncio, logging) only for CURVE users

        server_public, _ = zmq.auth.load_certificate(server_public_file)
        client_public, client_secret = zmq.auth.load_certificate(client_secret_file)
        return cls(server_public, client_public, client_secret)


class EngineClient:
    def __init__(
        self,
        endpoint: str = "tcp://127.0.0.1:5555",
        timeout: float = 10.0,
        retries: int = 0,
        curve: CurveKeys | None = None,
        limits: protocol.Limits = protocol.DEFAULT_LIMITS,
        context: zmq.Context | None = None,
    ) -> None:
        self.endpoint, self.timeout, self.retries = endpoint, timeout, retries
        self.curve, self.limits = curve, limits
        self.context = context or zmq.Context.instance()
        self.socket: zmq.Socket | None = None
        self.inbox: dict[str, list[protocol.Message]] = {}  # replies not yet claimed, by id
        self.reconnects = 0
        self._open()

    # ------------------------------------------------------------------ socket life
    def _open(self) -> None:
        socket = self.context.socket(zmq.DEALER)
        socket.linger = 0
        if "[" in self.endpoint:  # an IPv6 literal: tcp://[::1]:5555
            socket.ipv6 = True
        if self.curve is not None:
            socket.curve_serverkey = self.curve.server_public
            socket.curve_publickey = self.curve.client_public
            socket.curve_secretkey = self.curve.client_secret
        socket.connect(self.endpoint)
        self.socket = socket

    def reconnect(self) -> None:
        """Lazy Pirate: drop the socket (and anything queued in it) and open a fresh one."""
        if self.socket is not None:
            self.socket.close(linger=0)
        self.inbox.clear()
        self.reconnects += 1
        self._open()

    def close(self) -> None:
        if self.socket is not None:
            self.socket.close(linger=0)
            self.socket = None

    def __enter__(self) -> EngineClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ messages
    def send(self, op: str, args: dict | None = None, arrays: dict | None = None, request_id: str | None = None) -> str:
        """Queue a request without waiting; returns its id (pass it to `wait` or `cancel`)."""
        request_id = request_id or protocol.new_request_id()
        assert self.socket is not None, "client is closed"
        self.socket.send_multipart(protocol.encode_request(op, args, arrays, request_id), copy=False)
        return request_id

    def poll(self, timeout: float = 0.0) -> list[protocol.Message]:
        """Every message that arrives within `timeout` seconds (the add-on calls this with 0).
        Messages that break the protocol are skipped: a client trusts its engine no more than
        the engine trusts its clients."""
        assert self.socket is not None, "client is closed"
        messages = []
        while self.socket.poll(timeout * 1000 if not messages else 0, zmq.POLLIN):
            frames = self.socket.recv_multipart()
            try:
                messages.append(protocol.decode_message(frames, self.limits))
            except protocol.ProtocolError:
                continue
        return messages

    def wait(self, request_id: str, timeout: float | None = None, progress: ProgressCallback | None = None) -> Reply:
        """Block until the final reply of `request_id`; raises RemoteError, EngineTimeout or
        ProtocolError (an `ok` reply off its schema)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            for message in self.inbox.pop(request_id, []):
                if message.status == "progress":
                    if progress is not None:
                        progress(float(message.progress.get("fraction", 0.0)), str(message.progress.get("message", "")))
                    continue
                return self._final(message)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.reconnect()
                raise EngineTimeout(
                    f"no reply from the engine at {self.endpoint} within "
                    f"{self.timeout if timeout is None else timeout:g} s; is "
                    "`motion-engine serve` running? The connection was reset."
                )
            for message in self.poll(min(remaining, 0.5)):
                self.inbox.setdefault(message.id, []).append(message)

    @staticmethod
    def _final(message: protocol.Message) -> Reply:
        if message.status == "error":
            error = message.error or {}
            raise RemoteError(
                str(error.get("code", protocol.ERR_INTERNAL)),
                str(error.get("message", "the engine reported an error")),
                message.op,
                message.id,
            )
        # The reply's schema (engine/protocol_ops.py): result keys and arrays by name, dtype, shape.
        protocol.check_reply(message.op, message.result or {}, message.arrays)
        return Reply(message.id, message.op, message.result or {}, dict(message.arrays))

    def request(
        self,
        op: str,
        args: dict | None = None,
        arrays: dict | None = None,
        timeout: float | None = None,
        progress: ProgressCallback | None = None,
    ) -> Reply:
        """Send and wait; on timeout reconnect and resend up to `retries` times."""
        for attempt in range(self.retries + 1):
            request_id = self.send(op, args, arrays)
            try:
                return self.wait(request_id, timeout, progress)
            except EngineTimeout:
                if attempt == self.retries:
                    raise
        raise AssertionError("unreachable")

    def cancel(self, target: str, timeout: float | None = None) -> dict:
        """Ask the engine to cancel `target`; the target itself then ends with error `cancelled`."""
        return self.request("cancel", {"target": target}, timeout=timeout).result

    def ping(self, timeout: float | None = None) -> float:
        """Round-trip time in seconds."""
        start = time.perf_counter()
        self.request("ping", timeout=timeout)
        return time.perf_counter() - start
