"""`litesmith optimize --report-html/--report-json`: the comparison report from the CLI (core.report)."""

from __future__ import annotations

import json

import pytest

from core.cli import optimize as optimize_cli
from core.cli.main import main
from core.engine import Engine
from tests.core.optimize_models import classifier


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return classifier(tmp_path_factory.mktemp("report"), n=120)


@pytest.fixture
def inline_engine(monkeypatch):
    monkeypatch.setattr(optimize_cli, "make_engine", lambda args: Engine(isolated=False))


def test_report_files_with_measured_latency(tiny, tmp_path, capsys, inline_engine):
    model, data = tiny
    html_path, json_path = tmp_path / "run.html", tmp_path / "run.json"
    code = main(
        [
            "optimize",
            str(model),
            "-q",
            "fp32",
            "--data",
            str(data),
            "--calibration-samples",
            "16",
            "--no-export",
            "--no-cache",
            "--report-html",
            str(html_path),
            "--report-json",
            str(json_path),
            "--report-seconds",
            "0.05",
        ]
    )
    assert code == 0, capsys.readouterr().err
    doc = json.loads(json_path.read_text(encoding="utf-8"))
    assert doc["schema"] == "litesmith.comparison-report" and doc["benchmark_error"] is None
    assert "Latency: the first batch size and thread count measured" in html_path.read_text(encoding="utf-8")
    assert doc["settings"]["quantize"] == "fp32" and doc["model"] == str(model)
    original, fp32 = doc["rows"]
    assert original["original"] and original["format"] == "Keras" and fp32["name"] == "fp32"
    # speed-up = the original's p50 / the variant's p50, both taken from the benchmark's own configurations
    p50 = {}
    for c in doc["benchmark"]["configs"]:
        key = "original" if c["runner"].startswith("keras") else c["variant"]
        if not c["error"]:
            p50[key] = min(p50.get(key, float("inf")), c["stats"]["p50"])
    assert fp32["p50_ms"] == pytest.approx(p50["fp32"]) and original["p50_ms"] == pytest.approx(p50["original"])
    assert fp32["speedup"] == pytest.approx(p50["original"] / p50["fp32"])
    page = html_path.read_text(encoding="utf-8")
    assert "<h1>Litesmith: classifier.keras before and after</h1>" in page and "Charts" not in page
    assert f"{fp32['speedup']:.1f}×" in page
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.html", "run.json"]  # no temp file left


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--auto"], "go without --auto"),
        (["--report-json", "SAME"], "the same file"),
        (["--report-seconds", "-1"], "must not be negative"),
    ],
)
def test_report_usage_errors_exit_2(tiny, tmp_path, capsys, extra, message):
    model, _ = tiny
    html_path = str(tmp_path / "r.html")
    argv = ["optimize", str(model), "--report-html", html_path, *[html_path if a == "SAME" else a for a in extra]]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_report_never_writes_over_the_input(tiny, capsys):
    model, _ = tiny
    before = model.read_bytes()
    assert main(["optimize", str(model), "--report-html", str(model)]) == 2
    assert "never writes over its input" in capsys.readouterr().err and model.read_bytes() == before


def test_unmeasured_report_says_so_and_a_missing_folder_exits_3(tiny, tmp_path, capsys, inline_engine):
    model, _ = tiny
    argv = ["optimize", str(model), "-q", "fp32", "--no-export", "--no-cache", "--report-seconds", "0"]
    assert main([*argv, "--report-json", str(tmp_path / "r.json")]) == 0
    doc = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert doc["benchmark"] is None and "--report-seconds 0" in doc["benchmark_error"]
    assert [(r["p50_ms"], r["speedup"]) for r in doc["rows"]] == [(None, None), (None, None)]  # nothing invented
    assert main([*argv, "--report-html", str(tmp_path / "r.html")]) == 0
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "Latency: not measured in this run." in page  # the legend claims no latency and no recommendation
    assert "first batch size and thread count" not in page and "✔ the recommended variant" not in page
    capsys.readouterr()
    code = main([*argv, "--report-json", str(tmp_path / "nowhere" / "r.json")])
    err = capsys.readouterr().err
    assert code == 3 and "nowhere" in err and "does not exist" in err
