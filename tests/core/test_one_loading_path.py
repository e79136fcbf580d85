"""One loading path: a broken import on the way to a model load fails loudly, never an unchecked load.

Issue 13: two callers used to catch `ImportError` from `core.models.loading` and then call
`keras.saving.load_model` themselves, skipping the zip, HDF5 and Lambda checks. These tests
break an import the load needs and check that the error reaches the caller and that Keras'
loader is never reached. No TensorFlow import: Keras is a recording fake.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

SAMPLE = Path(__file__).resolve().parents[2] / "resources" / "samples" / "digits.keras"


@pytest.fixture
def fake_keras(monkeypatch):
    """`core.tf_runtime.import_keras` returns a Keras whose loader records every call."""
    import core.tf_runtime as tf_runtime

    calls: list[str] = []

    def load_model(path, **kwargs):
        calls.append(str(path))
        raise AssertionError("Keras' loader was reached")

    keras = types.SimpleNamespace(
        models=types.SimpleNamespace(load_model=load_model), saving=types.SimpleNamespace(load_model=load_model)
    )
    monkeypatch.setattr(tf_runtime, "import_keras", lambda: keras)
    monkeypatch.setattr(tf_runtime, "import_tensorflow", lambda: pytest.fail("TensorFlow imported"))
    return calls


def test_the_benchmark_loader_has_no_fallback_when_loading_is_broken(fake_keras, monkeypatch):
    from core.benchmark.tf_runners import load_keras

    monkeypatch.setitem(sys.modules, "core.models.loading", None)  # `import` of it raises ImportError
    with pytest.raises(ImportError, match="core.models.loading"):
        load_keras(SAMPLE)
    assert fake_keras == []


def test_opening_a_source_has_no_fallback_when_loading_is_broken(fake_keras, monkeypatch):
    from core.optimize.source import open_source

    monkeypatch.setitem(sys.modules, "core.models.loading", None)
    with pytest.raises(ImportError, match="core.models.loading"):
        open_source(str(SAMPLE))
    assert fake_keras == []


def test_a_missing_keras_internal_is_an_import_error_not_a_bad_model(fake_keras, monkeypatch):
    """The load patches (no writes beside the input) are not optional: without them, no load."""
    from core.models.loading import load_keras_model

    monkeypatch.setitem(sys.modules, "keras.src.saving", None)
    with pytest.raises(ImportError, match="keras.src.saving"):
        load_keras_model(SAMPLE)
    assert fake_keras == []


def test_a_keras_without_the_patched_functions_is_refused_by_name(fake_keras, monkeypatch):
    from core.models.loading import load_keras_model

    saving_lib = types.SimpleNamespace(get_temp_dir=lambda: "/tmp")  # is_memory_sufficient is gone
    monkeypatch.setitem(sys.modules, "keras.src.saving", types.SimpleNamespace(saving_lib=saving_lib))
    with pytest.raises(ImportError, match="is_memory_sufficient"):
        load_keras_model(SAMPLE)
    assert fake_keras == []


def test_the_engine_reports_a_broken_import_as_an_internal_error(fake_keras, monkeypatch):
    """What the user sees: the child's job error is INTERNAL (exit 70) naming the import, not "bad model"."""
    from core.engine.child import run_job
    from core.engine.context import CancelToken, Reporter
    from core.errors import ErrorKind
    from core.models.inspection import inspect_model

    monkeypatch.setitem(sys.modules, "keras.src.saving", None)
    event = run_job(inspect_model, (str(SAMPLE),), {}, Reporter(lambda event: None), CancelToken())
    assert event.error.kind == ErrorKind.INTERNAL
    assert "keras.src.saving" in event.error.message
    assert fake_keras == []
