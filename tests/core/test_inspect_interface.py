"""inspect names inputs and outputs as every later step matches them: by name, never by tensor position."""

from __future__ import annotations

import pytest

from core.engine import CancelToken, null_reporter
from core.models.inspection import inspect_model
from tests import zoo


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    folder = tmp_path_factory.mktemp("zoo")
    multi = zoo.build_multi_output(folder)
    saved = zoo.build_savedmodel_two_signatures(folder)
    tflite = folder / "multi.tflite"
    tflite.write_bytes(zoo.convert_fp32_reference(multi))
    return multi, saved, tflite


def inspect(path):
    return inspect_model(str(path), progress=null_reporter(), cancel=CancelToken()).info


def test_keras_outputs_are_named_after_their_layers_in_model_order(cases):
    multi, _, _ = cases
    info = inspect(multi.model)
    assert [t.name for t in info.outputs] == list(multi.facts["outputs"])  # zz_species, aa_color, mm_weight
    assert [t.name for t in info.inputs] == list(multi.facts["inputs"])
    assert info.signature == "" and info.signatures == ()


def test_tflite_shows_signature_names_not_tensor_names(cases):
    multi, _, tflite = cases
    info = inspect(tflite)
    names = {t.name for t in info.outputs}
    assert names == set(multi.facts["outputs"])  # not "StatefulPartitionedCall:0"
    assert info.signature == "serving_default" and info.signatures == ("serving_default",)
    # Shapes go with the right names: the LiteRT signature runner is the oracle.
    outputs = zoo.run_signature(tflite.read_bytes(), multi.eval_inputs())
    for t in info.outputs:
        assert t.shape[1:] == outputs[t.name].shape[1:]


def test_saved_model_lists_every_signature_and_shows_serving_default(cases):
    _, saved, _ = cases
    info = inspect(saved.model)
    assert info.signature == "serving_default" and info.signatures == ("embed", "serving_default")
    assert {t.name: t.dtype for t in info.outputs} == {"classes": "int64", "scores": "float32"}
    assert [t.name for t in info.inputs] == ["features"]
