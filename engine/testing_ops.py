"""Test-only operations, served with `motion-engine serve --enable-test-ops`: `sleep` (a slow,
cancellable job with progress) and `synthetic_forward` (a batchable fake model call).

They let the server tests and `motion-engine bench` drive queueing, progress, cancel and batching
through the real server without loading a model; the table (engine/operations.py) adds them only
when asked. The file is not named test_*.py so that pytest never collects it.
"""

from __future__ import annotations

import time

import numpy as np

from engine.job import Job
from engine.jobs import Outcome


def sleep(job: Job) -> Outcome:
    """A slow job for tests: `steps` progress messages over `seconds`, cancellable at each step."""
    seconds, steps = float(job.args["seconds"]), int(job.args.get("steps", 10))
    for step in range(steps):
        job.check_cancelled()
        job.cancel_event.wait(seconds / steps)  # wakes at once on cancel
        job.progress((step + 1) / steps, f"step {step + 1} of {steps}")
    job.check_cancelled()
    return {"slept": seconds}, {}


def synthetic_forward(jobs: list[Job]) -> list:
    """Mimics a model forward on an accelerator: a fixed cost per call plus a cost per item.

    It sleeps (it does not burn CPU), like a GPU kernel the host waits on; the costs come from the
    first job's args (defaults 20 ms per call, 1 ms per item).
    """
    fixed_ms = float(jobs[0].args.get("fixed_ms", 20.0))
    item_ms = float(jobs[0].args.get("item_ms", 1.0))
    time.sleep((fixed_ms + item_ms * len(jobs)) / 1000.0)
    return [
        ({"batch_size": len(jobs)}, {"y": np.asarray(job.arrays["x"]) * 2} if "x" in job.arrays else {}) for job in jobs
    ]
