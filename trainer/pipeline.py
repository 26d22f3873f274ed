"""The whole pipeline, raw data to model bundle: `motion-train all`.

Every stage is the same `motion-train STAGE` a person would run, called in order with shared
folders, so the pipeline adds no training code of its own. Each stage resumes from its last
checkpoint, so running `all` again after an interruption continues where it stopped. The bundle
is the layout engine/bundle.py reads: one folder per component and a manifest naming them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from engine import __version__
from engine.bundle import BUNDLE_FORMAT, BUNDLE_VERSION
from engine.errors import InputError


@dataclass(frozen=True)
class Stage:
    name: str  # `motion-train` subcommand
    config: str  # shipped config name
    component: str | None  # bundle component its model becomes, if any
    needs: tuple[str, ...] = ()  # stages whose model folders it reads


STAGES: tuple[Stage, ...] = (
    Stage("tokenizer", "tokenizer_cpu", "tokenizer"),
    Stage("evaluator", "evaluator_cpu", "evaluators"),
    Stage("pretrain", "pretrain_cpu", None, ("tokenizer",)),
    Stage("instruct", "instruct_cpu", "language_model", ("tokenizer", "pretrain")),
    Stage("posefix", "posefix_cpu", "pose_editor"),
    Stage("feedback", "feedback_cpu", "correction_writer"),
)


def stage_arguments(stage: Stage, data_dir: Path, runs: Path, overrides: dict[str, list[str]]) -> list[str]:
    """The `motion-train` argument list of one stage inside the pipeline's folders."""
    arguments = [stage.name, f"--config={stage.config}", f"--data_dir={data_dir}", f"--run_dir={runs / stage.name}"]
    if "tokenizer" in stage.needs:
        arguments.append(f"--tokenizer_dir={runs / 'tokenizer' / 'model'}")
    if "pretrain" in stage.needs:
        arguments.append(f"--init_dir={runs / 'pretrain' / 'model'}")
    return arguments + overrides.get(stage.name, [])


def assemble_bundle(models: dict[str, Path], bundle_dir: Path, provenance: dict) -> Path:
    """Copy each component's model folder into `bundle_dir` and write its manifest."""
    bundle_dir.mkdir(parents=True, exist_ok=True)
    components = {}
    for component, source in models.items():
        if not source.is_dir():
            raise InputError(f"the {component} model folder {source} is missing; run its stage first")
        shutil.rmtree(bundle_dir / component, ignore_errors=True)
        shutil.copytree(source, bundle_dir / component)
        components[component] = {"path": component}
    manifest = {
        "format": BUNDLE_FORMAT,
        "version": BUNDLE_VERSION,
        "engine_version": __version__,
        "components": components,
        "provenance": provenance,
    }
    (bundle_dir / "manifest.json").write_text(json.dumps(manifest, indent=2))
    return bundle_dir


def run_pipeline(
    work: Path,
    bundle_dir: Path,
    data_arguments: list[str],
    overrides: dict[str, list[str]],
    skip: set[str],
    python: str,
) -> Path:
    """Build the data (unless it exists), run every stage not in `skip`, assemble the bundle."""
    data_dir = work / "data"
    runs = work / "runs"
    timings: dict[str, float] = {}
    if not (data_dir / "all.txt").is_file():
        started = time.monotonic()
        _run([python, "-m", "trainer.cli", "data", "--out", str(data_dir), *data_arguments])
        timings["data"] = time.monotonic() - started
    for stage in STAGES:
        if stage.name in skip:
            continue
        started = time.monotonic()
        _run([python, "-m", "trainer.cli", *stage_arguments(stage, data_dir, runs, overrides)])
        timings[stage.name] = time.monotonic() - started
    models = {s.component: runs / s.name / "model" for s in STAGES if s.component and s.name not in skip}
    provenance = {
        "data": str(data_dir),
        "data_arguments": data_arguments,
        "seconds": timings,
        "stages": {s.name: stage_arguments(s, data_dir, runs, overrides) for s in STAGES if s.name not in skip},
    }
    return assemble_bundle(models, bundle_dir, provenance)


def _run(command: list[str]) -> None:
    """Run one stage as its own process (a stage may use all cores or start torchrun workers)."""
    print("+ " + " ".join(command), flush=True)
    result = subprocess.run(command)
    if result.returncode:
        raise InputError(
            f"stage `{' '.join(command[3:5])}` failed with exit code {result.returncode}; "
            "fix it and run `motion-train all` again: finished stages resume from their checkpoints"
        )
