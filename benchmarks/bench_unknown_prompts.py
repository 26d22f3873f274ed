"""How well the prompt gate tells prompts the model can do from prompts it cannot.

    python benchmarks/bench_unknown_prompts.py [--bundle DIR] [--prompts FILE] [--show]

The prompts of benchmarks/prompts/known_unknown_prompts.json (written the way animators write, none
from the training texts; `known`: motions the training data shows, `unknown`: motions it does not)
are judged by the bundle's prompt gate (engine/models/prompt_gate.py). Printed: the share of each
set judged right, the prompts judged wrong with their score and nearest caption, and, for reference,
the share of the prompt-following benchmark's held-out prompts (text_to_motion_held_out.json, all
motions the model was trained on) that pass. The threshold was chosen on known_unknown_dev.json
(`motion-train prompt-gate`); pass `--prompts benchmarks/prompts/known_unknown_dev.json` to see it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.bundle import load_bundle, models_of  # noqa: E402

PROMPTS_PATH = ROOT / "benchmarks" / "prompts" / "known_unknown_prompts.json"
HELD_OUT_PATH = ROOT / "benchmarks" / "prompts" / "text_to_motion_held_out.json"
DEFAULT_BUNDLE = ROOT / "engine" / "assets" / "default_bundle"


def load_sets(path: Path = PROMPTS_PATH) -> tuple[list[str], list[str]]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return list(data["known"]), list(data["unknown"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, default=DEFAULT_BUNDLE)
    parser.add_argument("--prompts", type=Path, default=PROMPTS_PATH)
    parser.add_argument("--show", action="store_true", help="print every prompt's score")
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    gate = models_of(load_bundle(args.bundle)).prompt_gate()
    if gate is None:
        print(f"{args.bundle} has no prompt_gate component; build it with `motion-train prompt-gate`")
        return 2
    known, unknown = load_sets(args.prompts)
    started = time.perf_counter()
    known_verdicts, unknown_verdicts = gate.judge(known), gate.judge(unknown)
    seconds = time.perf_counter() - started
    print(f"prompt gate of {args.bundle} (threshold {gate.threshold:.3f}), prompts {args.prompts.name}")
    for label, texts, verdicts, want in (
        ("known", known, known_verdicts, True),
        ("unknown", unknown, unknown_verdicts, False),
    ):
        wrong = [(t, v) for t, v in zip(texts, verdicts) if v.known != want]
        for text, verdict in zip(texts, verdicts) if args.show else wrong:
            mark = "ok   " if verdict.known == want else "WRONG"
            print(f"  {mark} {label:7s} {verdict.score:.3f}  {text!r}  nearest: {verdict.closest[0]!r}")
        right = len(texts) - len(wrong)
        print(f"{label:7s} prompts judged right: {right}/{len(texts)} = {right / len(texts):.1%}")
    if HELD_OUT_PATH.is_file():
        held_out = [p["text"] for p in json.loads(HELD_OUT_PATH.read_text(encoding="utf-8"))["prompts"]]
        passed = sum(v.known for v in gate.judge(held_out))
        print(f"held-out prompt-following prompts passed (all trained motions): {passed}/{len(held_out)}")
    print(f"judging {len(known) + len(unknown)} prompts took {seconds:.2f} s (one thread)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
