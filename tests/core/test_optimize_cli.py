"""`litesmith optimize`: exit codes, comparison table, JSON, exports and reports."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.cli import optimize as optimize_cli
from core.cli.main import main
from core.engine import Engine
from tests.core.optimize_models import classifier


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return classifier(tmp_path_factory.mktemp("cli"), n=200)


@pytest.fixture
def inline_engine(monkeypatch):
    """Most tests run the jobs in-process (the isolated child is covered once below)."""
    monkeypatch.setattr(optimize_cli, "make_engine", lambda args: Engine(isolated=False))


def test_json_run_in_the_engine_child_exports_every_variant(tiny, tmp_path, capfd):
    model, data = tiny
    out = tmp_path / "out"
    out.mkdir()
    code = main(
        [
            "optimize",
            str(model),
            "--quantize",
            "fp32,int8",
            "--data",
            str(data),
            "--calibration-samples",
            "32",
            "--out",
            str(out),
            "--report",
            str(tmp_path / "run.json"),
            "--json",
        ]
    )
    captured = capfd.readouterr()
    assert code == 0, captured.err
    summary = json.loads(captured.out)  # stdout is pure JSON: converter chatter is kept off it
    assert [v["name"] for v in summary["variants"]] == ["fp32", "int8"]
    assert summary["synthetic_data"] is False
    assert summary["variants"][1]["size_ratio"] > 0
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "classifier.fp32.report.json",
        "classifier.fp32.tflite",
        "classifier.int8.report.json",
        "classifier.int8.tflite",
    ]
    report = json.loads((out / "classifier.int8.report.json").read_text())
    assert report["mode"] == "int8" and report["source"]["sha256"] == summary["source"]["sha256"]
    run_report = json.loads((tmp_path / "run.json").read_text())
    assert [e["variant"] for e in run_report["exports"]] == ["fp32", "int8"]


def test_table_and_loud_synthetic_warning(tiny, tmp_path, capsys, inline_engine):
    model, _ = tiny
    code = main(["optimize", str(model), "-q", "fp32,dynamic", "--no-export"])
    captured = capsys.readouterr()
    assert code == 0
    assert "NO DATA" in captured.out and "RANDOM" in captured.out
    header = next(line for line in captured.out.splitlines() if line.startswith("variant"))
    assert "size" in header and "ratio" in header and "fidelity" in header and "accuracy" in header
    assert any(line.startswith("dynamic ") for line in captured.out.splitlines())
    assert list(tmp_path.iterdir()) == []


def test_single_mode_out_file_and_accuracy_column(tiny, tmp_path, capsys, inline_engine):
    model, data = tiny
    out = tmp_path / "fast.tflite"
    code = main(
        ["optimize", str(model), "-q", "int8", "--data", str(data), "--calibration-samples", "16", "--out", str(out)]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert out.exists() and (tmp_path / "fast.report.json").exists()
    assert "top-1" in captured.out and "agree" in captured.out


def test_bad_data_shape_exits_3(tiny, tmp_path, capsys, inline_engine):
    model, _ = tiny
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((4, 5), np.float32))
    code = main(["optimize", str(model), "-q", "int8", "--data", str(bad), "--no-export"])
    assert code == 3
    err = capsys.readouterr().err
    assert "expected inputs of shape (?, 8) float32" in err and "got (4, 5)" in err


def test_missing_model_exits_3(tmp_path, capsys, inline_engine):
    assert main(["optimize", str(tmp_path / "none.keras"), "--no-export"]) == 3


def test_conversion_failure_exits_4(tiny, tmp_path, capsys, inline_engine):
    model, data = tiny
    fp32 = tmp_path / "m.tflite"
    assert main(["optimize", str(model), "-q", "fp32", "--data", str(data), "--out", str(fp32)]) == 0
    capsys.readouterr()
    code = main(["optimize", str(fp32), "-q", "dynamic,float16", "--data", str(data), "--no-export", "--json"])
    captured = capsys.readouterr()
    assert code == 4
    summary = json.loads(captured.out)
    assert [v["name"] for v in summary["variants"]] == ["dynamic"]
    assert summary["failures"][0]["name"] == "float16"
    assert "float16" in captured.err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["-q", "int4"], "unknown quantization mode 'int4'"),
        (["-q", "fp32", "--int8-io"], "--int8-io applies to the int8 mode"),
        (["--calibration-samples", "0"], "must be positive"),
        (["--out", "somewhere.bin"], "must end in .tflite"),
        (["--label-column", "y"], "--label-column needs --data"),
        (["--prune", "0"], "--prune takes the fraction of weights to remove, in (0, 1)"),
        (["--prune", "1.5", "--structured"], "in (0, 1) (e.g. 0.5), got 1.5"),
    ],
)
def test_usage_errors_exit_2(tiny, capsys, argv, message):
    model, _ = tiny
    assert main(["optimize", str(model), *argv]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--task", "probs=binary"], "task 'binary' needs one value per sample"),  # a 3-unit softmax
        (["--task", "score=multiclass"], "--task names no output 'score'"),
        (["--primary-output", "score"], "names no output"),
    ],
)
def test_a_task_or_output_the_model_cannot_have_is_a_usage_error(tiny, capsys, inline_engine, argv, message):
    model, data = tiny
    code = main(["optimize", str(model), "-q", "fp32", "--data", str(data), "--no-export", *argv])
    assert code == 2 and message in capsys.readouterr().err


def test_labels_that_do_not_fit_a_chosen_task_are_bad_input(tiny, tmp_path, capsys, inline_engine):
    model, data = tiny
    with np.load(data) as d:
        np.savez(tmp_path / "ids7.npz", x=d["x"], y=np.full(len(d["y"]), 7))  # class 7 of 3
    code = main(["optimize", str(model), "-q", "fp32", "--data", str(tmp_path / "ids7.npz"), "--no-export",
                 "--task", "probs=multiclass"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 3 and "--task probs=multiclass" in err and "ids7.npz" in err, err


def test_never_writes_over_the_input(tiny, capsys):
    model, _ = tiny
    before = model.read_bytes()
    tflite = model.with_suffix(".tflite")
    tflite.write_bytes(b"placeholder")
    try:
        assert main(["optimize", str(tflite), "-q", "fp32", "--out", str(tflite)]) == 2
        assert "never writes over its input" in capsys.readouterr().err
    finally:
        tflite.unlink()
    assert model.read_bytes() == before


def test_output_paths():
    paths = optimize_cli.output_paths("/m/model.keras", ["fp32", "int8"], "/o/fast.tflite")
    assert [p.name for p in paths.values()] == ["fast.fp32.tflite", "fast.int8.tflite"]
    paths = optimize_cli.output_paths("/m/model.keras", ["int8"], None)
    assert str(paths["int8"]).endswith("model.int8.tflite")


@pytest.mark.parametrize("flag", ["--report", "--save-recipe", "--report-json"])
def test_an_output_is_never_written_over_the_data(tiny, tmp_path, capsys, inline_engine, flag):
    """--report, --save-recipe or --report-json naming the --data file: refused (exit 2), the data unchanged."""
    model, data = tiny
    victim = tmp_path / "data.npz"
    victim.write_bytes(data.read_bytes())
    before = victim.read_bytes()
    code = main(["optimize", str(model), "-q", "fp32", "--data", str(victim), "--no-export", flag, str(victim)])
    assert code == 2 and "is the --data file; Litesmith never writes over its input" in capsys.readouterr().err
    assert victim.read_bytes() == before
