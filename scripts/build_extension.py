"""Build the Motion Copilot Blender extension zips with Blender's own extension tool.

    python scripts/build_extension.py                 # dist/motion_copilot-<ver>-<platform>.zip, pyzmq bundled
    python scripts/build_extension.py --no-wheels     # one zip without wheels (pyzmq must already be importable)

The manifest sits at the repository top level and the code in blender_addon/, so the build stages
both into one directory (plus wheels/), then runs `blender_ext.py validate` and `build` (the
script Blender itself uses for `blender --command extension ...`; it ships inside the `bpy` wheel
and runs with plain Python, so no Blender binary is needed). Wheels are downloaded once with
`pip download` into a cache directory (default build/wheels, not committed); the manifest's
`wheels` list is the single place that names them.

Why one wheel per CPython minor version: Blender derives the Python versions an extension runs
on from its wheel file names (`python_versions_from_wheels` in Blender's
scripts/addons_core/bl_pkg/cli/blender_ext.py). A stable-ABI wheel (`cp312-abi3`) counts as
plain "3", and "3" is dropped as soon as any version-specific wheel (`cp311-cp311`) is present,
so cp311 + cp312-abi3 reads as "3.11 only" and Blender 5.1+ (Python 3.13) refuses the zip. The
manifest therefore names cp311, cp312, cp313 and cp314 wheels. pyzmq publishes only cp312-abi3
builds for CPython >= 3.12, so those entries are the abi3 wheel re-tagged to the narrower,
still true, `cpXY-cpXY` tag (the same operation as `wheel tags --python-tag cpXY --abi-tag cpXY`
from pypa/wheel): its `_zmq.abi3.so` loads on every CPython >= 3.12. At install time Blender
picks the one wheel whose tag matches its own Python (`_extensions_wheel_filter_for_this_system`
in bl_pkg/bl_extension_ops.py).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import importlib.util
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
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


def wheel_tags(wheel_name: str) -> tuple[str, str, str, str, str]:
    """(distribution, version, python tag, abi tag, platform tag) of a wheel file name (PEP 427)."""
    parts = Path(wheel_name).name.removesuffix(".whl").split("-")
    if len(parts) not in (5, 6):
        raise ValueError(f"not a wheel file name: {wheel_name}")
    return parts[0], parts[1], parts[-3], parts[-2], parts[-1]


def python_version_of_tag(python_tag: str) -> tuple[int, int]:
    """'cp311' -> (3, 11)."""
    digits = python_tag[2:]
    return int(digits[0]), int(digits[1:])


def pip_download_args(wheel_name: str) -> list[str]:
    """pip download arguments that fetch this wheel or the stable-ABI wheel that serves its Python.

    For `cp313-cp313` pip is asked for CPython 3.13 with ABI cp313; pip also accepts abi3 wheels
    built for an older CPython (cp312-abi3), which is what pyzmq publishes for 3.12+."""
    dist, version, python_tag, abi_tag, platform_tag = wheel_tags(wheel_name)
    major, minor = python_version_of_tag(python_tag)
    platform = platform_tag.split(".")[-1]
    return [
        f"{dist}=={version}",
        "--no-deps",
        "--only-binary=:all:",
        "--platform",
        platform,
        "--python-version",
        f"{major}.{minor}",
        "--implementation",
        "cp",
        "--abi",
        abi_tag,
    ]


def serves(source_name: str, target_name: str) -> bool:
    """True when wheel file source_name may be installed wherever target_name may: the same
    file, or a stable-ABI (abi3) build of the same release for an older or equal CPython."""
    s_dist, s_ver, s_py, s_abi, s_plat = wheel_tags(source_name)
    t_dist, t_ver, t_py, t_abi, t_plat = wheel_tags(target_name)
    if (s_dist, s_ver, s_plat) != (t_dist, t_ver, t_plat):
        return False
    if (s_py, s_abi) == (t_py, t_abi):
        return True
    return s_abi == "abi3" and python_version_of_tag(s_py) <= python_version_of_tag(t_py)


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def retag_wheel(source: Path, target: Path) -> Path:
    """Copy wheel source to target with the python/abi tags of target's file name.

    Rewrites the `Tag:` lines of *.dist-info/WHEEL and that file's RECORD row (sha256, size);
    every other member is copied byte for byte with its original ZipInfo (mode, date)."""
    _, _, python_tag, abi_tag, platform_tag = wheel_tags(target.name)
    with zipfile.ZipFile(source) as zin:
        infos = zin.infolist()
        wheel_file = next(i.filename for i in infos if i.filename.endswith(".dist-info/WHEEL"))
        record_file = wheel_file.removesuffix("WHEEL") + "RECORD"
        lines = [ln for ln in zin.read(wheel_file).decode("utf-8").splitlines() if not ln.startswith("Tag:")]
        blank_tail = 0  # WHEEL is an email-style header block: keep its trailing blank line(s) last
        while lines and not lines[-1].strip():
            lines.pop()
            blank_tail += 1
        lines += [f"Tag: {python_tag}-{abi_tag}-{plat}" for plat in platform_tag.split(".")]
        wheel_data = ("\n".join(lines) + "\n" * (1 + blank_tail)).encode("utf-8")
        record = []
        for row in zin.read(record_file).decode("utf-8").splitlines():
            if row.split(",", 1)[0] == wheel_file:
                row = f"{wheel_file},{_record_hash(wheel_data)},{len(wheel_data)}"
            record.append(row)
        record_data = ("\n".join(record) + "\n").encode("utf-8")
        tmp = target.with_name(target.name + ".part")
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zout:
            for info in infos:
                data = {wheel_file: wheel_data, record_file: record_data}.get(info.filename)
                zout.writestr(info, zin.read(info) if data is None else data)
    tmp.replace(target)
    return target


def fetch_wheels(names: list[str], cache: Path) -> list[Path]:
    """Cached wheels named names, downloading (pip) and re-tagging (abi3 -> cpXY) what is missing."""
    cache.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names:
        path = cache / Path(name).name
        if not path.exists():
            sources = [p for p in sorted(cache.glob("*.whl")) if serves(p.name, path.name)]
            if not sources:
                with tempfile.TemporaryDirectory(prefix="wheel_dl_") as tmp:
                    cmd = [sys.executable, "-m", "pip", "download", "-q", "-d", tmp, *pip_download_args(path.name)]
                    subprocess.run(cmd, check=True)
                    for got in Path(tmp).glob("*.whl"):
                        shutil.move(str(got), cache / got.name)
                sources = [p for p in sorted(cache.glob("*.whl")) if serves(p.name, path.name)]
            if path.exists():  # pip fetched exactly this file: keep PyPI's bytes
                pass
            elif not sources:
                raise SystemExit(
                    f"pip gave no wheel that serves {path.name}; update the wheels list in {MANIFEST.name}"
                )
            else:
                retag_wheel(max(sources, key=lambda p: python_version_of_tag(wheel_tags(p.name)[2])), path)
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
