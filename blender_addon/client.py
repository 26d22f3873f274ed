"""Non-blocking ZeroMQ client of the Motion Copilot engine (no bpy, no threads).

One DEALER socket carries any number of requests at once; replies are matched by request id.
Nothing here blocks: `submit` queues the message in libzmq (which does the network I/O on its own
threads) and `tick()` drains whatever arrived with `poll(0)`. In Blender, `tick()` runs from a
`bpy.app.timers` callback or a modal operator on the main thread; headless tests call it in a
loop (timers never fire in the `bpy` module).

Every `ok` reply is checked against its operation's reply schema (protocol.check_reply) before
its job is marked done: a job's `result` keys and `arrays` are then those the schema names, with
their dtypes and shapes, and a mismatch fails the job with a sentence naming what is wrong.

Timeouts follow the ZeroMQ guide's Lazy Pirate: each job has a deadline, refreshed by every
progress reply, so the timeout counts silence, not total time (the engine sends a progress reply at
least every 2 s to a queued request, "queued: position k of n", and to a running one); when it passes the job fails with a sentence naming the address, and once no job
is in flight the socket is closed with linger 0 and re-created, so messages queued for a dead
engine are dropped instead of being delivered to the next one.

    client = EngineClient("tcp://127.0.0.1:5555", timeout=10.0)
    job = client.submit("ping")
    while not job.done:
        client.tick(); time.sleep(0.01)
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import zmq

from . import protocol

PENDING, RUNNING, OK, ERROR, CANCELLED = "pending", "running", "ok", "error", "cancelled"
FINAL_STATES = (OK, ERROR, CANCELLED)
MAX_MESSAGES_PER_TICK = 64  # bound the work of one timer tick so the UI stays responsive


@dataclass
class Job:
    """One request and what came back for it. `arrays` are read-only little-endian ndarrays."""

    id: str
    op: str
    deadline: float
    state: str = PENDING
    progress: float = 0.0
    progress_message: str = ""
    result: dict = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    error_code: str = ""
    error_message: str = ""
    timeout: float | None = None  # this job's own timeout (seconds), None: the client's
    queue_position: int | None = None  # this job's place in the engine's queue (1 = next), when it says

    @property
    def done(self) -> bool:
        return self.state in FINAL_STATES

    def fail(self, code: str, message: str) -> None:
        self.state, self.error_code, self.error_message = ERROR, code, message


class EngineClient:
    """DEALER client with request ids, several jobs in flight, progress, cancel and timeouts."""

    def __init__(self, address: str, timeout: float = 10.0, context: zmq.Context | None = None) -> None:
        self.address = address
        self.timeout = float(timeout)
        self._context = context or zmq.Context.instance()
        self._socket: zmq.Socket | None = None
        self.jobs: dict[str, Job] = {}
        self._needs_reset = False
        # What the last word from the engine says: True after any reply (progress included), False
        # after a timeout, None before either. The panel's "Engine:" line mirrors it.
        self.reachable: bool | None = None

    # ------------------------------------------------------------------ socket lifecycle
    def _ensure_socket(self) -> zmq.Socket:
        if self._socket is None:
            sock = self._context.socket(zmq.DEALER)
            sock.setsockopt(zmq.LINGER, 0)  # closing never waits for a dead engine
            if "[" in self.address:  # an IPv6 literal: tcp://[::1]:5555
                sock.setsockopt(zmq.IPV6, 1)
            sock.connect(self.address)
            self._socket = sock
        return self._socket

    def close(self) -> None:
        """Drop the socket (queued messages are discarded) and fail unfinished jobs."""
        for job in self.jobs.values():
            if not job.done:
                job.fail("disconnected", f"the connection to the engine at {self.address} was closed")
        if self._socket is not None:
            self._socket.close(linger=0)
            self._socket = None

    def reconnect(self) -> None:
        self.close()
        self.jobs.clear()
        self._ensure_socket()

    # ------------------------------------------------------------------ requests
    def submit(
        self,
        op: str,
        args: dict | None = None,
        arrays: dict[str, np.ndarray] | None = None,
        timeout: float | None = None,
    ) -> Job:
        """Queue a request and return its Job at once; raises protocol.ProtocolError on bad arrays.

        timeout: seconds without a sign of life before the job fails (default: the client's); a
        ping uses a short one so that "Check Connection" answers within seconds."""
        job = Job(id=protocol.new_request_id(), op=op, deadline=time.monotonic() + self.timeout)
        if timeout is not None:
            job.deadline = time.monotonic() + float(timeout)
            job.timeout = float(timeout)
        frames = protocol.encode_request(op, args, arrays, request_id=job.id)
        try:
            self._ensure_socket().send_multipart(frames, flags=zmq.NOBLOCK, copy=False)
        except zmq.ZMQError as error:  # e.g. a malformed address, or the send queue is full
            job.fail("send_failed", f"could not send '{op}' to the engine at {self.address}: {error}")
            return job
        job.state = RUNNING
        self.jobs[job.id] = job
        return job

    def cancel(self, job: Job) -> None:
        """Ask the engine to stop `job`; it is marked cancelled at once and later replies are ignored."""
        if job.done:
            return
        job.state = CANCELLED
        if self._socket is not None:
            frames = protocol.encode_request("cancel", {"target": job.id})
            try:
                self._socket.send_multipart(frames, flags=zmq.NOBLOCK)
            except zmq.ZMQError:
                pass  # the engine is gone: nothing left to cancel

    @property
    def in_flight(self) -> list[Job]:
        return [job for job in self.jobs.values() if not job.done]

    # ------------------------------------------------------------------ the tick
    def tick(self, now: float | None = None) -> list[Job]:
        """Drain replies without blocking, apply timeouts; returns jobs that finished in this tick."""
        finished: list[Job] = []
        if self._socket is not None:
            for _ in range(MAX_MESSAGES_PER_TICK):
                if not self._socket.poll(0, zmq.POLLIN):
                    break
                job = self._handle(self._socket.recv_multipart(copy=True))
                if job is not None and job.done:
                    finished.append(job)
        now = time.monotonic() if now is None else now
        for job in self.in_flight:
            if now > job.deadline:
                job.fail(protocol.ERR_TIMEOUT, self.timeout_message(job.timeout))
                self.reachable = False
                finished.append(job)
                self._needs_reset = True
        for job_id in [i for i, job in self.jobs.items() if job.done]:
            del self.jobs[job_id]  # the caller holds the Job objects it cares about
        if self._needs_reset and not self.in_flight:
            self._needs_reset = False  # Lazy Pirate: a fresh socket for the next request
            if self._socket is not None:
                self._socket.close(linger=0)
                self._socket = None
        return finished

    def timeout_message(self, timeout: float | None = None) -> str:
        seconds = self.timeout if timeout is None else timeout
        return (
            f"No answer from the Motion Copilot engine at {self.address} for {seconds:g} s "
            "(a working engine sends progress at least every 2 s). "
            "Start it (`motion-engine serve`, or the panel's Start / Reconnect button) or check the "
            "address in the add-on preferences."
        )

    def _handle(self, frames: list[bytes]) -> Job | None:
        try:
            message = protocol.decode_message(frames)
        except protocol.ProtocolError as error:
            rid, _ = protocol.peek_request_id(frames[0] if frames else b"")
            job = self.jobs.get(rid)
            if job is not None and not job.done:
                job.fail(
                    error.code,
                    f"the engine sent a reply this add-on cannot read ({error.message}); "
                    "update the add-on and the engine to matching versions",
                )
            return job
        self.reachable = True  # any readable reply, even a stale one, means the engine is there
        job = self.jobs.get(message.id)
        if job is None or job.done:
            return None  # a stale reply (cancelled or timed-out request): ignore it
        if message.status == "progress":
            progress = message.progress or {}
            job.progress = float(progress.get("fraction", job.progress))
            job.progress_message = str(progress.get("message", ""))
            position = progress.get("queue_position")
            job.queue_position = int(position) if isinstance(position, (int, float)) else None
            job.deadline = time.monotonic() + (self.timeout if job.timeout is None else job.timeout)
        elif message.status == "ok":
            try:  # against the op this job asked for: its arrays are then read by name
                protocol.check_reply(job.op, message.result or {}, message.arrays)
            except protocol.ProtocolError as error:
                job.fail(
                    error.code,
                    f"the engine's answer to '{job.op}' does not match this add-on's protocol "
                    f"({error.message}); update the add-on and the engine to matching versions",
                )
                return job
            job.state, job.result, job.arrays = OK, message.result or {}, message.arrays
        else:
            error = message.error or {}
            job.fail(str(error.get("code", "error")), str(error.get("message", "the engine reported an error")))
        return job


def wait(client: EngineClient, jobs: list[Job], poll_interval: float = 0.01) -> None:
    """Tick until every job is done (each has its own deadline). For scripts and tests only:
    inside Blender's UI use a timer or a modal operator instead."""
    while not all(job.done for job in jobs):
        client.tick()
        time.sleep(poll_interval)
