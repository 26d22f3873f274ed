"""One function per table row: each turns a set of motions (real, reconstructed, generated) into metric
values over `repeats` random draws (captions and crops), as mean and 95% CI.

Rows plug in by taking motions: a new model (the motion-language model, the pose editor) only has to
produce `(T, 263)` features or poses; the metric code stays here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from engine.describe.joints import normalise
from engine.models.pose_codec import positions_to_sixd, sixd_to_positions
from engine.models.pose_editor import PoseEditor
from engine.motion.features import features_to_joints
from trainer.evaluate import metrics as M
from trainer.evaluate.data import CaptionedMotions, PosePairs, random_crop
from trainer.evaluate.embedding import (
    embed_captioned,
    embed_motions,
    embed_pairs,
    embed_poses,
    embed_texts,
    sample_captions,
)
from trainer.evaluate.evaluator_models import Evaluator
from trainer.evaluate.plausibility import plausibility
from trainer.evaluate.table import Row
from trainer.evaluate.text_metrics import caption_scores

# texts -> one generated `(T, 263)` raw feature array per text (the motion-language model's hook)
TextToMotion = Callable[[list[str], np.random.Generator], list[np.ndarray]]
MM_TEXTS, MM_GENERATIONS = 100, 10  # multimodality: 100 texts as Guo et al.; 10 generations (paper 30)


@dataclass
class MotionContext:
    data: CaptionedMotions
    evaluator: Evaluator
    repeats: int
    seed: int
    reference: tuple[np.ndarray, np.ndarray] | None = None  # FID statistics of the real motions

    def __post_init__(self) -> None:
        if self.reference is None:
            # One fixed draw of random crops of the real motions; each repeat of the Real row is
            # another draw, which is why its FID is small but not 0 (as in the papers).
            rng = np.random.default_rng(self.seed + 1_000_003)
            crops = [random_crop(m, rng) for m in self.data.features]
            self.reference = M.gaussian_statistics(embed_motions(self.evaluator, crops))


def summarize(runs: list[dict[str, float]]) -> dict[str, tuple[float, float]]:
    return {key: M.mean_confidence([run[key] for run in runs]) for key in runs[0]}


def caption_equal(chosen: list[str]) -> np.ndarray:
    """`(N, N)` bool: the captions drawn for motions i and j are the same text."""
    array = np.array(chosen)
    return array[:, None] == array[None, :]


def text_to_motion_draw(
    ctx: MotionContext,
    rng: np.random.Generator,
    motions: list[np.ndarray] | None = None,
    chosen: list[str] | None = None,
) -> dict[str, float]:
    """One draw: R-precision (caption-equal and paper-strict), FID, MM-Dist, diversity of `motions`
    (default: the real ones) against the test captions (`chosen`: the caption of each, else drawn)."""
    texts, motion_emb, chosen = embed_captioned(ctx.evaluator, ctx.data, rng, motions, chosen)
    order_seed = int(rng.integers(2**31))
    lenient = M.batched_retrieval(texts, motion_emb, np.random.default_rng(order_seed), caption_equal(chosen))
    strict = M.batched_retrieval(texts, motion_emb, np.random.default_rng(order_seed))
    return {
        **{k: lenient[k] for k in ("R@1", "R@2", "R@3", "MM-Dist")},
        "R@3 strict": strict["R@3"],
        "FID": M.frechet_distance(*M.gaussian_statistics(motion_emb), *ctx.reference),
        "Diversity": M.diversity(motion_emb, rng),
    }


def motion_to_text_draw(ctx: MotionContext, rng: np.random.Generator) -> dict[str, float]:
    """Real motions queried against the drawn captions (rows motions, columns texts)."""
    texts, motion_emb, chosen = embed_captioned(ctx.evaluator, ctx.data, rng)
    scores = M.batched_retrieval(motion_emb, texts, rng, caption_equal(chosen))
    return {k: scores[k] for k in ("R@1", "R@2", "R@3", "MM-Dist")}


def real_text_to_motion_row(ctx: MotionContext) -> Row:
    runs = [text_to_motion_draw(ctx, np.random.default_rng(ctx.seed + r)) for r in range(ctx.repeats)]
    return Row("Real", summarize(runs))


def motions_row(ctx: MotionContext, name: str, motions: list[np.ndarray], note: str = "") -> Row:
    """A row for motions aligned with the test set (e.g. reconstructions of each test motion)."""
    runs = [text_to_motion_draw(ctx, np.random.default_rng(ctx.seed + r), motions) for r in range(ctx.repeats)]
    return Row(name, summarize(runs), note)


def generated_row(ctx: MotionContext, name: str, generate: TextToMotion) -> Row:
    """Text-to-motion: one generation per drawn caption per repeat, plus multimodality."""
    runs = []
    for r in range(ctx.repeats):
        rng = np.random.default_rng(ctx.seed + r)
        chosen = sample_captions(ctx.data, rng)
        runs.append(text_to_motion_draw(ctx, rng, generate(chosen, rng), chosen))
    row = Row(name, summarize(runs))
    rng = np.random.default_rng(ctx.seed)
    texts = [caps[0] for caps in ctx.data.captions[:MM_TEXTS]]
    generations = [
        embed_motions(ctx.evaluator, [random_crop(m, rng) for m in generate(texts, rng)]) for _ in range(MM_GENERATIONS)
    ]
    row.values["MModality"] = (M.multimodality(np.stack(generations, axis=1), rng), 0.0)
    return row


def real_motion_to_text_row(ctx: MotionContext) -> Row:

    runs = [motion_to_text_draw(ctx, np.random.default_rng(ctx.seed + r)) for r in range(ctx.repeats)]
    row = Row("Real", summarize(runs), "first caption scored against the others")
    several = [caps for caps in ctx.data.captions if len(caps) > 1]
    if several:
        scores = caption_scores([c[0] for c in several], [c[1:] for c in several])
        row.values.update({k: (v, 0.0) for k, v in scores.items()})
    return row


def plausibility_row(name: str, joints: list[np.ndarray], note: str = "") -> Row:
    return Row(name, {k: (v, 0.0) for k, v in plausibility(joints).items()}, note)


@torch.no_grad()
def tokenizer_reconstructions(tokenizer, motions: list[np.ndarray]) -> tuple[list[np.ndarray], np.ndarray]:
    """Encode and decode each raw `(T, 263)` motion (cropped to a multiple of 4 frames): raw
    reconstructions and every token id used."""
    unit = tokenizer.config.downsample
    mean, std = tokenizer.mean.cpu().numpy(), tokenizer.std.cpu().numpy()
    outputs, ids_used = [], []
    for motion in motions:
        clip = motion[: len(motion) // unit * unit]
        ids, _ = tokenizer.encode(torch.from_numpy((clip - mean) / std).float()[None])
        outputs.append(tokenizer.decode(ids)[0].cpu().numpy() * std + mean)
        ids_used.append(ids.flatten().cpu().numpy())
    return outputs, np.concatenate(ids_used)


def pose_rows(evaluator: Evaluator, pairs: PosePairs, repeats: int, seed: int) -> list[Row]:
    """Real pairs: text->pair R-precision (equal texts count as hits) and MM-Dist."""
    texts = embed_texts(evaluator, pairs.texts)
    pair_emb = embed_pairs(evaluator, pairs.pose_a, pairs.pose_b)
    equal = caption_equal(pairs.texts)
    runs = [M.batched_retrieval(texts, pair_emb, np.random.default_rng(seed + r), equal) for r in range(repeats)]
    return [Row("Real", summarize(runs))]


def canonical_pairs(pairs: PosePairs) -> PosePairs:
    """Both poses of each pair as the pose editor represents them: canonical local rotations (IK)
    put back through FK on the default rest skeleton, A facing +Z.

    Joint errors of edits are measured in this representation for the editor and for "no edit"
    alike: a real pose's multi-child joints (pelvis -> hips, spine3 -> collars) keep their capture
    skeleton's rest directions, which the default skeleton cannot reproduce (FK(IK(B)) lies 30-40 mm
    from B on Bandai poses). Comparing FK output with raw B charges that offset to the editor only.
    """

    def canonical(poses: np.ndarray) -> np.ndarray:  # (N, 22, 3) -> (N, 22, 3); heading and pose kept
        sixd = positions_to_sixd(np.asarray(poses, np.float64), independent=False)
        return sixd_to_positions(torch.from_numpy(sixd)).numpy()

    return PosePairs(canonical(pairs.pose_a), canonical(pairs.pose_b), list(pairs.texts))


# (poses A `(Q, 22, 3)`, texts, samples N, rng) -> edited poses `(Q, N, 22, 3)` (the pose editor's hook)
PoseEdit = Callable[[np.ndarray, list[str], int, np.random.Generator], np.ndarray]
# (motions `(T_i, 263)` raw features, task 'prediction'|'inbetween', rng) -> completed motions, same lengths
MotionCompletion = Callable[[list[np.ndarray], str, np.random.Generator], list[np.ndarray]]


def pose_editor_row(
    evaluator: Evaluator, pairs: PosePairs, name: str, edit: PoseEdit, samples: int = 30, seed: int = 0
) -> Row:
    """PoseFix editing metrics: best-of-N and mean joint error (mm, pelvis-centred) of the edited poses
    against `pairs.pose_b`, and pose FID of the first sample per query against those B poses. Give
    `canonical_pairs(...)` to measure an editor that outputs FK on the default skeleton."""
    edited = np.asarray(edit(pairs.pose_a, pairs.texts, samples, np.random.default_rng(seed)), np.float32)
    centred = edited - edited[:, :, :1]
    errors = M.best_of_n_joint_error(centred, pairs.pose_b - pairs.pose_b[:, :1])
    fid = M.fid(embed_poses(evaluator, edited[:, 0]), embed_poses(evaluator, pairs.pose_b))
    return Row(
        name,
        {"Joint error (mm)": (1000.0 * errors["best"], 0.0), "Pose FID": (fid, 0.0)},
        f"best of {samples}; mean {1000.0 * errors['mean']:.0f} mm",
    )


def completion_row(ctx: MotionContext, name: str, complete: MotionCompletion, task: str) -> Row:
    """Prediction / in-between: ADE and FDE (m, joints flattened per frame, MotionGPT PredMetrics) of
    the completed test motions, then FID and diversity as in the text-to-motion rows."""

    motions = complete(ctx.data.features, task, np.random.default_rng(ctx.seed))
    errors = [
        M.ade_fde(np.asarray(features_to_joints(m)), np.asarray(features_to_joints(t)), task)
        for m, t in zip(motions, ctx.data.features)
    ]
    runs = [text_to_motion_draw(ctx, np.random.default_rng(ctx.seed + r), motions) for r in range(ctx.repeats)]
    values = {k: v for k, v in summarize(runs).items() if k in ("FID", "Diversity")}
    values.update(
        {"ADE": (float(np.mean([e[0] for e in errors])), 0.0), "FDE": (float(np.mean([e[1] for e in errors])), 0.0)}
    )
    return Row(name, values)


def copy_pose_a(pose_a: np.ndarray, texts: list[str], samples: int, rng: np.random.Generator) -> np.ndarray:
    """The trivial edit "return pose A" as a PoseEdit: `(Q, 22, 3)` -> `(Q, samples, 22, 3)`."""
    return np.repeat(np.asarray(pose_a)[:, None], samples, axis=1)


def load_pose_edit(directory) -> PoseEdit:
    """The bundle's pose editor (engine.models.pose_editor) as a PoseEdit: A positions are turned into
    canonical 6D rotations (PoseFix normalisation), edited, and put back through FK on the default
    skeleton (the skeleton the data is built on), pelvis at the origin."""

    editor = PoseEditor.load(directory)

    @torch.no_grad()
    def edit(pose_a: np.ndarray, texts: list[str], samples: int, rng: np.random.Generator) -> np.ndarray:
        torch.manual_seed(int(rng.integers(2**31)))
        sixd = torch.from_numpy(positions_to_sixd(normalise(np.asarray(pose_a, np.float64))))
        out = editor.sample(sixd, texts, samples)  # (Q, S, 22, 6)
        return sixd_to_positions(out.reshape(-1, *out.shape[2:])).reshape(*out.shape[:2], -1, 3).numpy()

    return edit
