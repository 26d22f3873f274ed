"""The extension zips are accepted by Blender on every Python it ships with (3.11 in 4.2-5.0, 3.13 in
5.1+, 3.12/3.14 in distribution builds) on every platform we build for.

The verdicts come from Blender's own code, not a copy: `python_versions_from_wheels` (how Blender
derives an extension's Python versions from its wheel file names) and `repository_filter_skip` (the
filter behind "Extension ... is incompatible (This Python version (3.13) isn't compatible with
(3.11))"), loaded from the blender_ext.py that ships inside the bpy wheel. Most tests need no
network: they check the manifest's wheel list and zips built from synthetic wheels; the tests on
the real pyzmq wheels skip when `python scripts/build_extension.py` has not filled the wheel cache.
"""

from __future__ import annotations

import base64
import glob
import hashlib
import importlib.util
import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "build" / "wheels"
PLATFORMS = ("linux-x64", "windows-x64", "macos-arm64", "macos-x64")
# (Blender version, its Python): official builds, then distribution builds against a system Python.
BLENDER_PYTHONS = (
    ((4, 2, 0), (3, 11, 9)),
    ((5, 0, 1), (3, 11, 13)),
    ((5, 1, 0), (3, 13, 5)),
    ((5, 1, 0), (3, 14, 0)),
    ((4, 5, 0), (3, 13, 5)),
    ((4, 2, 0), (3, 12, 3)),
)


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


build_extension = _load("build_extension", ROOT / "scripts" / "build_extension.py")


@pytest.fixture(scope="module")
def ext():
    """Blender's blender_ext.py (plain Python; found in the bpy wheel without importing bpy)."""
    if importlib.util.find_spec("bpy") is None:
        pytest.skip("the bpy wheel (which carries Blender's blender_ext.py) is not installed")
    return _load("blender_ext_for_tests", build_extension.find_blender_ext())


def blender_refusal(ext, manifest: dict, platform: str, blender: tuple, python: tuple) -> str | None:
    """Why Blender `blender` on `python` refuses the manifest, or None when it accepts it.

    Mirrors bl_pkg.manifest_compatible_with_wheel_data_or_error (Blender's check at install and
    enable time): versions from the wheels, then repository_filter_skip on the minimal item."""
    item = {"blender_version_min": manifest["blender_version_min"], "platforms": manifest["platforms"]}
    if manifest.get("wheels"):
        versions = ext.python_versions_from_wheels(manifest["wheels"])
        assert not isinstance(versions, str), versions
        item["python_versions"] = [".".join(str(i) for i in v) for v in versions]
    messages: list[str] = []

    def error_fn(ex: Exception) -> None:
        raise ex

    skip = ext.repository_filter_skip(
        item,
        filter_blender_version=blender,
        filter_platform=platform,
        filter_python_version=python,
        skip_message_fn=messages.append,
        error_fn=error_fn,
    )
    return "; ".join(messages) if skip else None


def source_manifest() -> dict:
    return tomllib.loads((ROOT / "blender_manifest.toml").read_text(encoding="utf-8"))


def zip_manifest(ext, zip_path: Path) -> dict:
    """The manifest as Blender reads it from a zip ([build.generated] platforms/wheels applied)."""
    with zipfile.ZipFile(zip_path) as zf:
        manifest = ext.pkg_manifest_from_zipfile_and_validate(zf, "", strict=False)
        assert not isinstance(manifest, str), manifest
        names = set(zf.namelist())
    data = manifest._asdict()
    for wheel in data.get("wheels") or []:
        assert wheel.removeprefix("./") in names, f"{wheel} listed but not in {zip_path.name}"
    return data


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize(("blender", "python"), BLENDER_PYTHONS)
def test_manifest_wheels_accepted_on_every_blender_python(ext, platform, blender, python):
    manifest = source_manifest()
    # What the split build writes into each zip's [build.generated] table.
    platform_manifest = dict(
        manifest, platforms=[platform], wheels=ext.paths_filter_wheels_by_platform(manifest["wheels"], platform)
    )
    assert platform_manifest["wheels"], f"no wheel for {platform}"
    assert blender_refusal(ext, platform_manifest, platform, blender, python) is None


def test_cp311_plus_abi3_is_refused_on_python_313(ext):
    """The check can fail: the old wheel pair reads as '3.11 only' and Blender 5.1 refuses it."""
    manifest = dict(
        source_manifest(),
        platforms=["windows-x64"],
        wheels=["./wheels/pyzmq-27.1.0-cp311-cp311-win_amd64.whl", "./wheels/pyzmq-27.1.0-cp312-abi3-win_amd64.whl"],
    )
    assert blender_refusal(ext, manifest, "windows-x64", (5, 0, 1), (3, 11, 13)) is None
    reason = blender_refusal(ext, manifest, "windows-x64", (5, 1, 0), (3, 13, 5))
    assert reason == "This Python version (3.13) isn't compatible with (3.11)"


@pytest.mark.parametrize("platform", PLATFORMS)
def test_exactly_one_pyzmq_wheel_per_python_and_platform(ext, platform):
    """Blender installs the wheel whose cpXY tag equals its Python: one per version, no duplicates."""
    wheels = ext.paths_filter_wheels_by_platform(source_manifest()["wheels"], platform)
    for minor in (11, 12, 13, 14):
        matching = [w for w in wheels if ext.python_versions_from_wheel(Path(w).name) == {(3, minor)}]
        assert len(matching) == 1, (platform, minor, wheels)
    assert len(wheels) == 4


def fake_wheel(path: Path, tag_lines: list[str], compresslevel: int | None = None) -> Path:
    """A minimal valid wheel: a module, WHEEL (email-style header with a trailing blank line), RECORD."""
    dist, version = path.name.split("-")[:2]
    info = f"{dist}-{version}.dist-info"
    files = {
        "fakezmq/__init__.py": b"VERSION = 1\n" + b"# padding\n" * 200,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n".encode(),
        f"{info}/WHEEL": (
            "Wheel-Version: 1.0\nRoot-Is-Purelib: false\n" + "".join(t + "\n" for t in tag_lines) + "\n"
        ).encode(),
    }
    rows = [f"{name},sha256={_b64_sha(data)},{len(data)}" for name, data in files.items()] + [f"{info}/RECORD,,"]
    files[f"{info}/RECORD"] = ("\n".join(rows) + "\n").encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=compresslevel) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def _b64_sha(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


@pytest.fixture()
def synthetic_cache(tmp_path, monkeypatch) -> Path:
    """A wheel cache holding only what PyPI publishes for pyzmq (cp311 and cp312-abi3 builds) as
    synthetic wheels; pip must not be called (fetch_wheels derives cp312-cp314 from abi3)."""
    cache = tmp_path / "wheels"
    cache.mkdir()
    for wheel in source_manifest()["wheels"]:
        dist, version, python_tag, _, platform_tag = build_extension.wheel_tags(wheel)
        py, abi = ("cp311", "cp311") if python_tag == "cp311" else ("cp312", "abi3")
        name = f"{dist}-{version}-{py}-{abi}-{platform_tag}.whl"
        if not (cache / name).exists():
            fake_wheel(cache / name, [f"Tag: {py}-{abi}-{p}" for p in platform_tag.split(".")])

    real_run = subprocess.run

    def no_pip(cmd, *args, **kwargs):
        assert "pip" not in cmd, f"fetch_wheels ran {cmd} although the cache serves every wheel"
        return real_run(cmd, *args, **kwargs)

    monkeypatch.setattr(build_extension.subprocess, "run", no_pip)
    return cache


def test_abi3_serves_newer_python_only():
    abi3 = "pyzmq-27.1.0-cp312-abi3-win_amd64.whl"
    assert build_extension.serves(abi3, "pyzmq-27.1.0-cp313-cp313-win_amd64.whl")
    assert build_extension.serves(abi3, "pyzmq-27.1.0-cp314-cp314-win_amd64.whl")
    assert not build_extension.serves(abi3, "pyzmq-27.1.0-cp311-cp311-win_amd64.whl")
    assert not build_extension.serves(abi3, "pyzmq-27.1.0-cp313-cp313-macosx_10_15_universal2.whl")
    assert not build_extension.serves(
        "pyzmq-27.1.0-cp311-cp311-win_amd64.whl", "pyzmq-27.1.0-cp313-cp313-win_amd64.whl"
    )
    args = build_extension.pip_download_args("pyzmq-27.1.0-cp313-cp313-win_amd64.whl")
    assert args[0] == "pyzmq==27.1.0" and args[args.index("--python-version") + 1] == "3.13"


def test_fetch_retags_abi3_wheels_consistently(synthetic_cache):
    names = source_manifest()["wheels"]
    paths = build_extension.fetch_wheels(names, synthetic_cache)
    assert [p.name for p in paths] == [Path(n).name for n in names]
    target = next(p for p in paths if "cp313-cp313-manylinux" in p.name)
    source = synthetic_cache / target.name.replace("cp313-cp313", "cp312-abi3")
    with zipfile.ZipFile(target) as new, zipfile.ZipFile(source) as old:
        assert new.namelist() == old.namelist()
        wheel = new.read("pyzmq-27.1.0.dist-info/WHEEL").decode()
        tags = [ln for ln in wheel.splitlines() if ln.startswith("Tag:")]
        assert tags == ["Tag: cp313-cp313-manylinux_2_26_x86_64", "Tag: cp313-cp313-manylinux_2_28_x86_64"]
        assert wheel.endswith("\n\n") and wheel.index("Tag:") < wheel.index("\n\n")
        record = {r.split(",")[0]: r.split(",")[1:] for r in new.read("pyzmq-27.1.0.dist-info/RECORD").decode().split()}
        assert record["pyzmq-27.1.0.dist-info/WHEEL"] == [f"sha256={_b64_sha(wheel.encode())}", str(len(wheel))]
        assert new.read("fakezmq/__init__.py") == old.read("fakezmq/__init__.py")


def test_built_zips_accepted_on_every_blender_python(ext, synthetic_cache, tmp_path):
    """The real build (Blender's validator and builder) on synthetic wheels: four platform zips,
    each accepted by Blender's filter on every Python, each carrying its four wheels."""
    zips = build_extension.build(tmp_path / "dist", with_wheels=True, cache=synthetic_cache)
    assert sorted(z.name.rsplit("-", 1)[1] for z in zips) == sorted(f"{p.replace('-', '_')}.zip" for p in PLATFORMS)
    for zip_path in zips:
        manifest = zip_manifest(ext, zip_path)
        (platform,) = manifest["platforms"]
        assert zip_path.name.endswith(platform.replace("-", "_") + ".zip")
        assert len(manifest["wheels"]) == 4
        for blender, python in BLENDER_PYTHONS:
            assert blender_refusal(ext, manifest, platform, blender, python) is None, (zip_path.name, python)


def needs_cached_wheels() -> None:
    names = [Path(w).name for w in source_manifest()["wheels"]]
    missing = [n for n in names if not (CACHE / n).exists()]
    if missing:
        pytest.skip(f"{len(missing)} pyzmq wheels not in {CACHE}: run `python scripts/build_extension.py` once")


@pytest.fixture(scope="module")
def real_zips(ext, tmp_path_factory) -> list[Path]:
    needs_cached_wheels()
    return build_extension.build(tmp_path_factory.mktemp("dist"), with_wheels=True, cache=CACHE)


def test_real_zips_accepted_on_every_blender_python(ext, real_zips):
    assert len(real_zips) == 4
    for zip_path in real_zips:
        manifest = zip_manifest(ext, zip_path)
        (platform,) = manifest["platforms"]
        for blender, python in BLENDER_PYTHONS:
            assert blender_refusal(ext, manifest, platform, blender, python) is None, (zip_path.name, python)


def cpython(minor: int) -> str | None:
    """A CPython 3.<minor> interpreter on this machine (PATH or pyenv), or None."""
    candidates = [f"/usr/bin/python3.{minor}", f"/usr/local/bin/python3.{minor}"]
    candidates += sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/3.{minor}.*/bin/python3.{minor}")))
    for exe in candidates:
        if os.access(exe, os.X_OK):
            return exe
    return None


@pytest.mark.parametrize("minor", [11, 12, 13, 14])
def test_linux_zip_pyzmq_imports_on_its_python(real_zips, tmp_path, minor):
    """The wheel Blender would pick for Python 3.<minor> imports zmq there (the re-tagged abi3 build
    included); skips for interpreters this machine lacks."""
    if sys.platform != "linux":
        pytest.skip("the Linux wheels only import on Linux")
    exe = cpython(minor)
    if exe is None:
        pytest.skip(f"no CPython 3.{minor} interpreter on this machine")
    (linux,) = [z for z in real_zips if z.name.endswith("linux_x64.zip")]
    with zipfile.ZipFile(linux) as zf:
        (wheel,) = [n for n in zf.namelist() if f"-cp3{minor}-cp3{minor}-" in n]
        zf.extract(wheel, tmp_path)
    with zipfile.ZipFile(tmp_path / wheel) as zf:
        zf.extractall(tmp_path / "site")
    code = "import sys, zmq; print(sys.version_info[:2], zmq.pyzmq_version(), zmq.zmq_version())"
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "site"))
    out = subprocess.run([exe, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.startswith(f"(3, {minor}) 27.1.0"), out.stdout


BPY_INSTALL = """
import glob, os, sys
import bpy
bpy.ops.wm.read_factory_settings(use_empty=True)
bpy.ops.extensions.package_install_files(filepath=sys.argv[1], repo="user_default", enable_on_install=True)
site = os.environ["BLENDER_USER_RESOURCES"] + "/extensions/.local/lib/python*/site-packages"
tags = sorted(open(p).read().count("Tag: cp311-cp311-") for p in glob.glob(site + "/pyzmq-*.dist-info/WHEEL"))
print("RESULT", "bl_ext.user_default.motion_copilot" in bpy.context.preferences.addons, tags)
"""


def test_bpy_installs_linux_zip_with_the_wheel_for_its_python(real_zips, tmp_path):
    """bpy (Blender 5.0, Python 3.11) installs the real Linux zip, enables the add-on and unpacks
    exactly one pyzmq: the cp311 wheel of the four. A subprocess: one extension id per bpy process."""
    if sys.platform != "linux" or sys.version_info[:2] != (3, 11):
        pytest.skip("needs the Linux bpy module on Python 3.11")
    (linux,) = [z for z in real_zips if z.name.endswith("linux_x64.zip")]
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(tmp_path / "user"))
    out = subprocess.run(
        [sys.executable, "-c", BPY_INSTALL, str(linux)], env=env, capture_output=True, text=True, timeout=120
    )
    assert "RESULT True [2]" in out.stdout, (out.stdout + out.stderr)[-2000:]


def test_fetched_exact_wheel_keeps_pypi_bytes(tmp_path, monkeypatch):
    """A wheel pip fetches under its own name is cached as is (not rewritten), so the zip carries
    PyPI's file. pip is stood in for by a function that 'downloads' a synthetic wheel (no network)."""
    name = "pyzmq-27.1.0-cp311-cp311-win_amd64.whl"
    # Deflate level 1: bytes a rewrite (level 6) would change.
    original = fake_wheel(tmp_path / name, ["Tag: cp311-cp311-win_amd64"], compresslevel=1).read_bytes()
    real_run = subprocess.run

    def fake_pip(cmd, *args, **kwargs):
        if "pip" not in cmd:
            return real_run(cmd, *args, **kwargs)
        (Path(cmd[cmd.index("-d") + 1]) / name).write_bytes(original)
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(build_extension.subprocess, "run", fake_pip)
    (path,) = build_extension.fetch_wheels([f"./wheels/{name}"], tmp_path / "cache")
    assert path.read_bytes() == original
