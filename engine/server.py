"""The headless engine server: one ZeroMQ ROUTER socket, a Poller loop, and worker threads.

Run it with `motion-engine serve` (engine/commands/serve.py). Pattern (ZeroMQ guide, ch. 3-4):
only the I/O loop thread touches the ROUTER; it answers `ping`, `info` and `cancel` itself, so a
slow job never delays them, and queues every other op in a Scheduler (engine/batching.py). Worker
threads run batches and send progress/final replies back over an inproc PUSH->PULL pipe, which the
loop forwards to the client by routing id. Every request is caught: the server answers `error`
and keeps serving (the traceback is logged; on the console, to stderr). With `connect=` the engine
uses a DEALER connected to a `motion-engine proxy` backend instead (same frames: [client routing
id, header, arrays...]).

What a client can count on (the add-on's client relies on each):
- Bind first, load later: `bind()` opens the socket before any model loads; with a `loader` the
  models load on a thread while `ping`/`info` are answered (`info["models_ready"]`); a model request
  that arrives meanwhile waits in the queue, with progress, and is not refused.
- No silence: every queued request gets a `progress` reply at least every PROGRESS_INTERVAL seconds
  (its queue position, or "waiting for the models to load"); a running one gets the model's own
  progress, or a heartbeat repeating the last one when the model reports none for that long.
- No silent loss: a final reply that a slow reader cannot take yet waits in its backlog, in order,
  within a memory bound (engine/outbox.py says what is dropped, when, and how it is logged).
- Batches isolate items: when one model call of a batch fails, each of its requests is run again
  alone, so a bad request gets its own error and the others their answers (engine/workers.py).
- Stopping (SIGTERM, Ctrl-C, `stop()`): every queued and running request is answered
  `shutting_down` before the socket closes (LINGER_ON_EXIT lets those replies leave).
- `info` gives the process id and file paths only to loopback clients (Peer-Address of the
  request, read by the ZMTP front on a plain tcp bind; behind a proxy, the connect endpoint decides).
- CURVE: the authorized client keys are re-read when `authorized_clients/` changes
  (engine/curve_keys.py).

This module is the loop and the handling of requests; sending (backlog, heartbeats) is
engine/outbox.py, the worker threads engine/workers.py, the front socket (options, bounded
reads) engine/front_socket.py, the ZMTP front of a plain tcp bind engine/zmtp_front.py,
`info` and who counts as local engine/server_info.py.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import zmq

from engine import protocol
from engine.batching import BatchPolicy, Scheduler
from engine.console_log import log_to_console
from engine.curve_keys import CurveAuth
from engine.errors import EngineError, InputError
from engine.front_socket import open_front, recv_bounded
from engine.job import Job
from engine.operations import Operation, operation_names
from engine.outbox import PROGRESS_INTERVAL, Outbox
from engine.server_info import ANSWERED_BY_THE_LOOP, operations_info, without_local_details
from engine.workers import DONE, FINAL, WorkerPool
from engine.zmtp_front import ZmtpFront

logger = logging.getLogger(__name__)

LOOP_TICK = 0.25  # seconds; upper bound on how long a stop request waits for the poll to return
LINGER_ON_EXIT = 2000  # ms the closing socket keeps trying to deliver the last replies
_pipe_ids = itertools.count()


@dataclass
class ServerConfig:
    bind: str | None = "tcp://127.0.0.1:5555"
    connect: str | None = None  # a proxy backend; replaces bind
    limits: protocol.Limits = field(default_factory=protocol.Limits)
    policy: BatchPolicy = field(default_factory=BatchPolicy)
    workers: int = 1  # one per device: model calls on one device run one batch at a time
    curve_secret_file: str | None = None  # server.key_secret from `motion-engine keygen`
    curve_authorized_dir: str | None = None  # public keys of allowed clients
    enable_test_ops: bool = False  # with a loader: serve the test-only ops
    zmtp_front: bool = True  # plain tcp binds read through engine/zmtp_front.py (False: libzmq's ROUTER)


class EngineServer:
    def __init__(
        self,
        config: ServerConfig,
        operations: dict[str, Operation] | None,
        info: dict,
        loader: Callable[[], dict[str, Operation]] | None = None,
    ) -> None:
        """`operations` ready to serve, or None with a `loader` that builds them (models loaded) on a
        thread once the socket is bound."""
        self.config = config
        self.operations: dict[str, Operation] = dict(operations or {})
        self.loader = loader
        self.loaded = threading.Event()
        if loader is None:
            self.loaded.set()
        self._loaded_operations: dict[str, Operation] | None = None
        self.info = info
        names = operation_names(config.enable_test_ops) if loader is not None else dict.fromkeys(self.operations)
        self.specs = {
            name: spec for name, spec in protocol.OPERATIONS.items() if name in names or name in ANSWERED_BY_THE_LOOP
        }
        batchable = {op: o.batchable for op, o in self.operations.items()} if loader is None else names
        self.scheduler = Scheduler(config.policy, {op: bool(b) for op, b in batchable.items()})
        self.running: dict[tuple[bytes, str], Job] = {}  # handed to a worker, not yet finished
        self.idle_workers = config.workers
        self.stop_event = threading.Event()
        self.counters = {
            "requests": 0,
            "errors": 0,
            "batches": 0,
            "batched_jobs": 0,
            "batch_retries": 0,
            "progress_dropped": 0,
            "replies_kept": 0,
            "replies_dropped": 0,
        }
        self.outbox = Outbox(self.counters)
        self.context = zmq.Context()
        self.pipe_endpoint = f"inproc://engine-results-{id(self)}-{next(_pipe_ids)}"
        self.workers = WorkerPool(
            self.context,
            self.pipe_endpoint,
            config.workers,
            lambda: self.operations,
            self.counters,
            config.limits,
            self.stop_event,
        )
        self.endpoint = ""
        self.front: zmq.Socket | None = None
        self.zmtp: ZmtpFront | None = None  # the ZMTP front of a plain tcp bind (engine/zmtp_front.py)
        self.curve: CurveAuth | None = None  # when CURVE is on
        self._next_heartbeat = 0.0

    # ------------------------------------------------------------------ sockets
    def bind(self) -> str:
        """Open the front socket (bind or connect, engine/front_socket.py); returns the endpoint.
        Raises InputError with one sentence when the address cannot be used (port in use, bad
        endpoint)."""
        if self.front is not None:
            return self.endpoint
        if self.config.curve_secret_file:
            self.curve = CurveAuth(self.context, self.config.curve_secret_file, self.config.curve_authorized_dir)
        try:
            self.front, self.endpoint, self.zmtp = open_front(
                self.context,
                self.config.bind,
                self.config.connect,
                self.config.limits,
                self.curve,
                self.config.zmtp_front,
            )
        except InputError:
            self.curve = None  # stopped by open_front
            raise
        return self.endpoint

    # ------------------------------------------------------------------ main loop
    def serve_forever(self, ready: threading.Event | None = None) -> None:
        front = self.front or self._bind_for_serving()
        pipe = self.context.socket(zmq.PULL)
        pipe.bind(self.pipe_endpoint)
        self.workers.start()
        if self.loader is not None:
            threading.Thread(target=self._load, name="engine-loader", daemon=True).start()
        poller = zmq.Poller()
        poller.register(front, zmq.POLLIN)
        poller.register(pipe, zmq.POLLIN)
        log_to_console()
        logger.info("motion-engine: serving on %s", self.endpoint)
        if ready is not None:
            ready.set()
        try:
            while not self.stop_event.is_set():
                try:
                    self._step(poller, front, pipe)
                except Exception:  # a bug in one step must not end the service
                    logger.exception("server loop step failed; serving on")
        finally:
            self._answer_all_shutting_down(front)
            self.workers.stop()
            if self.zmtp is not None:  # the last replies pass through it: it stops first
                self.zmtp.stop(LINGER_ON_EXIT / 1000)
            front.close(linger=LINGER_ON_EXIT)
            pipe.close(linger=0)
            if self.curve is not None:
                self.curve.stop()

    def _bind_for_serving(self) -> zmq.Socket:
        self.bind()
        assert self.front is not None
        return self.front

    def _load(self) -> None:
        """Build the operation table (loading models) off the I/O thread."""
        try:
            operations = self.loader()
        except Exception as error:  # a failed load leaves ping/info up
            logger.exception("loading the models failed")
            message = f"loading the models failed ({error}); see the engine log."
            operations = {name: Operation(_unavailable_handler(message), False, message) for name in self.specs}
        self._loaded_operations = operations
        self.loaded.set()

    def _step(self, poller: zmq.Poller, front: zmq.Socket, pipe: zmq.Socket) -> None:
        if self._loaded_operations is not None:  # installed by the loop thread only
            self.operations, self._loaded_operations = self._loaded_operations, None
            self.scheduler.batchable = {op: o.batchable for op, o in self.operations.items()}
            logger.info("motion-engine: models ready")
        self._dispatch()
        wait = self.scheduler.wait_time() if self.idle_workers and self.loaded.is_set() else None
        timeout = LOOP_TICK if wait is None else min(wait, LOOP_TICK)
        events = dict(poller.poll(timeout * 1000))
        if pipe in events:
            self._drain_pipe(pipe, front)
        if front in events:
            self._drain_front(front)
        self.outbox.flush(front)
        now = time.monotonic()
        if now >= self._next_heartbeat:
            self._next_heartbeat = now + LOOP_TICK
            waiting = sorted((job for q in self.scheduler.queues.values() for job in q), key=lambda job: job.received)
            self.outbox.heartbeat(front, waiting, list(self.running.values()), self.loaded, now)
        if self.curve is not None:
            self.curve.reload_if_due(now)

    def stop(self) -> None:
        self.stop_event.set()

    def _drain_front(self, front: zmq.Socket) -> None:
        # Bounded burst so replies from workers are forwarded even under a flood of requests.
        for _ in range(256):
            try:
                received = recv_bounded(front, self.config.limits, self.config.connect, self.zmtp is not None)
            except zmq.Again:
                return
            self._handle_safely(front, *received)

    def _handle_safely(
        self,
        front: zmq.Socket,
        identity: bytes,
        frames: list[bytes],
        problem: protocol.ProtocolError | None,
        local: bool = True,
    ) -> None:
        self.counters["requests"] += 1
        request_id, op = protocol.peek_request_id(frames[0]) if frames else ("", "")
        try:
            if problem is not None:
                raise problem
            self._handle(front, identity, frames, local)
        except protocol.ProtocolError as error:
            self.counters["errors"] += 1
            self.outbox.reply(front, identity, protocol.encode_error(request_id, op, error.code, error.message))
        except Exception as error:  # the server never dies from a request
            self.counters["errors"] += 1
            logger.exception("request %s (%s) failed", request_id, op)
            self.outbox.reply(
                front,
                identity,
                protocol.encode_error(
                    request_id,
                    op,
                    protocol.ERR_INTERNAL,
                    f"the engine failed on this request ({type(error).__name__}); it keeps running. "
                    "Please report the engine log.",
                ),
            )

    def _answer_all_shutting_down(self, front: zmq.Socket) -> None:
        jobs = [job for q in self.scheduler.queues.values() for job in q] + list(self.running.values())
        for q in self.scheduler.queues.values():
            q.clear()
        self.scheduler.queued = self.scheduler.queued_bytes = 0
        for job in jobs:
            job.cancel_event.set()
            message = f"the engine is shutting down; request {job.request_id} was not finished. Send it again later."
            self.outbox.reply(
                front, job.identity, protocol.encode_error(job.request_id, job.op, protocol.ERR_SHUTTING_DOWN, message)
            )
        self.running.clear()
        if jobs:
            logger.info("motion-engine: answered %d unfinished request(s) with shutting_down", len(jobs))
        self.outbox.drain(front, LINGER_ON_EXIT / 1000)

    # ------------------------------------------------------------------ requests
    def _handle(self, front: zmq.Socket, identity: bytes, frames: list[bytes], local: bool = True) -> None:
        message = protocol.decode_message(frames, self.config.limits)
        if not message.is_request:
            raise protocol.ProtocolError(protocol.ERR_BAD_MESSAGE, "the engine accepts requests only, not replies")
        protocol.validate_request(message, self.config.limits, self.specs)
        if message.op == "ping":
            result = {"pong": True, "time": time.time(), "queued": self.scheduler.queued}
            return self.outbox.reply(front, identity, protocol.encode_ok(message.id, "ping", result))
        if message.op == "info":
            return self.outbox.reply(front, identity, protocol.encode_ok(message.id, "info", self._info(local)))
        if message.op == "cancel":
            return self._cancel(front, identity, message)
        key = (identity, message.id)
        if key in self.running or self.scheduler.find(identity, message.id) is not None:
            raise protocol.ProtocolError(
                protocol.ERR_BAD_MESSAGE,
                (
                    f"request id {message.id} is already in use by one of your running requests; "
                    "use a fresh id per request"
                ),
            )
        job = Job(identity=identity, request_id=message.id, op=message.op, args=message.args, arrays=message.arrays)
        if self.scheduler.full(job.nbytes):
            raise protocol.ProtocolError(
                protocol.ERR_BUSY,
                (
                    f"the engine has {self.scheduler.queued} queued requests "
                    f"({self.scheduler.queued_bytes} bytes); retry in a moment"
                ),
            )
        self.scheduler.add(job)

    def _cancel(self, front: zmq.Socket, identity: bytes, message: protocol.Message) -> None:
        target = message.args["target"]
        state = "unknown"
        job = self.scheduler.remove(identity, target)
        if job is not None:
            state = "queued"
            self.outbox.reply(
                front,
                identity,
                protocol.encode_error(
                    target, job.op, protocol.ERR_CANCELLED, f"request {target} was cancelled before it started"
                ),
            )
        elif (identity, target) in self.running:
            state = "running"
            self.running[(identity, target)].cancel_event.set()  # the worker replies `cancelled`
        self.outbox.reply(
            front,
            identity,
            protocol.encode_ok(
                message.id, "cancel", {"target": target, "state": state, "cancelled": state != "unknown"}
            ),
        )

    def _info(self, local: bool = True) -> dict:
        ready = self.loaded.is_set()
        operations = operations_info(self.specs, self.operations, self.scheduler.batchable, ready)
        info = {
            **self.info,
            "protocol_version": protocol.PROTOCOL_VERSION,
            "endpoint": self.endpoint,
            "models_ready": ready,
            "operations": operations,
            "limits": vars(self.config.limits),
            "batching": vars(self.config.policy),
            "workers": self.config.workers,
            "counters": dict(self.counters),
            "queued": self.scheduler.queued,
            "running": len(self.running),
        }
        return info if local else without_local_details(info)

    # ------------------------------------------------------------------ workers
    def _dispatch(self) -> None:
        while self.idle_workers and self.loaded.is_set() and self._loaded_operations is None:
            batch = self.scheduler.next_batch()
            if batch is None:
                return
            now = time.monotonic()
            for job in batch:
                self.running[(job.identity, job.request_id)] = job
                job.last_heard = min(job.last_heard, now - PROGRESS_INTERVAL / 2)  # a "running" word soon
                job.last_message = "running"
            self.idle_workers -= 1
            self.counters["batches"] += 1
            self.counters["batched_jobs"] += len(batch)
            self.workers.submit(batch)

    def _drain_pipe(self, pipe: zmq.Socket, front: zmq.Socket) -> None:
        while True:
            try:
                kind, *rest = pipe.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            if kind == DONE:
                self.idle_workers += 1
                continue
            identity, request_id, *frames = rest
            key = (identity, request_id.decode())
            if kind == FINAL:
                self.running.pop(key, None)
                self.outbox.reply(front, identity, frames)
                continue
            job = self.running.get(key)
            if job is None:
                continue  # progress of a request that was answered already
            job.last_heard = time.monotonic()
            self.outbox.reply(front, identity, frames, final=False)


def _unavailable_handler(message: str) -> Callable[[list[Job]], list]:
    def handler(jobs: list[Job]) -> list:
        return [EngineError(message, protocol.ERR_MODEL_UNAVAILABLE) for _ in jobs]

    return handler
