"""Data for calibration and evaluation: loaders for .npz/.npy/.csv/image folders, and synthetic inputs."""

from core.data.loaders import (
    DataDescription,
    DataSpec,
    Dataset,
    InputSpec,
    check_fits,
    load_data,
    stratified_indices,
)
from core.data.synth import synthesize_inputs

__all__ = [
    "DataDescription", "DataSpec", "Dataset", "InputSpec", "check_fits", "load_data",
    "stratified_indices", "synthesize_inputs",
]
