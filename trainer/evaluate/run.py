"""`motion-train evaluate`: evaluate whatever a bundle holds and write one results table.

    motion-train evaluate --data out/data_bandai --evaluators runs/evaluator_bandai/model \
        --tokenizer runs/tokenizer_cpu/model --out runs/evaluate

Sections: text-to-motion (Real, tokenizer reconstruction, motion-language model), motion-to-text,
tokenizer reconstruction, physical plausibility, pose pairs (PoseFix). A component the bundle lacks
becomes a "skipped" line naming the command that trains it; the table never fails for it.
"""

from __future__ import annotations

import hashlib
import shlex
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from engine.bundle import load_bundle
from engine.errors import InputError
from engine.models.tokenizer import MotionTokenizer
from engine.motion.features import features_to_joints
from trainer.evaluate import metrics as M
from trainer.evaluate import rows as R
from trainer.evaluate.data import PosePairs, data_version, load_captioned_split, load_pairs
from trainer.evaluate.evaluator_models import EVALUATOR_VERSION, Evaluator
from trainer.evaluate.lm_rows import LanguageModelTasks, motion_to_text_row
from trainer.evaluate.table import Report, Section, write_table

EDIT_QUERIES, EDIT_SAMPLES = 500, 30  # pose-editor queries drawn from the split; samples per query (PoseFix)
T2M_COLUMNS = ["R@1", "R@2", "R@3", "R@3 strict", "FID", "MM-Dist", "Diversity", "MModality"]
M2T_COLUMNS = ["R@1", "R@2", "R@3", "MM-Dist", "BLEU-1", "BLEU-4", "ROUGE-L", "CIDEr"]
TOKENIZER_COLUMNS = ["MPJPE (mm)", "MPJPE root-aligned (mm)", "FID", "Code usage", "Perplexity"]
PLAUSIBILITY_COLUMNS = ["skating", "penetration_m", "jitter"]
POSE_COLUMNS = ["R@1", "R@2", "R@3", "MM-Dist", "Joint error (mm)", "Pose FID"]
RETRIEVAL_NOTE = (
    "R@k counts a hit when the retrieved item's caption text equals the query's: Bandai has only "
    "70 label combinations (10 contents x 7 styles), so several test motions share a caption and the "
    "paper protocol (only the motion's own index counts, 'R@3 strict') penalises ties it cannot break. "
    "Otherwise as Guo et al.: groups of 32, one random caption and crop per motion per repeat."
)
SCALE_NOTE = (
    "Embeddings are unit vectors (InfoNCE evaluator), so distances lie in [0, 2]: FID, MM-Dist and "
    "diversity are not on the scale of Guo et al.'s evaluator (HumanML3D Real: R@3 0.797 under the strict "
    "protocol over free-form captions, MM-Dist 2.97, diversity 9.50); only rows of one table compare."
)


@dataclass
class EvaluationRequest:
    data: Path
    bundle: Path | None = None
    evaluators: Path | None = None
    tokenizer: Path | None = None
    out: Path = Path("runs/evaluate")
    repeats: int = 20
    split: str = "test"
    seed: int = 0
    source: str | None = None  # only motions / pairs of this meta.jsonl source (e.g. "procedural")


def _component_dir(request: EvaluationRequest, name: str, override: Path | None) -> Path | None:
    if override is not None:
        return override
    if request.bundle is None:
        return None

    bundle = load_bundle(request.bundle)
    return bundle.components[name].path if bundle.has(name) else None


def _joints(features: list[np.ndarray]) -> list[np.ndarray]:

    return [np.asarray(features_to_joints(f)) for f in features]


def evaluate_bundle(request: EvaluationRequest) -> Path:
    """Compute every available row and write `out/results.md` + `out/results.json`."""
    if request.repeats < 1:
        raise InputError(f"--repeats={request.repeats}: give at least 1 repeat")
    torch.set_num_threads(1)  # see trainer.stages.evaluator: one thread is fastest on a shared CPU
    evaluators = _component_dir(request, "evaluators", request.evaluators)
    if evaluators is None or not (evaluators / "text_motion").is_dir():
        raise InputError(
            "no text/motion evaluator: pass --evaluators DIR (made by `motion-train evaluator`) "
            "or a --bundle whose manifest lists 'evaluators'"
        )
    data = load_captioned_split(request.data, request.split, source=request.source)
    evaluator = Evaluator.load(evaluators / "text_motion")
    ctx = R.MotionContext(data, evaluator, request.repeats, request.seed)
    t2m = Section("Text-to-motion", T2M_COLUMNS, [R.real_text_to_motion_row(ctx)], [RETRIEVAL_NOTE, SCALE_NOTE])
    m2t = Section(
        "Motion-to-text",
        M2T_COLUMNS,
        [R.real_motion_to_text_row(ctx)],
        [
            "R@k: each motion against 32 drawn captions, hits by equal caption text as above; "
            "BLEU/ROUGE-L x100, CIDEr-D x100 (pycocoevalcap formulas, hand-written)."
        ],
    )
    tok = Section("Tokenizer reconstruction", TOKENIZER_COLUMNS)
    plaus = Section(
        "Physical plausibility",
        PLAUSIBILITY_COLUMNS,
        [R.plausibility_row("Real", _joints(data.features))],
        [
            "skating: share of foot-contact transitions sliding > 2.5 cm (GMD); penetration_m: mean depth of "
            "the lowest joint below the floor (m); jitter: mean jerk (m/s^3)."
        ],
    )
    versions = {
        "data": data_version(request.data),
        "split": f"{request.split}{' / ' + request.source if request.source else ''} ({len(data.ids)} motions)",
        "evaluator": f"{EVALUATOR_VERSION}, weights sha1 {_digest(evaluators / 'text_motion' / 'model.safetensors')}",
        "repeats": str(request.repeats),
    }
    _tokenizer_rows(request, ctx, t2m, tok, plaus, versions)
    _language_model_rows(request, ctx, t2m, m2t, versions)
    sections = [t2m, m2t, tok, plaus, _pose_section(request, evaluators, versions)]
    report = Report("Evaluation", sections, versions, _command_line(request))
    return write_table(report, Path(request.out) / "results")


def _command_line(request: EvaluationRequest) -> str:
    """The command that reproduces this table."""
    words = ["motion-train", "evaluate", "--data", str(request.data)]
    for flag, value in (
        ("--bundle", request.bundle),
        ("--evaluators", request.evaluators),
        ("--tokenizer", request.tokenizer),
    ):
        if value is not None:
            words += [flag, str(value)]
    if request.source:
        words += ["--source", request.source]
    words += [
        "--split",
        request.split,
        "--repeats",
        str(request.repeats),
        "--seed",
        str(request.seed),
        "--out",
        str(request.out),
    ]
    return " ".join(shlex.quote(w) for w in words)


def _tokenizer_rows(request, ctx, t2m: Section, tok: Section, plaus: Section, versions: dict) -> None:
    path = _component_dir(request, "tokenizer", request.tokenizer)
    if path is None:
        reason = "no tokenizer in the bundle (train one with `motion-train tokenizer`)"
        tok.skipped.append(reason)
        t2m.skipped.append("Tokenizer reconstruction: " + reason)
        return

    tokenizer = MotionTokenizer.load(path)
    recon, ids = R.tokenizer_reconstructions(tokenizer, ctx.data.features)
    name = f"Tokenizer reconstruction ({path.name if path.name != 'model' else path.parent.name})"
    row = R.motions_row(ctx, name, recon)
    t2m.rows.append(row)
    real_joints = _joints([f[: len(r)] for f, r in zip(ctx.data.features, recon)])
    recon_joints = _joints(recon)
    usage = M.codebook_usage(ids, tokenizer.config.code_num)
    mpjpe = float(np.mean([M.mpjpe(a, b) for a, b in zip(recon_joints, real_joints)])) * 1000.0
    aligned = float(np.mean([M.mpjpe(a - a[:, :1], b - b[:, :1]) for a, b in zip(recon_joints, real_joints)])) * 1000.0
    tok.rows.append(
        R.Row(
            name,
            {
                "MPJPE (mm)": (mpjpe, 0.0),
                "MPJPE root-aligned (mm)": (aligned, 0.0),
                "FID": row.values["FID"],
                "Code usage": (usage["usage"], 0.0),
                "Perplexity": (usage["perplexity"], 0.0),
            },
        )
    )
    tok.notes.append(
        f"{len(ctx.data.ids)} {request.split} motions encoded whole (cropped to a multiple of 4 frames); "
        "MPJPE on joints recovered from the features, with the root trajectory (errors of the integrated "
        "root velocities accumulate) and with the pelvis subtracted per frame; FID as in text-to-motion."
    )
    plaus.rows.append(R.plausibility_row(name, recon_joints))
    versions["tokenizer"] = (
        f"{path} ({tokenizer.config.code_num} codes, weights sha1 {_digest(path / 'model.safetensors')})"
    )


def _digest(path: Path) -> str:

    return hashlib.sha1(path.read_bytes()).hexdigest()[:12] if path.is_file() else "missing"


def _language_model_rows(request, ctx, t2m: Section, m2t: Section, versions: dict) -> None:
    lm_dir = _component_dir(request, "language_model", None)
    tokenizer_dir = _component_dir(request, "tokenizer", request.tokenizer)
    if lm_dir is None or tokenizer_dir is None:
        reason = (
            "needs a motion-language model and a tokenizer in the bundle "
            "(`motion-train pretrain && motion-train instruct`, `motion-train tokenizer`)"
        )
        t2m.skipped.append("Text-to-motion model: " + reason)
        m2t.skipped.append("Motion-to-text model: " + reason)
        return
    tasks = LanguageModelTasks(lm_dir, tokenizer_dir)
    t2m.rows.append(R.generated_row(ctx, "Motion-language model", tasks.text_to_motion))
    t2m.notes.append(
        f"Motion-language model: the model picks the length; {R.MM_GENERATIONS} generations for "
        f"MModality (Guo et al.: 30); prompts with no motion: {tasks.failures}."
    )
    m2t.rows.append(motion_to_text_row(ctx, "Motion-language model", tasks.motion_to_text(ctx.data.features)))
    m2t.notes.append("Motion-language model: R@k hits a motion with the same caption set as the captioned one.")
    versions["language_model"] = f"{lm_dir} (weights sha1 {_digest(lm_dir / 'model.safetensors')})"


def _pose_section(request, evaluators: Path, versions: dict) -> Section:
    section = Section("Pose pairs (PoseFix)", POSE_COLUMNS)
    if not (evaluators / "text_pair").is_dir():
        section.skipped.append("no text/pose-pair evaluator in the evaluators directory (`motion-train evaluator`)")
        return section
    try:
        pairs = load_pairs(request.data, request.split, request.source)
    except InputError as error:
        section.skipped.append(str(error))
        return section
    evaluator = Evaluator.load(evaluators / "text_pair")
    section.rows += R.pose_rows(evaluator, pairs, request.repeats, request.seed)
    picks = np.random.default_rng(request.seed).permutation(len(pairs.texts))[:EDIT_QUERIES]
    subset = R.canonical_pairs(PosePairs(pairs.pose_a[picks], pairs.pose_b[picks], [pairs.texts[i] for i in picks]))
    section.rows.append(R.pose_editor_row(evaluator, subset, "No edit (B := A)", R.copy_pose_a, 1, request.seed))
    editor = _component_dir(request, "pose_editor", None)
    if editor is None:
        section.skipped.append("Pose editor: no pose_editor in the bundle (`motion-train posefix`)")
    else:
        section.rows.append(
            R.pose_editor_row(evaluator, subset, "Pose editor", R.load_pose_edit(editor), EDIT_SAMPLES, request.seed)
        )
        section.notes.append(
            f"Pose editor: {EDIT_SAMPLES} samples per pair (PoseFix: 30); joint error of the best "
            "sample, pose FID of the first."
        )
        versions["pose_editor"] = f"{editor} (weights sha1 {_digest(editor / 'model.safetensors')})"
    section.notes.append(
        f"Edits: {len(picks)} random pairs, poses in the editor's representation (canonical "
        "rotations, FK on the default skeleton) for 'No edit' and the editor alike; see "
        "trainer.evaluate.rows.canonical_pairs."
    )
    section.notes.append(
        f"{len(pairs.texts)} {request.split} pairs; text->pair R@k in groups of 32, hits by equal "
        "correction text; joint error on pelvis-centred poses; pose FID on the pair evaluator's "
        "pose-encoder features."
    )
    versions["pairs"] = f"{len(pairs.texts)} {request.split} pairs"
    return section
