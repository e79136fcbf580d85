"""Strict JSON with a schema: every document Litesmith writes is valid JSON (no NaN, no Infinity:
null with the reason beside it) and matches its versioned JSON Schema in core/schemas.

The documents here come from real runs of the CLI, in this process (jobs in a thread, not the
sandboxed child: fast). tests/conftest.py also validates every document any other test writes.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
import tomllib
from pathlib import Path

import numpy as np
import pytest

import core.cli.auto_mode as auto_cli
import core.cli.bench as bench_cli
import core.cli.devices as devices_cli
import core.cli.inspect as inspect_cli
import core.cli.optimize as optimize_cli
from core import jsonout, schemas
from core.cli.main import main
from core.engine import Engine
from core.optimize.export import REPORT_SCHEMA, REPORT_VERSION

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "resources" / "samples"


def strict_loads(text: str):
    """json.loads that refuses NaN, Infinity and -Infinity (Python's json accepts them by default)."""

    def refuse(constant: str):
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def run_cli(*argv: str) -> tuple[int, object]:
    """Run `litesmith ARGV` in this process; (exit code, the JSON it printed on stdout, strictly parsed)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main([str(a) for a in argv])
    return code, strict_loads(out.getvalue())


def read_json(path: Path):
    return strict_loads(Path(path).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def inline():
    """Jobs run in a thread of this process instead of the engine's child (the child is covered elsewhere)."""
    with pytest.MonkeyPatch.context() as mp:
        for module in (optimize_cli, auto_cli, bench_cli, devices_cli, inspect_cli):
            mp.setattr(module, "make_engine", lambda args: Engine(isolated=False))
        yield


@pytest.fixture
def bare_encoder(monkeypatch):
    """`jsonout.dumps` on plain values that are no document: no schema check, no recording hook."""
    monkeypatch.setenv(jsonout.VALIDATE_ENV, "0")
    monkeypatch.setattr(jsonout, "_hooks", [])


@pytest.fixture(scope="module")
def fraud() -> Path:
    model = SAMPLES / "fraud.keras"
    if not model.exists():
        pytest.skip("samples not built (resources/build_samples.py)")
    return model


@pytest.fixture(scope="module")
def one_class_eval(fraud, tmp_path_factory) -> Path:
    """200 fraud samples whose labels are all 0: ROC-AUC, PR-AUC and recall are undefined (NaN)."""
    with np.load(SAMPLES / "fraud_eval.npz") as data:
        keep = data["y"] == 0
        x, y = data["x"][keep][:200], data["y"][keep][:200]
    path = tmp_path_factory.mktemp("one_class") / "negatives.npz"
    np.savez(path, x=x, y=y)
    return path


@pytest.fixture(scope="module")
def nan_run(inline, fraud, one_class_eval, tmp_path_factory):
    """optimize --json, --report and the variant report, evaluated on labels of one class."""
    folder = tmp_path_factory.mktemp("nan_run")
    code, doc = run_cli(
        "optimize",
        fraud,
        "-q",
        "dynamic",
        "--data",
        SAMPLES / "fraud_calib.npz",
        "--eval-data",
        one_class_eval,
        "--calibration-samples",
        "32",
        "--out",
        f"{folder}/",
        "--report",
        folder / "run.json",
        "--json",
        "--no-cache",
    )
    assert code == 0
    return doc, folder


@pytest.fixture(scope="module")
def multi_output(tmp_path_factory):
    from tests.zoo import build_multi_output

    return build_multi_output(tmp_path_factory.mktemp("zoo"))


# ---------------------------------------------------------------------------
# The schemas themselves


def test_every_schema_is_valid_draft_2020_12_and_packaged():
    from jsonschema import Draft202012Validator

    folder = Path(schemas.__file__).parent
    files = {p.name for p in folder.glob("*.json")}
    for schema_id, version in schemas.VERSIONS.items():
        name = schemas.schema_file(schema_id, version)
        assert name in files, name
        document = schemas.load(schema_id)
        Draft202012Validator.check_schema(document)
        assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schemas.validator(schema_id, version) is schemas.validator(schema_id, version)  # compiled once
    Draft202012Validator.check_schema(json.loads((folder / "common.v1.schema.json").read_text()))
    assert (REPORT_SCHEMA, REPORT_VERSION) == (schemas.EXPORT_REPORT, schemas.VERSIONS[schemas.EXPORT_REPORT])
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "*.json" in pyproject["tool"]["setuptools"]["package-data"]["core.schemas"]
    assert any(r.startswith("jsonschema") for r in pyproject["project"]["optional-dependencies"]["test"])


# ---------------------------------------------------------------------------
# Strict JSON: null with the reason beside it


def test_undefined_metrics_are_null_with_their_reason_everywhere(nan_run):
    doc, folder = nan_run
    assert schemas.validate(doc) == schemas.OPTIMIZE
    accuracy = doc["variants"][0]["evaluation"]["accuracy"]
    assert accuracy["positives"] == 0
    assert accuracy["roc_auc"] is None and accuracy["roc_auc_reason"] == "undefined: the labels hold one class"
    assert accuracy["pr_auc"] is None and accuracy["pr_auc_reason"] == "undefined: the labels hold no positive"
    assert accuracy["recall"] is None and "no positive" in accuracy["recall_reason"]
    assert math.isfinite(accuracy["accuracy"]) and "accuracy_reason" not in accuracy
    original = doc["original_evaluation"]["outputs"][0]["accuracy"]
    assert original["roc_auc"] is None and original["roc_auc_reason"] == "undefined: the labels hold one class"

    run_report = read_json(folder / "run.json")  # --report: the same document, strict too
    assert schemas.validate(run_report) == schemas.OPTIMIZE
    assert run_report["variants"][0]["evaluation"]["accuracy"]["roc_auc_reason"] == accuracy["roc_auc_reason"]
    variant_report = read_json(folder / "fraud.dynamic.report.json")
    assert schemas.validate(variant_report) == schemas.EXPORT_REPORT
    assert variant_report["schema"] == REPORT_SCHEMA and variant_report["version"] == REPORT_VERSION
    assert variant_report["evaluation"]["accuracy"]["roc_auc"] is None
    assert variant_report["evaluation"]["accuracy"]["roc_auc_reason"] == "undefined: the labels hold one class"
    assert [e["variant"] for e in doc["exports"]] == ["dynamic"]


def test_the_encoder_writes_no_nan_or_infinity_and_says_why(bare_encoder):
    from core.benchmark.stats import compute_stats

    doc = {
        "figures": {
            "a": float("nan"),
            "b": float("inf"),
            "c": np.float32("-inf"),
            "d": 1.5,
            "e": [1.0, float("nan")],
            "f": np.array([np.inf, 2.0]),
        },
        "stats": compute_stats([]),
        "given": {"x": float("nan"), "x_reason": "said by the caller"},
    }
    data = strict_loads(jsonout.dumps(doc))
    figures = data["figures"]
    assert figures["a"] is None and figures["a_reason"] == "not a finite number (NaN)"
    assert figures["b"] is None and figures["b_reason"] == "not a finite number (+Infinity)"
    assert figures["c"] is None and figures["c_reason"] == "not a finite number (-Infinity)"
    assert figures["d"] == 1.5 and "d_reason" not in figures
    assert figures["e"] == [1.0, None] and "NaN" in figures["e_reason"]
    assert figures["f"] == [None, 2.0] and "infinite" in figures["f_reason"]
    assert data["stats"]["n"] == 0 and data["stats"]["p50"] is None and data["stats"]["p50_reason"]
    assert data["given"] == {"x": None, "x_reason": "said by the caller"}  # never overwritten
    assert list(figures) == [
        "a",
        "a_reason",
        "b",
        "b_reason",
        "c",
        "c_reason",
        "d",
        "e",
        "e_reason",
        "f",
        "f_reason",
    ]  # the reason right beside it


def test_multilabel_reasons_follow_the_documented_rules(bare_encoder):
    from core.evaluation import metrics as M
    from core.evaluation.common import MULTILABEL

    y = np.zeros((3, 2), dtype=int)
    s = np.array([[0.1, 0.2], [0.5, 0.3], [0.0, 0.4]])  # no positive label, nothing predicted positive
    d = strict_loads(jsonout.dumps(M.accuracy_metrics(s, y, MULTILABEL).to_dict()))
    assert d["micro_f1"] is None and "no positive label and no positive decision" in d["micro_f1_reason"]
    assert (
        d["mean_average_precision"] is None
        and d["mean_average_precision_reason"] == "undefined: no label has a positive"
    )
    assert d["label_precision"] == [None, None] and "0/0" in d["label_precision_reason"]
    binary = M.binary_metrics([0, 1, 0, 1], [0.1, np.nan, 0.3, 0.9]).to_dict()  # two classes, a NaN score
    assert binary["roc_auc"] is None and binary["roc_auc_reason"] == "undefined: a score is NaN or infinite"


# ---------------------------------------------------------------------------
# Every document type, from real runs


def test_optimize_multi_output_with_layer_errors(inline, multi_output):
    case = multi_output
    code, doc = run_cli(
        "optimize",
        case.model,
        "-q",
        "fp32,int8",
        "--layer-errors",
        "--data",
        case.calib,
        "--eval-data",
        case.eval,
        "--calibration-samples",
        "32",
        "--no-export",
        "--json",
        "--no-cache",
    )
    assert code == 0
    assert schemas.validate(doc) == schemas.OPTIMIZE and doc["version"] == 1
    int8 = doc["variants"][1]
    assert len(int8["evaluation"]["outputs"]) == 3 and int8["layer_errors"]


def test_optimize_failure_document(inline, tmp_path):
    code, doc = run_cli("optimize", tmp_path / "missing.keras", "-q", "fp32", "--no-export", "--json")
    assert code == 3
    assert schemas.validate(doc) == schemas.OPTIMIZE
    assert doc["model"].endswith("missing.keras") and doc["error"]["kind"] == "bad_input"


def test_auto_document_and_its_report(inline, fraud, tmp_path):
    out = tmp_path / "best.tflite"
    code, doc = run_cli(
        "optimize",
        fraud,
        "--auto",
        "-q",
        "fp32,dynamic",
        "--data",
        SAMPLES / "fraud_calib.npz",
        "--eval-data",
        SAMPLES / "fraud_eval.npz",
        "--eval-samples",
        "1000",
        "--calibration-samples",
        "32",
        "--seconds",
        "0.05",
        "--threads",
        "1",
        "--no-prune",
        "--out",
        out,
        "--json",
        "--no-cache",
    )
    assert code == 0
    assert schemas.validate(doc) == schemas.AUTO
    assert doc["recommended"] in [c["name"] for c in doc["candidates"]]
    report = read_json(tmp_path / "best.report.json")
    assert schemas.validate(report) == schemas.EXPORT_REPORT and report["auto"]["recommended"] == doc["recommended"]


def test_inspect_document_good_and_bad(inline, fraud, nan_run, multi_output, tmp_path):
    _, folder = nan_run
    code, doc = run_cli(
        "inspect", fraud, folder / "fraud.dynamic.tflite", multi_output.model, tmp_path / "missing.keras", "--json"
    )
    assert code == 3
    assert schemas.validate(doc) == schemas.INSPECT
    assert [("info" in e, "error" in e) for e in doc] == [(True, False)] * 3 + [(False, True)]
    assert all(e["schema"] == schemas.INSPECT and e["version"] == 1 for e in doc)


def test_bench_documents(inline, fraud, nan_run):
    _, folder = nan_run
    code, doc = run_cli(
        "bench",
        folder / "fraud.dynamic.tflite",
        "--runs",
        "20",
        "--batch",
        "1,2",
        "--json",
        "--samples",
        "--data",
        SAMPLES / "fraud_eval.npz",
    )
    assert code == 0
    assert schemas.validate(doc) == schemas.BENCH
    assert doc["delegation"] and doc["data_profile"] and len(doc["configs"][0]["samples_ms"]) == 20
    code, doc = run_cli("bench", fraud, "--runs", "3", "--keras-modes", "predict_on_batch", "--profile", "--json")
    assert code == 0
    assert schemas.validate(doc) == schemas.BENCH and doc["layer_profile"]


def test_devices_and_cache_documents(inline, tmp_path, monkeypatch):
    code, doc = run_cli("devices", "--json")
    assert code == 0 and schemas.validate(doc) == schemas.DEVICES
    monkeypatch.setenv("LITESMITH_CACHE_DIR", str(tmp_path / "cache"))
    code, doc = run_cli("cache", "info", "--json")
    assert code == 0 and schemas.validate(doc) == schemas.CACHE and doc["action"] == "info"
    code, doc = run_cli("cache", "clear", "--json")
    assert code == 0 and schemas.validate(doc) == schemas.CACHE and doc["removed"] == 0


# ---------------------------------------------------------------------------
# The schemas can fail


@pytest.mark.parametrize(
    "break_it, where",
    [
        (lambda d: d.pop("variants"), "'variants' is a required property"),
        (lambda d: d["variants"][0].__setitem__("size_bytes", "12 KiB"), "/variants/0/size_bytes"),
        (lambda d: d["variants"][0]["evaluation"]["accuracy"].pop("roc_auc_reason"), "roc_auc_reason"),
        (lambda d: d["source"].__setitem__("sha256", "not a hash"), "/source/sha256"),
        (lambda d: d["variants"][0]["evaluation"]["outputs"][0].__setitem__("task", "astrology"), "task"),
        (lambda d: d.__setitem__("version", 99), "version 99"),
        (lambda d: d.pop("schema"), 'no "schema" field'),
    ],
)
def test_a_broken_document_fails_validation(nan_run, break_it, where):
    broken = copy.deepcopy(nan_run[0])
    break_it(broken)
    with pytest.raises(schemas.SchemaViolation) as caught:
        schemas.validate(broken)
    assert where in str(caught.value)


def test_an_invalid_document_is_refused_before_it_is_written(monkeypatch):
    """With LITESMITH_VALIDATE_JSON=1 (the suite sets it) the encoder refuses an invalid document."""
    monkeypatch.setenv(jsonout.VALIDATE_ENV, "1")
    seen = []
    monkeypatch.setattr(jsonout, "_hooks", [seen.append])  # keep conftest's recorder out of this one
    with pytest.raises(schemas.SchemaViolation, match="'folder' is a required property"):
        jsonout.dumps(jsonout.stamp(schemas.CACHE, {"action": "info", "entries": 0}))
    assert seen and seen[0]["schema"] == schemas.CACHE
    with pytest.raises(schemas.SchemaViolation, match='no "schema" field'):
        jsonout.dumps({"anything": 1})
    monkeypatch.setenv(jsonout.VALIDATE_ENV, "0")
    assert strict_loads(jsonout.dumps({"anything": float("nan")})) == {
        "anything": None,
        "anything_reason": "not a finite number (NaN)",
    }
