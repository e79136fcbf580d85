"""A SavedModel whose recurrent layer was traced at a free batch size: one clear refusal that says what works."""

from __future__ import annotations

import pytest

from core.engine import CancelToken, null_reporter
from core.errors import ConversionError
from core.optimize.pipeline import optimize_model
from core.optimize.session import SessionOptions
from core.tf_runtime import import_keras, import_tensorflow


def test_free_batch_recurrent_saved_model_is_refused_with_the_way_out(tmp_path):
    tf, keras = import_tensorflow(), import_keras()
    keras.utils.set_random_seed(3)
    inputs = keras.Input((None, 4), name="frames")
    model = keras.Model(inputs, keras.layers.GRU(5, return_sequences=True, name="gru")(inputs))

    class Module(tf.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        @tf.function(input_signature=[tf.TensorSpec([None, None, 4], tf.float32, name="frames")])
        def serve(self, frames):
            return {"seq": self.inner(frames)}

    module = Module(model)
    tf.saved_model.save(module, str(tmp_path / "sm"), signatures={"serving_default": module.serve})
    with pytest.raises(ConversionError) as caught:
        optimize_model(
            str(tmp_path / "sm"),
            ["fp32"],
            None,
            progress=null_reporter(),
            cancel=CancelToken(),
            options=SessionOptions(input_shapes=(("frames", (9, 4)),)),
        )
    message = caught.value.message
    assert "TensorListReserve" in message and "loc(" not in message  # the converter's reason, no MLIR location
    assert "re-export the SavedModel with a batch-1 signature" in message
