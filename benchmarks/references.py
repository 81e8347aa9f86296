"""NumPy references of hard and soft superpixel mixing, for ``benchmarks/run.py``.

Two kinds, all given the same draws as the library (``partner`` order and
``picked`` flags over the partner's superpixel ids) and checked equal to it
(``tests/benchmarks/test_benchmarks_quick.py``, and once on the benchmark batch
before timing):

* the *loop* references (:func:`numpy_hard_mix`, :func:`numpy_soft_mix`) build
  one boolean mask per superpixel, as the paper's code does;
* the *vectorised* references (:func:`numpy_hard_mix_vectorised`,
  :func:`numpy_soft_mix_vectorised`) are what a competent NumPy user writes: a
  lookup of the picked flags for every pixel (``np.isin``-style, no Python loop
  over superpixels) and ``np.bincount`` per-superpixel means. They do the work
  the layers do: mixed images, masks in the form the layer returns (float
  one-hot), the mixed superpixel map, and (soft) the blended saliency map.

Masks come in either form: class ids ``[B, H, W]`` / ``[B, H, W, 1]`` (with
``num_classes``) or float one-hot ``[B, H, W, K]``. Integer images are pasted
exactly and blended in float32, rounded back to their dtype, as the layers do.
"""

from __future__ import annotations

import numpy as np

EPSILON = 1e-6  # keras_hsmix.ops.mixing.EPSILON


def _one_hot(masks: np.ndarray, num_classes: int) -> np.ndarray:
    """Float32 one-hot ``[B, H, W, K]`` of class ids, or float masks ``[B, H, W, K]`` as float32."""
    if masks.dtype.kind in "iu":
        ids = masks.reshape(masks.shape[:3])
        return np.eye(num_classes, dtype=np.float32)[ids]
    return masks.astype(np.float32, copy=False)


def _blend(a: np.ndarray, b: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``a + w * (b - a)`` in float32; integer inputs rounded and clipped back to their dtype."""
    if a.dtype == np.float32:
        return a + w * (b - a)
    af, bf = a.astype(np.float32), b.astype(np.float32)
    out = af + w * (bf - af)
    if a.dtype.kind in "iu":
        info = np.iinfo(a.dtype)
        out = np.clip(np.rint(out), info.min, info.max)
    return out.astype(a.dtype)


# ---------------------------------------------------------------------------- loops (the paper's way)
def numpy_hard_mix(
    images: np.ndarray, masks: np.ndarray, superpixels: np.ndarray, partner: np.ndarray,
    picked: np.ndarray, num_classes: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Hard mixing as the paper's code does it: a Python loop over the partner's superpixels.

    For each sample and each superpixel of its partner, a boolean mask is built;
    picked superpixels are copied into the image and the one-hot mask.

    Example:
        >>> sp = np.array([[[0, 1]], [[0, 1]]])
        >>> img, _ = numpy_hard_mix(np.arange(4.).reshape(2, 1, 2, 1), np.zeros((2, 1, 2, 1), int),
        ...                         sp, np.array([1, 0]), np.array([[True, False]] * 2), 2)
        >>> img[0, 0, :, 0]
        array([2., 1.])
    """
    masks = _one_hot(masks, num_classes)
    out_images, out_masks = images.copy(), masks.copy()
    for i in range(len(images)):
        j = partner[i]
        for s in np.unique(superpixels[j]):
            region = superpixels[j] == s
            if picked[i, s]:
                out_images[i][region] = images[j][region]
                out_masks[i][region] = masks[j][region]
    return out_images, out_masks


def numpy_soft_mix(
    images: np.ndarray, masks: np.ndarray, superpixels: np.ndarray, partner: np.ndarray,
    picked: np.ndarray, saliency: np.ndarray, num_classes: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Soft mixing with one boolean mask per superpixel, as the paper's code does it.

    Builds the mixed superpixel map (partner's picked superpixels, ids offset by
    ``N``), averages the saliency ratio ``S_B / (S_A + S_B + eps)`` over each
    mixed superpixel, min-max normalises λ per image and blends images and
    one-hot masks; same result as :class:`keras_hsmix.SoftMix` given the draws.

    Example:
        >>> sp = np.zeros((2, 1, 2), int)
        >>> img, m = numpy_soft_mix(np.ones((2, 1, 2, 1)), np.zeros((2, 1, 2, 1), int), sp,
        ...                         np.array([1, 0]), np.ones((2, 1), bool), np.ones((2, 1, 2)), 2)
        >>> img.shape, m.shape
        ((2, 1, 2, 1), (2, 1, 2, 2))
    """
    masks = _one_hot(masks, num_classes)
    offset = int(superpixels.max()) + 1
    out_images = np.empty(images.shape, np.float32)
    out_masks = np.empty(masks.shape, np.float32)
    for i in range(len(images)):
        j = partner[i]
        mixed = superpixels[i].copy()
        for s in np.unique(superpixels[j]):
            region = superpixels[j] == s
            if picked[i, s]:
                mixed[region] = s + offset
        ratio = saliency[j] / (saliency[i] + saliency[j] + EPSILON)
        lam = np.zeros(mixed.shape, np.float32)
        for v in np.unique(mixed):
            region = mixed == v
            lam[region] = ratio[region].mean()
        spread = lam.max() - lam.min()
        if spread > EPSILON:
            lam = (lam - lam.min()) / spread
        w = lam[..., None]
        out_images[i] = (1 - w) * images[i] + w * images[j]
        out_masks[i] = (1 - w) * masks[i] + w * masks[j]
    return out_images, out_masks


# ------------------------------------------------------------------------------ vectorised (competent)
def _region(superpixels: np.ndarray, partner: np.ndarray, picked: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(partner's superpixels ``[B, H, W]``, pixels taken from the partner ``[B, H, W]``): one table lookup."""
    partner_sp = superpixels[partner]
    rows = np.arange(len(partner))[:, None, None]
    return partner_sp, picked[rows, partner_sp]


def _mixed_ids(masks: np.ndarray, partner: np.ndarray, region: np.ndarray, num_classes: int) -> np.ndarray:
    """Pastes masks: class ids pasted then one-hot encoded, float masks pasted as they are."""
    if masks.dtype.kind in "iu":
        ids = masks.reshape(masks.shape[:3])
        return np.eye(num_classes, dtype=np.float32)[np.where(region, ids[partner], ids)]
    return np.where(region[..., None], masks[partner], masks)


def numpy_hard_mix_vectorised(
    images: np.ndarray, masks: np.ndarray, superpixels: np.ndarray, partner: np.ndarray,
    picked: np.ndarray, num_classes: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hard mixing without a loop: ``(images, float one-hot masks, mixed superpixel map)``.

    The region taken from the partner is one fancy-index lookup of the picked
    flags at every pixel (the partner's superpixel ids index the flags), then
    ``np.where`` pastes images, masks and ids.

    Example:
        >>> sp = np.array([[[0, 1]], [[0, 1]]])
        >>> img, m, mixed = numpy_hard_mix_vectorised(np.arange(4.).reshape(2, 1, 2, 1),
        ...     np.zeros((2, 1, 2), int), sp, np.array([1, 0]), np.array([[True, False]] * 2), 2)
        >>> img[0, 0, :, 0], mixed[0, 0]
        (array([2., 1.]), array([2, 1]))
    """
    partner_sp, region = _region(superpixels, partner, picked)
    out_images = np.where(region[..., None], images[partner], images)
    out_masks = _mixed_ids(masks, partner, region, num_classes)
    mixed = np.where(region, partner_sp + (int(superpixels.max()) + 1), superpixels)
    return out_images, out_masks, mixed


def numpy_soft_mix_vectorised(
    images: np.ndarray, masks: np.ndarray, superpixels: np.ndarray, partner: np.ndarray,
    picked: np.ndarray, saliency: np.ndarray, num_classes: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Soft mixing without a loop: ``(images, float masks, mixed superpixel map, blended saliency)``.

    The mixed map as in :func:`numpy_hard_mix_vectorised`; the per-superpixel
    means of the saliency ratio are two ``np.bincount`` over batch-wide ids
    (``b * 2N + id``), min-max normalised per image over the superpixels present,
    painted back with one lookup; then one blend each of images, masks and saliency.

    Example:
        >>> sp = np.zeros((2, 1, 2), int)
        >>> out = numpy_soft_mix_vectorised(np.ones((2, 1, 2, 1), np.float32), np.zeros((2, 1, 2, 1), int), sp,
        ...     np.array([1, 0]), np.ones((2, 1), bool), np.ones((2, 1, 2), np.float32), 2)
        >>> [x.shape for x in out]
        [(2, 1, 2, 1), (2, 1, 2, 2), (2, 1, 2), (2, 1, 2)]
    """
    batch = len(images)
    n = int(superpixels.max()) + 1
    partner_sp, region = _region(superpixels, partner, picked)
    mixed = np.where(region, partner_sp + n, superpixels)
    s_a = saliency.astype(np.float32, copy=False)
    s_b = s_a[partner]
    ratio = s_b / (s_a + s_b + np.float32(EPSILON))
    ids = (mixed + (np.arange(batch) * 2 * n)[:, None, None]).ravel()
    sums = np.bincount(ids, ratio.ravel(), minlength=batch * 2 * n).reshape(batch, 2 * n)
    counts = np.bincount(ids, minlength=batch * 2 * n).reshape(batch, 2 * n)
    means = (sums / np.maximum(counts, 1)).astype(np.float32)
    present = counts > 0
    low = np.where(present, means, np.inf).min(1, keepdims=True)
    high = np.where(present, means, -np.inf).max(1, keepdims=True)
    spread = high - low
    per_segment = np.where(spread > EPSILON, (means - low) / np.maximum(spread, EPSILON), means)
    lam = per_segment.ravel()[ids].reshape(mixed.shape).astype(np.float32)
    w = lam[..., None]
    if masks.dtype.kind in "iu":
        one_hot = np.eye(num_classes, dtype=np.float32)
        ids_a = masks.reshape(masks.shape[:3])
        masks_a, masks_b = one_hot[ids_a], one_hot[ids_a[partner]]
    else:
        masks_a = masks.astype(np.float32, copy=False)
        masks_b = masks_a[partner]
    out_masks = masks_a + w * (masks_b - masks_a)
    return _blend(images, images[partner], w), out_masks, mixed, s_a + lam * (s_b - s_a)
