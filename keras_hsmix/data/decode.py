"""Decoding one image/mask pair: read with Pillow, check, convert to float images and class-id masks, resize."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf
from PIL import Image, UnidentifiedImageError

from keras_hsmix.data.files import format_list

#: Accepted values of ``mask_mode`` in :func:`keras_hsmix.data.load_folder`.
MASK_MODES: tuple[str, ...] = ("nonzero", "threshold", "values")

# Values below this next to 0 in a JPEG mask are compression noise, not labels.
_JPEG_NOISE = 16

# ITU-R BT.601 luma weights: the same as Pillow's "L" conversion and tf.image.rgb_to_grayscale.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float64)


class BadPairError(ValueError):
    """A problem with one image/mask pair (skippable with ``on_error="skip"`` in ``load_folder``)."""



def read_array(path: Path, kind: str, palette_indices: bool = False) -> np.ndarray:
    """Decode the first frame of an image file into an array of shape [H, W] or [H, W, 3].

    Alpha channels are dropped and palette images are expanded to their colours, or, with
    ``palette_indices``, read as their palette indices (``[H, W]``, the class ids of
    PASCAL-VOC-style masks). Any decoding problem is raised as :class:`BadPairError`
    naming the file.
    """
    return read_array_and_format(path, kind, palette_indices)[0]


def read_array_and_format(path: Path, kind: str, palette_indices: bool = False) -> tuple[np.ndarray, str | None]:
    """:func:`read_array`, and the format Pillow decoded (``"PNG"``, ``"JPEG"``, ...), whatever the file name says."""
    try:
        if path.stat().st_size == 0:
            raise BadPairError(f"{kind} file '{path}' is empty (0 bytes)")
        with Image.open(path) as im:  # opened read-only ("rb")
            im.seek(0)  # first frame of GIF / multi-page TIFF
            im.load()
            file_format = im.format
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
    except BadPairError:
        raise
    except UnidentifiedImageError as error:
        raise BadPairError(
            f"cannot read {kind} file '{path}': not a valid image (unknown format or corrupt header)"
        ) from error
    except Exception as error:  # Pillow raises OSError, SyntaxError, ValueError, EOFError, ...
        raise BadPairError(
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
        raise BadPairError(f"{kind} file '{path}' has an unsupported shape {array.shape}")
    if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
        raise BadPairError(f"{kind} file '{path}' contains NaN or Inf values")
    return array, file_format


def image_to_float(array: np.ndarray, path: Path, channels: int) -> np.ndarray:
    """Scale a decoded image to float32 in [0, 1] with ``channels`` channels."""
    if array.dtype == np.uint8 or array.dtype == bool:
        image = array.astype(np.float32) / (255.0 if array.dtype == np.uint8 else 1.0)
    elif array.dtype == np.uint16:
        image = array.astype(np.float32) / 65535.0
    elif array.dtype.kind in "iu":  # Pillow mode "I" (32-bit int), e.g. some 16-bit files
        lo, hi = int(array.min()), int(array.max())
        if lo < 0 or hi > 65535:
            raise BadPairError(
                f"image file '{path}' has integer values in [{lo}, {hi}]; only 8-bit and 16-bit "
                "(0..65535) integer images are supported"
            )
        image = array.astype(np.float32) / 65535.0
    elif array.dtype.kind == "f":
        lo, hi = float(array.min()), float(array.max())
        if lo < 0.0 or hi > 1.0:
            raise BadPairError(
                f"image file '{path}' is floating point with values in [{lo:g}, {hi:g}]; "
                "float images must already be in [0, 1]"
            )
        image = array.astype(np.float32)
    else:
        raise BadPairError(f"image file '{path}' has unsupported pixel type {array.dtype}")

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


def normalize_label_values(label_values: Any) -> tuple[np.ndarray, bool]:
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


def mask_to_ids(
    array: np.ndarray,
    path: Path,
    mask_mode: str,
    threshold: float,
    label_values: np.ndarray | None,
    values_are_rgb: bool,
    file_format: str | None = None,
) -> np.ndarray:
    """Map a decoded mask to int32 class ids of shape [H, W, 1].

    ``file_format``: the format Pillow decoded (``Image.format``); the JPEG noise check looks at it, not at
    the file name (JPEG bytes saved under a ``.png`` name are a common export mistake). ``None``: the name.
    """
    if mask_mode in ("nonzero", "threshold"):
        if array.ndim == 3:
            gray = array[..., 0] if _is_gray_rgb(array) else array.astype(np.float64) @ _LUMA
        else:
            gray = array
        named_jpeg = path.suffix.lower() in (".jpg", ".jpeg")
        is_jpeg = named_jpeg if file_format is None else file_format == "JPEG"
        if mask_mode == "nonzero" and is_jpeg:
            noise = int(np.count_nonzero((gray > 0) & (gray < _JPEG_NOISE)))
            if noise:
                misnamed = "" if named_jpeg else f" (JPEG data under a '{path.suffix}' name)"
                raise BadPairError(
                    f"mask file '{path}' is a JPEG{misnamed} with compression noise ({noise} pixel(s) with values 1-"
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
                raise BadPairError(
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
        shown = [as_value(v) for v in unexpected]
        expected = [as_value(v) for v in label_values]
        raise BadPairError(
            f"mask file '{path}' contains {int((~matched).sum())} pixel(s) with values not in "
            f"label_values: {format_list(shown)} (label_values={expected})"
        )
    return ids[..., None]


def as_number(value: Any) -> int | float:
    value = float(value)
    return int(value) if value.is_integer() else value


def as_value(value: Any) -> int | float | tuple[int | float, ...]:
    """A gray value or an RGB tuple as plain Python numbers, for messages."""
    if np.ndim(value) == 0:
        return as_number(value)
    return tuple(as_number(c) for c in np.asarray(value).ravel())


def resize_pair(image: np.ndarray, mask: np.ndarray, size: tuple[int, int] | None) -> tuple[np.ndarray, np.ndarray]:
    if size is None or image.shape[:2] == tuple(size):
        return image, mask
    image = tf.image.resize(image, size, method="bilinear", antialias=True)
    image = tf.clip_by_value(image, 0.0, 1.0).numpy()
    mask = tf.image.resize(mask, size, method="nearest").numpy()  # keeps int32, never invents ids
    return image, mask


def load_pair(
    image_path: Path,
    mask_path: Path,
    image_size: tuple[int, int] | None,
    mask_mode: str,
    threshold: float,
    label_values: np.ndarray | None,
    values_are_rgb: bool,
    channels: int,
) -> tuple[np.ndarray, np.ndarray]:
    raw_image = read_array(image_path, "image")
    # Palette masks with gray label values hold class ids as palette indices (PASCAL VOC style).
    raw_mask, mask_format = read_array_and_format(
        mask_path, "mask", palette_indices=mask_mode == "values" and not values_are_rgb
    )
    if raw_image.shape[:2] != raw_mask.shape[:2]:
        (ih, iw), (mh, mw) = raw_image.shape[:2], raw_mask.shape[:2]
        raise BadPairError(
            f"image and mask sizes differ: image '{image_path}' is {ih}x{iw} (HxW) but mask "
            f"'{mask_path}' is {mh}x{mw}"
        )
    image = image_to_float(raw_image, image_path, channels)
    mask = mask_to_ids(raw_mask, mask_path, mask_mode, threshold, label_values, values_are_rgb, mask_format)
    return resize_pair(image, mask, image_size)


# --------------------------------------------------------------------------------------
# Public loader
# --------------------------------------------------------------------------------------


