"""Custom layers of "the user's own", for the --custom-objects tests.

The engine imports this file only when a test names it with ``--custom-objects``
(or ``custom_objects=``); the tests also import it directly, to build the models
and to compute Keras's own outputs.

* `ScaledDense` is registered (``litesmith_tests>ScaledDense``);
* `Swish` is not registered: it is offered to Keras under its class name.
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="litesmith_tests")
class ScaledDense(keras.layers.Layer):
    """A dense layer whose output is multiplied by a fixed `scale`."""

    def __init__(self, units: int, scale: float = 2.0, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.scale = float(scale)

    def build(self, input_shape):
        self.kernel = self.add_weight(
            shape=(int(input_shape[-1]), self.units), initializer="glorot_uniform", name="kernel"
        )
        self.bias = self.add_weight(shape=(self.units,), initializer="random_normal", name="bias")

    def call(self, inputs):
        return (ops.matmul(inputs, self.kernel) + self.bias) * self.scale

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        return {**super().get_config(), "units": self.units, "scale": self.scale}


class Swish(keras.layers.Layer):
    """x * sigmoid(beta * x); deliberately not registered."""

    def __init__(self, beta: float = 1.5, **kwargs):
        super().__init__(**kwargs)
        self.beta = float(beta)

    def call(self, inputs):
        return inputs * ops.sigmoid(self.beta * inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "beta": self.beta}


def _helper_not_a_layer(x):
    """A plain function: not offered to Keras (functions count only when registered)."""
    return x
