"""`litesmith loadtest`: exit codes for bad input, and a real run's JSON validated by its schema."""

from __future__ import annotations

import json

import pytest

from core.cli.main import main
from core.schemas import LOADTEST, validate
from tests.serving_models import write_dense_tflite


@pytest.fixture
def dense(tmp_path):
    return write_dense_tflite(tmp_path)


def test_bad_trace_exits_3_naming_file_and_line(dense, tmp_path, capsys):
    trace = tmp_path / "trace.csv"
    trace.write_text("t,key\n0.0,a\n0.001,b\nlater,c\n")
    code = main(["loadtest", str(dense), "--p99-ms", "5", "--trace", str(trace)])
    err = capsys.readouterr().err
    assert code == 3
    assert str(trace) in err and "line 4" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "argv, code",
    [
        (["--p99-ms", "0"], 2),  # a budget must be positive
        (["--p99-ms", "5", "--rate", "fast"], 2),
        (["--p99-ms", "5", "--max-batch", "0"], 2),
        (["--p99-ms", "5", "--cache-size", "10"], 2),  # a cache needs a keyed trace
        ([], 2),  # --p99-ms is required
    ],
)
def test_usage_errors_exit_2(dense, argv, code, capsys):
    assert main(["loadtest", str(dense), *argv]) == code
    assert "Traceback" not in capsys.readouterr().err


def test_missing_or_non_tflite_model_exits_3(tmp_path, capsys):
    assert main(["loadtest", str(tmp_path / "nope.tflite"), "--p99-ms", "5"]) == 3
    keras = tmp_path / "m.keras"
    keras.write_bytes(b"PK")
    assert main(["loadtest", str(keras), "--p99-ms", "5"]) == 3
    assert ".tflite" in capsys.readouterr().err


def test_json_run_is_valid_and_complete(dense, tmp_path, capsys):
    trace = tmp_path / "keys.csv"
    trace.write_text("".join(f"{i / 400:.4f},{'hot' if i % 2 else i}\n" for i in range(120)))
    code = main(
        [
            "loadtest",
            str(dense),
            "--p99-ms",
            "50",
            "--seconds",
            "0.2",
            "--max-batch",
            "1,4",
            "--max-wait-ms",
            "0,1",
            "--workers",
            "1",
            "--trace",
            str(trace),
            "--cache-size",
            "4",
            "--json",
        ]
    )
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert validate(doc) == LOADTEST
    (variant,) = doc["variants"]
    assert variant["variant"] == "dense" and [s["batch"] for s in variant["service_ms"]] == [1, 4]
    assert {p["simulated"] for p in variant["curve"]} == {True}
    # Every other request repeats the key "hot": an LRU of 4 answers about half of them.
    assert variant["cache"]["capacity"] == 4 and variant["cache"]["hit_rate"] == pytest.approx(59 / 120)


def test_auto_rate_and_p99_go_together(tmp_path, capsys):
    model = tmp_path / "m.keras"
    model.write_bytes(b"PK")
    assert main(["optimize", str(model), "--auto", "--no-export", "--rate", "100"]) == 2
    assert "--rate and --p99-ms go together" in capsys.readouterr().err
    assert main(["optimize", str(model), "--rate", "100", "--p99-ms", "5"]) == 2  # --rate goes with --auto
