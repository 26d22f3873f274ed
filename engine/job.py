"""The Job: one validated request on its way from the server's queue through a worker's handler.

It sits apart from the operation table (engine/operations.py) because every side needs it without
the others: the scheduler (engine/batching.py) queues Jobs, the handlers (engine/operations.py,
engine/rig_ops.py, engine/test_ops.py, engine/models/*_handlers.py) read them, and the server's
workers (engine/workers.py) report their progress. How a batch of Jobs is run is engine/jobs.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from engine.errors import EngineError


class JobCancelled(EngineError):
    code = "cancelled"


@dataclass
class Job:
    """One validated request on its way through a worker. Arrays are read-only views."""

    identity: bytes  # ZeroMQ routing id of the client (scopes cancel to its owner)
    request_id: str
    op: str
    args: dict
    arrays: dict[str, np.ndarray]
    received: float = field(default_factory=time.monotonic)
    # What the client last heard (the server's I/O loop sends a progress heartbeat after silence).
    last_heard: float = field(default_factory=time.monotonic)
    last_fraction: float = 0.0
    last_message: str = ""
    cancel_event: threading.Event = field(default_factory=threading.Event)
    progress_sink: Callable[[Job, float, str], None] | None = None

    @property
    def nbytes(self) -> int:
        return sum(array.nbytes for array in self.arrays.values())

    def progress(self, fraction: float, message: str = "") -> None:
        """Send a `progress` reply (fraction in [0, 1]) to the client."""
        if self.progress_sink is not None:
            self.progress_sink(self, fraction, message)

    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def check_cancelled(self) -> None:
        if self.cancel_event.is_set():
            raise JobCancelled(f"request {self.request_id} was cancelled by the client")
