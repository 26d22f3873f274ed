"""Statistics report of a built dataset: stats.json (machine) and stats.md (people).

Counts clips (base and mirrored), frames, hours, captions, vocabulary, splits, sources, pose
pairs, instruction examples, skipped inputs, plausibility failures per source (the procedural
generator's checks, trainer.data.procedural.plausibility, run on every motion so real and
procedural data are judged alike) and the build time of each phase.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import numpy as np

from engine.formats.humanml3d import open_dataset

FPS = 20.0
HUMANML3D_MIN_FRAMES = 40  # HumanML3D's loaders drop shorter clips (motiongpt.md 2.5)
HUMANML3D_MAX_FRAMES = 196


def vocabulary(captions: list[str]) -> Counter:
    """Word counts over captions (lower case, letters and apostrophes/hyphens)."""
    return Counter(w for c in captions for w in re.findall(r"[a-z][a-z'\-]*", c.lower()))


def collect(
    out: Path,
    meta: list[dict],
    skipped: list[dict],
    pair_counts: dict | None,
    instruction_counts: dict | None,
    timings: dict,
    options,
    plausibility: dict | None = None,
) -> dict:
    """Assemble the report from the build's index (`meta.jsonl` entries) and phase results."""
    dataset = open_dataset(out)
    frames = np.array([m["frames"] for m in meta], dtype=np.int64)
    captions = [t.caption for m in meta for t in dataset.texts(m["id"])]
    words = vocabulary(captions)
    by_source: dict[str, dict] = {}
    for m in meta:
        entry = by_source.setdefault(m["source"], {"clips": 0, "frames": 0})
        entry["clips"] += 1
        entry["frames"] += m["frames"]
    for entry in by_source.values():
        entry["hours"] = round(entry["frames"] / FPS / 3600, 4)
    splits = {s: len(dataset.ids(s)) for s in ("train", "val", "test", "all")}
    cells_in_test = {m["cell"] for m in meta if m.get("split") == "test"}
    report = {
        "clips": len(meta),
        "clips_without_mirrors": sum(1 for m in meta if "mirror_of" not in m),
        "frames": int(frames.sum()),
        "hours": round(float(frames.sum()) / FPS / 3600, 4),
        "frames_per_clip": {"min": int(frames.min()), "median": float(np.median(frames)), "max": int(frames.max())}
        if len(frames)
        else {},
        "clips_below_40_frames": int((frames < HUMANML3D_MIN_FRAMES).sum()),
        "clips_above_196_frames": int((frames > HUMANML3D_MAX_FRAMES).sum()),
        "captions": len(captions),
        "distinct_captions": len(set(captions)),
        "vocabulary_size": len(words),
        "splits": splits,
        "cells": len({m["cell"] for m in meta}),
        "cells_in_test": len(cells_in_test),
        "sources": by_source,
        "skipped": skipped,
        "pairs": pair_counts,
        "instructions": instruction_counts,
        "plausibility": plausibility,
        "seconds": {k: round(v, 1) for k, v in timings.items()},
        "options": {k: str(v) for k, v in vars(options).items()},
    }
    return report


def _markdown(report: dict) -> str:
    lines = ["# Dataset statistics", "", "| quantity | value |", "|---|---|"]
    for key in (
        "clips",
        "clips_without_mirrors",
        "frames",
        "hours",
        "captions",
        "distinct_captions",
        "vocabulary_size",
        "cells",
        "cells_in_test",
        "clips_below_40_frames",
        "clips_above_196_frames",
    ):
        lines.append(f"| {key.replace('_', ' ')} | {report[key]} |")
    lines.append(
        f"| frames per clip (min / median / max) | {report['frames_per_clip'].get('min')} / "
        f"{report['frames_per_clip'].get('median')} / {report['frames_per_clip'].get('max')} |"
    )
    lines += ["", "## Splits", "", "| split | ids |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in report["splits"].items()]
    lines += ["", "## Sources", "", "| source | clips | frames | hours |", "|---|---|---|---|"]
    lines += [f"| {k} | {v['clips']} | {v['frames']} | {v['hours']} |" for k, v in report["sources"].items()]
    if report["pairs"]:
        lines += [
            "",
            "## Pose pairs (PoseFix)",
            "",
            "| split | in-sequence | out one-way | out two-way |",
            "|---|---|---|---|",
        ]
        lines += [f"| {s} | {c['in']} | {c['out_one_way']} | {c['out_two_way']} |" for s, c in report["pairs"].items()]
    if report["instructions"]:
        lines += ["", "## Instruction examples", "", "| split | examples |", "|---|---|"]
        lines += [f"| {s} | {n} |" for s, n in report["instructions"].items()]
    if report["plausibility"]:
        lines += [
            "",
            "## Plausibility failures (trainer.data.procedural.plausibility)",
            "",
            "| source | samples | failed any | " + " | ".join(_checks(report)) + " |",
            "|---|---|---|" + "---|" * len(_checks(report)),
        ]
        for source, agg in report["plausibility"].items():
            cells = " | ".join(f"{agg['failed'][c]} ({100 * agg['failed_rate'][c]:.1f}%)" for c in _checks(report))
            lines.append(
                f"| {source} | {agg['samples']} | {agg['failed_any']} ({100 * agg['failed_any_rate']:.1f}%) | {cells} |"
            )
    if report["skipped"]:
        lines += ["", f"## Skipped inputs ({len(report['skipped'])})", ""]
        lines += [f"- {s['source']} {s['origin']}: {s['reason']}" for s in report["skipped"][:50]]
    lines += ["", "## Build time (seconds)", "", "| phase | s |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in report["seconds"].items()]
    return "\n".join(lines) + "\n"


def _checks(report: dict) -> list[str]:
    first = next(iter(report["plausibility"].values()))
    return list(first["failed"])


def write(out: Path, report: dict) -> None:
    """Write stats.json and stats.md into the dataset folder."""
    (Path(out) / "stats.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    (Path(out) / "stats.md").write_text(_markdown(report), encoding="utf-8")
