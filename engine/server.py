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
- No silent loss: the ROUTER is ROUTER_MANDATORY, so a reply to a peer whose send queue is full
  (a client that reads slowly) raises instead of vanishing. Final replies to such a peer are kept,
  in order, in its backlog and sent as it reads; progress replies to it are dropped while it has a
  backlog (a later progress or the final reply supersedes them). A backlog over MAX_BACKLOG_BYTES
  (all peers together) drops that peer's kept replies with an error in the log; a reply to a peer
  that disconnected is dropped with a debug line (nobody is left to read it).
- Batches isolate items: when one model call of a batch fails, each of its requests is run again
  alone, so a bad request gets its own error and the others their answers.
- Stopping (SIGTERM, Ctrl-C, `stop()`): every queued and running request is answered
  `shutting_down` before the socket closes (LINGER_ON_EXIT lets those replies leave).
- `info` gives the process id and file paths only to loopback clients (Peer-Address of the
  request; behind a proxy, the connect endpoint decides).
- CURVE: the authorized client keys are re-read when `authorized_clients/` changes.
"""

from __future__ import annotations

import copy
import errno
import ipaddress
import itertools
import logging
import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from engine import protocol
from engine.batching import BatchPolicy, Scheduler
from engine.console_log import log_to_console
from engine.errors import EngineError, InputError
from engine.operations import Job, Operation, operation_names

logger = logging.getLogger(__name__)

LOOP_TICK = 0.25  # seconds; upper bound on how long a stop request waits for the poll to return
PROGRESS_INTERVAL = 1.0  # seconds of silence after which a waiting request hears from the engine
KEYS_RELOAD_INTERVAL = 1.0  # seconds between looks at authorized_clients/
MAX_BACKLOG_BYTES = 256 * 1024 * 1024  # final replies kept for slow readers, all peers together
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


def is_loopback_host(host: str) -> bool:
    """True for a loopback IP address (IPv4 or IPv6, bracketed or not) or 'localhost'."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _peer_is_local(address: str | None) -> bool:
    # ipc:// and inproc:// peers carry no Peer-Address: they are on this machine.
    return not address or is_loopback_host(address)


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
            name: spec
            for name, spec in protocol.OPERATIONS.items()
            if name in names or name in ("ping", "info", "cancel")
        }
        batchable = {op: o.batchable for op, o in self.operations.items()} if loader is None else names
        self.scheduler = Scheduler(config.policy, {op: bool(b) for op, b in batchable.items()})
        self.running: dict[tuple[bytes, str], Job] = {}  # handed to a worker, not yet finished
        self.jobs: queue.Queue = queue.Queue()
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
        self.backlog: dict[bytes, deque[list[bytes]]] = {}  # final replies a slow peer has yet to take
        self.backlog_bytes = 0
        self.context = zmq.Context()
        self.pipe_endpoint = f"inproc://engine-results-{id(self)}-{next(_pipe_ids)}"
        self.endpoint = ""
        self.front: zmq.Socket | None = None
        self.authenticator = None  # a zmq.auth ThreadAuthenticator when CURVE is on
        self._keys_seen: tuple = ()
        self._next_keys_check = 0.0
        self._next_heartbeat = 0.0

    # ------------------------------------------------------------------ sockets
    def bind(self) -> str:
        """Open the front socket (bind or connect); returns the endpoint. Raises InputError with
        one sentence when the address cannot be used (port in use, bad endpoint)."""
        if self.front is not None:
            return self.endpoint
        where = self.config.connect or self.config.bind or ""
        try:
            self.front = self._open_front()
        except zmq.ZMQError as error:
            if self.authenticator is not None:
                self.authenticator.stop()
                self.authenticator = None
            if error.errno == errno.EADDRINUSE:
                raise InputError(
                    f"{where} is already in use (another engine?); stop it or pick another port, "
                    "e.g. --bind tcp://127.0.0.1:5556 (port * picks a free one)."
                ) from None
            raise InputError(
                f"cannot {'connect to' if self.config.connect else 'bind'} {where} ({error}); "
                "use tcp://HOST:PORT, tcp://[IPv6]:PORT or ipc://PATH."
            ) from None
        return self.endpoint

    def _open_front(self) -> zmq.Socket:
        limits = self.config.limits
        socket = self.context.socket(zmq.DEALER if self.config.connect else zmq.ROUTER)
        socket.linger = 0
        # libzmq disconnects a peer whose single frame exceeds this, before buffering it in full.
        socket.setsockopt(zmq.MAXMSGSIZE, max(limits.max_array_bytes, limits.max_header_bytes))
        if not self.config.connect:
            # A reply to a peer that cannot take it raises (EAGAIN / EHOSTUNREACH) instead of vanishing.
            socket.setsockopt(zmq.ROUTER_MANDATORY, 1)
        where = self.config.connect or self.config.bind or ""
        if "[" in where:  # an IPv6 literal: tcp://[::1]:5555
            socket.setsockopt(zmq.IPV6, 1)
        try:
            if self.config.curve_secret_file:
                self._enable_curve(socket)
            if self.config.connect:
                socket.connect(self.config.connect)
                self.endpoint = self.config.connect
            else:
                socket.bind(self.config.bind)
                self.endpoint = socket.getsockopt_string(zmq.LAST_ENDPOINT)
        except zmq.ZMQError:
            socket.close(linger=0)
            raise
        return socket

    def _enable_curve(self, socket: zmq.Socket) -> None:
        self.authenticator = ThreadAuthenticator(self.context)
        self.authenticator.start()
        # Only clients whose public key file sits in the authorized directory may connect.
        self._reload_keys(force=True)
        public, secret = zmq.auth.load_certificate(self.config.curve_secret_file)
        socket.curve_secretkey, socket.curve_publickey, socket.curve_server = secret, public, True

    def _reload_keys(self, force: bool = False) -> None:
        """Re-read authorized_clients/ when its files changed (added, removed or rewritten)."""
        folder = Path(self.config.curve_authorized_dir or "")
        try:
            seen = tuple(sorted((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in folder.iterdir()))
        except OSError:
            seen = ()
        if force or seen != self._keys_seen:
            self.authenticator.configure_curve(domain="*", location=str(folder))
            if not force:
                logger.info("motion-engine: authorized client keys reloaded from %s (%d files)", folder, len(seen))
            self._keys_seen = seen

    # ------------------------------------------------------------------ main loop
    def serve_forever(self, ready: threading.Event | None = None) -> None:
        front = self.front or self._bind_for_serving()
        pipe = self.context.socket(zmq.PULL)
        pipe.bind(self.pipe_endpoint)
        workers = [
            threading.Thread(target=self._worker, name=f"engine-worker-{i}", daemon=True)
            for i in range(self.config.workers)
        ]
        for worker in workers:
            worker.start()
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
            for _ in workers:
                self.jobs.put(None)
            front.close(linger=LINGER_ON_EXIT)
            pipe.close(linger=0)
            if self.authenticator is not None:
                self.authenticator.stop()

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
        self._flush_backlog(front)
        now = time.monotonic()
        if now >= self._next_heartbeat:
            self._next_heartbeat = now + LOOP_TICK
            self._heartbeat(front, now)
        if self.authenticator is not None and now >= self._next_keys_check:
            self._next_keys_check = now + KEYS_RELOAD_INTERVAL
            self._reload_keys()

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
        """(identity, frames, problem, local), reading frame by frame so a message with too many or
        too large frames is drained and dropped instead of kept (only its header stays, for the id)."""
        limits = self.config.limits
        first = front.recv(zmq.NOBLOCK, copy=False)
        identity = first.bytes
        local = self._is_local(first)
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

    def _is_local(self, frame: zmq.Frame) -> bool:
        if self.config.connect:  # behind a proxy: its endpoint decides
            host = self.config.connect.split("://", 1)[-1].rsplit(":", 1)[0]
            return self.config.connect.startswith(("ipc://", "inproc://")) or is_loopback_host(host)
        try:
            return _peer_is_local(frame.get("Peer-Address"))
        except (zmq.ZMQError, KeyError):
            return True  # no transport metadata: an inproc peer

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

    # ------------------------------------------------------------------ sending
    def _reply(self, front: zmq.Socket, identity: bytes, frames: list[bytes], final: bool = True) -> None:
        """Send one reply; a final reply that the peer cannot take now is kept in its backlog."""
        if identity in self.backlog:  # keep the order: this peer still has older replies waiting
            if final:
                self._keep(identity, frames)
            else:
                self.counters["progress_dropped"] += 1
            return
        try:
            front.send_multipart([identity, *frames], flags=zmq.NOBLOCK)
        except zmq.Again:  # the peer's send queue is full: it reads slowly
            if final:
                logger.warning("a client reads slowly; keeping its replies until it reads them")
                self._keep(identity, frames)
            else:
                self.counters["progress_dropped"] += 1
        except zmq.ZMQError as error:
            if error.errno != errno.EHOSTUNREACH:
                raise
            self.counters["replies_dropped"] += final
            logger.debug("reply to a client that has disconnected dropped")

    def _keep(self, identity: bytes, frames: list[bytes]) -> None:
        size = sum(len(frame) for frame in frames)
        if self.backlog_bytes + size > MAX_BACKLOG_BYTES:
            dropped = self.backlog.pop(identity, deque())
            self.backlog_bytes -= sum(len(f) for reply in dropped for f in reply)
            self.counters["replies_dropped"] += len(dropped) + 1
            logger.error(
                "a client reads too slowly: dropping %d final replies kept for it (over %d bytes kept)",
                len(dropped) + 1,
                MAX_BACKLOG_BYTES,
            )
            return
        self.backlog.setdefault(identity, deque()).append(frames)
        self.backlog_bytes += size
        self.counters["replies_kept"] += 1

    def _flush_backlog(self, front: zmq.Socket) -> None:
        for identity in list(self.backlog):
            replies = self.backlog[identity]
            while replies:
                try:
                    front.send_multipart([identity, *replies[0]], flags=zmq.NOBLOCK)
                except zmq.Again:
                    break
                except zmq.ZMQError as error:
                    if error.errno != errno.EHOSTUNREACH:
                        raise
                    self.counters["replies_dropped"] += len(replies)
                    self.backlog_bytes -= sum(len(f) for reply in replies for f in reply)
                    replies.clear()
                    break
                self.backlog_bytes -= sum(len(f) for f in replies.popleft())
            if not replies:
                del self.backlog[identity]

    def _heartbeat(self, front: zmq.Socket, now: float) -> None:
        """A progress reply to every request that has not heard from the engine for a while."""
        waiting = sorted((job for q in self.scheduler.queues.values() for job in q), key=lambda job: job.received)
        for position, job in enumerate(waiting, 1):
            if now - job.last_heard >= PROGRESS_INTERVAL:
                job.last_heard = now
                what = "waiting for the models to load" if not self.loaded.is_set() else "queued"
                message = f"{what}: position {position} of {len(waiting)}"
                frames = protocol.encode_progress(job.request_id, job.op, 0.0, message, queue_position=position)
                self._reply(front, job.identity, frames, False)
        for job in list(self.running.values()):
            if now - job.last_heard >= PROGRESS_INTERVAL:
                job.last_heard = now
                message = job.last_message or "running"
                frames = protocol.encode_progress(job.request_id, job.op, job.last_fraction, message)
                self._reply(front, job.identity, frames, False)

    def _answer_all_shutting_down(self, front: zmq.Socket) -> None:
        jobs = [job for q in self.scheduler.queues.values() for job in q] + list(self.running.values())
        for q in self.scheduler.queues.values():
            q.clear()
        self.scheduler.queued = self.scheduler.queued_bytes = 0
        for job in jobs:
            job.cancel_event.set()
            message = f"the engine is shutting down; request {job.request_id} was not finished. Send it again later."
            self._reply(
                front, job.identity, protocol.encode_error(job.request_id, job.op, protocol.ERR_SHUTTING_DOWN, message)
            )
        self.running.clear()
        if jobs:
            logger.info("motion-engine: answered %d unfinished request(s) with shutting_down", len(jobs))
        deadline = time.monotonic() + LINGER_ON_EXIT / 1000
        while self.backlog and time.monotonic() < deadline:
            self._flush_backlog(front)
            time.sleep(0.01)

    # ------------------------------------------------------------------ requests
    def _handle(self, front: zmq.Socket, identity: bytes, frames: list[bytes], local: bool = True) -> None:
        message = protocol.decode_message(frames, self.config.limits)
        if not message.is_request:
            raise protocol.ProtocolError(protocol.ERR_BAD_MESSAGE, "the engine accepts requests only, not replies")
        protocol.validate_request(message, self.config.limits, self.specs)
        if message.op == "ping":
            result = {"pong": True, "time": time.time(), "queued": self.scheduler.queued}
            return self._reply(front, identity, protocol.encode_ok(message.id, "ping", result))
        if message.op == "info":
            return self._reply(front, identity, protocol.encode_ok(message.id, "info", self._info(local)))
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

    def _info(self, local: bool = True) -> dict:
        ready = self.loaded.is_set()
        operations = {}
        for name, spec in self.specs.items():
            operation = self.operations.get(name)
            loading = operation is None and name not in ("ping", "info", "cancel") and not ready
            operations[name] = {
                "available": (operation.unavailable is None) if operation is not None else not loading,
                "why_unavailable": operation.unavailable if operation is not None else None,
                "loading": loading,
                "batchable": bool(self.scheduler.batchable.get(name, False)),
                "doc": spec.doc,
            }
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
        return info if local else _without_local_details(info)

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
            key = (identity, request_id.decode())
            if kind == b"F":
                self.running.pop(key, None)
                self._reply(front, identity, frames)
                continue
            job = self.running.get(key)
            if job is None:
                continue  # progress of a request that was answered already
            job.last_heard = time.monotonic()
            self._reply(front, identity, frames, final=False)

    def _worker(self) -> None:
        push = self.context.socket(zmq.PUSH)
        push.linger = 0
        push.connect(self.pipe_endpoint)

        def progress(job: Job, fraction: float, message: str) -> None:
            job.last_fraction, job.last_message = fraction, message
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

    def _call(self, jobs: list[Job]) -> list:
        """The op's handler on `jobs`; an exception of the whole call becomes every job's outcome."""
        try:
            results = self.operations[jobs[0].op].handler(jobs)
            if len(results) != len(jobs):
                raise RuntimeError(f"handler returned {len(results)} outcomes for {len(jobs)} jobs")
            return list(results)
        except Exception as error:  # answered per job below
            if not isinstance(error, EngineError):
                logger.exception("handler of '%s' failed", jobs[0].op)
            return [error] * len(jobs)

    def _run_batch(self, batch: list[Job]) -> list[list[bytes]]:
        """Reply frames for each job of the batch; cancelled jobs are skipped by the handler.

        A failure shared by several jobs (one model call that failed for all of them) is retried
        one job at a time, so the job that caused it gets the error and the others their answers.
        """
        live = [job for job in batch if not job.cancelled()]
        outcomes: dict[int, object] = {}
        if live:
            results = self._call(live)
            shared = [
                i
                for i, outcome in enumerate(results)
                if isinstance(outcome, BaseException) and sum(o is outcome for o in results) > 1
            ]
            if shared:
                self.counters["batch_retries"] += 1
                for i in shared:
                    if not live[i].cancelled():
                        results[i] = self._call([live[i]])[0]
            outcomes = {id(job): outcome for job, outcome in zip(live, results)}
        return [self._reply_frames(job, outcomes.get(id(job))) for job in batch]

    def _reply_frames(self, job: Job, outcome: object) -> list[bytes]:
        if job.cancelled():
            if self.stop_event.is_set():
                return protocol.encode_error(
                    job.request_id,
                    job.op,
                    protocol.ERR_SHUTTING_DOWN,
                    "the engine is shutting down; send it again later",
                )
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
            frames = protocol.encode_ok(job.request_id, job.op, result, arrays)
        except Exception as error:  # a result that cannot be encoded
            logger.exception("the result of '%s' cannot be encoded", job.op)
            return protocol.encode_error(
                job.request_id,
                job.op,
                protocol.ERR_INTERNAL,
                (f"'{job.op}' produced a result the protocol cannot carry ({error}); please report"),
            )
        limits = self.config.limits
        total = sum(len(frame) for frame in frames)
        if total > limits.max_total_bytes or max(len(frame) for frame in frames[1:] or [b""]) > limits.max_array_bytes:
            return protocol.encode_error(
                job.request_id,
                job.op,
                protocol.ERR_TOO_LARGE,
                f"the answer to '{job.op}' would be {total} bytes, over the reply limits "
                f"({limits.max_total_bytes} bytes, {limits.max_array_bytes} per array); send less per request",
            )
        return frames


def _unavailable_handler(message: str) -> Callable[[list[Job]], list]:
    def handler(jobs: list[Job]) -> list:
        return [EngineError(message, protocol.ERR_MODEL_UNAVAILABLE) for _ in jobs]

    return handler


def _without_local_details(info: dict) -> dict:
    """`info` for a client on another machine: no process id, no file paths."""
    info = copy.deepcopy(info)
    info.pop("pid", None)
    bundle = info.get("bundle")
    if isinstance(bundle, dict):
        if bundle.get("path"):
            bundle["path"] = os.path.basename(str(bundle["path"]).rstrip("/\\"))
        for component in (bundle.get("components") or {}).values():
            if isinstance(component, dict) and component.get("path"):
                component["path"] = os.path.basename(str(component["path"]).rstrip("/\\"))
        bundle["problems"] = (
            [f"{len(bundle.get('problems') or [])} problem(s); see the engine log"] if bundle.get("problems") else []
        )
    return info
