"""Procedural motions on the SMPL-22 skeleton with captions and plausibility checks.

    from trainer.data.procedural import generate_procedural, check_plausibility
    for sample in generate_procedural(n=10, seed=0):
        sample.positions   # (T, 22, 3) float32, metres, Y up, 20 fps, canonical
        sample.captions    # several sentences
        check_plausibility(sample.positions)["plausible"]

Run `python -m trainer.data.procedural N SEED` to print captions and the plausibility statistics.
"""

from __future__ import annotations

from .generator import KINDS, PRIMITIVES, ProceduralSample, generate_procedural, sample_kind
from .plausibility import CHECKS, aggregate_plausibility, check_plausibility

__all__ = [
    "KINDS",
    "PRIMITIVES",
    "CHECKS",
    "ProceduralSample",
    "generate_procedural",
    "sample_kind",
    "check_plausibility",
    "aggregate_plausibility",
]
