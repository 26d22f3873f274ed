"""Metrics where people look: TensorBoard event files, a JSONL log, a progress bar, a final plot.

Only the main rank writes. TensorBoard is optional (the `train` extra); without it the JSONL log
and the plot still work.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tqdm import tqdm


class MetricsLogger:
    def __init__(self, run_dir: str | Path, enabled: bool = True) -> None:
        self.run_dir = Path(run_dir)
        self.enabled = enabled
        self.writer = None
        if not enabled:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.jsonl = (self.run_dir / "metrics.jsonl").open("a")
        try:
            from torch.utils.tensorboard import SummaryWriter  # noqa: PLC0415 - optional (the train extra), torch + tensorboard ~2 s

            self.writer = SummaryWriter(str(self.run_dir / "tb"))
        except ImportError:
            print(
                "tensorboard is not installed (pip install motion-copilot[train]); logging to metrics.jsonl only",
                file=sys.stderr,
            )

    def log(self, step: int, metrics: dict[str, float]) -> None:
        if not self.enabled:
            return
        self.jsonl.write(json.dumps({"step": step, **metrics}) + "\n")
        self.jsonl.flush()
        if self.writer is not None:
            for key, value in metrics.items():
                self.writer.add_scalar(key, value, step)

    def close(self) -> None:
        if not self.enabled:
            return
        self.jsonl.close()
        if self.writer is not None:
            self.writer.close()


def read_metrics(run_dir: str | Path) -> list[dict]:
    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def plot_curves(run_dir: str | Path, keys: list[str] | None = None) -> Path | None:
    """Plot every logged metric against step into run_dir/curves.png (one panel per metric)."""
    rows = read_metrics(run_dir)
    if not rows:
        return None
    try:
        import matplotlib  # noqa: PLC0415 - optional (the train extra), ~0.5 s, only when plotting

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415 - after matplotlib.use("Agg"), which must come first
    except ImportError:
        return None
    keys = keys or sorted({k for row in rows for k in row if k != "step"})
    figure, axes = plt.subplots(len(keys), 1, figsize=(7, 2.2 * len(keys)), squeeze=False)
    for axis, key in zip(axes[:, 0], keys):
        points = [(row["step"], row[key]) for row in rows if key in row]
        axis.plot([p[0] for p in points], [p[1] for p in points])
        axis.set_ylabel(key, fontsize=8)
        axis.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("step")
    figure.tight_layout()
    path = Path(run_dir) / "curves.png"
    figure.savefig(path, dpi=80)
    plt.close(figure)
    return path


def progress_bar(total: int, initial: int = 0, enabled: bool = True, description: str = "") -> tqdm:
    return tqdm(total=total, initial=initial, disable=not enabled, desc=description, dynamic_ncols=True)
