"""Data beside a model, matched by name (core.data.companions): the rule written out by hand per case."""

from __future__ import annotations

import os

from core.data.companions import Companions, find_companions, match_companions, model_stem


def test_the_bundled_samples_layout():
    names = ["digits.keras", "digits.json", "digits_calib.npz", "digits_eval.npz", "fraud.keras", "fraud_eval.npz"]
    found = match_companions("/s/digits.keras", names)
    assert found == Companions(eval_path="/s/digits_eval.npz", combined_path=None, calib_path="/s/digits_calib.npz")
    assert found.best == "/s/digits_eval.npz"  # labelled data first


def test_name_npz_then_calibration_only():
    assert match_companions("/m/net.h5", ["net.h5", "net.npz", "net_calib.csv"]).best == "/m/net.npz"
    assert match_companions("/m/net.h5", ["net.h5", "net_calib.csv"]).best == "/m/net_calib.csv"


def test_only_the_models_own_name_and_data_formats_count():
    names = ["net.tflite", "network_eval.npz", "net_eval.txt", "other.npz", "net.npy", "Net_eval.npz", "net_eval"]
    found = match_companions("/m/net.tflite", names)
    assert not found.found and found.best is None  # net.npy is not NAME.npz; case and suffix matter


def test_extension_case_and_suffix_order():
    found = match_companions("/m/a.keras", ["a_eval.CSV", "a_eval.npz"])
    assert found.eval_path == "/m/a_eval.npz"  # .npz before .npy before .csv


def test_a_savedmodel_folder_is_named_by_its_folder():
    assert model_stem("/m/export/") == "export" and model_stem("/m/v1.2") == "v1.2"
    assert match_companions("/m/export/", ["export", "export_eval.npz"]).best == "/m/export_eval.npz"


def test_find_lists_the_folder(tmp_path):
    for name in ("cnn.keras", "cnn_calib.npz"):
        (tmp_path / name).write_bytes(b"")
    assert find_companions(str(tmp_path / "cnn.keras")).best == os.path.join(tmp_path, "cnn_calib.npz")
    assert find_companions(str(tmp_path / "gone" / "cnn.keras")) == Companions()  # unreadable folder: none
