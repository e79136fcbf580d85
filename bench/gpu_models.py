"""Build the .tflite models the GPU check runs (bench/gpu_check.sh), here where TensorFlow is.

    .venv/bin/python -m bench.gpu_models OUT_DIR

Writes OUT_DIR/digits.tflite (resources/samples/digits.keras converted in fp32) and
OUT_DIR/mobilenet_v2.tflite (keras.applications.MobileNetV2, weights=None, 224x224x3,
seed 0; nothing downloaded), with the pipeline's own converter
(`core.optimize.convert.ConverterFactory`). Both keep a free batch axis, so the
crossover sweep can resize them. Files are written to a temporary name, then renamed.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def _convert(model, label: str) -> bytes:
    from core.optimize.convert import ConverterFactory
    from core.optimize.quantize import configure_converter
    from core.tf_runtime import import_tensorflow

    tf = import_tensorflow()
    factory = ConverterFactory(keras_model=model, path=label)
    try:
        data, _, _ = factory.convert(lambda c: configure_converter(tf, c, "fp32"))
    finally:
        factory.close()
    return bytes(data)


def _write(path: Path, data: bytes) -> None:
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    with os.fdopen(handle, "wb") as out:
        out.write(data)
    os.replace(temp, path)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out = Path(argv[0] if argv else REPO / ".gpu_models")
    out.mkdir(parents=True, exist_ok=True)
    from core.models.loading import load_keras_model
    from core.tf_runtime import import_keras

    keras = import_keras()
    if not (out / "digits.tflite").exists():
        digits = load_keras_model(str(REPO / "resources" / "samples" / "digits.keras"))
        _write(out / "digits.tflite", _convert(digits, "digits"))
    if not (out / "mobilenet_v2.tflite").exists():
        keras.utils.set_random_seed(0)
        mobilenet = keras.applications.MobileNetV2(weights=None, input_shape=(224, 224, 3))
        _write(out / "mobilenet_v2.tflite", _convert(mobilenet, "MobileNetV2"))
    for name in ("digits.tflite", "mobilenet_v2.tflite"):
        print(f"{out / name}: {(out / name).stat().st_size / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
