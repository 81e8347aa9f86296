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
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf
from PIL import Image, UnidentifiedImageError

__all__ = ["IMAGE_EXTENSIONS", "MASK_MODES", "find_pairs", "load_folder", "natural_sort_key"]

logger = logging.getLogger(__name__)

#: File extensions (lower case) that are read; matching is case-insensitive.
IMAGE_EXTENSIONS: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif")

#: Accepted values of ``mask_mode`` in :func:`load_folder`.
MASK_MODES: tuple[str, ...] = ("nonzero", "threshold", "values")

_ON_ERROR = ("raise", "skip")
# Values below this next to 0 in a JPEG mask are compression noise, not labels.
_JPEG_NOISE = 16
_MAX_LISTED = 10  # how many file names / values an error message lists before "... and N more"

# ITU-R BT.601 luma weights: the same as Pillow's "L" conversion and tf.image.rgb_to_grayscale.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float64)


class _BadPairError(ValueError):
    """A problem with one image/mask pair (skippable with ``on_error="skip"``)."""


# --------------------------------------------------------------------------------------
# Listing and pairing
# --------------------------------------------------------------------------------------


def natural_sort_key(name: str) -> tuple[Any, ...]:
    """Sort key that orders embedded numbers by value, so ``"2" < "10"``.

    Example:
        >>> sorted(["10", "2", "img1", "img10", "img2"], key=natural_sort_key)
        ['2', '10', 'img1', 'img2', 'img10']
    """
    parts = re.split(r"(\d+)", name)
    # re.split with a capturing group puts text at even and digit runs at odd positions,
    # so positions always compare str with str and int with int.
    key = tuple(int(p) if i % 2 else p.lower() for i, p in enumerate(parts))
    return key + (name,)  # tie-break ("a01" vs "a1", "A" vs "a") for a total order


def _format_list(items: Sequence[Any]) -> str:
    shown = ", ".join(str(x) for x in items[:_MAX_LISTED])
    if len(items) > _MAX_LISTED:
        shown += f", ... and {len(items) - _MAX_LISTED} more"
    return shown


def _check_subdir(data_dir: Path, subdir: str, arg_name: str) -> Path:
    path = data_dir / subdir
    if not path.is_dir():
        found = sorted(p.name for p in data_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
        hint = f"; sub-folders found there: {found}" if found else "; it has no sub-folders"
        raise FileNotFoundError(
            f"{arg_name}: folder '{path}' not found (data_dir must contain '{subdir}/'{hint})"
        )
    return path


def _list_by_stem(folder: Path) -> dict[str, Path]:
    """Map file stem -> path for the readable image files directly inside ``folder``."""
    by_stem: dict[str, Path] = {}
    ignored = []
    for path in folder.iterdir():
        if path.name.startswith("."):  # .DS_Store, AppleDouble "._x.png", editor files
            continue
        if not path.is_file():
            continue
        if path.suffix.lower() not in IMAGE_EXTENSIONS:
            ignored.append(path.name)
            continue
        stem = path.stem
        if stem in by_stem:
            a, b = sorted([by_stem[stem].name, path.name])
            raise ValueError(
                f"two files with the same stem '{stem}' in '{folder}': '{a}' and '{b}' "
                "(an image and its mask are matched by stem, so each stem must be unique)"
            )
        by_stem[stem] = path
    if ignored:
        logger.debug(
            "ignoring %d non-image file(s) in %s: %s", len(ignored), folder, _format_list(sorted(ignored))
        )
    return by_stem


def _strip_suffix(masks: dict[str, Path], suffix: str) -> dict[str, Path]:
    """Keys masks by their image's stem: ``12_mask`` -> ``12`` for ``suffix="_mask"``.

    A mask whose stem does not end with the suffix keeps its stem (and is then reported
    as unpaired unless an image has that stem).
    """
    if not suffix:
        return masks
    keyed: dict[str, Path] = {}
    for stem, path in masks.items():
        key = stem[: -len(suffix)] if stem.endswith(suffix) and len(stem) > len(suffix) else stem
        if key in keyed:
            a, b = sorted([keyed[key].name, path.name])
            raise ValueError(f"two masks for the image stem '{key}' with mask_suffix={suffix!r}: '{a}' and '{b}'")
        keyed[key] = path
    return keyed


def _suffix_hint(image_stems: set[str], mask_stems: list[str]) -> str:
    """Suggests ``mask_suffix`` when every unpaired mask is an unpaired image's stem plus one suffix."""
    suffixes = set()
    for stem in mask_stems:
        found = [stem[i:] for i in range(1, len(stem)) if stem[:i] in image_stems]
        if not found:
            return ""
        suffixes.add(min(found, key=len))
    if len(suffixes) == 1:
        suffix = suffixes.pop()
        return f"the masks look named '<image stem>{suffix}': pass mask_suffix={suffix!r} to pair them; or "
    return ""


def find_pairs(
    data_dir: str | os.PathLike[str],
    images_subdir: str = "images",
    masks_subdir: str = "masks",
    allow_unpaired: bool = False,
    mask_suffix: str = "",
) -> list[tuple[Path, Path]]:
    """List the ``(image_path, mask_path)`` pairs of a dataset folder.

    Images and masks are matched by file stem (extensions may differ) and returned in
    natural order of the stems (``2`` before ``10``). Files whose extension is not one of
    :data:`IMAGE_EXTENSIONS` (case-insensitive) and hidden files are ignored.

    Args:
        data_dir: folder that contains ``images_subdir`` and ``masks_subdir``.
        images_subdir: name of the image sub-folder.
        masks_subdir: name of the mask sub-folder.
        allow_unpaired: if False (default) an image without a mask or a mask without an
            image is an error; if True such files are skipped with a logged warning.
        mask_suffix: what a mask's stem adds to its image's stem, for datasets that name
            masks ``images/12.jpg`` -> ``masks/12_mask.png`` (``mask_suffix="_mask"``).
            When masks are unpaired and share such a suffix, the error suggests it.

    Returns:
        A list of ``(image_path, mask_path)`` tuples.

    Raises:
        FileNotFoundError: ``data_dir`` or one of its sub-folders does not exist.
        ValueError: no images, unpaired files (unless ``allow_unpaired``), or two files
            with the same stem in one sub-folder.

    Example:
        >>> import tempfile, numpy as np
        >>> from pathlib import Path
        >>> from PIL import Image
        >>> root = Path(tempfile.mkdtemp())
        >>> for sub in ("images", "masks"):
        ...     (root / sub).mkdir()
        ...     for stem in ("10", "2"):
        ...         Image.fromarray(np.zeros((4, 4), np.uint8)).save(root / sub / f"{stem}.png")
        >>> [img.name for img, _ in find_pairs(root)]
        ['2.png', '10.png']
    """
    if data_dir is None:
        raise FileNotFoundError("data_dir is None; pass the folder that contains images/ and masks/")
    root = Path(data_dir)
    if not root.exists():
        raise FileNotFoundError(f"data_dir '{root}' does not exist")
    if not root.is_dir():
        raise FileNotFoundError(f"data_dir '{root}' is not a directory")
    images_dir = _check_subdir(root, images_subdir, "images_subdir")
    masks_dir = _check_subdir(root, masks_subdir, "masks_subdir")

    if not isinstance(mask_suffix, str):
        raise TypeError(f"mask_suffix must be a string, got {type(mask_suffix).__name__}")
    images = _list_by_stem(images_dir)
    masks = _strip_suffix(_list_by_stem(masks_dir), mask_suffix)
    if not images:
        raise ValueError(
            f"no images found in '{images_dir}' (looked for files ending in {', '.join(IMAGE_EXTENSIONS)})"
        )

    no_mask = sorted((images[s].name for s in images.keys() - masks.keys()), key=natural_sort_key)
    no_image = sorted((masks[s].name for s in masks.keys() - images.keys()), key=natural_sort_key)
    if no_mask or no_image:
        parts = []
        if no_mask:
            parts.append(
                f"{len(no_mask)} image(s) in '{images_dir}' without a mask in '{masks_dir}': "
                f"{_format_list(no_mask)}"
            )
        if no_image:
            parts.append(
                f"{len(no_image)} mask(s) in '{masks_dir}' without an image in '{images_dir}': "
                f"{_format_list(no_image)}"
            )
        message = "; ".join(parts)
        if not allow_unpaired:
            hint = _suffix_hint(set(images) - set(masks), [masks[s].stem for s in masks.keys() - images.keys()])
            raise ValueError(
                f"unpaired files: {message} ({hint}pass allow_unpaired=True, or on_error='skip' in load_folder, "
                "to skip them)"
            )
        logger.warning("skipping unpaired files: %s", message)

    stems = sorted(images.keys() & masks.keys(), key=natural_sort_key)
    if not stems:
        raise ValueError(f"no image in '{images_dir}' has a mask with the same stem in '{masks_dir}'")
    return [(images[s], masks[s]) for s in stems]


# --------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------


def _read_array(path: Path, kind: str, palette_indices: bool = False) -> np.ndarray:
    """Decode the first frame of an image file into an array of shape [H, W] or [H, W, 3].

    Alpha channels are dropped and palette images are expanded to their colours, or, with
    ``palette_indices``, read as their palette indices (``[H, W]``, the class ids of
    PASCAL-VOC-style masks). Any decoding problem is raised as :class:`_BadPairError`
    naming the file.
    """
    try:
        if path.stat().st_size == 0:
            raise _BadPairError(f"{kind} file '{path}' is empty (0 bytes)")
        with Image.open(path) as im:  # opened read-only ("rb")
            im.seek(0)  # first frame of GIF / multi-page TIFF
            im.load()
            mode = im.mode
            if mode == "P" and palette_indices:
                pass  # np.asarray gives the indices
            elif mode == "P":
                im = im.convert("RGBA" if "transparency" in im.info else "RGB")
            elif mode == "PA":
                im = im.convert("RGBA")
            elif mode == "1":
                im = im.convert("L")
            elif mode in ("CMYK", "YCbCr", "LAB", "HSV"):
                im = im.convert("RGB")
            elif mode.startswith("I;16"):  # 16-bit gray: kept as uint16
                pass
            elif mode not in ("L", "LA", "RGB", "RGBA", "RGBX", "RGBa", "La", "I", "F"):
                im = im.convert("RGB")
            array = np.asarray(im)
    except _BadPairError:
        raise
    except UnidentifiedImageError as error:
        raise _BadPairError(
            f"cannot read {kind} file '{path}': not a valid image (unknown format or corrupt header)"
        ) from error
    except Exception as error:  # Pillow raises OSError, SyntaxError, ValueError, EOFError, ...
        raise _BadPairError(
            f"cannot read {kind} file '{path}': {type(error).__name__}: {error}"
        ) from error
    if array.dtype.byteorder not in ("=", "|"):
        array = array.astype(array.dtype.newbyteorder("="))
    if array.ndim == 3:
        if array.shape[-1] in (2, 4):  # LA / RGBA: drop alpha
            array = array[..., :-1]
        if array.shape[-1] == 1:
            array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] != 3) or 0 in array.shape:
        raise _BadPairError(f"{kind} file '{path}' has an unsupported shape {array.shape}")
    if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        raise _BadPairError(f"{kind} file '{path}' contains NaN or Inf values")
    return array


def _image_to_float(array: np.ndarray, path: Path, channels: int) -> np.ndarray:
    """Scale a decoded image to float32 in [0, 1] with ``channels`` channels."""
    if array.dtype == np.uint8 or array.dtype == bool:
        image = array.astype(np.float32) / (255.0 if array.dtype == np.uint8 else 1.0)
    elif array.dtype == np.uint16:
        image = array.astype(np.float32) / 65535.0
    elif array.dtype.kind in "iu":  # Pillow mode "I" (32-bit int), e.g. some 16-bit files
        lo, hi = int(array.min()), int(array.max())
        if lo < 0 or hi > 65535:
            raise _BadPairError(
                f"image file '{path}' has integer values in [{lo}, {hi}]; only 8-bit and 16-bit "
                "(0..65535) integer images are supported"
            )
        image = array.astype(np.float32) / 65535.0
    elif array.dtype.kind == "f":
        lo, hi = float(array.min()), float(array.max())
        if lo < 0.0 or hi > 1.0:
            raise _BadPairError(
                f"image file '{path}' is floating point with values in [{lo:g}, {hi:g}]; "
                "float images must already be in [0, 1]"
            )
        image = array.astype(np.float32)
    else:
        raise _BadPairError(f"image file '{path}' has unsupported pixel type {array.dtype}")

    if image.ndim == 2:
        image = image[..., None]
    if channels == 3 and image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    elif channels == 1 and image.shape[-1] == 3:
        image = rgb_to_luma(image)
    return np.clip(image, 0.0, 1.0)


def rgb_to_luma(images: np.ndarray) -> np.ndarray:
    """RGB images ``[..., 3]`` as one-channel float32 luma ``[..., 1]`` (ITU-R 601, as ``channels=1`` reads them).

    Example:
        >>> rgb_to_luma(np.ones((2, 4, 4, 3), np.float32)).shape
        (2, 4, 4, 1)
    """
    return (np.asarray(images).astype(np.float64) @ _LUMA).astype(np.float32)[..., None]


def _is_gray_rgb(array: np.ndarray) -> bool:
    return bool(np.array_equal(array[..., 0], array[..., 1]) and np.array_equal(array[..., 0], array[..., 2]))


def _normalize_label_values(label_values: Any) -> tuple[np.ndarray, bool]:
    """Validate ``label_values``; return them as an array [K] or [K, 3] and whether RGB."""
    if label_values is None:
        raise ValueError("label_values is required when mask_mode='values' (e.g. label_values=[0, 255])")
    if isinstance(label_values, (str, bytes)) or not isinstance(label_values, Sequence | np.ndarray):
        raise ValueError(f"label_values must be a sequence of gray values or RGB tuples, got {label_values!r}")
    values = list(label_values)
    if len(values) < 1:
        raise ValueError("label_values must not be empty")
    is_rgb = [np.ndim(v) == 1 for v in values]
    if all(is_rgb):
        array = np.asarray(values, dtype=np.float64)
        if array.ndim != 2 or array.shape[1] != 3:
            raise ValueError(f"label_values: RGB entries must have exactly 3 components, got {label_values!r}")
        keys = [tuple(row) for row in array.tolist()]
    elif not any(is_rgb) and all(np.ndim(v) == 0 for v in values):
        array = np.asarray(values, dtype=np.float64)
        keys = array.tolist()
    else:
        raise ValueError(
            f"label_values must be all gray values or all RGB tuples, not a mix: {label_values!r}"
        )
    if not np.all(np.isfinite(array)):
        raise ValueError(f"label_values must be finite numbers, got {label_values!r}")
    if len(set(keys)) != len(keys):
        raise ValueError(f"label_values has duplicate entries: {label_values!r}")
    return array, bool(all(is_rgb))


def _mask_to_ids(
    array: np.ndarray,
    path: Path,
    mask_mode: str,
    threshold: float,
    label_values: np.ndarray | None,
    values_are_rgb: bool,
) -> np.ndarray:
    """Map a decoded mask to int32 class ids of shape [H, W, 1]."""
    if mask_mode in ("nonzero", "threshold"):
        if array.ndim == 3:
            gray = array[..., 0] if _is_gray_rgb(array) else array.astype(np.float64) @ _LUMA
        else:
            gray = array
        if mask_mode == "nonzero" and path.suffix.lower() in (".jpg", ".jpeg"):
            noise = int(np.count_nonzero((gray > 0) & (gray < _JPEG_NOISE)))
            if noise:
                raise _BadPairError(
                    f"mask file '{path}' is a JPEG with compression noise ({noise} pixel(s) with values 1-"
                    f"{_JPEG_NOISE - 1}): mask_mode='nonzero' would count that noise as foreground; use "
                    "mask_mode='threshold' (CLI: --mask-mode threshold) or lossless (PNG) masks"
                )
        limit = 0 if mask_mode == "nonzero" else threshold
        ids = (gray > limit).astype(np.int32)
        return ids[..., None]

    assert label_values is not None
    if values_are_rgb:
        pixels = array if array.ndim == 3 else np.repeat(array[..., None], 3, axis=-1)
    else:
        if array.ndim == 3:
            if not _is_gray_rgb(array):
                raise _BadPairError(
                    f"mask file '{path}' is a colour (RGB) image but label_values are gray values; "
                    "give label_values as RGB tuples, e.g. [(0, 0, 0), (255, 0, 0)]"
                )
            array = array[..., 0]
        pixels = array
    ids = np.zeros(array.shape[:2], dtype=np.int32)
    matched = np.zeros(array.shape[:2], dtype=bool)
    for class_id, value in enumerate(label_values):
        hit = np.all(pixels == value, axis=-1) if values_are_rgb else pixels == value
        ids[hit] = class_id
        matched |= hit
    if not matched.all():
        bad = pixels[~matched]
        unexpected = np.unique(bad, axis=0) if values_are_rgb else np.unique(bad)
        shown = [_as_value(v) for v in unexpected]
        expected = [_as_value(v) for v in label_values]
        raise _BadPairError(
            f"mask file '{path}' contains {int((~matched).sum())} pixel(s) with values not in "
            f"label_values: {_format_list(shown)} (label_values={expected})"
        )
    return ids[..., None]


def _as_number(value: Any) -> int | float:
    value = float(value)
    return int(value) if value.is_integer() else value


def _as_value(value: Any) -> int | float | tuple[int | float, ...]:
    """A gray value or an RGB tuple as plain Python numbers, for messages."""
    if np.ndim(value) == 0:
        return _as_number(value)
    return tuple(_as_number(c) for c in np.asarray(value).ravel())


def _resize_pair(image: np.ndarray, mask: np.ndarray, size: tuple[int, int] | None) -> tuple[np.ndarray, np.ndarray]:
    if size is None or image.shape[:2] == tuple(size):
        return image, mask
    image = tf.image.resize(image, size, method="bilinear", antialias=True)
    image = tf.clip_by_value(image, 0.0, 1.0).numpy()
    mask = tf.image.resize(mask, size, method="nearest").numpy()  # keeps int32, never invents ids
    return image, mask


def _load_pair(
    image_path: Path,
    mask_path: Path,
    image_size: tuple[int, int] | None,
    mask_mode: str,
    threshold: float,
    label_values: np.ndarray | None,
    values_are_rgb: bool,
    channels: int,
) -> tuple[np.ndarray, np.ndarray]:
    raw_image = _read_array(image_path, "image")
    # Palette masks with gray label values hold class ids as palette indices (PASCAL VOC style).
    raw_mask = _read_array(mask_path, "mask", palette_indices=mask_mode == "values" and not values_are_rgb)
    if raw_image.shape[:2] != raw_mask.shape[:2]:
        (ih, iw), (mh, mw) = raw_image.shape[:2], raw_mask.shape[:2]
        raise _BadPairError(
            f"image and mask sizes differ: image '{image_path}' is {ih}x{iw} (HxW) but mask "
            f"'{mask_path}' is {mh}x{mw}"
        )
    image = _image_to_float(raw_image, image_path, channels)
    mask = _mask_to_ids(raw_mask, mask_path, mask_mode, threshold, label_values, values_are_rgb)
    return _resize_pair(image, mask, image_size)


# --------------------------------------------------------------------------------------
# Public loader
# --------------------------------------------------------------------------------------


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
    return slices.map(take, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


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
        values_array, values_are_rgb = _normalize_label_values(label_values)
    elif label_values is not None:
        raise ValueError(f"label_values is only used with mask_mode='values' (got mask_mode={mask_mode!r})")

    skip = on_error == "skip"
    pairs = find_pairs(data_dir, images_subdir, masks_subdir, allow_unpaired=skip, mask_suffix=mask_suffix)

    def load(pair: tuple[Path, Path]) -> tuple[np.ndarray, np.ndarray] | _BadPairError:
        try:
            return _load_pair(*pair, size, mask_mode, threshold, values_array, values_are_rgb, channels)
        except _BadPairError as error:
            return error

    images: list[np.ndarray] = []
    masks: list[np.ndarray] = []
    skipped = 0
    # Pillow and TensorFlow release the GIL while decoding/resizing, so threads help. Results
    # come back in order, so errors and the dataset order are deterministic.
    workers = max(1, min(8, os.cpu_count() or 1, len(pairs)))
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        for (image_path, mask_path), result in zip(pairs, pool.map(load, pairs)):
            if isinstance(result, _BadPairError):
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

    if size is None:
        return _ragged_dataset(images, masks, channels)
    return tf.data.Dataset.from_tensor_slices(
        {"images": np.stack(images), "segmentation_masks": np.stack(masks)}
    )
