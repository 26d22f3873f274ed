"""Prompt following of text-to-motion, judged by plain geometry instead of a learned evaluator.

    python benchmarks/bench_prompt_following.py [--seeds 3] [--limit N] [--bundle DIR]
        [--data ../shared/data] [--json OUT] [--threads 1]

For each held-out prompt of benchmarks/prompts/text_to_motion_held_out.json (written the way
animators write; no training code reads it) and each seed, the bundle's text-to-motion makes a
motion; trainer.evaluate.motion_reading reads it (travel direction and speed, turn, raised hands and
wave swings, airborne time, squat depth, bow, reach, foot height, standing still) and the prompt's
rule says pass or fail. Printed per prompt: what was read and what failed, then the totals beside
- Real: the same rules on Bandai-Namco clips that do the action (by their content label; each
  prompt's "real" list), pooled over (prompt, clip) pairs: the rules' own hit rate on real motion;
- Real false pass: the rules on Bandai clips of other contents (not in "real" or "also");
- Procedural: the rules on trainer.data.procedural samples of the prompt's kinds (4 per kind).
A model that does what the prompts say should come near the Real row.
Also printed, for the generated motions and beside them the Bandai clips of the same run: foot
skate (median horizontal foot speed while planted, m/s; median over clips) and bone drift (relative
std of each bone's length within a clip, %; median over clips), trainer.evaluate.motion_reading's
foot_skate / bone_drift. `--raw` measures the model's motion as decoded, before the engine's
clean-up (engine.motion.cleanup), for a before/after comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from engine.bundle import load_bundle, models_of  # noqa: E402
from engine.formats.canonical import load_motion  # noqa: E402
from engine.models import motion_tasks  # noqa: E402
from trainer.data.procedural import sample_kind  # noqa: E402
from trainer.evaluate.motion_reading import MotionReading, check_rule, read_motion  # noqa: E402

PROMPTS_PATH = ROOT / "benchmarks" / "prompts" / "text_to_motion_held_out.json"
DEFAULT_BUNDLE = ROOT / "engine" / "assets" / "default_bundle"
DATASETS = {"b1": "bandai-namco-1", "b2": "bandai-namco-2"}
PROCEDURAL_PER_KIND = 4


def make_generator(bundle_dir: Path, device: str = "cpu", clean: bool = True) -> Callable[[str, int, int], np.ndarray]:
    """The one place that calls the engine's text-to-motion: returns `generate(text, frames, seed)`
    -> joints `(frames, 22, 3)` float32 metres, Y up, 20 fps. Repoint this after an API change.
    `clean` False: the motion as the model decoded it, before the engine's clean-up."""
    lm, vq = models_of(load_bundle(bundle_dir), device).language()

    def generate(text: str, frames: int, seed: int) -> np.ndarray:
        sampling = motion_tasks.sampling_of({"seed": seed})
        return motion_tasks.generate(lm, vq, [text], [frames], sampling, clean=clean)[0]

    return generate


# ----------------------------------------------------------------------------- prompts and references


def load_prompts(path: Path = PROMPTS_PATH) -> list[dict]:
    """The held-out prompts: [{"text", "rule", "real", "also", "procedural", "frames"}, ...]."""
    return json.loads(Path(path).read_text(encoding="utf-8"))["prompts"]


def _labels(folder: Path, name: str) -> list[str]:
    lines = (folder / "cfg" / name).read_text(encoding="utf-8").splitlines()
    return [line.strip().split("_", 1)[1] for line in lines if line.strip()]


def list_real_clips(data_dir: Path) -> list[tuple[str, str, str, Path]]:
    """(dataset key b1/b2, content, style, bvh path) of every Bandai clip under `data_dir`."""
    clips = []
    for key, name in DATASETS.items():
        folder = Path(data_dir) / name
        if not folder.is_dir():
            continue
        contents, styles = _labels(folder, "content_label.txt"), _labels(folder, "style_label.txt")
        for bvh in sorted((folder / "data").glob("*.bvh")):
            label = json.loads(bvh.with_suffix(".json").read_text(encoding="utf-8"))
            clips.append((key, contents[int(label["content"])], styles[int(label["style"])], bvh))
    return clips


def spec_matches(spec: str, dataset: str, content: str, style: str) -> bool:
    """'b2:walk', 'b2:walk/elderly' (that style only) or 'b2:wave-right-hand/!feminine' (all but it)."""
    where, _, rest = spec.partition(":")
    wanted, *styles = rest.split("/")
    if where != dataset or wanted != content:
        return False
    keep = [s for s in styles if not s.startswith("!")]
    drop = [s[1:] for s in styles if s.startswith("!")]
    return (not keep or style in keep) and style not in drop


def real_reference(prompts: list[dict], clips: list[tuple[str, str, str, MotionReading]]) -> list[dict]:
    """Per prompt: passes / count on clips doing the action, and on clips of other contents."""
    rows = []
    for prompt in prompts:
        hits = doing = false = others = 0
        contents = {s.split("/")[0] for s in prompt["real"] + prompt["also"]}
        for dataset, content, style, reading in clips:
            passed = not check_rule(prompt["rule"], reading)
            if any(spec_matches(s, dataset, content, style) for s in prompt["real"]):
                doing, hits = doing + 1, hits + passed
            elif f"{dataset}:{content}" not in contents:
                others, false = others + 1, false + passed
        rows.append({"real_pass": hits, "real_n": doing, "false_pass": false, "other_n": others})
    return rows


def _words(params: dict) -> str:
    return " ".join(str(params.get(key, "")) for key in ("side", "direction", "amplitude"))


def procedural_reference(prompts: list[dict]) -> list[dict]:
    """Per prompt: passes / count on procedural samples of its kinds ('kind', or 'kind:word+word' where
    each word must appear in the sample's side, direction or amplitude)."""
    cache: dict[str, list[tuple[dict, MotionReading]]] = {}
    rows = []
    for prompt in prompts:
        hits = count = 0
        for spec in prompt["procedural"]:
            kind, _, word = spec.partition(":")
            if kind not in cache:
                cache[kind] = []
                for seed in range(24):
                    sample = sample_kind(kind, 7000 + seed)
                    cache[kind].append((sample.params, read_motion(sample.positions)))
            picked = [r for p, r in cache[kind] if all(w in _words(p) for w in word.split("+"))]
            for reading in picked[:PROCEDURAL_PER_KIND]:
                count, hits = count + 1, hits + (not check_rule(prompt["rule"], reading))
        rows.append({"proc_pass": hits, "proc_n": count})
    return rows


def _short(reading: MotionReading) -> str:
    return (
        f"{reading.locomotion} {reading.speed_ms:.2f}m/s turn{reading.turn_deg:+.0f} "
        f"hands:{reading.hand_raised}/{reading.hand_above_head} "
        f"swings {reading.left_wave_swings}/{reading.right_wave_swings} air {reading.airborne_s:.2f}s "
        f"squat {reading.squat_depth_m:.2f} bow {reading.bow_deg:.0f} "
        f"feet {reading.left_foot_height_m:.2f}/{reading.right_foot_height_m:.2f}" + (" still" if reading.still else "")
    )


def _median(values: list[float]) -> float:
    """Median of the finite values (nan when there are none)."""
    finite = [v for v in values if np.isfinite(v)]
    return float(np.median(finite)) if finite else float("nan")


def _rate(hits: int, total: int) -> str:
    return f"{hits}/{total} = {100.0 * hits / total:.1f}%" if total else "n/a"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--limit", type=int, default=None, help="first N prompts only")
    parser.add_argument("--bundle", type=Path, default=DEFAULT_BUNDLE)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--prompts", type=Path, default=PROMPTS_PATH)
    parser.add_argument("--real-only", action="store_true", help="only the Real and Procedural rows")
    parser.add_argument("--raw", action="store_true", help="the model's motion before the engine's clean-up")
    parser.add_argument(
        "--model-only",
        action="store_true",
        help="skip the Real and Procedural rows (they do not depend on the model): for comparing models",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))

    prompts = load_prompts(args.prompts)[: args.limit]
    started = time.perf_counter()
    clips = [
        (d, c, s, read_motion(load_motion(p, preset="bandai").positions))
        for d, c, s, p in ([] if args.model_only else list_real_clips(args.data))
    ]
    real = real_reference(prompts, clips)
    procedural = [{"proc_pass": 0, "proc_n": 0}] * len(prompts) if args.model_only else procedural_reference(prompts)
    print(f"references: {len(clips)} Bandai clips read in {time.perf_counter() - started:.1f} s")

    results = []
    generate = None
    if not args.real_only:
        import torch  # noqa: PLC0415 - only for generation (~1.7 s to import)

        torch.set_num_threads(args.threads)
        generate = make_generator(args.bundle, clean=not args.raw)
    gen_started = time.perf_counter()
    for index, prompt in enumerate(prompts):
        row = {"text": prompt["text"], "rule": prompt["rule"], **real[index], **procedural[index], "runs": []}
        ref = f"real {_rate(row['real_pass'], row['real_n'])} proc {_rate(row['proc_pass'], row['proc_n'])}"
        print(f"[{index + 1}/{len(prompts)}] {prompt['text']!r}  rule {json.dumps(prompt['rule'])}  ({ref})")
        for seed in range(args.seeds if generate else 0):
            reading = read_motion(generate(prompt["text"], int(prompt.get("frames", 120)), seed))
            failed = check_rule(prompt["rule"], reading)
            row["runs"].append({"seed": seed, "pass": not failed, "failed": failed, "reading": reading.as_dict()})
            print(
                f"    seed {seed}: {'PASS' if not failed else 'FAIL'}  {_short(reading)}"
                + ("  | " + "; ".join(failed) if failed else "")
            )
        results.append(row)
    gen_s = time.perf_counter() - gen_started

    runs = [run for row in results for run in row["runs"]]
    model_pass = sum(run["pass"] for run in runs)
    totals = {
        "model": [model_pass, len(runs)],
        "real": [sum(r["real_pass"] for r in results), sum(r["real_n"] for r in results)],
        "real_false": [sum(r["false_pass"] for r in results), sum(r["other_n"] for r in results)],
        "procedural": [sum(r["proc_pass"] for r in results), sum(r["proc_n"] for r in results)],
        "prompts": len(results),
        "prompts_with_real": sum(r["real_n"] > 0 for r in results),
        "seeds": args.seeds,
        "generation_s": round(gen_s, 1),
        "bundle": str(args.bundle),
        "cleaned": not args.raw,
        # median over clips; skate in m/s while planted, drift in % (see the module docstring)
        "foot_skate_ms": {
            "model": _median([run["reading"]["foot_skate_ms"] for run in runs]),
            "real": _median([reading.foot_skate_ms for *_, reading in clips]),
        },
        "bone_drift_pct": {
            "model": _median([run["reading"]["bone_drift_pct"] for run in runs]),
            "real": _median([reading.bone_drift_pct for *_, reading in clips]),
        },
    }
    print()
    print(f"Model ({args.bundle.name}, {len(results)} prompts x {args.seeds} seeds): {_rate(*totals['model'])}")
    print(f"Real (Bandai clips doing the action, {totals['prompts_with_real']} prompts): {_rate(*totals['real'])}")
    print(f"Real false pass (Bandai clips of other contents): {_rate(*totals['real_false'])}")
    print(f"Procedural samples of the prompts' kinds: {_rate(*totals['procedural'])}")
    skate, drift = totals["foot_skate_ms"], totals["bone_drift_pct"]
    made = "raw, before clean-up" if args.raw else "as the engine returns it"
    print(f"Foot skate, median m/s while planted: model {skate['model']:.4f} ({made}), real {skate['real']:.4f}")
    print(f"Bone drift, median % length spread:   model {drift['model']:.3f} ({made}), real {drift['real']:.3f}")
    print(f"generation + reading took {gen_s:.1f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"totals": totals, "prompts": results}, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
