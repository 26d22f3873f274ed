"""`motion-engine info`: versions, device, skeleton and available model components."""
from __future__ import annotations

import argparse
import json
import platform


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("info", help="print versions, device and loaded model components")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.set_defaults(run=run)


def collect_info() -> dict:
    """Facts about this engine installation, as a JSON-serialisable dict."""
    import numpy
    import torch

    from engine import __version__
    from engine.motion import skeleton

    return {
        "engine_version": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "cuda_devices": torch.cuda.device_count(),
        "skeleton": {"name": "smpl22", "joints": list(skeleton.JOINT_NAMES), "fps": skeleton.FPS},
    }


def run(args: argparse.Namespace) -> int:
    info = collect_info()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    for key, value in info.items():
        if key == "skeleton":
            value = f"{value['name']} ({len(value['joints'])} joints, {value['fps']:g} fps)"
        print(f"{key:16s} {value}")
    return 0
