"""`motion-engine info`: versions, device, skeleton and available model components."""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import numpy

from engine import __version__
from engine.bundle import default_bundle_dir, load_bundle
from engine.motion import skeleton


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("info", help="print versions, device and loaded model components")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.add_argument(
        "--bundle", type=Path, default=None, help="bundle to list (default: the shipped engine/assets/default_bundle)"
    )
    parser.set_defaults(run=run)


def collect_info(bundle_dir: Path | None = None) -> dict:
    """Facts about this engine installation, as a JSON-serialisable dict; `bundle` describes
    `bundle_dir` (default: the shipped bundle) as engine.bundle.Bundle.describe() does."""
    import torch

    return {
        "engine_version": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "cuda_devices": torch.cuda.device_count(),
        "skeleton": {"name": "smpl22", "joints": list(skeleton.JOINT_NAMES), "fps": skeleton.FPS},
        "bundle": load_bundle(bundle_dir if bundle_dir is not None else default_bundle_dir()).describe(),
    }


def run(args: argparse.Namespace) -> int:
    info = collect_info(args.bundle)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    for key, value in info.items():
        if key == "skeleton":
            value = f"{value['name']} ({len(value['joints'])} joints, {value['fps']:g} fps)"
        if key == "bundle":
            print(f"{'bundle':16s} {value['path']}")
            for name in value["components"]:
                print(f"{'  component':16s} {name}")
            for name in value["missing"]:
                print(f"{'  missing':16s} {name}")
            for problem in value["problems"]:
                print(f"{'  problem':16s} {problem}")
            continue
        print(f"{key:16s} {value}")
    return 0
