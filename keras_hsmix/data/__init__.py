"""Data: folder loader, built-in synthetic data, superpixels and the tf.data pipeline."""

from keras_hsmix.data.arrays import load_arrays
from keras_hsmix.data.augment import random_color_jitter, random_flip_rotate
from keras_hsmix.data.files import find_pairs
from keras_hsmix.data.folder import load_folder
from keras_hsmix.data.pipeline import add_superpixels, augment_elements, make_pipeline, to_inputs_targets
from keras_hsmix.data.synthetic import make_synthetic_dataset, synthetic_arrays

__all__ = [
    "add_superpixels",
    "augment_elements",
    "find_pairs",
    "load_arrays",
    "load_folder",
    "make_pipeline",
    "make_synthetic_dataset",
    "random_color_jitter",
    "random_flip_rotate",
    "synthetic_arrays",
    "to_inputs_targets",
]
