"""`litesmith bench` and `litesmith devices` from the command line."""

from __future__ import annotations

import json
import os

import pytest

import core.cli.bench as bench_cli
import core.cli.devices as devices_cli
from core.cli.main import build_parser, main
from core.engine import Engine


@pytest.fixture(scope="module")
def tiny_tflite(tmp_path_factory):
    from core.tf_runtime import import_tensorflow

    tf = import_tensorflow()
    import keras

    model = keras.Sequential(
        [keras.Input((6, 6, 3)), keras.layers.Conv2D(4, 3), keras.layers.Flatten(), keras.layers.Dense(2)]
    )
    folder = tmp_path_factory.mktemp("cli")
    path = folder / "tiny.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    model.save(folder / "tiny.keras")
    return path


@pytest.fixture
def inline_engine(monkeypatch):
    """Run jobs in a thread instead of a child process (fast); one test keeps the real child."""
    monkeypatch.setattr(bench_cli, "make_engine", lambda args: Engine(isolated=False))
    monkeypatch.setattr(devices_cli, "make_engine", lambda args: Engine(isolated=False))


def test_parser_lists_and_defaults():
    args = build_parser().parse_args(["bench", "m.tflite", "--threads", "1,2", "--batch", "1, 8,32", "--runs", "7"])
    config = bench_cli.config_from_args(args)
    assert config.threads == (1, 2) and config.batch_sizes == (1, 8, 32) and config.runs == 7
    assert config.budget_ms == 10.0 and config.xnnpack and not config.keep_samples
    args = build_parser().parse_args(
        [
            "bench",
            "m.keras",
            "--seconds",
            "0.5",
            "--no-xnnpack",
            "--samples",
            "--keras-modes",
            "eager,predict_on_batch",
            "--budget-ms",
            "3",
        ]
    )
    config = bench_cli.config_from_args(args)
    assert config.time_budget_s == 0.5 and not config.xnnpack and config.keep_samples
    assert config.keras_modes == ("eager", "predict_on_batch") and config.budget_ms == 3


@pytest.mark.parametrize(
    "argv",
    [
        ["bench", "m.tflite", "--threads", "0"],
        ["bench", "m.tflite", "--batch", "a,b"],
        ["bench", "m.tflite", "--runs", "5", "--seconds", "1"],
        ["bench", "m.tflite", "--budget-ms", "-1"],
        ["bench"],
    ],
)
def test_usage_errors_exit_2(argv, capsys):
    assert main(argv) == 2


def test_unknown_keras_mode_is_usage_error(tiny_tflite, capsys):
    assert main(["bench", str(tiny_tflite), "--keras-modes", "turbo"]) == 2
    assert "turbo" in capsys.readouterr().err


def test_missing_model_exits_3(tmp_path, capsys):
    assert main(["bench", str(tmp_path / "none.tflite")]) == 3


def test_bench_table_and_recommendation(tiny_tflite, inline_engine, capsys):
    code = main(["bench", str(tiny_tflite), "--threads", "1,2", "--batch", "1,4", "--runs", "5", "--warmup", "1"])
    out = capsys.readouterr().out
    assert code == 0
    for label in ("fp32 b1 t1", "fp32 b1 t2", "fp32 b4 t1", "fp32 b4 t2"):
        assert label in out
    assert "p99.9" in out and "samples/s" in out
    assert "recommended: " in out and "XNNPACK took" in out


def test_bench_json_with_samples(tiny_tflite, inline_engine, capsys):
    code = main(["bench", str(tiny_tflite), "--batch", "2", "--runs", "6", "--json", "--samples"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    [entry] = data["configs"]
    assert entry["label"] == "fp32 b2 t1" and len(entry["samples_ms"]) == 6
    for key in ("p50", "p90", "p99", "p999", "mean", "std", "cold_ms", "throughput", "n"):
        assert key in entry["stats"]
    assert entry["peak_rss_mb"] > 0
    assert data["recommendation"]["label"] == "fp32 b2 t1"
    assert data["delegation"][0][0] == "fp32" and data["explanations"]


def test_bench_json_without_samples_omits_them(tiny_tflite, inline_engine, capsys):
    assert main(["bench", str(tiny_tflite), "--runs", "3", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["configs"][0]["samples_ms"] == []


def test_bench_keras_model_with_profile(tiny_tflite, inline_engine, capsys):
    keras_path = tiny_tflite.with_suffix(".keras")
    code = main(["bench", str(keras_path), "--runs", "3", "--keras-modes", "tf_function", "--profile"])
    out = capsys.readouterr().out
    assert code == 0 and "keras-tf_function b1" in out and "slowest layers" in out


def test_bench_bad_model_exits_3(tmp_path, inline_engine, capsys):
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"\0" * 64)
    assert main(["bench", str(junk), "--runs", "2"]) == 3
    assert "junk.tflite" in capsys.readouterr().err


def test_bench_in_the_engine_child(tiny_tflite, capsys):
    """The real path: the measuring happens in the engine's child process."""
    assert main(["bench", str(tiny_tflite), "--runs", "3", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["configs"][0]["stats"]["n"] == 3


def test_devices_text_and_json(inline_engine, capsys):
    assert main(["devices"]) == 0
    out = capsys.readouterr().out
    assert "CPU" in out and "state" in out and ".tflite models run on the CPU" in out
    assert main(["devices", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    from core.tf_runtime import import_tensorflow  # the inline engine imported it: what TF itself sees

    gpus = import_tensorflow().config.list_physical_devices("GPU")
    assert data["cpu"]["logical_cores"] == os.cpu_count() and data["cpu_only"] is (not gpus)
    assert len(data["tf_gpus"]) == len(gpus)
    assert "state" in data and "nvml_status" in data


def test_devices_format_with_gpus():
    from core.hardware import GpuInfo, build_report, cpu_info

    report = build_report(
        cpu_info("model name: X\nflags: avx2\n"),
        [GpuInfo(0, "NVIDIA H200", "tensorflow", "/GPU:0", (9, 0))],
        [
            GpuInfo(
                0,
                "NVIDIA H200",
                "nvml",
                memory_total_mb=143771.0,
                memory_used_mb=0.0,
                driver_version="550.54",
                cuda_driver_version="12.4",
            )
        ],
        tf_version="2.21.0",
        tf_built_with_cuda=True,
        nvml_status="ok",
    )
    text = devices_cli.format_report(report)
    assert "/GPU:0" in text and "compute capability 9.0" in text and "140.4 GiB" in text and "driver 550.54" in text
