"""The server's worker threads: each runs one batch at a time and turns its outcomes into replies.

Apart from the I/O loop (engine/server.py) because this is the side that never touches the front
socket: a worker takes a batch from a queue, calls the op's handler, and sends
`[kind, identity, request id, reply frames...]` back over an inproc PUSH->PULL pipe, which the
loop forwards to the client (ZeroMQ guide, ch. 3-4: only one thread may use a socket). Kinds:
PROGRESS (a `progress` reply), FINAL (the request's last reply), DONE (the worker is free again;
no other frames).

Batches isolate items: when one model call of a batch fails for several of its jobs, each of
those jobs is run again alone, so a bad request gets its own error and the others their answers.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

import zmq

from engine import protocol
from engine.errors import EngineError
from engine.job import Job
from engine.operations import Operation

logger = logging.getLogger(__name__)

PROGRESS, FINAL, DONE = b"P", b"F", b"D"  # first frame of a pipe message


class WorkerPool:
    """`count` worker threads fed from one queue of batches (`submit`), answering over the pipe."""

    def __init__(
        self,
        context: zmq.Context,
        pipe_endpoint: str,
        count: int,
        operations: Callable[[], dict[str, Operation]],
        counters: dict[str, int],
        limits: protocol.Limits,
        stopping: threading.Event,
    ) -> None:
        """`operations()` gives the server's table as it stands (it is replaced once the models
        load); `counters` is the server's (this adds batch_retries); `stopping` is set when the
        server stops, so that a cancelled job is answered `shutting_down` instead of `cancelled`."""
        self.context = context
        self.pipe_endpoint = pipe_endpoint
        self.count = count
        self.operations = operations
        self.counters = counters
        self.limits = limits
        self.stopping = stopping
        self.jobs: queue.Queue = queue.Queue()

    def start(self) -> None:
        """Start the threads; the loop must have bound its PULL end of the pipe first."""
        for i in range(self.count):
            threading.Thread(target=self._worker, name=f"engine-worker-{i}", daemon=True).start()

    def submit(self, batch: list[Job]) -> None:
        self.jobs.put(batch)

    def stop(self) -> None:
        """Each thread ends after the batch it is running."""
        for _ in range(self.count):
            self.jobs.put(None)

    def _worker(self) -> None:
        push = self.context.socket(zmq.PUSH)
        push.linger = 0
        push.connect(self.pipe_endpoint)

        def progress(job: Job, fraction: float, message: str) -> None:
            job.last_fraction, job.last_message = fraction, message
            push.send_multipart(
                [
                    PROGRESS,
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
                for job, frames in zip(batch, self.run_batch(batch)):
                    push.send_multipart([FINAL, job.identity, job.request_id.encode(), *frames])
            except Exception:  # keep the worker alive whatever happens
                logger.exception("worker failed on a batch of %d job(s)", len(batch))
            finally:
                push.send_multipart([DONE])
        push.close(linger=0)

    def _call(self, jobs: list[Job]) -> list:
        """The op's handler on `jobs`; an exception of the whole call becomes every job's outcome."""
        try:
            results = self.operations()[jobs[0].op].handler(jobs)
            if len(results) != len(jobs):
                raise RuntimeError(f"handler returned {len(results)} outcomes for {len(jobs)} jobs")
            return list(results)
        except Exception as error:  # answered per job below
            if not isinstance(error, EngineError):
                logger.exception("handler of '%s' failed", jobs[0].op)
            return [error] * len(jobs)

    def run_batch(self, batch: list[Job]) -> list[list[bytes]]:
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
        return [reply_frames(job, outcomes.get(id(job)), self.limits, self.stopping.is_set()) for job in batch]


def reply_frames(job: Job, outcome: object, limits: protocol.Limits, stopping: bool = False) -> list[bytes]:
    """The final reply to `job` for the handler's `outcome`: `(result, arrays)`, an exception, or
    None (not run). A cancelled job is answered `cancelled` (`shutting_down` while `stopping`); a
    reply over `limits` becomes a `too_large` error."""
    if job.cancelled():
        if stopping:
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
