"""Errors the engine raises on purpose: each names what is wrong and what to do about it.

`code` is machine-readable (it travels on the wire in `error` replies); the message is a sentence
a person can act on.
"""

from __future__ import annotations


class EngineError(Exception):
    """Base of every deliberate engine error."""

    code = "engine_error"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class InputError(EngineError):
    """The caller's data (a file, an array, an argument) is malformed or out of range."""

    code = "bad_input"


class ModelUnavailableError(EngineError):
    """An operation needs a model component that the loaded bundle does not have."""

    code = "model_unavailable"


class UnknownPromptError(EngineError):
    """A text-to-motion prompt is far from everything the model was trained on (engine/models/prompt_gate.py).

    `details` travels in the error reply: {"closest": [caption, ...], "score", "threshold", "clause"}.
    """

    code = "unknown_prompt"

    def __init__(self, message: str, details: dict) -> None:
        super().__init__(message)
        self.details = details
