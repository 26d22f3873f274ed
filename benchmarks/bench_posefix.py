"""PoseFix models on held-out pairs: pose editor accuracy, correction writer quality, paraphrases, latency.

    python benchmarks/bench_posefix.py --data DATA_DIR --editor RUN/posefix/model --writer RUN/feedback/model

DATA_DIR is a `motion-train data` folder; the held-out pairs are its mined test pairs (clips never
seen in training). Prints one table per part; every baseline is measured in the same run:
- editor: per-joint error (mm, FK on the default skeleton, pelvis at the origin) of the prior mean
  and of the best of N samples, against "return pose A" and against the mean edit made with
  another pair's text; ELBO (joints, rotations) per coefficient;
- writer: BLEU-4 and ROUGE-L (x100, greedy decoding) against the automatic reference, and against
  the control "another pair's reference"; round trip: the editor applied to the generated text,
  error to B, next to the editor on the reference text;
- paraphrases: hand-written instructions that occur in no training text; each is applied to the
  10 test poses with the most room to move the named joint in the named direction, and counts as
  a success when that joint moves at least 5 cm that way (target: >= 80 %);
- latency: one edit on CPU, p50/p90 over fresh texts (no embedding cache), target p50 < 50 ms.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from engine.models.correction_writer import CorrectionWriter
from engine.models.pose_codec import positions_to_sixd, sixd_to_positions
from engine.models.pose_editor import PoseEditor
from engine.motion.skeleton import JOINT_INDEX
from trainer.config import load_config
from trainer.data.short_commands import all_clauses
from trainer.evaluate.text_metrics import bleu, rouge_l
from trainer.stages.pair_data import load_mined_pairs, load_stage_pairs
from trainer.stages.posefix import PosefixTrainConfig

# (instruction, joint, axis, sign): canonical frame, Y up, +Z forward, +X the body's left.
PARAPHRASES = [
    ("Lift your left arm up high.", "left_wrist", 1, +1),
    ("Put your right hand up above your head.", "right_wrist", 1, +1),
    ("Let your left arm hang down by your side.", "left_wrist", 1, -1),
    ("Reach your right hand out in front of you.", "right_wrist", 2, +1),
    ("Pull your left hand back behind your body.", "left_wrist", 2, -1),
    ("Kick your right foot out in front.", "right_ankle", 2, +1),
    ("Lift your left knee up toward your chest.", "left_knee", 1, +1),
    ("Get your right foot up off the ground.", "right_ankle", 1, +1),
    ("Stretch your left arm out sideways.", "left_wrist", 0, +1),
    ("Swing your right hand out to the right side.", "right_wrist", 0, -1),
    ("Bring your left foot back behind you.", "left_ankle", 2, -1),
    ("Point your right elbow up at the ceiling.", "right_elbow", 1, +1),
    ("Drop your right hand down low.", "right_wrist", 1, -1),
    ("Step your left foot forward.", "left_ankle", 2, +1),
]
# A second set, written together with the short-command augmentation (trainer/data/short_commands.py)
# and never used to choose its vocabulary: a check that the first set did not steer it.
FRESH_PARAPHRASES = [
    ("Shoot your right hand up into the air.", "right_wrist", 1, +1),
    ("Let your left hand sink down to your thigh.", "left_wrist", 1, -1),
    ("Punch forward with your left fist.", "left_wrist", 2, +1),
    ("Pull your right elbow back like drawing a bow.", "right_elbow", 2, -1),
    ("Bring your right knee up to hip height.", "right_knee", 1, +1),
    ("Raise your left heel up toward your bottom.", "left_ankle", 1, +1),
    ("Plant your right foot further ahead of you.", "right_ankle", 2, +1),
    ("Open your right arm wide to the side.", "right_wrist", 0, -1),
    ("Bring your left hand across to your right shoulder.", "left_wrist", 0, -1),
    ("Slide your right foot out wide.", "right_ankle", 0, -1),
    ("Put your left hand on top of your head.", "left_wrist", 1, +1),
    ("Let your right arm drop loosely.", "right_wrist", 1, -1),
]
SUCCESS_M = 0.05


def joint_error_mm(pred: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Mean per-joint distance (mm) per pose: `(..., 22, 3)` metres -> `(...)`."""
    return (pred - truth).norm(dim=-1).mean(dim=-1) * 1000.0


def batched(total: int, size: int):
    for start in range(0, total, size):
        yield np.arange(start, min(start + size, total))


@torch.no_grad()
def bench_editor(editor: PoseEditor, a: torch.Tensor, b: torch.Tensor, texts: list[str], samples: int) -> dict:
    truth = sixd_to_positions(b)
    shuffled = texts[1:] + texts[:1]
    rows: dict[str, list] = {"mean": [], "best": [], "other_text": [], "elbo_joints": [], "elbo_rotations": []}
    torch.manual_seed(0)
    for index in batched(len(texts), 64):
        t = [texts[i] for i in index]
        rows["mean"].append(joint_error_mm(sixd_to_positions(editor.sample(a[index], t)), truth[index]))
        many = editor.sample(a[index], t, samples)  # (B, S, 22, 6)
        errors = joint_error_mm(
            sixd_to_positions(many.flatten(0, 1)).view(len(index), samples, 22, 3), truth[index, None]
        )
        rows["best"].append(errors.min(dim=1).values)
        other = editor.sample(a[index], [shuffled[i] for i in index])
        rows["other_text"].append(joint_error_mm(sixd_to_positions(other), truth[index]))
        out = editor(a[index], b[index], t)
        for key in ("elbo_joints", "elbo_rotations"):
            rows[key].append(out.metrics[key].repeat(len(index)))
    result = {k: float(torch.cat(v).mean()) for k, v in rows.items()}
    result["copy_a"] = float(joint_error_mm(sixd_to_positions(a), truth).mean())
    return result


@torch.no_grad()
def bench_writer(
    writer: CorrectionWriter, editor: PoseEditor, a: torch.Tensor, b: torch.Tensor, texts: list[str]
) -> dict:
    generated = []
    for index in batched(len(texts), 64):
        generated += writer.generate(a[index], b[index], "greedy")
    references = [[t] for t in texts]
    truth = sixd_to_positions(b)
    round_trip = torch.cat(
        [
            joint_error_mm(sixd_to_positions(editor.sample(a[i], [generated[j] for j in i])), truth[i])
            for i in batched(len(texts), 64)
        ]
    )
    with_reference = torch.cat(
        [
            joint_error_mm(sixd_to_positions(editor.sample(a[i], [texts[j] for j in i])), truth[i])
            for i in batched(len(texts), 64)
        ]
    )
    return {
        "bleu4": 100 * bleu(generated, references),
        "rouge_l": 100 * rouge_l(generated, references, beta=1.0),
        "bleu4_other": 100 * bleu(texts[1:] + texts[:1], references),
        "rouge_l_other": 100 * rouge_l(texts[1:] + texts[:1], references, beta=1.0),
        "round_trip_mm": float(round_trip.mean()),
        "reference_text_mm": float(with_reference.mean()),
        "copy_a_mm": float(joint_error_mm(sixd_to_positions(a), truth).mean()),
        "examples": generated[:5],
    }


def unseen_check(phrasings: list[tuple], training_texts: list[str]) -> None:
    """Raise if a phrasing occurs in a training text or can be written by the short-command
    vocabulary (trainer.data.short_commands): the paraphrases must be unseen."""
    corpus = " ".join(t.lower() for t in training_texts)
    clauses = set(all_clauses())
    for text, *_ in phrasings:
        bare = re.sub(r"[.]$", "", text.lower())
        if bare in corpus or bare in clauses:
            raise AssertionError(f"paraphrase {text!r} occurs in the training texts; it must be unseen")


@torch.no_grad()
def bench_paraphrases(
    editor: PoseEditor,
    a: torch.Tensor,
    training_texts: list[str],
    per_phrase: int = 10,
    phrasings: list[tuple] = PARAPHRASES,
) -> dict:
    unseen_check(phrasings, training_texts)
    positions = sixd_to_positions(a)
    rows = []
    for text, joint, axis, sign in phrasings:
        j = JOINT_INDEX[joint]
        room = sign * positions[:, j, axis]
        chosen = torch.argsort(room)[:per_phrase]  # lowest along the direction: most room to move
        edited = sixd_to_positions(editor.sample(a[chosen], [text] * len(chosen)))
        moved = sign * (edited[:, j, axis] - positions[chosen, j, axis])
        rows.append(
            {"text": text, "success": float((moved >= SUCCESS_M).float().mean()), "moved_cm": float(moved.mean() * 100)}
        )
    return {"rows": rows, "rate": float(np.mean([r["success"] for r in rows]))}


def training_texts(data: Path, run: Path | None) -> list[str]:
    """Every text the editor was trained on: rebuilt from the run's config.json when `run` is given
    (mined + random in-sequence pairs, flips, short commands), else the mined train pairs' texts."""
    if run is None:
        return [t for o in load_mined_pairs(data, "train").texts for t in o]

    config = load_config(PosefixTrainConfig, run / "config.json")
    train, _ = load_stage_pairs(config)
    return [t for o in train.texts for t in o]


def bench_latency(editor: PoseEditor, poses: np.ndarray, runs: int = 40) -> dict:
    torch.set_num_threads(1)
    times = {"rotations": [], "positions": []}
    editor.edit(positions_to_sixd(poses[:1])[0], "Warm up the model.")
    for i in range(runs):
        text = f"{PARAPHRASES[i % len(PARAPHRASES)][0]} Then hold it for {i} counts."  # new text: no cache hit
        sixd = positions_to_sixd(poses[i % len(poses)][None])[0]
        start = time.perf_counter()
        editor.edit(sixd, text)
        times["rotations"].append(time.perf_counter() - start)
        start = time.perf_counter()
        editor.edit(poses[i % len(poses)], text + " ")
        times["positions"].append(time.perf_counter() - start)
    return {
        k: {"p50_ms": 1000 * statistics.median(v), "p90_ms": 1000 * float(np.percentile(v, 90))}
        for k, v in times.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--editor", type=Path, required=True)
    parser.add_argument("--writer", type=Path)
    parser.add_argument("--pairs", type=int, default=500, help="held-out pairs used (random subset)")
    parser.add_argument("--samples", type=int, default=30, help="N of best-of-N (PoseFix: 30)")
    parser.add_argument(
        "--run",
        type=Path,
        help="the editor's run directory: its config.json rebuilds the exact "
        "training texts for the unseen-paraphrase check (default: the mined train texts)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    test = load_mined_pairs(args.data, "test")
    keep = np.sort(np.random.default_rng(0).permutation(len(test))[: args.pairs])
    a = torch.from_numpy(positions_to_sixd(test.pose_a[keep], independent=False))
    b = torch.from_numpy(positions_to_sixd(test.pose_b[keep], independent=False))
    texts = [test.texts[i][0] for i in keep]
    editor = PoseEditor.load(args.editor)
    results: dict = {"pairs": len(keep), "text_encoder": editor.config.text.kind}
    results["editor"] = e = bench_editor(editor, a, b, texts, args.samples)
    print(f"\nPose editor, {len(keep)} held-out test pairs (text encoder {editor.config.text.kind})")
    print("| answer | joint error (mm) | vs copy A |\n|---|---|---|")
    for name, key in (
        ("return pose A (baseline)", "copy_a"),
        ("mean edit, another pair's text", "other_text"),
        ("mean edit", "mean"),
        (f"best of {args.samples} samples", "best"),
    ):
        print(f"| {name} | {e[key]:.1f} | {e[key] / e['copy_a']:.2f} |")
    print(f"ELBO per coefficient: joints {e['elbo_joints']:.3f}, rotations {e['elbo_rotations']:.3f}")
    if args.writer:
        writer = CorrectionWriter.load(args.writer)
        results["writer"] = w = bench_writer(writer, editor, a, b, texts)
        print("\nCorrection writer (greedy), same pairs\n| text | BLEU-4 | ROUGE-L |\n|---|---|---|")
        print(f"| another pair's reference (control) | {w['bleu4_other']:.1f} | {w['rouge_l_other']:.1f} |")
        print(f"| generated | {w['bleu4']:.1f} | {w['rouge_l']:.1f} |")
        print("\nRound trip: editor on (A, text), error to B\n| text | joint error (mm) | vs copy A |\n|---|---|---|")
        for name, key in (
            ("none: return pose A", "copy_a_mm"),
            ("reference text", "reference_text_mm"),
            ("generated text", "round_trip_mm"),
        ):
            print(f"| {name} | {w[key]:.1f} | {w[key] / w['copy_a_mm']:.2f} |")
        for example in w["examples"][:3]:
            print(f"  e.g. {example}")
    train_texts = training_texts(args.data, args.run)
    all_a = torch.from_numpy(positions_to_sixd(test.pose_a, independent=False))
    for key, phrasings, title in (
        ("paraphrases", PARAPHRASES, "Paraphrases never seen in training"),
        ("fresh_paraphrases", FRESH_PARAPHRASES, "Second set, written with the augmentation"),
    ):
        results[key] = p = bench_paraphrases(editor, all_a, train_texts, phrasings=phrasings)
        print(
            f"\n{title} (10 poses each, success = named joint moves >= 5 cm the named way)"
            "\n| instruction | success | mean move (cm) |\n|---|---|---|"
        )
        for row in p["rows"]:
            print(f"| {row['text']} | {row['success']:.0%} | {row['moved_cm']:.1f} |")
        print(f"| all ({len(p['rows'])} phrasings) | {p['rate']:.0%} (target >= 80%) | |")
    results["latency"] = lat = bench_latency(editor, test.pose_a[:40])
    print(
        "\nLatency of one edit on CPU (1 thread, new text each time)\n| input | p50 (ms) | p90 (ms) | p50 / 50 ms target |"
        "\n|---|---|---|---|"
    )
    for name, row in lat.items():
        print(f"| pose as {name} | {row['p50_ms']:.1f} | {row['p90_ms']:.1f} | {row['p50_ms'] / 50:.2f} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
