"""Motion tokenizer benchmark (issue 5 "Must show"): codebook-size ablation, plain-AE baseline, latency.

Trains, with the same step budget, seed and data, the VQ-VAE at the CPU preset with K = 256, 512,
1024 codes and a plain autoencoder of the same layers (no quantiser), each through the real trainer
(`python -m trainer.cli tokenizer`, one subprocess per row). Optionally the chosen default (K = 512)
is trained once more at a larger budget (`--default-steps`). Every row is then evaluated on the TEST
split (never seen in training): MPJPE in mm of joints recovered (HumanML3D `recover_from_ric`) from
de-normalised reconstructed features, as T2M-GPT does; codebook usage (% of the K codes used by the
test clips) and perplexity. Latency: encode+decode of one 196-frame clip on CPU, median of 20 after
warm-up, for the CPU preset and, in the same run, the full 512x512 preset as the baseline.

Run:
    nice -n 10 python benchmarks/bench_tokenizer.py --data out/data_bandai --steps 600 \
        --default-steps 2000 --out out/bench_tokenizer --config tokenizer_bench_bandai [--jobs 2] [--reuse]

Writes OUT/results.md (the table) and OUT/results.json; each row's run is in OUT/runs/ROW/. The
machine may be shared: wall times are reported together with CPU time (user+sys of the training
process), which is what a dedicated core would take, and the load average during the run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from engine.bundle import BUNDLE_FORMAT, BUNDLE_VERSION
from engine.models.tokenizer import CONFIG_FILE, NORMALIZATION_FILE, WEIGHTS_FILE, MotionTokenizer, TokenizerConfig
from trainer.datasets import FeatureSplit, load_feature_split, whole_clips
from trainer.stages.tokenizer import evaluate_reconstruction

LATENCY_FRAMES = 196  # HumanML3D's longest clip (9.8 s at 20 fps): the latency case
LATENCY_REPEATS = 20
LATENCY_WARMUP = 5
MAX_THREADS = 2  # the 2 cores are shared; never use more (brief: CPU etiquette)


@dataclass
class Row:
    name: str
    steps: int
    code_num: int
    autoencoder: bool = False

    def overrides(self) -> list[str]:
        flags = [f"--max_steps={self.steps}", f"--code_num={self.code_num}"]
        return flags + (["--autoencoder=true"] if self.autoencoder else [])


def plan_rows(steps: int, default_steps: int, only: str = "") -> list[Row]:
    """The ablation at `steps`, plus the default (K=512) at `default_steps` when that differs;
    `only` (comma-separated row names) keeps a subset."""
    rows = [Row(f"vq_k{k}", steps, k) for k in (256, 512, 1024)] + [Row("autoencoder", steps, 512, True)]
    if default_steps and default_steps != steps:
        rows.append(Row("default_k512", default_steps, 512))
    if only:
        unknown = set(only.split(",")) - {row.name for row in rows}
        if unknown:
            raise SystemExit(f"--rows: unknown row(s) {sorted(unknown)}; choose from {[row.name for row in rows]}")
        rows = [row for row in rows if row.name in only.split(",")]
    return rows


def train_command(row: Row, args: argparse.Namespace, run_dir: Path) -> list[str]:
    base = [
        sys.executable,
        "-m",
        "trainer.cli",
        "tokenizer",
        "--config",
        args.config,
        f"--data_dir={args.data}",
        f"--run_dir={run_dir}",
        f"--seed={args.seed}",
        f"--eval_every={max(row.steps // 4, 1)}",
        f"--save_every={row.steps}",
    ]
    return base + row.overrides() + args.train_overrides


def run_training(rows: list[Row], args: argparse.Namespace) -> dict[str, dict]:
    """Train the rows, `args.jobs` at a time; returns per-row wall/CPU seconds (from os.wait4)."""
    threads = max(1, MAX_THREADS // args.jobs)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    timings: dict[str, dict] = {}
    pending = sorted(rows, key=lambda row: -row.steps)  # longest first, so the short rows fill the other job
    running: dict[int, tuple[Row, float, subprocess.Popen, Path]] = {}
    while pending or running:
        while pending and len(running) < args.jobs:
            row = pending.pop(0)
            run_dir = args.out / "runs" / row.name
            record = run_dir / "bench_train.json"
            if args.reuse and record.is_file() and (run_dir / "model" / "config.json").is_file():
                timings[row.name] = json.loads(record.read_text())
                print(f"[bench] {row.name}: reusing {run_dir}", flush=True)
                continue
            if run_dir.exists() and not args.reuse:
                raise SystemExit(f"{run_dir} exists (the trainer would resume from it); remove it or pass --reuse")
            run_dir.mkdir(parents=True, exist_ok=True)
            command = train_command(row, args, run_dir)
            print(f"[bench] {row.name}: {' '.join(command)}", flush=True)
            log = open(run_dir / "train.log", "w")
            process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
            running[process.pid] = (row, time.perf_counter(), process, run_dir)
        if not running:
            continue
        pid, status, usage = os.wait4(-1, 0)
        if pid not in running:
            continue
        row, started, process, run_dir = running.pop(pid)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"training {row.name} failed; see {run_dir / 'train.log'}")
        timing = {
            "steps": row.steps,
            "wall_s": time.perf_counter() - started,
            "cpu_s": usage.ru_utime + usage.ru_stime,
            "threads": threads,
            "load_avg_1min_end": os.getloadavg()[0],
        }
        (run_dir / "bench_train.json").write_text(json.dumps(timing, indent=2))
        timings[row.name] = timing
        print(f"[bench] {row.name}: done in {timing['wall_s']:.0f} s wall, {timing['cpu_s']:.0f} s CPU", flush=True)
    return timings


def evaluate_row(row: Row, args: argparse.Namespace, test_clips: list[np.ndarray]) -> dict[str, float]:
    """Test-split MPJPE (mm), code usage (fraction) and perplexity of a trained row."""
    model = MotionTokenizer.load(args.out / "runs" / row.name / "model")
    metrics = evaluate_reconstruction(model, test_clips, torch.device("cpu"), autoencoder=row.autoencoder)
    return {key.replace("val/", "test/"): value for key, value in metrics.items()}


def per_kind_metrics(row: Row, args: argparse.Namespace, test: FeatureSplit) -> dict[str, dict[str, float]]:
    """Test-split metrics of `row` per motion kind (`labels.content` in the data's meta.jsonl);
    empty when the data has no such labels. Locomotion and gestures drift very differently."""
    meta_path = args.data / "meta.jsonl"
    if not meta_path.is_file():
        return {}
    kinds = {}
    for line in meta_path.read_text().splitlines():
        record = json.loads(line)
        kinds[record["id"]] = record.get("labels", {}).get("content")
    groups: dict[str, list[np.ndarray]] = {}
    for clip_id, features in zip(test.ids, test.features):
        if kinds.get(clip_id):
            groups.setdefault(kinds[clip_id], []).append(features)
    model = MotionTokenizer.load(args.out / "runs" / row.name / "model")
    result = {}
    for kind, clips in sorted(groups.items()):
        subset = FeatureSplit([], clips, test.mean, test.std)
        metrics = evaluate_reconstruction(model, whole_clips(subset), torch.device("cpu"), autoencoder=row.autoencoder)
        result[kind] = {"clips": len(clips), **{k.replace("val/", "test/"): v for k, v in metrics.items()}}
    return result


def format_per_kind(row: Row, per_kind: dict[str, dict[str, float]]) -> str:
    if not per_kind:
        return ""
    lines = [
        "",
        f"{row.name} per motion kind (test split):",
        "",
        "| kind | clips | MPJPE root-aligned (mm) | MPJPE global (mm) |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {kind} | {m['clips']} | {m['test/mpjpe_aligned_mm']:.1f} | {m['test/mpjpe_mm']:.1f} |"
        for kind, m in per_kind.items()
    ]
    return "\n".join(lines) + "\n"


@torch.inference_mode()
def latency_ms(config: TokenizerConfig, frames: int = LATENCY_FRAMES) -> dict[str, float]:
    """Median wall and thread-CPU milliseconds of encode+decode of one `(1, frames, C)` clip."""
    torch.manual_seed(0)
    model = MotionTokenizer(config).eval()
    model.quantizer.codebook.normal_()  # weights do not change the cost; a zero codebook would be degenerate
    features = torch.randn(1, frames, config.nfeats)
    walls, cpus = [], []
    for repeat in range(LATENCY_WARMUP + LATENCY_REPEATS):
        wall, cpu = time.perf_counter(), time.thread_time()
        ids, _ = model.encode(features)
        model.decode(ids)
        if repeat >= LATENCY_WARMUP:
            walls.append((time.perf_counter() - wall) * 1e3)
            cpus.append((time.thread_time() - cpu) * 1e3)
    return {
        "wall_ms": statistics.median(walls),
        "cpu_ms": statistics.median(cpus),
        "params": sum(p.numel() for p in model.parameters()) + model.quantizer.codebook.numel(),
    }


def format_table(rows: list[Row], timings: dict, metrics: dict, latency: dict, load: tuple) -> str:
    lines = [
        "Motion tokenizer on the Bandai data. MPJPE / code usage / perplexity: **test split** "
        f"({metrics['_test_clips']} clips, cropped to <= 196 frames); the models never saw it. "
        "Training: train split only (validation split for the trainer's progress log).",
        "",
        "MPJPE root-aligned: pelvis subtracted (MotionGPT MRMetrics, the figure T2M-GPT's 55.8 mm is); "
        "global: root trajectory integrated from the reconstructed velocities, so drift counts. "
        f"Train CPU = user+sys seconds of the training process ({timings[rows[0].name]['threads']} thread(s); "
        "rows may train two at a time on the shared machine, so wall time depends on its load).",
        "",
        "| row | codes K | steps | MPJPE root-aligned, test (mm) | MPJPE global, test (mm) | code usage, test "
        "| perplexity, test | train wall (s) | train CPU (s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        m, t = metrics[row.name], timings[row.name]
        usage = "n/a (no codebook)" if row.autoencoder else f"{m['test/code_usage']:.0%}"
        ppl = "n/a" if row.autoencoder else f"{m['test/perplexity']:.0f}"
        lines.append(
            f"| {row.name} | {'-' if row.autoencoder else row.code_num} | {row.steps} | "
            f"{m['test/mpjpe_aligned_mm']:.1f} | {m['test/mpjpe_mm']:.1f} | {usage} | {ppl} | "
            f"{t['wall_s']:.0f} | {t['cpu_s']:.0f} |"
        )
    base = latency["full"]
    lines += [
        "",
        f"Encode+decode of one {LATENCY_FRAMES}-frame clip on CPU, 1 thread, median of {LATENCY_REPEATS} "
        f"after {LATENCY_WARMUP} warm-up runs (load average {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f} on "
        f"{os.cpu_count()} cores; thread CPU time is what a free core would take):",
        "",
        "| preset | params | wall (ms) | thread CPU (ms) | CPU ratio vs full |",
        "|---|---|---|---|---|",
    ]
    for name, entry in latency.items():
        lines.append(
            f"| {name} | {entry['params'] / 1e6:.2f} M | {entry['wall_ms']:.1f} | {entry['cpu_ms']:.1f} | "
            f"{entry['cpu_ms'] / base['cpu_ms']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="HumanML3D-layout folder with train/val/test splits")
    parser.add_argument("--steps", type=int, required=True, help="step budget of each ablation row")
    parser.add_argument("--default-steps", type=int, default=0, help="train the K=512 default again at this budget")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--config", default="tokenizer_cpu", help="trainer config shared by every row")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=1, choices=(1, 2), help="rows trained at once (threads split)")
    parser.add_argument("--rows", default="", help="comma-separated subset of rows (default: all)")
    parser.add_argument("--reuse", action="store_true", help="reuse rows already trained in OUT/runs")
    parser.add_argument("--install-bundle", type=Path, help="copy the K=512 model into BUNDLE/tokenizer + manifest")
    parser.add_argument("--skip-full-latency", action="store_true", help="time only the CPU preset")
    args, extra = parser.parse_known_args(argv)
    args.train_overrides = extra  # further --key=value trainer overrides, the same for every row
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = plan_rows(args.steps, args.default_steps, args.rows)
    timings = run_training(rows, args)
    test = load_feature_split(args.data, "test", min_frames=4)
    test_clips = whole_clips(test)
    metrics: dict = {"_test_clips": len(test_clips)}
    for row in rows:
        metrics[row.name] = evaluate_row(row, args, test_clips)
    nfeats = test_clips[0].shape[-1]
    chosen = next((row for row in reversed(rows) if row.code_num == 512 and not row.autoencoder), rows[0])
    trained = TokenizerConfig(**json.loads((args.out / "runs" / chosen.name / "model" / "config.json").read_text()))
    latency = {f"trained (width {trained.width}, K {trained.code_num} x {trained.code_dim})": latency_ms(trained)}
    if not args.skip_full_latency:
        latency["engine preset cpu (width 128)"] = latency_ms(TokenizerConfig.preset("cpu", nfeats=nfeats))
        latency["full"] = latency_ms(TokenizerConfig.preset("full", nfeats=nfeats))
    else:
        latency["full"] = next(iter(latency.values()))
    load = os.getloadavg()
    per_kind = per_kind_metrics(chosen, args, test)
    table = format_table(rows, timings, metrics, latency, load) + format_per_kind(chosen, per_kind)
    print(table)
    (args.out / "results.md").write_text(table)
    results = {
        "rows": [{**row.__dict__, **timings[row.name], **metrics[row.name]} for row in rows],
        "test_clips": metrics["_test_clips"],
        "latency": latency,
        "load_avg": load,
        "per_kind": {chosen.name: per_kind},
        "command": " ".join([sys.argv[0]] + (argv if argv is not None else sys.argv[1:])),
    }
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    if args.install_bundle:
        target = install_into_bundle(args.out / "runs" / chosen.name / "model", args.install_bundle)
        print(f"[bench] {chosen.name} installed as {target}")
    return 0


def install_into_bundle(model_dir: Path, bundle: Path, component: str = "tokenizer") -> Path:
    """Copy a saved tokenizer into `bundle/component/` and list it in `bundle/manifest.json`,
    keeping every other component already listed there (others add theirs to the same file)."""
    target = bundle / component
    target.mkdir(parents=True, exist_ok=True)
    for name in (CONFIG_FILE, WEIGHTS_FILE, NORMALIZATION_FILE):
        shutil.copyfile(model_dir / name, target / name)
    manifest_path = bundle / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    manifest.setdefault("format", BUNDLE_FORMAT)
    manifest.setdefault("version", BUNDLE_VERSION)
    manifest.setdefault("components", {})[component] = {"path": component}
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    return target


if __name__ == "__main__":
    sys.exit(main())
