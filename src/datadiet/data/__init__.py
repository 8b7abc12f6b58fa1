"""Datasets held in memory as tensors; a registry of names."""

from datadiet.data.dataset import Augment, Dataset, from_arrays, from_torch
from datadiet.data.hf import from_hf_dataset
from datadiet.data.noise import add_label_noise
from datadiet.data.registry import DATASETS, dataset_names, load_dataset
from datadiet.data.split import dataset_description, split_validation, validation_info

__all__ = [
    "Augment",
    "DATASETS",
    "Dataset",
    "add_label_noise",
    "dataset_description",
    "dataset_names",
    "from_arrays",
    "from_hf_dataset",
    "from_torch",
    "load_dataset",
    "split_validation",
    "validation_info",
]
