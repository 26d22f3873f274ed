"""Which runner serves each model operation, the shipped default bundle, and torch's CPU threads.

    register_model_factories()            # fills engine.operations.MODEL_FACTORIES
    default_bundle_dir()                  # engine/assets/default_bundle, found from the package

Factories are imported lazily (torch and transformers load only when a bundle has the component).
"""

from __future__ import annotations

from pathlib import Path

DEFAULT_LM_THREADS = 1  # 2 OpenMP threads on a busy 2-core box made decoding ~40x slower (docs/motion_lm.md)


def default_bundle_dir() -> Path:
    """The bundle shipped inside the package (not relative to the working directory)."""
    return Path(__file__).resolve().parent / "assets" / "default_bundle"


def _lazy(module: str, name: str):
    def factory(bundle, device: str):
        import importlib

        return getattr(importlib.import_module(module), name)(bundle, device)

    factory.__name__ = name
    return factory


def register_model_factories() -> None:
    """Put the language-model and PoseFix factories into MODEL_FACTORIES (existing entries are kept,
    so a test or a plug-in that registered its own runner first wins)."""
    from engine.operations import MODEL_FACTORIES

    lm = "engine.models.lm_handlers"
    posefix = "engine.models.posefix_handlers"
    for op, module, name in (
        ("text_to_motion", lm, "make_text_to_motion_handler"),
        ("motion_to_text", lm, "make_motion_to_text_handler"),
        ("predict", lm, "make_predict_handler"),
        ("inbetween", lm, "make_inbetween_handler"),
        ("edit_pose", posefix, "make_edit_pose_handler"),
        ("describe_change", posefix, "make_describe_change_handler"),
    ):
        MODEL_FACTORIES.setdefault(op, _lazy(module, name))


def configure_torch(device: str, threads: int | None = None) -> None:
    """On CPU, set torch's intra-op threads (default 1: the LM decodes many tiny matmuls)."""
    if device != "cpu":
        return
    import torch

    torch.set_num_threads(max(1, int(threads or DEFAULT_LM_THREADS)))
