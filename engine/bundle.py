"""Model bundles: a directory with `manifest.json` naming its components and their subdirectories.

    bundle/
      manifest.json     {"format": "motion-copilot-bundle", "version": 1,
                         "components": {"tokenizer": {"path": "tokenizer"}, ...}}
      tokenizer/        config.json + model.safetensors (one directory per component)

A component is *available* when the manifest lists it and its directory exists. A missing or broken
component never stops the engine from starting: the operations that need it answer
`model_unavailable` with a sentence saying what is missing and which `motion-train` command makes it.

    bundle = load_bundle(default_bundle_dir())      # the bundle shipped inside the package
    lm, vq = models_of(bundle, "cpu").language()    # loaded once per (bundle, device), on first use

`Models` is where every model of a bundle is loaded (the motion-language model with its tokenizer, the
prompt gate, the pose editor, the correction writer); the engine's operations (engine/operations.py), the CLI commands
and the benchmarks all take their models from it.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import InputError, ModelUnavailableError
from engine.models.prompt_gate import PromptGate  # numpy only; its sentence encoder loads on first use

DEFAULT_LM_THREADS = 1  # 2 OpenMP threads on a busy 2-core box made decoding ~40x slower (docs/motion_lm.md)

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
    "prompt_gate": (
        "the prompt gate (training captions + MiniLM embeddings)",
        "motion-train prompt-gate --out BUNDLE/prompt_gate",
    ),
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


def default_bundle_dir() -> Path:
    """The bundle shipped inside the package (not relative to the working directory)."""
    return Path(__file__).resolve().parent / "assets" / "default_bundle"


def configure_torch(device: str, threads: int | None = None) -> None:
    """On CPU, set torch's intra-op threads (default 1: the LM decodes many tiny matmuls)."""
    if device != "cpu":
        return
    import torch  # noqa: PLC0415 - torch costs ~1.7 s; `motion-engine --help` and info never need it

    torch.set_num_threads(max(1, int(threads or DEFAULT_LM_THREADS)))


class Models:
    """The models of one bundle on one device, each loaded on first use and then kept.

    Thread-safe: the server's workers may ask at once; a model is loaded by one of them only. A
    component the bundle lacks raises ModelUnavailableError with the bundle's own sentence.
    """

    def __init__(self, bundle: Bundle, device: str = "cpu") -> None:
        self.bundle, self.device = bundle, device
        self._loaded: dict[str, Any] = {}
        self._lock = threading.RLock()  # re-entrant: the language model asks for the prompt gate's encoder

    def _path(self, component: str, operation: str) -> Path:
        if not self.bundle.has(component):
            raise ModelUnavailableError(self.bundle.missing_message(component, operation))
        return self.bundle.components[component].path

    def _get(self, name: str, load) -> Any:
        with self._lock:
            if name not in self._loaded:
                self._loaded[name] = load()
            return self._loaded[name]

    def load(self, component: str) -> Any:
        """The model that serves `component` (the language model and the tokenizer load together)."""
        loaders = {
            "language_model": self.language,
            "tokenizer": self.language,
            "pose_editor": self.pose_editor,
            "correction_writer": self.correction_writer,
        }
        return loaders[component]()

    def language(self) -> tuple:
        """(MotionLM, MotionTokenizer): the motion-language model and the motion tokenizer it speaks."""

        def load() -> tuple:
            # Local imports: torch + transformers cost several seconds (4.6 s measured on a busy
            # 2-core box); the server starts, and answers non-model ops, without them.
            from engine.models.motion_lm import MotionLM  # noqa: PLC0415 - torch + transformers, see above
            from engine.models.tokenizer import MotionTokenizer  # noqa: PLC0415 - torch, see above

            lm = MotionLM.load(self._path("language_model", "text_to_motion"), self.device)
            vq = MotionTokenizer.load(self._path("tokenizer", "text_to_motion"), self.device).eval()
            if lm.vocab.code_num != vq.config.code_num:
                raise InputError(
                    f"bundle {self.bundle.root}: the language model knows {lm.vocab.code_num} motion "
                    f"codes but the tokenizer has {vq.config.code_num}; export them together"
                )
            gate = self.prompt_gate() if lm.text_prefix is not None else None
            if gate is not None:  # one MiniLM in memory: the gate's reads the prompts for the model too
                lm.use_sentence_encoder(gate.encoder)
            return lm, vq

        return self._get("language", load)

    def prompt_gate(self):
        """The prompt gate (engine.models.prompt_gate.PromptGate), or None when the bundle has none
        (a bundle trained before the gate existed: its prompts are not checked)."""
        if not self.bundle.has("prompt_gate"):
            return None

        def load():
            return PromptGate.load(self._path("prompt_gate", "text_to_motion"))

        return self._get("prompt_gate", load)

    def pose_editor(self):
        """The PoseFix pose editor (engine.models.pose_editor.PoseEditor)."""

        def load():
            from engine.models.pose_editor import PoseEditor  # noqa: PLC0415 - torch (~1.7 s), on first use only

            return PoseEditor.load(self._path("pose_editor", "edit_pose"), self.device).eval()

        return self._get("pose_editor", load)

    def correction_writer(self):
        """The PoseFix correction writer (engine.models.correction_writer.CorrectionWriter)."""

        def load():
            from engine.models.correction_writer import CorrectionWriter  # noqa: PLC0415 - torch, on first use only

            return CorrectionWriter.load(self._path("correction_writer", "describe_change"), self.device).eval()

        return self._get("correction_writer", load)


_MODELS_LOCK = threading.Lock()
_MODELS: dict[tuple[str, str], Models] = {}


def models_of(bundle: Bundle, device: str = "cpu") -> Models:
    """The one `Models` of (bundle directory, device): the server, the CLI and tests share loaded models."""
    key = (str(bundle.root), device)
    with _MODELS_LOCK:
        if key not in _MODELS or _MODELS[key].bundle.components != bundle.components:
            _MODELS[key] = Models(bundle, device)
        return _MODELS[key]
