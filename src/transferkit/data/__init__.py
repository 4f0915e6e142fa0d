"""Datasets: loading, splitting, image decoding."""

from .dataset import Dataset, infer_modality, item_digests, take
from .images import load_rgb, normalise_digit_geometry, prepare_images, to_uint8
from .loaders import load_dataset, register_loader, validate_labels
from .split import Split, per_class_subsample, stratified_split

__all__ = [
    "Dataset",
    "Split",
    "infer_modality",
    "item_digests",
    "load_dataset",
    "load_rgb",
    "normalise_digit_geometry",
    "per_class_subsample",
    "prepare_images",
    "register_loader",
    "stratified_split",
    "take",
    "to_uint8",
    "validate_labels",
]
