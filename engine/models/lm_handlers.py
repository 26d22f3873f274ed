"""The server's handlers of the motion-language model ops: text_to_motion, motion_to_text, predict,
inbetween. Thin: each turns requests into calls of the task functions (engine/models/motion_tasks.py,
the one API the CLI and the benchmarks call too) and their answers into replies.

Every handler is `handler(models, jobs) -> [(result, arrays) | Exception]` (engine/operations.py),
with `models` the bundle's `engine.bundle.Models`. A job whose input is bad gets its own error and
the others are answered (engine/jobs.py). Motion replies carry exactly one array, `positions`
`(frames, 22, 3)` float32 metres, Y up, 20 fps, and `frames` and `fps` in the result.

- text_to_motion refuses prompts far from every training caption (`unknown_prompt`) unless `anyway`.
- text_to_motion, motion_to_text: batched; seeded jobs run alone, unseeded ones with equal sampling
  settings share one model call (the seeding rule of engine/jobs.py).
- predict, inbetween: one model call per job (each has its own context).
- The optional `text` of predict and inbetween is accepted but not used: the trained prompts
  (trainer/data/templates/predict.json, inbetween.json) carry no caption.
See docs/model_ops.md for how the add-on should place these replies.
"""

from __future__ import annotations

import numpy as np

from engine.errors import EngineError
from engine.jobs import run_batched, run_each, sampling_key
from engine.models import motion_tasks as tasks

SAMPLING_ARGS = ("temperature", "top_k", "top_p")


def _motion_reply(positions: np.ndarray) -> tuple[dict, dict]:
    return {"frames": int(len(positions)), "fps": 20.0}, {"positions": positions}


def text_to_motion(models, jobs: list) -> list:
    """`text` (+ optional `frames`, sampling args, `seed`, `anyway`) -> `positions` `(frames, 22, 3)`.

    A prompt the bundle's prompt gate (engine/models/prompt_gate.py) finds far from every training
    caption is refused with `unknown_prompt`, naming the closest things the model can do, unless
    `anyway` is true.
    """
    lm, vq = models.language()
    gate = models.prompt_gate()  # None for a bundle without one: prompts are not checked
    if gate is not None:  # judge the batch's prompts in one encoder call; prepare() then finds them judged
        checked = [j.args.get("text") for j in jobs if not j.args.get("anyway")]
        try:
            gate.judge([t for t in checked if isinstance(t, str) and t.strip()])
        except EngineError:
            pass  # e.g. the sentence encoder is not installed: each checked job gets the error in prepare()

    def prepare(job) -> tuple[str, int | None]:
        frames = job.args.get("frames")
        if frames is not None:
            tasks.codes_for(lm, int(frames), "text_to_motion")
        text = tasks.check_text(job.args.get("text"))
        if gate is not None and not job.args.get("anyway"):
            gate.check(text)  # UnknownPromptError (code unknown_prompt, details.closest) for this job only
        return text, None if frames is None else int(frames)

    def run_group(members: list, items: list) -> list:
        texts, frames = zip(*items)
        motions = tasks.generate(lm, vq, texts, frames, tasks.sampling_of(members[0].args))
        return [_motion_reply(m) for m in motions]

    return run_batched(jobs, prepare, run_group, lambda job: sampling_key(job, SAMPLING_ARGS), "text to motion")


def motion_to_text(models, jobs: list) -> list:
    """`motion` `(T, 22, 3)` -> `text`: greedy without a seed (the most likely caption); a seed asks
    for one sampled caption."""
    lm, vq = models.language()

    def run_group(members: list, motions: list) -> list:
        seeded = members[0].args.get("seed") is not None
        texts = tasks.caption(lm, vq, motions, tasks.sampling_of(members[0].args, greedy=not seeded))
        return [({"text": text}, {}) for text in texts]

    return run_batched(
        jobs, lambda job: tasks.check_motion(job.arrays["motion"], "motion"), run_group, label="motion to text"
    )


def predict(models, jobs: list) -> list:
    """`motion` `(T, 22, 3)` (+ `frames`, default 40) -> `positions`: only the new frames."""
    lm, vq = models.language()

    def work(job) -> tuple[dict, dict]:
        job.progress(0.05, "predict: encoding the context")
        frames = int(job.args.get("frames", 40))
        reply = _motion_reply(tasks.continue_motion(lm, vq, job.arrays["motion"], frames, tasks.sampling_of(job.args)))
        job.progress(1.0, "predict: done")
        return reply

    return run_each(jobs, work)


def inbetween(models, jobs: list) -> list:
    """`start`, `end` `(T, 22, 3)` + `frames` -> `positions`: the frames strictly between them."""
    lm, vq = models.language()

    def work(job) -> tuple[dict, dict]:
        job.progress(0.05, "inbetween: encoding the context")
        sampling = tasks.sampling_of(job.args)
        gap = tasks.fill_gap(lm, vq, job.arrays["start"], job.arrays["end"], int(job.args["frames"]), sampling)
        job.progress(1.0, "inbetween: done")
        return _motion_reply(gap)

    return run_each(jobs, work)
