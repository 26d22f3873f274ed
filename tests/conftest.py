"""Shared pytest fixtures: where the real mocap lives, and tmp dirs.

The real data is found as `../shared/data` from the project root, or wherever
MOTION_COPILOT_DATA points; tests that need it skip with a clear reason when it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

PROJECT_ROOT = Path(__file__).resolve().parents[1]


# Property tests are deterministic: the same examples on every run and every machine, and no example
# database carried from one run of a checkout to the next (a saved failure would otherwise fail
# every later run, and a random seed would fail CI one run in N).
settings.register_profile("deterministic", derandomize=True, database=None, print_blob=True)
settings.load_profile("deterministic")


def shared_data_root() -> Path:
    return Path(os.environ.get("MOTION_COPILOT_DATA", PROJECT_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def bandai_dir() -> Path:
    """The Bandai-Namco dataset-2 folder (1,411 real BVH clips with JSON labels)."""
    path = shared_data_root() / "bandai-namco-2"
    if not (path / "data").is_dir():
        pytest.skip(f"real mocap not found at {path}; set MOTION_COPILOT_DATA to the shared data folder")
    return path


@pytest.fixture(scope="session")
def bandai_clips(bandai_dir: Path) -> list[Path]:
    """All Bandai BVH files, sorted by name."""
    return sorted((bandai_dir / "data").glob("*.bvh"))
