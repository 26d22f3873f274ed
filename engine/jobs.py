"""How a batch of jobs is run: one bad item fails only itself, and one seeding rule for every model.

    outcomes = run_each(jobs, fn)                       # fn(job) per job; an exception answers that job only
    outcomes = run_batched(jobs, prepare, run_group, sampling_key=...)

`run_batched` is the path of every batchable model op (text_to_motion, motion_to_text, edit_pose,
describe_pose, describe_change): each job is first checked and turned into the model's input by
`prepare(job)` (a job whose input is bad gets its own error there), then the prepared jobs are
grouped and each group is answered by ONE model call, `run_group(jobs, items)`. If that call fails,
only the jobs of that group get the error.

The seeding rule (every model, every op):
- A request with a `seed` runs alone, in its own model call, and its random draws come from that seed
  only: the call runs under `seeded(seed)` (torch's global generator forked and set from the seed, so
  the caller's stream is untouched), or the model's own seed argument that does the same
  (`Sampling(seed=...)` of the motion-language model; `numpy.random.default_rng(seed)` of the
  rule-based describers). Its answer therefore never depends on what it was batched with.
- Requests without a seed whose sampling settings are equal (`sampling_key`) may share one model call;
  their draws come from torch's global generator as it stands.
- Greedy / mean answers (motion_to_text and edit_pose without a seed, `deterministic` describers) use
  no random draws at all.
Serve one worker per model (the default) so that a seeded request's answer is repeatable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

Outcome = tuple[dict, dict]  # (result, arrays)


def run_each(jobs: Sequence[Any], fn: Callable[[Any], Any]) -> list:
    """`fn(job)` for every job, in order; a job whose call raises gets its exception as its outcome.

    The job's cancel flag is checked first (`job.check_cancelled()`), so a cancelled job ends
    `cancelled` without running.
    """
    outcomes: list = []
    for job in jobs:
        try:
            job.check_cancelled()
            outcomes.append(fn(job))
        except Exception as error:  # noqa: BLE001 - this job's own error; the batch goes on
            outcomes.append(error)
    return outcomes


def sampling_key(job: Any, names: Sequence[str]) -> tuple | None:
    """The group of a job under the seeding rule: None (alone) when seeded, else its sampling args."""
    if job.args.get("seed") is not None:
        return None
    return tuple(job.args.get(name) for name in names)


def run_batched(
    jobs: Sequence[Any],
    prepare: Callable[[Any], Any],
    run_group: Callable[[list, list], list],
    key: Callable[[Any], object | None] = lambda job: sampling_key(job, ()),
    label: str = "",
) -> list:
    """Answer `jobs` with one model call per group of equal `key` (None: the job runs alone).

    `prepare(job) -> item` checks one job and builds its model input (raise for a bad job: only that
    job fails); `run_group(jobs, items) -> [outcome, ...]` answers one group in one call (an
    exception fails only that group). Progress goes to each job as its group starts.
    """
    prepared = run_each(jobs, prepare)
    outcomes: dict[int, object] = {i: p for i, p in enumerate(prepared) if isinstance(p, Exception)}
    groups: dict[object, list[int]] = {}
    for index, job in enumerate(jobs):
        if index not in outcomes:
            group = key(job)
            groups.setdefault(("alone", index) if group is None else ("shared", group), []).append(index)
    done = 0
    for indices in groups.values():
        members = [jobs[i] for i in indices]
        try:
            for job in members:
                job.check_cancelled()
                if label:
                    job.progress(done / len(jobs), f"{label}: {len(members)} request(s) in this model call")
            results = run_group(members, [prepared[i] for i in indices])
            outcomes.update(zip(indices, results))
        except Exception as error:  # noqa: BLE001 - the group's call failed; the other groups go on
            outcomes.update({i: error for i in indices})
        done += len(indices)
    return [outcomes[i] for i in range(len(jobs))]


@contextmanager
def seeded(seed: int | None) -> Iterator[None]:
    """Run a block with torch's global generator set from `seed` (forked: restored afterwards).

    With `seed` None the block draws from the global generator as it stands (nothing is forked).
    """
    if seed is None:
        yield
        return
    import torch  # noqa: PLC0415 - torch costs ~1.7 s; this module is on the server's start-up path

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        yield
