"""Build the Motion Copilot Blender extension zips with Blender's own extension tool.

    python scripts/build_extension.py                 # dist/motion_copilot-<ver>-<platform>.zip, pyzmq bundled
    python scripts/build_extension.py --no-wheels     # one zip without wheels (pyzmq must already be importable)

The manifest sits at the repository top level and the code in blender_addon/, so the build stages
both into one directory (plus wheels/), then runs `blender_ext.py validate` and `build` (the
script Blender itself uses for `blender --command extension ...`; it ships inside the `bpy` wheel
and runs with plain Python, so no Blender binary is needed). Wheels are downloaded once with
`pip download` into a cache directory (default build/wheels, not committed); the manifest's
`wheels` list is the single place that names them.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = None

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "blender_manifest.toml"
ADDON_DIR = ROOT / "blender_addon"
WHEELS_BLOCK = re.compile(r"^wheels\s*=\s*\[.*?\]\s*$", re.S | re.M)
PLATFORMS_LINE = re.compile(r"^platforms\s*=.*$", re.M)


def find_blender_ext() -> Path:
    """Path of bl_pkg/cli/blender_ext.py inside the installed bpy wheel (without importing bpy)."""
    spec = importlib.util.find_spec("bpy")
    if spec is None:
        raise SystemExit("the bpy module is not installed: pip install bpy==5.0.1, or pass --blender-ext PATH")
    roots = list(spec.submodule_search_locations or [Path(spec.origin).parent])
    for root in roots:
        hits = sorted(Path(root).glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
        if hits:
            return hits[-1]
    raise SystemExit(f"blender_ext.py not found under {roots}; pass --blender-ext PATH")


def manifest_wheels(text: str) -> list[str]:
    if tomllib is not None:
        return list(tomllib.loads(text).get("wheels", []))
    match = WHEELS_BLOCK.search(text)
    return re.findall(r'"([^"]+\.whl)"', match.group(0)) if match else []


def pip_download_args(wheel_name: str) -> list[str]:
    """pip download arguments that fetch exactly this wheel file (name per PEP 427)."""
    dist, version, python_tag, abi_tag, platform_tag = Path(wheel_name).stem.split("-")[-5:]
    # cp312-abi3 serves every CPython >= 3.12; Blender 5.1+ embeds 3.13.
    python_version = "3.13" if abi_tag == "abi3" else f"{python_tag[2]}.{python_tag[3:]}"
    platform = platform_tag.split(".")[-1]
    return [
        f"{dist}=={version}",
        "--no-deps",
        "--only-binary=:all:",
        "--platform",
        platform,
        "--python-version",
        python_version,
        "--implementation",
        "cp",
        "--abi",
        abi_tag,
    ]


def fetch_wheels(names: list[str], cache: Path) -> list[Path]:
    cache.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names:
        path = cache / Path(name).name
        if not path.exists():
            cmd = [sys.executable, "-m", "pip", "download", "-q", "-d", str(cache), *pip_download_args(path.name)]
            subprocess.run(cmd, check=True)
            if not path.exists():
                raise SystemExit(f"pip did not produce {path.name}; update the wheels list in {MANIFEST.name}")
        paths.append(path)
    return paths


def stage(staging: Path, with_wheels: bool, cache: Path) -> Path:
    """Copy manifest + add-on code (+ wheels) into staging/; returns the staged directory."""
    shutil.copytree(ADDON_DIR, staging, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    text = MANIFEST.read_text(encoding="utf-8")
    if with_wheels:
        wheels_dir = staging / "wheels"
        wheels_dir.mkdir()
        for path in fetch_wheels(manifest_wheels(text), cache):
            shutil.copy2(path, wheels_dir / path.name)
    else:
        # Without wheels the zip is platform independent and relies on an importable pyzmq.
        text = PLATFORMS_LINE.sub("", WHEELS_BLOCK.sub("", text))
    (staging / "blender_manifest.toml").write_text(text, encoding="utf-8")
    return staging


def run_ext(blender_ext: Path, *args: str) -> str:
    proc = subprocess.run([sys.executable, str(blender_ext), *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"blender_ext.py {args[0]} failed:\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def build(
    output_dir: Path,
    with_wheels: bool = True,
    cache: Path | None = None,
    split_platforms: bool = True,
    blender_ext: Path | None = None,
) -> list[Path]:
    """Validate and build the extension; returns the zip files written to output_dir."""
    blender_ext = blender_ext or find_blender_ext()
    cache = cache or ROOT / "build" / "wheels"
    output_dir.mkdir(parents=True, exist_ok=True)
    before = set(output_dir.glob("*.zip"))
    with tempfile.TemporaryDirectory(prefix="motion_copilot_ext_") as tmp:
        staged = stage(Path(tmp) / "motion_copilot", with_wheels, cache)
        run_ext(blender_ext, "validate", str(staged))
        args = ["build", "--source-dir", str(staged), "--output-dir", str(output_dir)]
        if with_wheels and split_platforms:
            args.append("--split-platforms")
        run_ext(blender_ext, *args)
    zips = sorted(set(output_dir.glob("*.zip")) - before) or sorted(output_dir.glob("*.zip"))
    for path in zips:
        run_ext(blender_ext, "validate", str(path))
    return zips


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", type=Path, default=ROOT / "dist")
    parser.add_argument(
        "--no-wheels", action="store_true", help="build one zip without pyzmq wheels (for tests and offline builds)"
    )
    parser.add_argument("--wheel-cache", type=Path, default=ROOT / "build" / "wheels")
    parser.add_argument("--single-zip", action="store_true", help="one zip with every platform's wheels")
    parser.add_argument("--blender-ext", type=Path, default=None, help="path of Blender's blender_ext.py")
    args = parser.parse_args(argv)
    zips = build(args.output_dir, not args.no_wheels, args.wheel_cache, not args.single_zip, args.blender_ext)
    for path in zips:
        print(f"{path}  {path.stat().st_size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
