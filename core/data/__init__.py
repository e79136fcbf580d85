"""Data for calibration and evaluation, keyed by tensor name: loaders for .npz/.npy/.csv/image folders,
fitting to the model's interface, stratified sampling, and synthetic inputs."""

from core.data.loaders import (
    DataDescription,
    DataSpec,
    Dataset,
    check_fits,
    check_inputs,
    choose_samples,
    load_data,
    stratified_indices,
)
from core.data.synth import synthesize_dataset, synthesize_inputs

__all__ = [
    "DataDescription",
    "DataSpec",
    "Dataset",
    "check_fits",
    "check_inputs",
    "choose_samples",
    "load_data",
    "stratified_indices",
    "synthesize_dataset",
    "synthesize_inputs",
]
