"""Training configs: a TOML/JSON file loaded into a stage's dataclass, plus `--key=value` overrides.

nanoGPT's semantics (file first, then command-line overrides) without `exec`: every override must
name an existing field and parse as that field's type, or the run stops before it starts.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
import typing
from pathlib import Path
from typing import Any, TypeVar

from engine.errors import InputError

ConfigT = TypeVar("ConfigT")
CONFIG_DIR = Path(__file__).resolve().parent / "configs"


def resolve_config_path(name_or_path: str | Path) -> Path:
    """A path as given, or the name of a config shipped in trainer/configs (with or without .toml)."""
    path = Path(name_or_path)
    for candidate in (path, CONFIG_DIR / path, CONFIG_DIR / f"{path}.toml"):
        if candidate.is_file():
            return candidate
    shipped = ", ".join(sorted(p.stem for p in CONFIG_DIR.glob("*.toml")))
    raise InputError(f"config {name_or_path} not found; give a file path or one of the shipped configs: {shipped}")


def read_config_file(path: str | Path) -> dict[str, Any]:
    path = resolve_config_path(path)
    try:
        if path.suffix == ".json":
            return json.loads(path.read_text())
        return tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"config {path} is not valid {path.suffix[1:].upper()}: {error}") from error


def _parse_value(text: str, kind: Any, key: str) -> Any:
    origin = typing.get_origin(kind)
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        options = [k for k in typing.get_args(kind) if k is not type(None)]
        if text.lower() in ("none", "null"):
            return None
        kind = options[0]
    if kind is bool:
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise InputError(f"--{key}={text}: expected true or false")
    if kind in (int, float, str):
        try:
            return kind(text)
        except ValueError:
            raise InputError(f"--{key}={text}: expected a value of type {kind.__name__}") from None
    try:
        return json.loads(text)  # lists and dicts are given as JSON
    except json.JSONDecodeError:
        raise InputError(f"--{key}={text}: expected JSON for a field of type {kind}") from None


def apply_overrides(values: dict[str, Any], overrides: list[str], config_type: type) -> dict[str, Any]:
    """Apply `key=value` strings (leading `--` optional) to `values`, checked against `config_type`."""
    hints = typing.get_type_hints(config_type)
    values = dict(values)
    for override in overrides:
        text = override[2:] if override.startswith("--") else override
        if "=" not in text:
            raise InputError(f"override {override!r} must look like --key=value")
        key, raw = text.split("=", 1)
        key = key.replace("-", "_")
        if key not in hints:
            raise InputError(f"--{key} is not a field of {config_type.__name__}; fields: {', '.join(sorted(hints))}")
        values[key] = _parse_value(raw, hints[key], key)
    return values


def load_config(config_type: type[ConfigT], path: str | Path | None, overrides: list[str] = ()) -> ConfigT:
    """Build `config_type` from a config file (optional) and overrides; unknown keys are errors."""
    values = read_config_file(path) if path else {}
    unknown = set(values) - {f.name for f in dataclasses.fields(config_type)}
    if unknown:
        raise InputError(f"config {path} has unknown keys {sorted(unknown)} for {config_type.__name__}")
    values = apply_overrides(values, list(overrides), config_type)
    try:
        return config_type(**values)
    except ValueError as error:
        raise InputError(f"config {path}: {error}") from error


def config_to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)
