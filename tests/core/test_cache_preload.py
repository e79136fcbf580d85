"""A fully cached rerun is answered in the engine's parent: no child, no TensorFlow (core.cache_index).

The first run of each command goes through an in-process engine (the jobs are the
real ones; only the process boundary is skipped) and fills a private cache; the
rerun uses the real, isolated engine with a spy on the one place a child starts
(`Engine._start_child_if_needed`) and on what is sent to a child (`Engine._send`).
"""

from __future__ import annotations

import json
import pickle
import shutil
import subprocess
import sys
import textwrap

import pytest

from core.cache import ResultCache
from core.cli import auto_mode
from core.cli import optimize as optimize_cli
from core.cli.main import main
from core.engine import Engine
from core.engine.context import CancelToken, null_reporter
from tests.conftest import REPO_ROOT

AUTO_FLAGS = [
    "--auto",
    "--min-agreement",
    "0.9",
    "-q",
    "dynamic",
    "--threads",
    "1",
    "--batch-sizes",
    "1",
    "--seconds",
    "0.05",
    "--no-prune",
    "--calibration-samples",
    "32",
]


def _untrained_classifier(folder):
    """A 3-class MLP on 8 features (random weights: these tests need its bytes, not its skill) and its data."""
    import numpy as np

    from core.tf_runtime import import_keras

    keras = import_keras()
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8,), name="features")
    hidden = keras.layers.Dense(16, activation="relu", name="hidden")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="probs")(hidden))
    rng = np.random.default_rng(0)
    x = rng.standard_normal((120, 8)).astype(np.float32)
    model.save(folder / "classifier.keras")
    np.savez(folder / "classifier.npz", x=x, y=rng.integers(0, 3, 120))
    return folder / "classifier.keras", folder / "classifier.npz"


@pytest.fixture(scope="module")
def primed(tmp_path_factory):
    """(model, data, cache folder) after one `optimize -q dynamic` and one `optimize --auto` run, in-process."""
    folder = tmp_path_factory.mktemp("preload")
    model, data = _untrained_classifier(folder)
    cache = folder / "cache"
    mp = pytest.MonkeyPatch()
    try:
        mp.setenv("LITESMITH_CACHE_DIR", str(cache))
        mp.setattr(optimize_cli, "make_engine", lambda args: Engine(isolated=False))
        mp.setattr(auto_mode, "make_engine", lambda args: Engine(isolated=False))
        base = ["optimize", str(model), "--data", str(data)]
        assert main(base + ["-q", "dynamic", "--calibration-samples", "32", "--no-export"]) == 0
        assert main(base + AUTO_FLAGS + ["--no-export"]) == 0
    finally:
        mp.undo()
    return model, data, cache


class Spy:
    """Records every child the engine starts (with its preload setting) and every job sent to a child."""

    def __init__(self, monkeypatch) -> None:
        self.started: list[bool] = []
        self.jobs: list[str] = []
        real_start, real_send = Engine._start_child_if_needed, Engine._send

        def start(engine, needs):
            self.started.append(engine.preload_tensorflow)
            return real_start(engine, needs)

        def send(engine, message):
            if message[0] == "job":
                self.jobs.append(message[2])
            return real_send(engine, message)

        monkeypatch.setattr(Engine, "_start_child_if_needed", start)
        monkeypatch.setattr(Engine, "_send", send)


@pytest.fixture
def isolated(primed, monkeypatch):
    """The real engine of the CLI (isolated child), the primed cache, and a spy on the engine."""
    monkeypatch.setenv("LITESMITH_CACHE_DIR", str(primed[2]))
    return Spy(monkeypatch)


def test_cached_optimize_rerun_starts_no_child(primed, isolated, capsys):
    model, data, _ = primed
    code = main(
        [
            "optimize",
            str(model),
            "--data",
            str(data),
            "-q",
            "dynamic",
            "--calibration-samples",
            "32",
            "--no-export",
            "--json",
        ]
    )
    summary = json.loads(capsys.readouterr().out)
    assert code == 0
    assert isolated.started == [] and isolated.jobs == []
    assert [v["name"] for v in summary["variants"]] == ["dynamic"]
    assert any("result cache" in w for w in summary["variants"][0]["warnings"])


def test_cached_auto_rerun_starts_no_child(primed, isolated, capsys):
    model, data, _ = primed
    code = main(["optimize", str(model), "--data", str(data), *AUTO_FLAGS, "--no-export", "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0
    assert isolated.started == [] and isolated.jobs == []
    assert summary["all_from_cache"] and summary["recommended"] in ("fp32", "dynamic")


def test_export_of_a_cached_result_runs_only_the_smoke_run_in_a_child_without_tensorflow(
    primed, isolated, tmp_path, capsys
):
    model, data, _ = primed
    out = tmp_path / "best.tflite"
    code = main(["optimize", str(model), "--data", str(data), *AUTO_FLAGS, "--out", str(out), "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0 and summary["all_from_cache"]
    # The exported file is written by this process; the one step sent to a child runs it once,
    # and that child was started without TensorFlow's preload.
    assert isolated.jobs == ["core.optimize.export:smoke_run_job"]
    assert isolated.started and not any(isolated.started)
    report = json.loads(out.with_name("best.report.json").read_text())
    assert report["output"]["verified"] and report["auto"]["recommended"] == summary["recommended"]
    assert out.stat().st_size == report["output"]["size_bytes"]


def test_a_fresh_process_serves_the_cached_run_without_importing_tensorflow(primed):
    model, data, cache = primed
    script = textwrap.dedent(f"""
        import json, sys
        sys.path.insert(0, {str(REPO_ROOT)!r})
        from core.engine import Engine

        def refuse(*args, **kwargs):
            raise SystemExit("a child was started")

        Engine._start_child_if_needed = refuse
        from core.cli.main import main
        code = main({["optimize", str(model), "--data", str(data), *AUTO_FLAGS, "--no-export", "--json"]!r})
        print(json.dumps({{"code": code, "tensorflow": "tensorflow" in sys.modules, "keras": "keras" in sys.modules}}))
    """)
    env = {**__import__("os").environ, "LITESMITH_CACHE_DIR": str(cache)}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    last = json.loads(done.stdout.strip().splitlines()[-1])
    assert last == {"code": 0, "tensorflow": False, "keras": False}


def _flip_last_byte(src, dst) -> None:
    shutil.copy(src, dst)
    raw = bytearray(dst.read_bytes())
    raw[-1] ^= 0x01
    dst.write_bytes(bytes(raw))


def test_one_changed_byte_of_model_data_or_recipe_misses(primed, tmp_path):
    from core.auto import AutoBudget, AutoSettings
    from core.cache_index import _auto_hit, auto_index_key
    from core.data.loaders import DataSpec
    from core.models.hashing import sha256_path
    from core.optimize.pipeline import cached_result, data_cache_parts

    model, data, folder = primed
    cache = ResultCache(folder)

    def optimize_hit(model_path, data_path, modes=("dynamic",)):
        return cached_result(
            str(model_path),
            list(modes),
            DataSpec(path=str(data_path), calibration_samples=32),
            progress=null_reporter(),
            cancel=CancelToken(),
            cache=cache,
        )

    def auto_hit(model_path, data_path):
        spec = DataSpec(path=str(data_path), calibration_samples=32)
        parts = data_cache_parts(spec)
        sha = sha256_path(model_path)
        key = auto_index_key(sha, parts, AutoBudget(min_agreement=0.9), auto_settings)
        return _auto_hit(cache, key, sha, parts, str(model_path), auto_settings, 0.0)

    # What `optimize --auto` makes of AUTO_FLAGS (an independent spelling of the same settings).
    auto_settings = AutoSettings(
        modes=("fp32", "dynamic"), threads=(1,), batch_sizes=(1,), seconds_per_config=0.05, pruning="never"
    )
    assert optimize_hit(model, data) is not None
    assert auto_hit(model, data) is not None
    other_model, other_data = tmp_path / "changed.keras", tmp_path / "changed.npz"
    _flip_last_byte(model, other_model)
    _flip_last_byte(data, other_data)
    assert optimize_hit(other_model, data) is None and auto_hit(other_model, data) is None
    assert optimize_hit(model, other_data) is None and auto_hit(model, other_data) is None
    assert optimize_hit(model, data, modes=("float16",)) is None
    assert optimize_hit(model, data, modes=("dynamic", "int8")) is None
    # The same bytes under another name are the same inputs: a hit, reported under the new path.
    renamed = tmp_path / "renamed.keras"
    shutil.copy(model, renamed)
    hit = auto_hit(renamed, data)
    assert hit is not None and hit.source.path == str(renamed)


class _RunsCode:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.mkdir, (self.marker,))


def test_a_malicious_or_forged_index_entry_is_refused(tmp_path):
    from core.auto import AutoBudget, AutoSettings
    from core.cache_index import AutoIndexEntry, _auto_hit, auto_index_key

    cache = ResultCache(tmp_path / "cache")
    cache.folder.mkdir(parents=True)
    settings = AutoSettings()
    key = auto_index_key("0" * 64, {"path": None}, AutoBudget(), settings)
    marker = tmp_path / "ran"
    (cache.folder / f"{key}.pkl").write_bytes(pickle.dumps(_RunsCode(str(marker))))
    assert _auto_hit(cache, key, "0" * 64, {}, "m.keras", settings, 0.0) is None
    assert not marker.exists() and not (cache.folder / f"{key}.pkl").exists()  # refused, then dropped
    # An entry that names a file outside the cache as "the recommended variant" is a miss; the file is untouched.
    victim = tmp_path / "victim.pkl"
    victim.write_bytes(b"not a pickle")

    class Result:  # only its type matters before the name is checked
        pass

    from core.auto.results import AutoResult

    fields = {name: None for name in AutoResult.__dataclass_fields__}
    fields.update(candidates=(), pareto=(), reasons=(), recommended="int8", recommended_variant=None, cancelled=False)
    forged = AutoIndexEntry(result=AutoResult(**fields), variant_key="../victim")
    assert cache.put(key, forged)
    assert _auto_hit(cache, key, "0" * 64, {}, "m.keras", settings, 0.0) is None
    assert victim.read_bytes() == b"not a pickle"


def test_a_child_cannot_deliver_index_entries(tmp_path):
    from core.cache import outbox_folder

    cache = ResultCache(tmp_path / "cache")
    outbox = outbox_folder(cache.folder, tmp_path / "outbox")
    outbox.mkdir(parents=True)
    (outbox / "index-auto-0123.pkl").write_bytes(pickle.dumps(1))
    (outbox / "variant-0123.pkl").write_bytes(pickle.dumps(2))
    assert cache.import_outbox(tmp_path / "outbox") == 1
    assert cache.get("variant-0123") == 2 and cache.get("index-auto-0123") is None


def test_hashing_and_lookup_import_no_tensorflow():
    """The modules the parent uses for a lookup import neither TensorFlow nor Keras (a fresh interpreter)."""
    script = (
        "import sys; sys.path.insert(0, %r); import core.cache_index, core.cli.main, core.cli.optimize; "
        "from core.cache_index import auto_index_key, bench_index_key; "
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)" % str(REPO_ROOT)
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False"]


def test_a_miss_passes_the_childs_error_through_unchanged(tmp_path):
    """On a miss the job runs in the child; its error (kind, message, path) reaches the caller as it was."""
    from core.cache_index import optimize_cached
    from core.engine.child import run_job
    from core.engine.events import ErrorEvent
    from core.errors import ErrorKind, JobError, JobFailed

    error = JobError(ErrorKind.BAD_INPUT, "labels do not fit", path="data.npz", details="why")

    class FailingChild:
        def run(self, fn, *args, **kwargs):
            raise JobFailed(error)

    model = tmp_path / "m.keras"
    model.write_bytes(b"not opened: the cache is empty")
    event = run_job(
        optimize_cached,
        (str(model), ["dynamic"]),
        {"cache": ResultCache(tmp_path / "cache"), "child": FailingChild()},
        null_reporter(),
        CancelToken(),
    )
    assert isinstance(event, ErrorEvent) and event.error == error
