"""The export job for a cached auto candidate (gui/export_job.py): a candidate gone from the cache is a clear error.

The happy path (a measured candidate read back and exported) runs in tests/gui/test_auto.py on a real search.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from core.engine import null_reporter
from core.engine.context import CancelToken, runs_in_parent_side
from core.errors import BadInputError
from core.optimize.recipes import Recipe
from core.optimize.session import SessionOptions
from gui.export_job import export_cached_candidate


def test_a_candidate_not_in_the_cache_fails_with_one_clear_line_and_writes_nothing(tmp_path):
    candidate = SimpleNamespace(name="int8", recipe=Recipe("int8"))
    result = SimpleNamespace(
        recommended_variant=None,
        source=SimpleNamespace(sha256="ab" * 32),
        candidate=lambda name: candidate,
        settings=SimpleNamespace(cache_dir=str(tmp_path / "empty-cache"), session_options=SessionOptions),
    )
    out = tmp_path / "model.int8.tflite"
    assert runs_in_parent_side(export_cached_candidate)  # the engine runs it beside the export, not in the GUI
    with pytest.raises(BadInputError, match="int8: its model is no longer in the result cache"):
        export_cached_candidate(result, "int8", None, str(out), progress=null_reporter(), cancel=CancelToken())
    assert list(tmp_path.iterdir()) == []  # neither the model, nor a report, nor a cache folder
