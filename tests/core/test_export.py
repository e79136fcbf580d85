"""Exporting a variant: atomic write, sidecar report, load-back check, never over the input, no partial files."""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np
import pytest

from core.optimize.convert import NAMED_EXPORT

from core.data import DataSpec
from core.engine import CancelToken, null_reporter
from core.engine.context import Reporter
from core.errors import BadInputError, Cancelled, ConversionError
from core.optimize.export import REPORT_SCHEMA, export_variant, report_path_for
from tests.core.optimize_models import classifier


@pytest.fixture(scope="module")
def optimized(tmp_path_factory):
    from core.optimize.pipeline import optimize_model

    model, data = classifier(tmp_path_factory.mktemp("export"))
    result = optimize_model(
        str(model),
        ["fp32", "int8"],
        DataSpec(path=str(data), calibration_samples=32),
        progress=null_reporter(),
        cancel=CancelToken(),
    )
    return model, result


def export(result, variant, out, **kwargs):
    return export_variant(
        variant,
        str(out),
        progress=kwargs.pop("progress", null_reporter()),
        cancel=kwargs.pop("cancel", CancelToken()),
        source=result.source,
        data=result.data,
        baseline_size_bytes=result.baseline_size_bytes,
        original_evaluation=result.original_evaluation,
        **kwargs,
    )


def test_export_writes_model_and_report(optimized, tmp_path):
    model, result = optimized
    variant = result.variant("int8")
    out = tmp_path / "fast.tflite"
    exported = export(result, variant, out)
    assert out.read_bytes() == variant.tflite_bytes
    assert exported.verified and exported.sha256 == hashlib.sha256(variant.tflite_bytes).hexdigest()
    report_file = tmp_path / "fast.report.json"
    assert exported.report_path == str(report_file)
    report = json.loads(report_file.read_text())
    assert report["schema"] == REPORT_SCHEMA and report["version"] == 1
    assert report["source"]["sha256"] == result.source.sha256
    assert report["source"]["path"] == str(model)
    assert report["recipe"]["name"] == "int8" and report["mode"] == "int8"
    assert report["output"]["size_bytes"] == variant.size_bytes and report["output"]["verified"]
    assert report["size_ratio"] == pytest.approx(variant.size_ratio)
    assert report["converter_path"] == NAMED_EXPORT
    assert report["evaluation"]["fidelity"]["top1_agreement"] > 0.9
    assert report["synthetic_data"] is False
    env = report["environment"]
    assert env["tensorflow"].startswith("2.") and env["keras"].startswith("3.") and env["ai_edge_litert"] and env["cpu"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fast.report.json", "fast.tflite"]  # no temp files


def test_report_path_for():
    assert report_path_for("/a/b/model.int8.tflite").name == "model.int8.report.json"
    assert report_path_for("/a/b/model").name == "model.report.json"


def test_export_replaces_an_existing_output_whole(optimized, tmp_path):
    _, result = optimized
    out = tmp_path / "m.tflite"
    out.write_bytes(b"old")
    export(result, result.variant("fp32"), out)
    assert out.read_bytes() == result.variant("fp32").tflite_bytes


def test_export_never_writes_over_the_input(optimized):
    model, result = optimized
    before = model.read_bytes()
    with pytest.raises(BadInputError, match="over the input"):
        export(result, result.variant("fp32"), model)
    assert model.read_bytes() == before


def test_cancelled_export_leaves_no_file(optimized, tmp_path):
    _, result = optimized
    token = CancelToken()

    def sink(event):
        if "loading the written file back" in getattr(event, "message", ""):
            token.cancel()

    with pytest.raises(Cancelled):
        export(result, result.variant("int8"), tmp_path / "x.tflite", progress=Reporter(sink), cancel=token)
    assert os.listdir(tmp_path) == []


def test_cancel_before_the_report_takes_the_model_back(optimized, tmp_path):
    _, result = optimized
    token = CancelToken()

    def sink(event):
        if "exported" not in getattr(event, "message", "") and "report.json" in getattr(event, "message", ""):
            token.cancel()

    with pytest.raises(Cancelled):
        export(result, result.variant("int8"), tmp_path / "x.tflite", progress=Reporter(sink), cancel=token)
    assert os.listdir(tmp_path) == []


def test_export_of_an_unusable_model_fails_and_leaves_no_file(optimized, tmp_path):
    _, result = optimized
    garbage = b"\x1c\x00\x00\x00TFL3" + bytes(64)
    with pytest.raises((ConversionError, BadInputError)):
        export(result, garbage, tmp_path / "bad.tflite")
    assert os.listdir(tmp_path) == []


def test_export_raw_bytes_with_metadata(optimized, tmp_path):
    _, result = optimized
    data = result.variant("fp32").tflite_bytes
    exported = export_variant(
        data,
        str(tmp_path / "raw.tflite"),
        progress=null_reporter(),
        cancel=CancelToken(),
        metadata={"note": "hand-made"},
    )
    report = json.loads((tmp_path / "raw.report.json").read_text())
    assert report["note"] == "hand-made" and report["source"] is None
    assert exported.size_bytes == len(data)
    from core.optimize.runtime import run_tflite

    out = run_tflite((tmp_path / "raw.tflite").read_bytes(), {"features": np.zeros((1, 8), np.float32)})
    assert [value.shape for value in out.values()] == [(1, 3)]


def test_export_to_a_missing_folder(optimized, tmp_path):
    _, result = optimized
    with pytest.raises(BadInputError, match="does not exist"):
        export(result, result.variant("fp32"), tmp_path / "nope" / "m.tflite")


def test_exported_files_get_ordinary_permissions(tmp_path):
    from core.optimize.export import write_atomic

    target = tmp_path / "m.tflite"
    write_atomic(target, b"data")
    assert target.read_bytes() == b"data"
    from core.optimize.export import _umask

    assert target.stat().st_mode & 0o777 == 0o666 & ~_umask()  # not mkstemp's private 0600
