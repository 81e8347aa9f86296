"""95th-percentile Hausdorff distance (HD95) between segmentation masks.

NumPy / SciPy implementation (evaluation only, not differentiable), following
the usual MedPy definition: the surface (boundary) pixels of each mask are the
mask minus its binary erosion (3x3 cross, pixels on the image border count as
boundary); distances from every surface pixel of one mask to the nearest
surface pixel of the other are taken with
:func:`scipy.ndimage.distance_transform_edt` in both directions, and HD95 is the
95th percentile of the union of the two distance sets.

Empty-mask conventions (per image):

* both masks empty -> ``0.0`` (perfect agreement);
* exactly one mask empty -> ``empty_value``, by default ``NaN`` (undefined).
  :func:`hd95_mean` averages with ``nanmean``, so such images are *left out* of
  the mean (and the mean is ``NaN`` if every image is undefined). Pass
  ``empty_value="diagonal"`` to use the image diagonal (in ``spacing`` units)
  as a worst-case penalty instead, or any float.
"""

from __future__ import annotations

import warnings
from typing import Any, Sequence

import numpy as np
from scipy import ndimage

__all__ = ["hd95", "hd95_mean"]


def _to_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "numpy"):  # eager TF / Keras tensors
        x = x.numpy()
    return np.asarray(x)


def _to_binary_masks(
    x: np.ndarray, class_id: int | None, threshold: float, what: str
) -> np.ndarray:
    """``[B, H, W]`` boolean masks from one of the accepted input layouts."""
    if x.ndim == 4 and x.shape[-1] > 1:
        # Per-class maps (one-hot, soft labels, probabilities or logits).
        cid = 1 if class_id is None else int(class_id)
        if not 0 <= cid < x.shape[-1]:
            raise ValueError(
                f"hd95: class_id={cid} is out of range for {what} with "
                f"{x.shape[-1]} channels (shape {x.shape})."
            )
        return np.argmax(x, axis=-1) == cid
    if x.ndim == 4:
        x = x[..., 0]
    if x.dtype == bool:
        if class_id is not None and int(class_id) != 1:
            return ~x if int(class_id) == 0 else np.zeros_like(x)
        return x
    if class_id is None:
        return x >= threshold
    return np.rint(x).astype(np.int64) == int(class_id)


def _spacing(spacing: float | Sequence[float] | None) -> tuple[float, float]:
    if spacing is None:
        return (1.0, 1.0)
    sp = np.atleast_1d(np.asarray(spacing, dtype=np.float64))
    if sp.size == 1:
        sp = np.repeat(sp, 2)
    if sp.shape != (2,) or not np.all(np.isfinite(sp)) or np.any(sp <= 0):
        raise ValueError(
            "hd95: spacing must be a positive number or a (row, col) pair of positive "
            f"numbers, got {spacing!r}."
        )
    return (float(sp[0]), float(sp[1]))


def _surface(mask: np.ndarray) -> np.ndarray:
    structure = ndimage.generate_binary_structure(2, 1)
    return mask & ~ndimage.binary_erosion(mask, structure=structure, iterations=1)


def _hd95_single(a: np.ndarray, b: np.ndarray, spacing: tuple[float, float]) -> float:
    surf_a = _surface(a)
    surf_b = _surface(b)
    dist_to_b = ndimage.distance_transform_edt(~surf_b, sampling=spacing)
    dist_to_a = ndimage.distance_transform_edt(~surf_a, sampling=spacing)
    distances = np.concatenate([dist_to_b[surf_a], dist_to_a[surf_b]])
    return float(np.percentile(distances, 95))


def hd95(
    y_true: Any,
    y_pred: Any,
    spacing: float | Sequence[float] | None = None,
    empty_value: float | str = float("nan"),
    class_id: int | None = None,
    threshold: float = 0.5,
) -> np.ndarray:
    """Per-image symmetric 95th-percentile Hausdorff distance.

    Accepted layouts (NumPy arrays or eager TF / Keras tensors; each argument
    is converted independently, so e.g. class ids vs. probabilities is fine):

    * binary masks / foreground probabilities ``[B, H, W]`` or
      ``[B, H, W, 1]``: foreground where ``>= threshold`` (``bool`` used as is);
      if ``class_id`` is given they are read as class-id maps instead and the
      foreground is ``== class_id``;
    * per-class maps ``[B, H, W, K]`` with ``K > 1`` (one-hot, soft labels,
      probabilities or logits): foreground where ``argmax == class_id``
      (``class_id`` defaults to 1, the first foreground class).

    Args:
        y_true: Reference masks.
        y_pred: Predicted masks.
        spacing: Pixel size, a number or a ``(row, col)`` pair; distances are
            returned in these units (default: pixels).
        empty_value: Value for an image where exactly one of the two masks is
            empty: a float (default ``NaN``: undefined, skipped by
            :func:`hd95_mean`) or ``"diagonal"`` for the image diagonal
            ``sqrt((H*row)**2 + (W*col)**2)``. Both empty always gives ``0.0``.
        class_id: Class to evaluate (see the layouts above).
        threshold: Foreground threshold for single-channel float inputs.

    Returns:
        ``np.ndarray`` of shape ``[B]`` (float64).

    Raises:
        ValueError: On unsupported or mismatching shapes (the message names
            both shapes), bad ``spacing`` or bad ``empty_value``.

    Example:

    >>> import numpy as np
    >>> a = np.zeros((1, 32, 32), bool); a[0, 8:20, 8:20] = True
    >>> b = np.roll(a, 3, axis=2)  # same square shifted by 3 pixels
    >>> hd95(a, b)
    array([3.])
    >>> hd95(a, b, spacing=(1.0, 0.5))
    array([1.5])
    """
    t = _to_numpy(y_true)
    p = _to_numpy(y_pred)
    for arr, what in ((t, "y_true"), (p, "y_pred")):
        if arr.ndim not in (3, 4):
            raise ValueError(
                f"hd95: {what} must be [B, H, W] or [B, H, W, K], got shape {arr.shape} "
                f"(y_true shape {t.shape}, y_pred shape {p.shape})."
            )
    if t.shape[:3] != p.shape[:3]:
        raise ValueError(
            f"hd95: y_true and y_pred must share batch and spatial dims [B, H, W]; got "
            f"y_true shape {t.shape} and y_pred shape {p.shape}."
        )
    sp = _spacing(spacing)
    if isinstance(empty_value, str):
        if empty_value != "diagonal":
            raise ValueError(
                f"hd95: empty_value must be a float or 'diagonal', got {empty_value!r}."
            )
        height, width = t.shape[1], t.shape[2]
        one_empty = float(np.hypot(height * sp[0], width * sp[1]))
    else:
        one_empty = float(empty_value)

    masks_t = _to_binary_masks(t, class_id, threshold, "y_true")
    masks_p = _to_binary_masks(p, class_id, threshold, "y_pred")
    out = np.empty(masks_t.shape[0], dtype=np.float64)
    for i, (a, b) in enumerate(zip(masks_t, masks_p)):
        has_a, has_b = bool(a.any()), bool(b.any())
        if not has_a and not has_b:
            out[i] = 0.0
        elif has_a != has_b:
            out[i] = one_empty
        else:
            out[i] = _hd95_single(a, b, sp)
    return out


def hd95_mean(
    y_true: Any,
    y_pred: Any,
    spacing: float | Sequence[float] | None = None,
    empty_value: float | str = float("nan"),
    class_id: int | None = None,
    threshold: float = 0.5,
) -> float:
    """Mean HD95 over images, ignoring undefined (``NaN``) images.

    Same arguments as :func:`hd95`. With the default ``empty_value=NaN``,
    images where exactly one mask is empty are left out of the mean; the
    result is ``NaN`` only when no image has a defined HD95.

    Example:

    >>> import numpy as np
    >>> a = np.zeros((2, 16, 16), bool); a[:, 4:10, 4:10] = True
    >>> b = a.copy(); b[1] = False          # image 1: prediction empty -> NaN
    >>> hd95_mean(a, b)
    0.0
    """
    values = hd95(
        y_true,
        y_pred,
        spacing=spacing,
        empty_value=empty_value,
        class_id=class_id,
        threshold=threshold,
    )
    if values.size == 0 or np.all(np.isnan(values)):
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(np.nanmean(values))
