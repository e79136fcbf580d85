"""The TensorFlow-converter and ai-edge-quantizer adapters (core/adapters/tf_converter.py, ai_edge_quantizer.py).

(a) every upstream symbol the adapters use exists in the installed versions: an upgrade that
removes one fails here, naming it; (b) when one is gone, the optimize job (the core API the CLI
runs) either takes the public route and still builds the variant, or fails that ONE variant with a
reason naming the symbol, and the fp32 variant survives; a public route taken is a warning on the
variant (and in its JSON document) naming the symbol and the installed version, never only a log line.

A symbol is "removed" by putting a copy of its module without it in `sys.modules`: the adapter
(which resolves names at call time) sees the change, TensorFlow's own code keeps the module it
imported. Oracles: the symbol tables checked against the installed libraries, the variant lists
and reasons stated here by hand, the original Keras model's outputs (fidelity), the tensor types
read from the written .tflite files.
"""

from __future__ import annotations

import ast
import importlib
import json
import sys
import types
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

from core import schemas
from core.adapters import UpstreamChanged, tf_converter
from core.adapters import ai_edge_quantizer as aeq
from core.data import DataSpec
from core.engine import CancelToken
from core.engine.context import Reporter
from core.engine.events import LogEvent
from core.jsonout import dumps, stamp
from core.optimize.recipes import SelectiveConfig, recipe_for_mode
from tests.core.optimize_models import classifier

REPO = Path(__file__).resolve().parents[2]


def _hide(monkeypatch: pytest.MonkeyPatch, module_name: str, attribute: str, replacement=None) -> None:
    """From now on, importing `module_name` gives a copy without `attribute` (or with `replacement`)."""
    real = importlib.import_module(module_name)
    fake = types.ModuleType(module_name)
    fake.__dict__.update({k: v for k, v in vars(real).items() if k != attribute})
    if replacement is not None:
        setattr(fake, attribute, replacement)
    monkeypatch.setitem(sys.modules, module_name, fake)


class _Logs:
    """A Reporter that keeps the job's log lines."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.reporter = Reporter(
            lambda event: self.lines.append(event.message) if isinstance(event, LogEvent) else None
        )


# --------------------------------------------------------------------------- (a) the symbols are there


@pytest.mark.parametrize("spec", sorted(tf_converter.SYMBOLS))
def test_every_tensorflow_converter_symbol_is_present(spec):
    assert tf_converter.symbol(spec) is not None  # else UpstreamChanged names the module and attribute


@pytest.mark.parametrize("spec", sorted(aeq.SYMBOLS))
def test_every_ai_edge_quantizer_symbol_is_present(spec):
    assert aeq.symbol(spec) is not None


def test_a_removed_or_changed_symbol_is_named_with_the_version(monkeypatch):
    _hide(monkeypatch, tf_converter.CONVERT_MODULE, "mlir_quantize")
    with pytest.raises(
        UpstreamChanged,
        match=r"^TensorFlow's TFLite quantizer changed: tensorflow\.lite\.python\."
        r"convert has no mlir_quantize \(tensorflow 2\.\d+",
    ):
        tf_converter.mlir_quantize(b"model")
    _hide(monkeypatch, tf_converter.CONVERT_MODULE, "mlir_quantize", replacement=lambda input_data_str: b"")
    with pytest.raises(UpstreamChanged, match=r"mlir_quantize takes other arguments"):
        tf_converter.mlir_quantize(b"model", denylisted_nodes=["dense"])
    # The 16x8 call goes through the calibrator's native wrapper: gone from a Calibrator, it is named.
    with pytest.raises(UpstreamChanged, match=r"Calibrator\._calibrator\.QuantizeModel is gone"):
        tf_converter.quantize_16x8(tf_converter.Calibrated(model=b"", handle=object()), allow_float=False)
    _hide(monkeypatch, "ai_edge_quantizer.model_validator", "ComparisonResult")
    with pytest.raises(
        UpstreamChanged,
        match=r"ai_edge_quantizer\.model_validator has no ComparisonResult "
        r"\(ai-edge-quantizer \d",
    ):
        aeq.symbol(aeq.SIGNATURE_RESULT)


def test_private_converter_names_are_used_only_in_core_adapters():
    """TensorFlow's converter internals and every ai_edge_quantizer import stay inside core/adapters/."""
    private_attrs = {"_calibrator", "_comparison_results", "mlir_quantize", "QuantizeModel", "calibrated_model"}
    private_modules = ("tensorflow.lite.python", "tensorflow.lite.tools", "ai_edge_quantizer")
    adapters = REPO / "core" / "adapters"

    def uses(path: Path) -> list[str]:
        found = []
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            through_adapter = (
                isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "tf_converter"
            )  # the adapter's own function
            if (
                isinstance(node, ast.Attribute)
                and not through_adapter
                and (node.attr in private_attrs or node.attr.startswith("_experimental"))
            ):
                found.append(f"{path.relative_to(REPO)}:{node.lineno} .{node.attr}")
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else ([node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            )
            found += [
                f"{path.relative_to(REPO)}:{node.lineno} import {n}" for n in names if n.startswith(private_modules)
            ]
        return found

    offenders = [
        u
        for folder in ("core", "gui")
        for p in sorted((REPO / folder).rglob("*.py"))
        if adapters not in p.parents
        for u in uses(p)
    ]
    assert offenders == [], "use core.adapters.tf_converter / core.adapters.ai_edge_quantizer: " + ", ".join(offenders)
    assert any("import ai_edge_quantizer" in u for u in uses(adapters / "ai_edge_quantizer.py"))


# --------------------------------------------------------------------------- (b) the optimize job


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A 3-class Dense model (8 -> 16 -> 3), its data, and its fp32 .tflite (named signature)."""
    from core.optimize.convert import ConverterFactory
    from core.tf_runtime import import_keras

    folder = tmp_path_factory.mktemp("tiny")
    model_path, data_path = classifier(folder, n=200)
    factory = ConverterFactory(keras_model=import_keras().models.load_model(model_path))
    try:
        tflite, _path, _log = factory.convert(lambda converter: None)
    finally:
        factory.close()
    tflite_path = folder / "classifier.tflite"
    tflite_path.write_bytes(tflite)
    return model_path, data_path, tflite_path


def _optimize(model_path: Path, recipes: list, data_path: Path, logs: _Logs):
    from core.optimize.pipeline import optimize_model

    return optimize_model(
        str(model_path),
        recipes,
        DataSpec(path=str(data_path), calibration_samples=32),
        progress=logs.reporter,
        cancel=CancelToken(),
    )


def _tensor_types(tflite: bytes) -> set[str]:
    from core.models.tflite_graph import read_tflite_graph

    return {t.dtype for sg in read_tflite_graph(tflite).subgraphs for t in sg.tensors}


def test_moved_converter_internals_take_the_public_routes(tiny, monkeypatch):
    """Calibrator, mlir_quantize and AEQ's dynamic recipe all gone: every variant is still built, by the
    public converter or debugger, and the log says which symbol sent it there."""
    model_path, data_path, _ = tiny
    _hide(monkeypatch, tf_converter.CALIBRATOR_MODULE, "Calibrator")
    _hide(monkeypatch, tf_converter.CONVERT_MODULE, "mlir_quantize")
    _hide(monkeypatch, "ai_edge_quantizer.recipe", "dynamic_legacy_wi8_afp32")
    public_requantize = []
    real = tf_converter.requantize_with_debugger
    monkeypatch.setattr(
        tf_converter, "requantize_with_debugger", lambda *a, **k: public_requantize.append(a[1]) or real(*a, **k)
    )
    logs = _Logs()
    recipes = ["fp32", "dynamic", "int8", recipe_for_mode("int8", selective=SelectiveConfig(auto=True))]
    result = _optimize(model_path, recipes, data_path, logs)
    assert not result.failures, [f.message for f in result.failures]
    assert [v.name for v in result.variants] == ["fp32", "dynamic", "int8", "int8-selective"]
    text = "\n".join(logs.lines)
    assert "converter calibrates instead" in text and "calibrator has no Calibrator" in text
    assert "recipe has no dynamic_legacy_wi8_afp32" in text
    assert public_requantize, "selective took the debugger's public route"
    for name in ("int8", "int8-selective"):
        variant = result.variant(name)
        assert "int8" in _tensor_types(variant.tflite_bytes)  # really quantized
        assert variant.evaluation.fidelity.top1_agreement >= 0.9  # against the Keras model
    # Built by the converter, not derived by AEQ (whose variants carry "+ai-edge-quantizer").
    assert "ai-edge-quantizer" not in result.variant("dynamic").converter_path
    # Never silent: each fallback is a warning on the variant it built, naming the symbol and the installed
    # version (read here from the package metadata), and the JSON document carries it, valid for its schema.
    tf_version, aeq_version = metadata.version("tensorflow"), metadata.version("ai-edge-quantizer")
    calibrator = (
        f"built with the public converter because TensorFlow {tf_version} no longer has "
        f"{tf_converter.CALIBRATOR_MODULE}.Calibrator (slower calibration; same quantization)"
    )
    requantize = (
        f"built with the public QuantizationDebugger because TensorFlow {tf_version} no longer has "
        f"{tf_converter.CONVERT_MODULE}.mlir_quantize ("
    )
    derive = (
        f"built with the public converter because ai-edge-quantizer {aeq_version} no longer has "
        "ai_edge_quantizer.recipe.dynamic_legacy_wi8_afp32 ("
    )
    expected = {"fp32": [], "dynamic": [derive], "int8": [calibrator], "int8-selective": [calibrator, requantize]}
    for name, starts in expected.items():
        fallbacks = [w for w in result.variant(name).warnings if w.startswith("built with the public")]
        assert len(fallbacks) == len(starts) and all(w.startswith(s) for w, s in zip(fallbacks, starts)), (
            name,
            fallbacks,
        )
    document = json.loads(dumps(stamp(schemas.OPTIMIZE, {**result.summary(), "exports": []})))  # as optimize --json
    schemas.validate(document)
    in_json = {v["name"]: v["warnings"] for v in document["variants"]}
    assert calibrator in in_json["int8"] and calibrator in in_json["int8-selective"]
    assert any(w.startswith(derive) for w in in_json["dynamic"])


def test_a_moved_quantizer_alone_is_a_warning_on_the_int8_variant(tiny, monkeypatch):
    """Calibration works but `mlir_quantize` is gone: int8 is converted by the public converter, and the
    variant says so with the symbol and the installed TensorFlow's version; fp32 carries no such line."""
    model_path, data_path, _ = tiny
    _hide(monkeypatch, tf_converter.CONVERT_MODULE, "mlir_quantize")
    result = _optimize(model_path, ["fp32", "int8"], data_path, _Logs())
    assert not result.failures, [f.message for f in result.failures]
    expected = (
        f"built with the public converter because TensorFlow {metadata.version('tensorflow')} no longer has "
        "tensorflow.lite.python.convert.mlir_quantize (slower: the converter converts and calibrates again; "
        "same quantization)"
    )
    assert expected in result.variant("int8").warnings
    assert not any("no longer has" in w for w in result.variant("fp32").warnings)
    assert "int8" in _tensor_types(result.variant("int8").tflite_bytes)


def test_a_fallback_warning_names_a_changed_signature_and_is_given_once():
    """The words for a symbol whose signature moved (nothing missing), and one line per moved name per variant."""
    from core.optimize.variant_warnings import add_upstream_fallback

    changed = UpstreamChanged("tensorflow", "TensorFlow's TFLite quantizer", "mlir_quantize takes other arguments")
    warnings: list[str] = []
    add_upstream_fallback(warnings, "the public converter", changed, "slower")
    add_upstream_fallback(warnings, "the public QuantizationDebugger", changed, "slower")
    assert warnings == [
        f"built with the public converter because TensorFlow {metadata.version('tensorflow')} "
        "changed: mlir_quantize takes other arguments (slower)"
    ]


def test_without_ai_edge_quantizer_s_quantizer_only_the_int8_variant_of_a_tflite_fails(tiny, monkeypatch):
    """A .tflite input is quantized by AEQ alone (no public alternative): with its Quantizer gone, the
    int8 variant fails naming it, and fp32 is still delivered."""
    _model, data_path, tflite_path = tiny
    _hide(monkeypatch, "ai_edge_quantizer.quantizer", "Quantizer")
    logs = _Logs()
    result = _optimize(tflite_path, ["fp32", "int8"], data_path, logs)
    assert [v.name for v in result.variants] == ["fp32"]
    assert result.variant("fp32").tflite_bytes == tflite_path.read_bytes()
    [failure] = result.failures
    assert failure.name == "int8" and failure.kind == "conversion"
    assert "ai_edge_quantizer.quantizer has no Quantizer" in failure.message
    assert "ai-edge-quantizer 0." in failure.message  # the installed version
    assert any("int8: quantize step: ai-edge-quantizer's API changed" in line for line in logs.lines)


def test_a_crashed_isolated_converter_is_one_variants_conversion_error(monkeypatch):
    """The converter process dying of SIGSEGV is a ConversionError marked `crashed` (no float-fallback retry)."""
    import signal

    import core.optimize.isolated as isolated
    from core.engine.module_process import ModuleRun
    from core.errors import ConversionError

    monkeypatch.setattr(
        isolated,
        "run_module",
        lambda *a, **k: ModuleRun(returncode=-int(signal.SIGSEGV), stderr="", timed_out=False, seconds=0.5),
    )
    with pytest.raises(ConversionError, match=r"int8 is not available .* crashed \(SIGSEGV\)") as caught:
        isolated.convert_isolated(
            "saved_model", "serving_default", "int8", calibration={"x": np.zeros((2, 3), np.float32)}
        )
    assert getattr(caught.value, "crashed", False) is True
