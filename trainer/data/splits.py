"""Deterministic train/val/test splits by clip, stratified over label cells.

A clip and its mirror always share a split (the caller assigns the base clip and copies the split
to `M<id>`), so no test motion has a left/right twin in training. Within each cell (e.g. Bandai
content x style) the clips are shuffled by a generator seeded from (seed, cell name), so adding a
cell never reshuffles the others, and cut so that val and test each get at least one clip: the
test split then covers every cell. Cells with fewer than three clips cannot be split that way;
they are pooled into one cell (SMALL_CELLS) and split together, unless the caller names them in
`train_cells`: those clips all go to train (Bandai dataset-1's contents recorded once or twice,
which would otherwise be held out whole and never trained on).

The ids here are split units: the builder passes one id per source clip (a segmented clip's
segments share it) and copies the split to the segments and to every mirror.
"""

from __future__ import annotations

import math
import zlib
from collections import defaultdict
from collections.abc import Collection, Mapping

import numpy as np

SPLITS = ("train", "val", "test")
DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)
MIN_SPLIT_CLIPS = 3  # a cell needs this many clips to give train, val and test one each
SMALL_CELLS = "<cells with fewer than 3 clips>"


def _cell_counts(size: int, fractions: tuple[float, float, float]) -> tuple[int, int, int]:
    """How many clips of a cell go to (train, val, test)."""
    if size < MIN_SPLIT_CLIPS:  # only the pool of small cells can be this small: train first
        return size, 0, 0
    n_val = max(1, math.floor(size * fractions[1] + 0.5))
    n_test = max(1, math.floor(size * fractions[2] + 0.5))
    return size - n_val - n_test, n_val, n_test


def split_by_cell(
    cells: Mapping[str, str],
    seed: int = 0,
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS,
    train_cells: Collection[str] = (),
) -> dict[str, str]:
    """Assign each clip id to 'train', 'val' or 'test'.

    `cells` maps clip id -> cell name (clips without labels can share one cell). The result is a
    pure function of (the set of ids, their cells, seed, fractions): input order does not matter.
    Clips of a cell in `train_cells` that has fewer than MIN_SPLIT_CLIPS clips all go to train.
    """
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
        raise ValueError(f"fractions must be three non-negative numbers summing to 1, got {fractions}")
    members: dict[str, list[str]] = defaultdict(list)
    for clip_id, cell in cells.items():
        members[cell].append(clip_id)
    assignment: dict[str, str] = {}
    for cell in [c for c, ids in members.items() if len(ids) < MIN_SPLIT_CLIPS and c != SMALL_CELLS]:
        if cell in train_cells:
            assignment.update(dict.fromkeys(members.pop(cell), "train"))
        else:
            members[SMALL_CELLS] += members.pop(cell)
    for cell, ids in members.items():
        rng = np.random.default_rng([seed, zlib.crc32(cell.encode("utf-8"))])
        ids = sorted(ids)
        order = rng.permutation(len(ids))
        n_train, n_val, _ = _cell_counts(len(ids), fractions)
        for rank, index in enumerate(order):
            split = "train" if rank < n_train else "val" if rank < n_train + n_val else "test"
            assignment[ids[index]] = split
    return assignment
