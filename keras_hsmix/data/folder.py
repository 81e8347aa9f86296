"""Load image/mask pairs from a folder into a ``tf.data.Dataset``.

A dataset folder holds two sub-folders, ``images/`` and ``masks/``. An image and its
mask share a file stem (``images/12.png`` and ``masks/12.png``; the extensions may
differ, e.g. ``images/a.jpg`` and ``masks/a.png``)::

    data_dir/
        images/1.png  images/2.png  ...  images/10.png
        masks/1.png   masks/2.png   ...  masks/10.png

Files are decoded eagerly with Pillow (PNG, JPEG, TIFF, BMP, GIF; 8- and 16-bit), checked,
converted and resized once at load time, so the returned dataset does not call back
into Python: it works in graph mode and with the tf.data service.

Elements are dicts ``{"images": float32 [H, W, channels] in [0, 1],
"segmentation_masks": int32 [H, W, 1]}`` of class ids.

The data folder is only ever opened for reading.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from keras_hsmix.data.decode import MASK_MODES, BadPairError, load_pair, normalize_label_values, read_array
from keras_hsmix.data.files import find_pairs, format_list
from keras_hsmix.data.maps import graph_map

__all__ = ["load_folder"]

logger = logging.getLogger(__name__)

_ON_ERROR = ("raise", "skip")


def _check_image_size(image_size: Any) -> tuple[int, int] | None:
    if image_size is None:
        return None
    if isinstance(image_size, (int, np.integer)) and not isinstance(image_size, bool):
        image_size = (image_size, image_size)
    try:
        height, width = image_size
        ok = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0 for v in (height, width))
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"image_size must be None or (height, width) with positive ints, got {image_size!r}")
    return int(height), int(width)


def raw_mask_values(mask_paths: Sequence[Path], limit: int = 5) -> list[Any]:
    """The distinct raw values (gray, or RGB tuples) of the first ``limit`` readable mask files, for messages."""
    found: set[Any] = set()
    for path in list(mask_paths)[:limit]:
        try:
            array = read_array(Path(path), "mask")
        except BadPairError:
            continue
        values = np.unique(array.reshape(-1, 3), axis=0) if array.ndim == 3 else np.unique(array)
        found.update(tuple(int(c) for c in v) if np.ndim(v) else int(v) for v in values[:32])
    return sorted(found, key=lambda v: (isinstance(v, tuple), v))


def _warn_all_background(
    data_dir: Any, mask_paths: Sequence[Path], mask_mode: str, threshold: float, label_values: Any
) -> None:
    """Warns that every mask of a folder is all background (class 0) after the mask mapping.

    Almost always a ``mask_mode`` that does not fit the files (``"threshold"`` on masks stored as 0/1);
    a model trained on such masks learns to predict background and scores a DSC of 0 without a word.
    """
    found = raw_mask_values(mask_paths)
    if mask_mode == "threshold":
        how = f"mask_mode='threshold' with threshold={threshold:g} (pixels > {threshold:g} are foreground)"
        hint = (f"the masks hold the values [{format_list(found)}]; for masks stored as 0/1 use "
                "mask_mode='nonzero' or a threshold below their foreground value (CLI: --mask-mode nonzero)")
    elif mask_mode == "values":
        how = f"mask_mode='values' with label_values={label_values!r}"
        hint = f"the masks hold the values [{format_list(found)}]; check label_values"
    else:
        how = f"mask_mode={mask_mode!r}"
        hint = f"the masks hold the values [{format_list(found)}]"
    warnings.warn(
        f"load_folder('{data_dir}'): every mask is all background (class 0) after {how}: {hint}. "
        "A model trained on these masks learns nothing but background.",
        UserWarning,
        stacklevel=3,
    )


def _ragged_dataset(images: list[np.ndarray], masks: list[np.ndarray], channels: int) -> tf.data.Dataset:
    """Dataset of variable-size elements without a Python generator.

    All pixels go into one flat constant; each element is a slice of it, reshaped. This keeps
    the dataset serializable (graph mode, tf.data service), unlike ``from_generator``.
    """
    heights = np.array([m.shape[0] for m in masks], dtype=np.int64)
    widths = np.array([m.shape[1] for m in masks], dtype=np.int64)
    areas = heights * widths
    starts = np.concatenate([[0], np.cumsum(areas)[:-1]]).astype(np.int64)
    flat_images = tf.constant(np.concatenate([i.reshape(-1, channels) for i in images]), dtype=tf.float32)
    flat_masks = tf.constant(np.concatenate([m.reshape(-1, 1) for m in masks]), dtype=tf.int32)

    def take(start: tf.Tensor, area: tf.Tensor, height: tf.Tensor, width: tf.Tensor) -> dict[str, tf.Tensor]:
        image = tf.reshape(flat_images[start : start + area], tf.stack([height, width, channels]))
        mask = tf.reshape(flat_masks[start : start + area], tf.stack([height, width, 1]))
        image.set_shape([None, None, channels])
        mask.set_shape([None, None, 1])
        return {"images": image, "segmentation_masks": mask}

    slices = tf.data.Dataset.from_tensor_slices((starts, areas, heights, widths))
    return graph_map(slices, take, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def load_folder(
    data_dir: str | os.PathLike[str],
    image_size: tuple[int, int] | None = (128, 128),
    mask_mode: str = "nonzero",
    threshold: float = 127,
    label_values: Sequence[int | float | Sequence[int]] | None = None,
    channels: int = 3,
    images_subdir: str = "images",
    masks_subdir: str = "masks",
    on_error: str = "raise",
    mask_suffix: str = "",
) -> tf.data.Dataset:
    """Load a folder of images and segmentation masks as a ``tf.data.Dataset``.

    All pairs are decoded eagerly with Pillow (PNG, JPEG, TIFF, BMP, GIF first frame),
    converted, resized and stored in the dataset, in natural order of the file stems.

    Images: 8-bit values are divided by 255, 16-bit by 65535 (float TIFFs must already be
    in [0, 1]); alpha is dropped; ``channels=3`` turns grayscale into RGB and
    ``channels=1`` turns RGB into grayscale (ITU-R 601 luma). They are resized bilinearly
    with antialiasing.

    Masks are mapped to int32 class ids according to ``mask_mode``, then resized by
    nearest neighbour (so no new class id appears):

    * ``"nonzero"``: id 1 where the mask is > 0, else 0 (instance-id masks such as GlaS).
    * ``"threshold"``: id 1 where the mask is > ``threshold`` (raw mask units), else 0
      (e.g. JPEG masks with compression noise).
    * ``"values"``: ``label_values[k]`` maps to id ``k``. Entries are raw gray values
      (``[0, 128, 255]``) or RGB tuples (``[(0, 0, 0), (255, 0, 0)]``); a mask pixel
      with any other value is an error naming the file and the unexpected values.

    Colour masks are converted to gray (luma) for ``"nonzero"`` and ``"threshold"``. A JPEG
    mask whose compression noise shows (values 1-15) is an error with ``"nonzero"``, which
    would count the noise as foreground: use ``"threshold"`` for JPEG masks.
    Palette (``"P"`` mode) masks are read by colour, except with ``"values"`` and gray
    ``label_values``: then their palette indices are the values (PASCAL-VOC-style masks,
    whose indices are the class ids: ``label_values=[0, 1, 2]``).

    Args:
        data_dir: folder with ``images_subdir`` and ``masks_subdir`` sub-folders.
        image_size: ``(height, width)`` to resize to, or None to keep the source sizes
            (then the element shapes are ``[None, None, C]`` and sizes may differ).
        mask_mode: ``"nonzero"``, ``"threshold"`` or ``"values"`` (see above).
        threshold: the threshold for ``mask_mode="threshold"``.
        label_values: the raw mask values of classes ``0..K-1`` for ``mask_mode="values"``.
        channels: 3 (RGB) or 1 (grayscale) image channels.
        images_subdir: name of the image sub-folder.
        masks_subdir: name of the mask sub-folder.
        on_error: ``"raise"`` (default) raises on the first bad or unpaired file;
            ``"skip"`` skips unpaired files and bad pairs (unreadable, truncated or empty
            file, NaN/Inf, size mismatch, unexpected mask value), logging a warning that
            names the file and the reason, and raises only if no pair is left.
        mask_suffix: what a mask's file stem adds to its image's stem (``"_mask"`` pairs
            ``images/12.jpg`` with ``masks/12_mask.png``); see :func:`find_pairs`.

    Returns:
        A ``tf.data.Dataset`` of dicts ``{"images": float32 [H, W, channels],
        "segmentation_masks": int32 [H, W, 1]}``.

    Raises:
        FileNotFoundError: ``data_dir``, ``images/`` or ``masks/`` is missing.
        ValueError: bad arguments, no images, unpaired files, unreadable or corrupt files,
            NaN/Inf, image/mask size mismatch or unexpected mask values; the message names
            the argument or the file path.

    Example:
        >>> import tempfile, numpy as np
        >>> from pathlib import Path
        >>> from PIL import Image
        >>> root = Path(tempfile.mkdtemp())
        >>> (root / "images").mkdir(); (root / "masks").mkdir()
        >>> Image.fromarray(np.full((40, 60, 3), 200, np.uint8)).save(root / "images" / "a.jpg")
        >>> Image.fromarray(np.eye(40, 60, dtype=np.uint8) * 255).save(root / "masks" / "a.png")
        >>> ds = load_folder(root, image_size=(32, 32))
        >>> element = next(iter(ds))
        >>> element["images"].shape, element["segmentation_masks"].dtype.name
        (TensorShape([32, 32, 3]), 'int32')
    """
    size = _check_image_size(image_size)
    if mask_mode not in MASK_MODES:
        raise ValueError(f"mask_mode must be one of {list(MASK_MODES)}, got {mask_mode!r}")
    if not isinstance(channels, (int, np.integer)) or isinstance(channels, bool) or channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}")
    if on_error not in _ON_ERROR:
        raise ValueError(f"on_error must be one of {list(_ON_ERROR)}, got {on_error!r}")
    if mask_mode == "threshold":
        is_number = isinstance(threshold, (int, float, np.integer, np.floating)) and not isinstance(threshold, bool)
        if not is_number or not np.isfinite(threshold):
            raise ValueError(f"threshold must be a finite number, got {threshold!r}")
    values_array, values_are_rgb = None, False
    if mask_mode == "values":
        values_array, values_are_rgb = normalize_label_values(label_values)
    elif label_values is not None:
        raise ValueError(f"label_values is only used with mask_mode='values' (got mask_mode={mask_mode!r})")

    skip = on_error == "skip"
    pairs = find_pairs(data_dir, images_subdir, masks_subdir, allow_unpaired=skip, mask_suffix=mask_suffix)

    def load(pair: tuple[Path, Path]) -> tuple[np.ndarray, np.ndarray] | BadPairError:
        try:
            return load_pair(*pair, size, mask_mode, threshold, values_array, values_are_rgb, channels)
        except BadPairError as error:
            return error

    images: list[np.ndarray] = []
    masks: list[np.ndarray] = []
    skipped = 0
    # Pillow and TensorFlow release the GIL while decoding/resizing, so threads help. Results
    # come back in order, so errors and the dataset order are deterministic.
    workers = max(1, min(8, os.cpu_count() or 1, len(pairs)))
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        for (image_path, mask_path), result in zip(pairs, pool.map(load, pairs)):
            if isinstance(result, BadPairError):
                if not skip:
                    raise ValueError(str(result)) from result.__cause__
                skipped += 1
                logger.warning("skipping pair ('%s', '%s'): %s", image_path, mask_path, result)
                continue
            images.append(result[0])
            masks.append(result[1])

    if not images:
        raise ValueError(
            f"no usable image/mask pairs in '{data_dir}': all {skipped} pair(s) were skipped as bad "
            "(see the logged warnings)"
        )
    if skipped:
        logger.warning("load_folder('%s'): skipped %d of %d pair(s)", data_dir, skipped, len(pairs))
    if not any(np.any(mask) for mask in masks):
        _warn_all_background(data_dir, [m for _, m in pairs], mask_mode, threshold, label_values)

    if size is None:
        return _ragged_dataset(images, masks, channels)
    return tf.data.Dataset.from_tensor_slices(
        {"images": np.stack(images), "segmentation_masks": np.stack(masks)}
    )
