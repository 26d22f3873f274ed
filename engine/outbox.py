"""Replies from the server's I/O loop to its clients: a backlog per slow reader, and heartbeats.

Apart from the loop (engine/server.py) because it holds the "no silence, no silent loss" promises
of that module's docstring, which concern sending only:
- The ROUTER is ROUTER_MANDATORY, so a reply to a peer whose send queue is full (it reads slowly)
  raises EAGAIN instead of vanishing. Final replies to such a peer are kept, in order, in its
  backlog and sent as it reads; progress replies to it are dropped while it has a backlog (a later
  progress or the final reply supersedes them). A backlog over MAX_BACKLOG_BYTES (all peers
  together) drops that peer's kept replies with an error in the log; a reply to a peer that
  disconnected (EHOSTUNREACH) is dropped with a debug line (nobody is left to read it).
- Every queued or running request hears from the engine at least every PROGRESS_INTERVAL seconds.
Only the I/O loop thread calls an Outbox (ZeroMQ sockets are not thread-safe).
"""

from __future__ import annotations

import errno
import logging
import threading
import time
from collections import deque

import zmq

from engine import protocol
from engine.job import Job

logger = logging.getLogger(__name__)

PROGRESS_INTERVAL = 1.0  # seconds of silence after which a waiting request hears from the engine
MAX_BACKLOG_BYTES = 256 * 1024 * 1024  # final replies kept for slow readers, all peers together


class Outbox:
    """Sends replies on the front socket; keeps the final replies a slow peer cannot take yet.

    `counters` is the server's counters dict (shown by `info`): this class adds to
    progress_dropped, replies_kept and replies_dropped.
    """

    def __init__(self, counters: dict[str, int]) -> None:
        self.counters = counters
        self.backlog: dict[bytes, deque[list[bytes]]] = {}  # final replies a slow peer has yet to take
        self.backlog_bytes = 0

    def reply(self, front: zmq.Socket, identity: bytes, frames: list[bytes], final: bool = True) -> None:
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

    def flush(self, front: zmq.Socket) -> None:
        """Send what each slow peer can take now, oldest first."""
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

    def drain(self, front: zmq.Socket, seconds: float) -> None:
        """Flush the backlogs until they are empty or `seconds` have passed (when the server stops)."""
        deadline = time.monotonic() + seconds
        while self.backlog and time.monotonic() < deadline:
            self.flush(front)
            time.sleep(0.01)

    def heartbeat(
        self, front: zmq.Socket, waiting: list[Job], running: list[Job], loaded: threading.Event, now: float
    ) -> None:
        """A progress reply to every request that has not heard from the engine for a while.

        `waiting`: the queued jobs, oldest first (a queued job hears its position); `running`: the
        jobs handed to a worker (they hear their last progress again); `loaded`: set once the
        models are loaded; `now`: time.monotonic().
        """
        for position, job in enumerate(waiting, 1):
            if now - job.last_heard >= PROGRESS_INTERVAL:
                job.last_heard = now
                what = "waiting for the models to load" if not loaded.is_set() else "queued"
                message = f"{what}: position {position} of {len(waiting)}"
                frames = protocol.encode_progress(job.request_id, job.op, 0.0, message, queue_position=position)
                self.reply(front, job.identity, frames, False)
        for job in running:
            if now - job.last_heard >= PROGRESS_INTERVAL:
                job.last_heard = now
                message = job.last_message or "running"
                frames = protocol.encode_progress(job.request_id, job.op, job.last_fraction, message)
                self.reply(front, job.identity, frames, False)
