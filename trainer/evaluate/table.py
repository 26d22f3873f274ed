"""The results table: sections of rows of metric values with confidence intervals, as Markdown and JSON.

>>> section = Section("Text-to-motion", ["R@1", "FID"])
>>> section.rows.append(Row("Real", {"R@1": (0.51, 0.003)}))
>>> write_table(Report(title="...", sections=[section]), Path("runs/evaluate/results"))
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class Row:
    name: str
    values: dict[str, tuple[float, float]] = field(default_factory=dict)  # column -> (mean, 95% CI half-width)
    note: str = ""


@dataclass
class Section:
    title: str
    columns: list[str]
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # rows not computed, with the reason


@dataclass
class Report:
    title: str
    sections: list[Section] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)  # data / evaluator / component versions
    command: str = ""


def format_value(mean: float, half_width: float) -> str:
    """`0.512±.003`-style text: 3 decimals below 10, 1 above (BLEU, mm), the CI only when there is one."""
    digits = 3 if abs(mean) < 10 else 1
    text = f"{mean:.{digits}f}"
    if half_width:
        ci = f"{half_width:.{digits}f}"
        text += f"±{ci[1:] if ci.startswith('0.') else ci}"
    return text


def section_markdown(section: Section) -> list[str]:
    lines = [f"### {section.title}", ""]
    if section.rows:
        lines.append("| " + " | ".join(["Row", *section.columns]) + " |")
        lines.append("|" + "---|" * (len(section.columns) + 1))
        for row in section.rows:
            cells = [format_value(*row.values[c]) if c in row.values else "–" for c in section.columns]
            name = f"{row.name} ({row.note})" if row.note else row.name
            lines.append("| " + " | ".join([name, *cells]) + " |")
        lines.append("")
    lines += [f"- skipped: {reason}" for reason in section.skipped]
    lines += [f"- {note}" for note in section.notes]
    if section.skipped or section.notes:
        lines.append("")
    return lines


def report_markdown(report: Report) -> str:
    lines = [f"## {report.title}", ""]
    if report.command:
        lines += [f"Command: `{report.command}`", ""]
    if report.versions:
        lines += ["Versions: " + ", ".join(f"{k} `{v}`" for k, v in report.versions.items()), ""]
    for section in report.sections:
        lines += section_markdown(section)
    return "\n".join(lines).rstrip() + "\n"


def write_table(report: Report, stem: Path) -> Path:
    """Write `stem.md` and `stem.json`; return the Markdown path."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    markdown = stem.with_suffix(".md")
    markdown.write_text(report_markdown(report), encoding="utf-8")
    stem.with_suffix(".json").write_text(json.dumps(asdict(report), indent=1), encoding="utf-8")
    return markdown
