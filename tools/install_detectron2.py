#!/usr/bin/env python
"""Install Detectron2's Python package into the running interpreter, if it is missing.

Detectron2 has no official PyPI release. PyPI's ``sal-detectron2==0.7.2`` is a build
of Detectron2's main branch tagged cp310 only; its pure-Python ``detectron2/`` package
runs on Python 3.11. We install exactly that package, leaving out
the wheel's stray top-level ``tools/`` and its cp310 ``_C`` extension. A Detectron2
that already imports (e.g. built from source) is left untouched.
"""
import argparse
import importlib.util
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from pathlib import Path

WHEEL_SPEC = "sal-detectron2==0.7.2"


def detectron2_importable() -> bool:
    return importlib.util.find_spec("detectron2") is not None


def download_wheel(dest: Path) -> Path:
    subprocess.check_call(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
         "--only-binary=:all:", "--python-version", "3.10", WHEEL_SPEC, "-d", str(dest)]
    )
    wheels = sorted(dest.glob("sal_detectron2-*.whl"))
    if not wheels:
        raise SystemExit(f"pip download of {WHEEL_SPEC} produced no wheel in {dest}")
    return wheels[0]


def extract_package(wheel: Path, site_packages: Path) -> int:
    """Copy ``detectron2/**`` (minus compiled extensions) out of the wheel."""
    count = 0
    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            if not name.startswith("detectron2/") or name.endswith((".so", ".pyd")):
                continue
            if name.endswith("/"):
                continue
            target = site_packages / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(zf.read(name))
            count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="install even if detectron2 imports")
    args = parser.parse_args()
    if detectron2_importable() and not args.force:
        print("detectron2 already importable; leaving it as it is")
        return
    site_packages = Path(sysconfig.get_paths()["purelib"])
    with tempfile.TemporaryDirectory() as tmp:
        wheel = download_wheel(Path(tmp))
        n = extract_package(wheel, site_packages)
    print(f"installed detectron2 ({n} files from {wheel.name}) into {site_packages}")


if __name__ == "__main__":
    main()
