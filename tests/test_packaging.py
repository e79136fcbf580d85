"""Packaging: the PyInstaller bundle builds, and runs Litesmith without Python.

The bundle tests (marked `slow`) build dist/litesmith/ with packaging/build.py, the same
build as `make package`, then run the frozen app: `--version`, `inspect` on a Keras and a
.tflite model (each job in the engine's spawned child, inside the bundle) and the GUI
offscreen on a sample shipped in the bundle.

Cost, measured on the 2-core dev machine: from an empty build/ the whole module takes
175 s (152 s of it the build; 2.7 to 4 min while other jobs shared the cores) and writes
1.6 GB to dist/ and 0.13 GB to build/. That fits CI's budget, so the tests run with the
rest of `slow` when PyInstaller is installed (the `packaging` extra) and are skipped,
with the reason, when it is not.
    LITESMITH_TEST_PACKAGING=0       skip them (e.g. a quick local `make test`)
    LITESMITH_BUNDLE=dist/litesmith  test an existing bundle instead of building one
The cheap checks at the bottom (desktop entry, icon, spec, frozen entry) always run.
"""

from __future__ import annotations

import ast
import configparser
import json
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGING = REPO / "packaging"
ICONS = REPO / "resources" / "icons"
SAMPLES = REPO / "resources" / "samples"


def bundle_test(fn):
    """Marks a test that needs the built bundle."""
    for mark in (
        pytest.mark.slow,
        pytest.mark.timeout(1800),  # the first test pays for the build
        pytest.mark.skipif(os.environ.get("LITESMITH_TEST_PACKAGING") == "0", reason="LITESMITH_TEST_PACKAGING=0"),
    ):
        fn = mark(fn)
    return fn


def _frozen_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}  # no help from this venv
    env.pop("LITESMITH_VALIDATE_JSON", None)  # the bundle has no jsonschema: the tests validate its output
    env.update(QT_QPA_PLATFORM="offscreen", TF_CPP_MIN_LOG_LEVEL="2", **extra)
    return env


@pytest.fixture(scope="module")
def bundle() -> Path:
    """The built one-folder app: LITESMITH_BUNDLE, else a fresh build into dist/litesmith."""
    given = os.environ.get("LITESMITH_BUNDLE")
    if given:
        folder = Path(given).resolve()
        assert (folder / "litesmith").is_file(), f"LITESMITH_BUNDLE={given} has no litesmith executable"
        return folder
    pytest.importorskip("PyInstaller", reason="PyInstaller not installed: pip install -e '.[packaging]'")
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, str(PACKAGING / "build.py")], cwd=REPO, capture_output=True, text=True, timeout=1700
    )
    assert done.returncode == 0, f"build failed:\n{done.stdout[-4000:]}\n{done.stderr[-8000:]}"
    print(f"bundle built in {time.monotonic() - started:.0f} s")
    return REPO / "dist" / "litesmith"


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    """A tiny .keras model and its .tflite, made by this venv's TensorFlow in a subprocess."""
    folder = tmp_path_factory.mktemp("packaging-models")
    script = (
        "import sys, tensorflow as tf, keras\n"
        "m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name='dense')])\n"
        "m.save(sys.argv[1])\n"
        "open(sys.argv[2], 'wb').write(tf.lite.TFLiteConverter.from_keras_model(m).convert())\n"
    )
    keras_path, tflite_path = folder / "tiny.keras", folder / "tiny.tflite"
    done = subprocess.run(
        [sys.executable, "-c", script, str(keras_path), str(tflite_path)],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="tensorflow"),
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return {"keras": keras_path, "tflite": tflite_path}


def run_bundle(bundle: Path, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(bundle / "litesmith"), *args],
        cwd=bundle.parent,
        env=_frozen_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@bundle_test
def test_bundle_starts_without_python(bundle):
    version = run_bundle(bundle, "--version")
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith("litesmith "), version.stdout
    helped = run_bundle(bundle, "--help")
    assert helped.returncode == 0, helped.stderr
    assert "inspect" in helped.stdout  # the commands loaded with importlib made it into the bundle


@bundle_test
@pytest.mark.parametrize("kind", ["keras", "tflite"])
def test_bundle_inspects_in_the_engine_child(bundle, models, kind):
    """`litesmith inspect` from the bundle: the job runs in a spawned child of the frozen app."""
    import psutil

    model = models[kind]
    process = subprocess.Popen(
        [str(bundle / "litesmith"), "inspect", "--json", str(model)],
        cwd=bundle.parent,
        env=_frozen_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Every argv each child showed: one caught between its fork and its exec shows the
    # parent's argv first and the engine's `--multiprocessing-fork` argv only after.
    seen: dict[int, set[tuple[str, ...]]] = {}
    parent = psutil.Process(process.pid)
    while process.poll() is None:  # watch the child the engine starts
        try:
            for child in parent.children(recursive=True):
                seen.setdefault(child.pid, set()).add(tuple(child.cmdline()))
        except psutil.Error:
            pass
        time.sleep(0.01)
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    entries = json.loads(out)
    assert len(entries) == 1 and "error" not in entries[0], entries
    from core.schemas import INSPECT, validate

    assert validate(entries) == INSPECT
    assert str(model) in json.dumps(entries[0])

    # The engine's child is the frozen app started as `litesmith --multiprocessing-fork ...`.
    # Had freeze_support() not diverted it, it would have parsed that as the CLI, exited 2,
    # and the job above would have failed as "the model engine crashed". (Children seen
    # with the parent's own argv are forks caught before their exec, e.g. ldconfig.)
    argvs = [argv for shown in seen.values() for argv in shown]
    forks = [argv for argv in argvs if "--multiprocessing-fork" in argv]
    assert forks, f"no engine child seen; children: {seen}"
    assert all(Path(argv[0]).name == "litesmith" for argv in forks), forks


@bundle_test
def test_bundle_ships_the_samples_and_opens_one_in_the_gui(bundle, models, tmp_path):
    shipped = bundle / "_internal" / "resources" / "samples"
    repo_samples = sorted(p.name for p in SAMPLES.iterdir()) if SAMPLES.is_dir() else []
    if repo_samples:
        assert sorted(p.name for p in shipped.iterdir()) == repo_samples
        model = next((shipped / n for n in ("digits.keras", *repo_samples) if (shipped / n).is_file()), None)
    else:
        model = None
    model = model or models["tflite"]
    shot = tmp_path / "window.png"
    done = run_bundle(bundle, "gui", str(model), "--screenshot", str(shot))
    assert done.returncode == 0, done.stderr
    assert shot.stat().st_size > 10_000


# -- cheap checks: always run ------------------------------------------------------


def test_desktop_entry_is_complete():
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # keys are case-sensitive
    entry.read(PACKAGING / "litesmith.desktop", encoding="utf-8")
    section = entry["Desktop Entry"]
    assert section["Type"] == "Application"
    assert section["Name"] == "Litesmith"
    assert section["Exec"].split()[0] == "litesmith"
    assert section["Icon"] == "litesmith"
    assert (ICONS / f"{section['Icon']}.png").is_file()
    assert section["Categories"].endswith(";")
    assert section["Terminal"] == "false"


def test_icon_is_a_256_png_rendered_from_the_svg():
    data = (ICONS / "litesmith.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (256, 256)
    assert (ICONS / "litesmith.svg").read_text().lstrip().startswith("<?xml")


def test_frozen_entry_calls_freeze_support_before_anything_else():
    tree = ast.parse((PACKAGING / "litesmith_main.py").read_text())
    main_block = next(node for node in tree.body if isinstance(node, ast.If))
    first = main_block.body[0]
    assert isinstance(first, ast.Expr) and ast.unparse(first.value) == "multiprocessing.freeze_support()"


def test_spec_collects_what_tensorflow_and_the_engine_need():
    spec = (PACKAGING / "litesmith.spec").read_text()
    for needed in (
        '"ml_dtypes"',
        'collect_submodules("core")',
        'collect_submodules("gui")',
        '"ai_edge_litert"',
        '"resources/samples/*"',
        "litesmith_main.py",
        '"tensorboard"',
    ):
        assert needed in spec, needed
    called = {
        node.func.id
        for node in ast.walk(ast.parse(spec))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }
    assert "collect_all" not in called  # collect_all('tensorflow') would copy 430 MB of C++ headers


def test_install_script_parses():
    script = PACKAGING / "install.sh"
    assert os.access(script, os.X_OK)
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
