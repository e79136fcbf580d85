"""Build the Litesmith desktop bundle: dist/litesmith/ (PyInstaller, one folder).

    python packaging/build.py            # build (reuses build/ from the last run)
    python packaging/build.py --clean    # build from scratch
    python packaging/build.py --check    # build, then run the bundle on a sample
    python packaging/build.py --no-strip # keep the symbol tables of TensorFlow's libraries

Prints how long the build took and how big the bundle is; both also go to
build/litesmith-build.json. Needs the `packaging` extra: pip install -e '.[packaging]'.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "packaging" / "litesmith.spec"
DIST = ROOT / "dist"
WORK = ROOT / "build"
BUNDLE = DIST / "litesmith"
EXECUTABLE = BUNDLE / "litesmith"


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


# TensorFlow's wheels ship their shared libraries with full symbol tables (.symtab and
# .strtab: 220 MB in libtensorflow_cc.so.2 alone). Nothing reads them at run time (the
# dynamic linker uses .dynsym), so the bundle's copies are stripped. Not PyInstaller's
# strip=True: that strips every library, including ones that must not be touched.
STRIP_FOLDERS = ("tensorflow", "ai_edge_litert")


def strip_libraries(bundle: Path = BUNDLE) -> int:
    """`strip --strip-unneeded` TensorFlow's and LiteRT's libraries in the bundle; returns bytes saved."""
    strip = shutil.which("strip")
    if strip is None:
        print("note: `strip` not found (binutils); the bundle keeps its symbol tables")
        return 0
    saved = 0
    for folder in STRIP_FOLDERS:
        for lib in sorted((bundle / "_internal" / folder).rglob("*.so*")):
            if lib.is_symlink() or not lib.is_file() or lib.stat().st_size < 2**20:
                continue
            before = lib.stat().st_size
            stripped = lib.with_name(lib.name + ".stripped")
            done = subprocess.run(
                [strip, "--strip-unneeded", "-o", str(stripped), str(lib)], capture_output=True, text=True
            )
            if done.returncode != 0:
                stripped.unlink(missing_ok=True)
                print(f"note: could not strip {lib.name}: {done.stderr.strip()}")
                continue
            shutil.copymode(lib, stripped)
            os.replace(stripped, lib)
            saved += before - lib.stat().st_size
    return saved


def build(clean: bool = False, strip: bool = True) -> dict:
    try:
        import PyInstaller  # noqa: F401
    except ImportError:
        sys.exit("error: PyInstaller is not installed; run: pip install -e '.[packaging]'")
    command = [
        sys.executable,
        "-m",
        "PyInstaller",
        "--noconfirm",
        "--log-level",
        "WARN",
        "--distpath",
        str(DIST),
        "--workpath",
        str(WORK),
        str(SPEC),
    ]
    if clean:
        command.insert(3, "--clean")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="tensorflow")
    started = time.monotonic()
    subprocess.run(command, cwd=ROOT, env=env, check=True)
    saved = strip_libraries() if strip else 0
    seconds = time.monotonic() - started
    record = {
        "seconds": round(seconds, 1),
        "bundle_bytes": folder_size(BUNDLE),
        "stripped_bytes": saved,
        "executable": str(EXECUTABLE.relative_to(ROOT)),
        "pyinstaller_command": command[1:],
    }
    WORK.mkdir(exist_ok=True)
    (WORK / "litesmith-build.json").write_text(json.dumps(record, indent=2) + "\n")
    print(
        f"built {EXECUTABLE.relative_to(ROOT)} in {seconds / 60:.1f} min; "
        f"bundle {record['bundle_bytes'] / 2**30:.2f} GiB ({saved / 2**20:,.0f} MiB saved by strip)"
    )
    return record


def check() -> int:
    """Run the bundle headless: --version, then `inspect` on a sample (in the engine's child)."""
    runs = [[str(EXECUTABLE), "--version"]]
    samples = sorted((ROOT / "resources" / "samples").glob("*.keras"))
    if samples:
        runs.append([str(EXECUTABLE), "inspect", str(samples[0])])
    else:
        print("note: no samples in resources/samples (make samples); only --version checked")
    for argv in runs:
        print("$", " ".join(Path(a).name if i == 0 else a for i, a in enumerate(argv)), flush=True)
        done = subprocess.run(argv, cwd=ROOT, timeout=600)
        if done.returncode != 0:
            print(f"error: the bundle exited {done.returncode}", file=sys.stderr)
            return done.returncode
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clean", action="store_true", help="discard PyInstaller's cache in build/ first")
    parser.add_argument("--check", action="store_true", help="run the built bundle on a sample")
    parser.add_argument(
        "--no-strip",
        dest="strip",
        action="store_false",
        help="keep the symbol tables of TensorFlow's and LiteRT's libraries",
    )
    args = parser.parse_args(argv)
    if shutil.which("ldd") is None:
        print("warning: ldd not found; PyInstaller needs it to find shared libraries", file=sys.stderr)
    build(clean=args.clean, strip=args.strip)
    return check() if args.check else 0


if __name__ == "__main__":
    sys.exit(main())
