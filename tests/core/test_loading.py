"""load_keras_model and load_source: checked first, safe_mode always on, the right payload per format."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import BadInputError
from core.models.info import ModelFormat
from core.models.loading import LoadedModel, load_keras_model, load_source
from tests import model_factory as mf


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = tmp_path_factory.mktemp("load")
    model = mf.conv_model()
    return {
        "folder": folder,
        "model": model,
        "keras": mf.save_keras(model, folder, "conv"),
        "h5": mf.save_h5(model, folder, "conv"),
        "export": mf.export_saved_model(model, folder, "conv"),
        "tflite": mf.save_tflite(model, folder, "conv"),
        "lambda": mf.save_keras(mf.lambda_model(), folder, "lambda"),
    }


@pytest.mark.parametrize("kind", ["keras", "h5"])
def test_keras_files_load_and_predict_like_the_original(built, kind):
    from core.tf_runtime import import_keras

    keras = import_keras()
    before = mf.snapshot(built["folder"])
    loaded = load_keras_model(built[kind])
    assert isinstance(loaded, keras.Model)
    sample = np.random.default_rng(0).random((2, *mf.CONV_INPUT), dtype=np.float32)
    np.testing.assert_allclose(loaded.predict(sample, verbose=0), built["model"].predict(sample, verbose=0), rtol=1e-5)
    assert mf.snapshot(built["folder"]) == before  # nothing written next to the input


def test_low_memory_keras_load_writes_nothing_beside_the_input(built, monkeypatch):
    """Keras extracts the weights next to the model when it thinks memory is short; we must not let it."""
    import tempfile

    from keras.src.saving import saving_lib

    monkeypatch.setattr(saving_lib, "is_memory_sufficient", lambda model: False)
    real = tempfile.TemporaryDirectory
    used = []

    def spy(*args, **kwargs):
        used.append(kwargs.get("dir"))
        return real(*args, **kwargs)

    monkeypatch.setattr(tempfile, "TemporaryDirectory", spy)
    before = mf.snapshot(built["folder"])
    assert load_keras_model(built["keras"]) is not None
    assert used == []
    assert mf.snapshot(built["folder"]) == before
    assert saving_lib.is_memory_sufficient(None) is False  # our override was undone


def test_load_keras_model_refuses_other_formats(built):
    for kind in ("tflite", "export"):
        with pytest.raises(BadInputError, match="expected a Keras model") as info:
            load_keras_model(built[kind])
        assert info.value.path == str(built[kind])


def test_load_keras_model_refuses_lambda(built):
    with pytest.raises(BadInputError, match="Lambda"):
        load_keras_model(built["lambda"])


def test_load_source_payload_per_format(built):
    keras_source = load_source(built["keras"])
    assert isinstance(keras_source, LoadedModel)
    assert keras_source.format == ModelFormat.KERAS and keras_source.keras_model is not None
    assert keras_source.saved_model_dir is None and keras_source.tflite_bytes is None

    h5_source = load_source(str(built["h5"]))
    assert h5_source.format == ModelFormat.H5 and h5_source.keras_model is not None
    assert h5_source.path == str(built["h5"])

    sm = load_source(built["export"])
    assert sm.format == ModelFormat.SAVED_MODEL and sm.saved_model_dir == str(built["export"])
    assert sm.keras_model is None and sm.tflite_bytes is None

    lite = load_source(built["tflite"])
    assert lite.format == ModelFormat.TFLITE and lite.tflite_bytes == built["tflite"].read_bytes()
    assert lite.keras_model is None and lite.saved_model_dir is None


def test_load_source_refuses_bad_input(tmp_path):
    page = tmp_path / "x.tflite"
    page.write_text("<html></html>")
    with pytest.raises(BadInputError, match="HTML"):
        load_source(page)


def test_unknown_custom_layer_is_a_clear_error(tmp_path):
    from core.tf_runtime import import_keras

    keras = import_keras()

    @keras.saving.register_keras_serializable(package="litesmith_test")
    class Doubler(keras.layers.Layer):
        def call(self, x):
            return x * 2

    model = keras.Sequential([keras.Input((3,)), Doubler(name="doubler"), keras.layers.Dense(1)])
    path = mf.save_keras(model, tmp_path, "custom")
    keras.saving.get_custom_objects().pop("litesmith_test>Doubler")
    with pytest.raises(BadInputError) as info:
        load_keras_model(path)
    assert "custom layer" in info.value.message and "'Doubler'" in info.value.message
    assert "Traceback" in info.value.details
    assert sorted(p.name for p in tmp_path.iterdir()) == ["custom.keras"]
