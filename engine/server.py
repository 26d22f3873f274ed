"""The headless engine server: one ZeroMQ ROUTER socket, a Poller loop, and worker threads.

Run it with `motion-engine serve` (engine/commands/serve.py). Pattern (ZeroMQ guide, ch. 3-4):
only the I/O loop thread touches the ROUTER; it answers `ping`, `info` and `cancel` itself, so a
slow job never delays them, and queues every other op in a Scheduler (engine/batching.py). Worker
threads run batches and send progress/final replies back over an inproc PUSH->PULL pipe, which the
loop forwards to the client by routing id. Every request is caught: the server answers `error`
and keeps serving (the traceback is logged; on the console, to stderr). With `connect=` the engine uses a DEALER connected to
a `motion-engine proxy` backend instead (same frames: [client routing id, header, arrays...]).
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
import time
from dataclasses import dataclass, field

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from engine import protocol
from engine.batching import BatchPolicy, Scheduler
from engine.console_log import log_to_console
from engine.errors import EngineError
from engine.operations import Job, Operation

logger = logging.getLogger(__name__)

LOOP_TICK = 0.25  # seconds; upper bound on how long a stop request waits for the poll to return
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


class EngineServer:
    def __init__(self, config: ServerConfig, operations: dict[str, Operation], info: dict) -> None:
        self.config = config
        self.operations = operations
        self.info = info
        self.specs = {
            name: spec
            for name, spec in protocol.OPERATIONS.items()
            if name in operations or name in ("ping", "info", "cancel")
        }
        self.scheduler = Scheduler(config.policy, {op: o.batchable for op, o in operations.items()})
        self.running: dict[tuple[bytes, str], Job] = {}  # handed to a worker, not yet finished
        self.jobs: queue.Queue = queue.Queue()
        self.idle_workers = config.workers
        self.stop_event = threading.Event()
        self.counters = {"requests": 0, "errors": 0, "batches": 0, "batched_jobs": 0}
        self.context = zmq.Context()
        self.pipe_endpoint = f"inproc://engine-results-{id(self)}-{next(_pipe_ids)}"
        self.endpoint = ""
        self.authenticator = None  # a zmq.auth ThreadAuthenticator when CURVE is on

    # ------------------------------------------------------------------ sockets
    def _open_front(self) -> zmq.Socket:
        limits = self.config.limits
        socket = self.context.socket(zmq.DEALER if self.config.connect else zmq.ROUTER)
        socket.linger = 0
        # libzmq disconnects a peer whose single frame exceeds this, before buffering it in full.
        socket.setsockopt(zmq.MAXMSGSIZE, max(limits.max_array_bytes, limits.max_header_bytes))
        if self.config.curve_secret_file:
            self._enable_curve(socket)
        if self.config.connect:
            socket.connect(self.config.connect)
            self.endpoint = self.config.connect
        else:
            socket.bind(self.config.bind)
            self.endpoint = socket.getsockopt_string(zmq.LAST_ENDPOINT)
        return socket

    def _enable_curve(self, socket: zmq.Socket) -> None:
        self.authenticator = ThreadAuthenticator(self.context)
        self.authenticator.start()
        # Only clients whose public key file sits in the authorized directory may connect.
        self.authenticator.configure_curve(domain="*", location=self.config.curve_authorized_dir)
        public, secret = zmq.auth.load_certificate(self.config.curve_secret_file)
        socket.curve_secretkey, socket.curve_publickey, socket.curve_server = secret, public, True

    # ------------------------------------------------------------------ main loop
    def serve_forever(self, ready: threading.Event | None = None) -> None:
        front = self._open_front()
        pipe = self.context.socket(zmq.PULL)
        pipe.bind(self.pipe_endpoint)
        workers = [
            threading.Thread(target=self._worker, name=f"engine-worker-{i}", daemon=True)
            for i in range(self.config.workers)
        ]
        for worker in workers:
            worker.start()
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
            for _ in workers:
                self.jobs.put(None)
            front.close(linger=0)
            pipe.close(linger=0)
            if self.authenticator is not None:
                self.authenticator.stop()

    def _step(self, poller: zmq.Poller, front: zmq.Socket, pipe: zmq.Socket) -> None:
        self._dispatch()
        wait = self.scheduler.wait_time() if self.idle_workers else None
        timeout = LOOP_TICK if wait is None else min(wait, LOOP_TICK)
        events = dict(poller.poll(timeout * 1000))
        if pipe in events:
            self._drain_pipe(pipe, front)
        if front in events:
            self._drain_front(front)

    def stop(self) -> None:
        self.stop_event.set()

    def _drain_front(self, front: zmq.Socket) -> None:
        # Bounded burst so replies from workers are forwarded even under a flood of requests.
        for _ in range(256):
            try:
                received = self._recv_bounded(front)
            except zmq.Again:
                return
            self._handle_safely(front, *received)

    def _recv_bounded(self, front: zmq.Socket) -> tuple:
        """(identity, frames, problem), reading frame by frame so a message with too many or too
        large frames is drained and dropped instead of kept (only its header stays, for the id)."""
        limits = self.config.limits
        identity = front.recv(zmq.NOBLOCK)
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
        return identity, frames, problem

    def _handle_safely(
        self, front: zmq.Socket, identity: bytes, frames: list[bytes], problem: protocol.ProtocolError | None
    ) -> None:
        self.counters["requests"] += 1
        request_id, op = protocol.peek_request_id(frames[0]) if frames else ("", "")
        try:
            if problem is not None:
                raise problem
            self._handle(front, identity, frames)
        except protocol.ProtocolError as error:
            self.counters["errors"] += 1
            self._reply(front, identity, protocol.encode_error(request_id, op, error.code, error.message))
        except Exception as error:  # the server never dies from a request
            self.counters["errors"] += 1
            logger.exception("request %s (%s) failed", request_id, op)
            self._reply(
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

    def _reply(self, front: zmq.Socket, identity: bytes, frames: list[bytes]) -> None:
        try:
            front.send_multipart([identity, *frames], flags=zmq.NOBLOCK)
        except zmq.Again:  # the client stopped reading: drop rather than block the loop
            pass

    def _handle(self, front: zmq.Socket, identity: bytes, frames: list[bytes]) -> None:
        message = protocol.decode_message(frames, self.config.limits)
        if not message.is_request:
            raise protocol.ProtocolError(protocol.ERR_BAD_MESSAGE, "the engine accepts requests only, not replies")
        protocol.validate_request(message, self.config.limits, self.specs)
        if message.op == "ping":
            result = {"pong": True, "time": time.time(), "queued": self.scheduler.queued}
            return self._reply(front, identity, protocol.encode_ok(message.id, "ping", result))
        if message.op == "info":
            return self._reply(front, identity, protocol.encode_ok(message.id, "info", self._info()))
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
            self._reply(
                front,
                identity,
                protocol.encode_error(
                    target, job.op, protocol.ERR_CANCELLED, f"request {target} was cancelled before it started"
                ),
            )
        elif (identity, target) in self.running:
            state = "running"
            self.running[(identity, target)].cancel_event.set()  # the worker replies `cancelled`
        self._reply(
            front,
            identity,
            protocol.encode_ok(
                message.id, "cancel", {"target": target, "state": state, "cancelled": state != "unknown"}
            ),
        )

    def _info(self) -> dict:
        operations = {
            name: {
                "available": self.operations[name].unavailable is None if name in self.operations else True,
                "why_unavailable": self.operations[name].unavailable if name in self.operations else None,
                "batchable": name in self.operations and self.operations[name].batchable,
                "doc": spec.doc,
            }
            for name, spec in self.specs.items()
        }
        return {
            **self.info,
            "protocol_version": protocol.PROTOCOL_VERSION,
            "endpoint": self.endpoint,
            "operations": operations,
            "limits": vars(self.config.limits),
            "batching": vars(self.config.policy),
            "workers": self.config.workers,
            "counters": dict(self.counters),
            "queued": self.scheduler.queued,
            "running": len(self.running),
        }

    # ------------------------------------------------------------------ workers
    def _dispatch(self) -> None:
        while self.idle_workers:
            batch = self.scheduler.next_batch()
            if batch is None:
                return
            for job in batch:
                self.running[(job.identity, job.request_id)] = job
            self.idle_workers -= 1
            self.counters["batches"] += 1
            self.counters["batched_jobs"] += len(batch)
            self.jobs.put(batch)

    def _drain_pipe(self, pipe: zmq.Socket, front: zmq.Socket) -> None:
        while True:
            try:
                kind, *rest = pipe.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            if kind == b"D":
                self.idle_workers += 1
                continue
            identity, request_id, *frames = rest
            if kind == b"F":
                self.running.pop((identity, request_id.decode()), None)
            self._reply(front, identity, frames)

    def _worker(self) -> None:
        push = self.context.socket(zmq.PUSH)
        push.linger = 0
        push.connect(self.pipe_endpoint)

        def progress(job: Job, fraction: float, message: str) -> None:
            push.send_multipart(
                [
                    b"P",
                    job.identity,
                    job.request_id.encode(),
                    *protocol.encode_progress(job.request_id, job.op, fraction, message),
                ]
            )

        while True:
            batch = self.jobs.get()
            if batch is None:
                break
            try:
                for job in batch:
                    job.progress_sink = progress
                for job, frames in zip(batch, self._run_batch(batch)):
                    push.send_multipart([b"F", job.identity, job.request_id.encode(), *frames])
            except Exception:  # keep the worker alive whatever happens
                logger.exception("worker failed on a batch of %d job(s)", len(batch))
            finally:
                push.send_multipart([b"D"])
        push.close(linger=0)

    def _run_batch(self, batch: list[Job]) -> list[list[bytes]]:
        """Reply frames for each job of the batch; cancelled jobs are skipped by the handler."""
        live = [job for job in batch if not job.cancelled()]
        outcomes: dict[int, object] = {}
        if live:
            try:
                results = self.operations[batch[0].op].handler(live)
                if len(results) != len(live):
                    raise RuntimeError(f"handler returned {len(results)} outcomes for {len(live)} jobs")
            except Exception as error:  # one failure answers every job in the batch
                if not isinstance(error, EngineError):
                    logger.exception("handler of '%s' failed", batch[0].op)
                results = [error] * len(live)
            outcomes = {id(job): outcome for job, outcome in zip(live, results)}
        return [self._reply_frames(job, outcomes.get(id(job))) for job in batch]

    @staticmethod
    def _reply_frames(job: Job, outcome: object) -> list[bytes]:
        if job.cancelled():
            return protocol.encode_error(
                job.request_id, job.op, protocol.ERR_CANCELLED, f"request {job.request_id} was cancelled by the client"
            )
        if isinstance(outcome, EngineError):
            details = getattr(outcome, "details", None)  # e.g. unknown_prompt's closest captions
            return protocol.encode_error(job.request_id, job.op, outcome.code, str(outcome), details)
        if isinstance(outcome, protocol.ProtocolError):
            return protocol.encode_error(job.request_id, job.op, outcome.code, outcome.message)
        if isinstance(outcome, BaseException) or outcome is None:
            if isinstance(outcome, BaseException):
                logger.error("'%s' failed", job.op, exc_info=outcome)
            return protocol.encode_error(
                job.request_id,
                job.op,
                protocol.ERR_INTERNAL,
                (
                    f"'{job.op}' failed inside the engine ({type(outcome).__name__}); the engine keeps "
                    "running. Please report the engine log."
                ),
            )
        try:
            result, arrays = outcome  # type: ignore[misc]
            return protocol.encode_ok(job.request_id, job.op, result, arrays)
        except Exception as error:  # a result that cannot be encoded
            logger.exception("the result of '%s' cannot be encoded", job.op)
            return protocol.encode_error(
                job.request_id,
                job.op,
                protocol.ERR_INTERNAL,
                (f"'{job.op}' produced a result the protocol cannot carry ({error}); please report"),
            )
