"""Conversion to .tflite: from a Keras model, a SavedModel, or concrete functions.

A Keras model is converted through a **named signature**: Keras's
`ExportArchive` writes a temporary SavedModel whose `serving_default` takes the
model's inputs by their names and returns a dict keyed by the model's output
names; `from_saved_model(signature_keys=["serving_default"])` converts that.
The .tflite therefore carries the user's own input and output names, and every
later step matches tensors by name. (`from_keras_model` names outputs
`output_0, output_1, ...` and the converter reorders the output tensors, which
is how outputs got paired wrongly.) A SavedModel converts through its chosen
signature only. Which path was used is reported with every variant.

Builtin ops only, unless the recipe allows SELECT_TF_OPS (Flex) explicitly. A
model that cannot convert raises `ConversionError` naming the unsupported ops.

The converter writes chatter (MLIR dumps, "Saved artifact at ...") straight to
file descriptors 1 and 2; `quiet_native` captures it so the CLI's JSON on stdout
stays clean, and hands it back for error details.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from typing import Any, Callable

from core.errors import ConversionError
from core.native_output import Captured, quiet_native  # noqa: F401 - re-exported (its old home)

KERAS = "from_keras_model"
EXPORT_SAVED_MODEL = "export+from_saved_model"
NAMED_EXPORT = "named-signature export+from_saved_model"
NAMED_EXPORT_BATCH1 = "batch-1 named-signature export+from_saved_model"
BATCH1_PATHS = (NAMED_EXPORT_BATCH1,)
BATCH1_NOTE = (
    "converted through a batch-1 signature (recurrent layers keep tensor-list ops at a free batch size, "
    "which TFLite's builtin ops cannot run): the model takes one sample per call, its other free "
    "dimensions (sequence length) stay free, and larger batches run as repeated calls"
)
SAVED_MODEL = "from_saved_model"
CONCRETE = "from_concrete_functions"
TFLITE_INPUT = "tflite_input"

_NOT_SUPPORTED = re.compile(r"'tf\.(\w+)' op is neither a custom op nor a flex op")
_FLEX_LINE = re.compile(r"TF Select ops: ([^\n]+)")
_CUSTOM_SECTION = re.compile(r"Ops that need custom implementation[^\n]*\n((?:\s*tf\.\w+[^\n]*\n?)+)")


def unsupported_ops(message: str) -> tuple[list[str], list[str]]:
    """(all unsupported TF ops, the subset Flex could run) from a converter error message."""
    ops = sorted(set(_NOT_SUPPORTED.findall(message)))
    flex: list[str] = []
    for line in _FLEX_LINE.findall(message):
        flex.extend(op.strip() for op in line.split(",") if op.strip())
    custom = _CUSTOM_SECTION.search(message)
    if custom:
        ops = sorted(set(ops) | set(re.findall(r"tf\.(\w+)", custom.group(1))))
    ops = sorted(set(ops) | set(flex))
    return ops, sorted(set(flex))


def _strip_location(line: str) -> str:
    """`<unknown>:0: error: loc(callsite(fused[...] at ...)): REASON` -> `REASON`."""
    text = re.sub(r"^\s*<unknown>:\d+:\s*", "", line.strip())
    text = re.sub(r"^error:\s*", "", text)
    if text.startswith("loc("):
        end = text.rfind("]")
        cut = text.find(": ", end if end >= 0 else 0)
        text = text[cut + 2 :] if cut >= 0 else text
    return re.sub(r"^error:\s*", "", text.strip())


def converter_reasons(text: str, limit: int = 4) -> list[str]:
    """The converter's own error reasons, without MLIR locations, each once, in order."""
    reasons: list[str] = []
    for line in text.splitlines():
        if "error:" not in line:
            continue
        reason = _strip_location(line).replace("\\n", " ").strip()
        if reason and reason not in reasons:
            reasons.append(reason[:400])
    return reasons[:limit]


def conversion_error(exc: BaseException, *, what: str, path: str | None, tried: str, log: str = "") -> ConversionError:
    """The ConversionError for a converter failure: `what`, then the unsupported ops (and which Flex could run)
    or the converter's own reasons; details: the converter paths `tried`, the exception and the captured `log`."""
    text = str(exc)
    ops, flex = unsupported_ops(text)
    if ops:
        message = f"{what}: the model uses ops TFLite's builtin ops cannot run: {', '.join(ops)}"
        if flex:
            message += (
                f" ({', '.join(flex)} could run with SELECT_TF_OPS/Flex, which is off by default: "
                "Flex ops can carry file-system ops into the model)"
            )
    else:
        reasons = converter_reasons(text)
        first = next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)
        message = f"{what}: {'; '.join(reasons) if reasons else first[:300]}"
    details = f"converter path(s) tried: {tried}\n\n{text}"
    if log.strip():
        details += "\n\nconverter output:\n" + log[-8000:]
    return ConversionError(message, path=path, details=details)


class ConverterFactory:
    """Makes fresh `TFLiteConverter`s for one model, remembering which path works.

    Give exactly one of keras_model, saved_model_dir, or concrete_functions
    (with their trackable). `prefer` is "auto", "keras" or "saved_model".
    """

    def __init__(
        self,
        *,
        keras_model: Any = None,
        saved_model_dir: str | None = None,
        concrete_functions: list | None = None,
        trackable: Any = None,
        prefer: str = "auto",
        path: str | None = None,
        signature_key: str | None = None,
    ) -> None:
        self.keras_model = keras_model
        self.saved_model_dir = saved_model_dir
        self.signature_key = signature_key  # the SavedModel signature to convert (None: the converter's default)
        self.concrete_functions = concrete_functions
        self.trackable = trackable
        self.prefer = prefer
        self.path = path  # the model file, for error messages
        self.resolved: str | None = None
        self.fallback_reason = ""
        self._export_dirs: dict[int | None, str] = {}

    def close(self) -> None:
        """Remove the temporary SavedModel exports this factory made."""
        for folder in self._export_dirs.values():
            shutil.rmtree(folder, ignore_errors=True)
        self._export_dirs.clear()

    def _export(self, batch_size: int | None = None) -> str:
        """The Keras model as a named-signature SavedModel (batch axis free, or `batch_size`); made once."""
        if batch_size not in self._export_dirs:
            folder = tempfile.mkdtemp(prefix="litesmith-export-")
            try:
                export_named_signature(self.keras_model, os.path.join(folder, "saved_model"), batch_size=batch_size)
            except BaseException:
                shutil.rmtree(folder, ignore_errors=True)
                raise
            self._export_dirs[batch_size] = folder
        return os.path.join(self._export_dirs[batch_size], "saved_model")

    def _make(self, tf: Any, path: str) -> Any:
        if path == NAMED_EXPORT:
            return tf.lite.TFLiteConverter.from_saved_model(self._export(), signature_keys=[SERVING])
        if path == NAMED_EXPORT_BATCH1:
            return tf.lite.TFLiteConverter.from_saved_model(self._export(1), signature_keys=[SERVING])
        if path == SAVED_MODEL:
            keys = [self.signature_key] if self.signature_key else None
            return tf.lite.TFLiteConverter.from_saved_model(self.saved_model_dir, signature_keys=keys)
        if path == CONCRETE:
            return tf.lite.TFLiteConverter.from_concrete_functions(self.concrete_functions, self.trackable)
        raise ValueError(path)

    def saved_model_folder(self) -> tuple[str, str] | None:
        """(SavedModel folder, signature key) the resolved path converts, or None (concrete functions)."""
        path = self.resolved
        if path == NAMED_EXPORT:
            return self._export(), SERVING
        if path == NAMED_EXPORT_BATCH1:
            return self._export(1), SERVING
        if path == SAVED_MODEL and self.signature_key and self.saved_model_dir:
            return self.saved_model_dir, self.signature_key
        return None

    def make_converter(self) -> Any:
        """A fresh converter on the path that worked last (call `convert` once first)."""
        from core.tf_runtime import import_tensorflow

        tf = import_tensorflow()
        with quiet_native():
            converter = self._make(tf, self.resolved or self.candidates()[0])
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        return converter

    def candidates(self) -> list[str]:
        """The converter paths to try, in order (only the resolved one once a conversion worked)."""
        if self.resolved is not None:
            return [self.resolved]
        if self.keras_model is not None:
            return [NAMED_EXPORT, NAMED_EXPORT_BATCH1]
        if self.saved_model_dir is not None:
            return [SAVED_MODEL]
        if self.concrete_functions is not None:
            return [CONCRETE]
        raise ConversionError("nothing to convert from (no Keras model, SavedModel or concrete function)")

    def convert(
        self, configure: Callable[[Any], None], *, allow_select_tf_ops: bool = False, what: str = "conversion failed"
    ) -> tuple[bytes, str, str]:
        """Convert with `configure(converter)` applied; returns (bytes, converter path, captured log).

        Tries each candidate path; the first that works is remembered for the
        next call (so a model that needs the export fallback does it once).
        """
        from core.tf_runtime import import_tensorflow

        tf = import_tensorflow()
        errors: list[tuple[str, BaseException, str]] = []
        for path in self.candidates():
            with quiet_native() as captured:
                try:
                    converter = self._make(tf, path)
                    ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
                    converter.target_spec.supported_ops = ops
                    configure(converter)
                    if allow_select_tf_ops:
                        supported = list(converter.target_spec.supported_ops)
                        if tf.lite.OpsSet.SELECT_TF_OPS not in supported:
                            supported.append(tf.lite.OpsSet.SELECT_TF_OPS)
                        converter.target_spec.supported_ops = supported
                    data = converter.convert()
                    failure = None
                except Exception as exc:  # noqa: BLE001 - turned into a ConversionError below
                    failure = exc
            if failure is None:
                if self.resolved is None and errors:
                    self.fallback_reason = f"{errors[0][0]} failed: {_first_line(errors[0][1])}"
                self.resolved = path
                return bytes(data), path, captured.text
            errors.append((path, failure, captured.text))
        tried = ", ".join(p for p, _, _ in errors)
        # Report the most informative error: one that names ops, else the last.
        best = next((e for e in errors if unsupported_ops(str(e[1]))[0]), errors[0])
        raise conversion_error(best[1], what=what, path=self.path, tried=tried, log=best[2])


SERVING = "serving_default"


def export_named_signature(model: Any, folder: str, *, batch_size: int | None = None) -> None:
    """Write `model` as a SavedModel whose `serving_default` is keyed by the model's own names.

    Inputs: `tf.TensorSpec`s named after the Keras inputs, batch axis
    `batch_size` (None: free). Outputs: a dict {output name: tensor}. Uses
    `keras.export.ExportArchive` (Keras 3's exporter, which the converter
    freezes cleanly).
    """
    from core.models.signatures import keras_feed, keras_interface, named_outputs
    from core.tf_runtime import import_keras, import_tensorflow

    tf, keras = import_tensorflow(), import_keras()
    interface = keras_interface(model)
    specs = [
        tf.TensorSpec((batch_size,) + tuple(spec.shape[1:]), spec.dtype, name=spec.name) for spec in interface.inputs
    ]
    names = interface.output_names

    def serve(*args: Any) -> Any:
        out = model(keras_feed(model, args), training=False)
        return named_outputs(out, names)

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(name=SERVING, fn=serve, input_signature=specs)
    with quiet_native():
        archive.write_out(folder, verbose=False)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:200]


def convert_concrete_function(
    fn: Any, trackable: Any = None, *, allow_select_tf_ops: bool = False
) -> tuple[bytes, str]:
    """Plain fp32 conversion of one concrete function; returns (bytes, converter path)."""
    factory = ConverterFactory(concrete_functions=[fn], trackable=trackable)
    data, path, _ = factory.convert(lambda c: None, allow_select_tf_ops=allow_select_tf_ops)
    return data, path
