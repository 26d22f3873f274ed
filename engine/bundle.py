"""Model bundles: a directory with `manifest.json` naming its components and their subdirectories.

    bundle/
      manifest.json     {"format": "motion-copilot-bundle", "version": 1,
                         "components": {"tokenizer": {"path": "tokenizer"}, ...}}
      tokenizer/        config.json + model.safetensors (one directory per component)

A component is *available* when the manifest lists it and its directory exists. A missing or broken
component never stops the engine from starting: the operations that need it answer
`model_unavailable` with a sentence saying what is missing and which `motion-train` command makes it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

BUNDLE_FORMAT = "motion-copilot-bundle"
BUNDLE_VERSION = 1

# component name -> (what it is, the trainer command that produces it)
COMPONENTS: dict[str, tuple[str, str]] = {
    "tokenizer": ("the motion tokenizer (VQ-VAE)", "motion-train tokenizer"),
    "language_model": ("the motion-language model (T5)", "motion-train pretrain && motion-train instruct"),
    "pose_editor": ("the pose editor (PoseFix cVAE)", "motion-train posefix"),
    "correction_writer": ("the correction writer (PoseFix text decoder)", "motion-train feedback"),
    "text_encoder": ("the text encoder", "motion-train evaluator"),
    "evaluators": ("the text/motion evaluators", "motion-train evaluator"),
}


@dataclass
class Component:
    name: str
    path: Path
    config: dict = field(default_factory=dict)  # the component's config.json, if readable


@dataclass
class Bundle:
    """The components found in a bundle directory, and why any listed one is unusable."""

    root: Path | None
    components: dict[str, Component] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # sentences for `info` and the log

    def has(self, name: str) -> bool:
        return name in self.components

    def missing_message(self, name: str, operation: str) -> str:
        """A sentence for a `model_unavailable` reply: what is missing and how to get it."""
        what, command = COMPONENTS.get(name, (f"the '{name}' component", "motion-train all"))
        where = (
            f"is missing from the bundle at {self.root}"
            if self.root
            else "is not loaded because the engine was started without --bundle DIR"
        )
        return (
            f"'{operation}' needs {what}, which {where}. Train it with "
            f"`{command}` (or `motion-train all` for the whole pipeline) and restart "
            f"`motion-engine serve --bundle DIR` with the resulting bundle."
        )

    def describe(self) -> dict:
        """JSON-serialisable summary for the `info` operation."""
        return {
            "path": str(self.root) if self.root else None,
            "components": {name: {"path": str(c.path), "config": c.config} for name, c in self.components.items()},
            "missing": sorted(set(COMPONENTS) - set(self.components)),
            "problems": list(self.problems),
        }


def load_bundle(root: str | Path | None) -> Bundle:
    """Read `root/manifest.json`; every problem is recorded in `Bundle.problems`, never raised."""
    if root is None:
        return Bundle(root=None, problems=["no bundle given; model operations are off"])
    root = Path(root)
    bundle = Bundle(root=root)
    manifest_path = root / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        bundle.problems.append(
            f"cannot read {manifest_path} ({error}); model operations are off. "
            "Point --bundle at a directory made by `motion-train all`."
        )
        return bundle
    if not isinstance(manifest, dict) or manifest.get("format") != BUNDLE_FORMAT:
        bundle.problems.append(
            f"{manifest_path} is not a {BUNDLE_FORMAT} manifest (its 'format' field differs); model operations are off."
        )
        return bundle
    components = manifest.get("components")
    if not isinstance(components, dict):
        bundle.problems.append(f"{manifest_path}: 'components' must be an object of name -> {{'path': subdirectory}}.")
        return bundle
    for name, entry in components.items():
        _add_component(bundle, name, entry)
    return bundle


def _add_component(bundle: Bundle, name: str, entry: object) -> None:
    assert bundle.root is not None
    relative = entry.get("path", name) if isinstance(entry, dict) else None
    if not isinstance(relative, str):
        bundle.problems.append(f"component '{name}': entry must be an object with a 'path' string")
        return
    path = (bundle.root / relative).resolve()
    if bundle.root.resolve() not in (path, *path.parents):
        bundle.problems.append(f"component '{name}': path {relative!r} leaves the bundle directory")
        return
    if not path.is_dir():
        bundle.problems.append(f"component '{name}': directory {path} does not exist")
        return
    config: dict = {}
    config_path = path / "config.json"
    if config_path.is_file():
        try:
            config = json.loads(config_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            bundle.problems.append(f"component '{name}': unreadable {config_path} ({error})")
    bundle.components[name] = Component(name=name, path=path, config=config)
