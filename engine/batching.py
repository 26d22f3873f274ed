"""Dynamic batching: the queue between the server's I/O loop and its workers.

Only the I/O loop thread touches a Scheduler. Jobs wait per operation in arrival order. A batch is
handed out only when a worker is free, so under load requests pile up and batches grow on their own
(the point of dynamic batching, as in Triton's dynamic batcher); when the engine is idle a batchable
op waits at most `window` seconds after its oldest job for companions, then goes.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

from engine.operations import Job


@dataclass(frozen=True)
class BatchPolicy:
    window: float = 0.005  # seconds a lone batchable job waits for companions when a worker is idle
    max_batch: int = 32
    max_queued: int = 1024  # beyond this many jobs, or ...
    max_queued_bytes: int = 512 * 1024 * 1024  # ... this many array bytes, new jobs get `busy`


class Scheduler:
    def __init__(self, policy: BatchPolicy, batchable: dict[str, bool]) -> None:
        self.policy = policy
        self.batchable = batchable
        self.queues: dict[str, deque[Job]] = {}
        self.queued = 0
        self.queued_bytes = 0

    def full(self, incoming_bytes: int = 0) -> bool:
        """True when one more job (carrying `incoming_bytes` of arrays) would exceed the policy."""
        return (
            self.queued >= self.policy.max_queued or self.queued_bytes + incoming_bytes > self.policy.max_queued_bytes
        )

    def add(self, job: Job) -> None:
        self.queues.setdefault(job.op, deque()).append(job)
        self.queued += 1
        self.queued_bytes += job.nbytes

    def find(self, identity: bytes, request_id: str) -> Job | None:
        for queue in self.queues.values():
            for job in queue:
                if job.identity == identity and job.request_id == request_id:
                    return job
        return None

    def remove(self, identity: bytes, request_id: str) -> Job | None:
        """Take a still-queued job out (for cancel); None if it is not queued."""
        job = self.find(identity, request_id)
        if job is not None:
            self.queues[job.op].remove(job)
            self.queued -= 1
            self.queued_bytes -= job.nbytes
        return job

    def _ready(self, op: str, queue: deque[Job], now: float) -> bool:
        if not self.batchable.get(op, False) or len(queue) >= self.policy.max_batch:
            return True
        return now - queue[0].received >= self.policy.window

    def next_batch(self, now: float | None = None) -> list[Job] | None:
        """The ready batch whose oldest job has waited longest (fair across ops), or None."""
        now = time.monotonic() if now is None else now
        ready = [(queue[0].received, op) for op, queue in self.queues.items() if queue and self._ready(op, queue, now)]
        if not ready:
            return None
        _, op = min(ready)
        queue = self.queues[op]
        size = min(len(queue), self.policy.max_batch if self.batchable.get(op, False) else 1)
        batch = [queue.popleft() for _ in range(size)]
        self.queued -= size
        self.queued_bytes -= sum(job.nbytes for job in batch)
        return batch

    def wait_time(self, now: float | None = None) -> float | None:
        """Seconds until some waiting batch becomes ready (0 if one is), None if nothing waits."""
        now = time.monotonic() if now is None else now
        waits = [
            0.0 if self._ready(op, q, now) else q[0].received + self.policy.window - now
            for op, q in self.queues.items()
            if q
        ]
        return max(0.0, min(waits)) if waits else None
