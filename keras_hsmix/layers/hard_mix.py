"""HardMix: paste whole superpixels of a partner image, and of its mask."""

from __future__ import annotations

from typing import Callable

import keras
import tensorflow as tf

from keras_hsmix.layers.base import IMAGES, MASKS, SALIENCY, SUPERPIXELS, BaseMix
from keras_hsmix.ops.fused import hard_mix_batch


@keras.saving.register_keras_serializable(package="keras_hsmix")
class HardMix(BaseMix):
    """Hard superpixel mixing (the "hard" half of HSMix).

    Each sample A is paired with a random partner B of the same batch. Each
    superpixel of B is picked with probability ``p``; the picked regions of B
    replace A in the image and in the mask alike, so contours are kept.

    Args:
        p: probability of picking each superpixel of the partner.
        num_classes: with class-id masks (``[B, H, W]`` or ``[B, H, W, 1]``), the
            number of classes; the output masks are then one-hot
            ``[B, H, W, num_classes]``. ``None`` for float masks mixed as given.
        n_segments: SLIC superpixel count (int or ``(low, high)``), used only when
            the batch has no ``"superpixels"`` key.
        compactness: SLIC compactness.
        seed: makes the draws repeatable when the layer is called in a fixed order: eagerly, inside
            a Keras model, or in a *sequential* ``tf.data`` map (see "Seeds and ``tf.data``" in
            :class:`BaseMix`: a parallel map is not repeatable).
        jit_compile: ``"auto"`` (default): run the mixing (superpixels given) as one XLA computation in
            graph mode (``tf.data``, ``tf.function``, ``train_step``; about 2x faster on CPU) and as plain
            TensorFlow ops when called eagerly (a one-off call would compile once per new input shape);
            ``True`` / ``False``: always / never XLA.

    Inputs and outputs are dicts with ``"images"``, ``"segmentation_masks"`` and
    optionally ``"superpixels"`` and ``"saliency"``; the output has the input's
    keys. The output superpixel map is the mixed one (A's ids where A shows, B's
    ids offset by ``N`` where B shows), so mixes can be chained. With
    ``training=False`` the input is returned unchanged. Works inside ``tf.data``
    (map it after ``batch()``; for repeatable seeded draws, without ``num_parallel_calls``:
    see :class:`BaseMix`).

    Images keep their dtype: uint8 (or other integer) images are pasted exactly,
    never converted, so a pipeline that normalises after mixing moves a quarter
    of the bytes of float32 images (see ``docs/performance.md``).

    Example:
        >>> import numpy as np
        >>> layer = HardMix(num_classes=2, n_segments=20, seed=0)
        >>> out = layer({"images": np.random.rand(4, 32, 32, 3).astype("float32"),
        ...              "segmentation_masks": np.random.randint(0, 2, (4, 32, 32, 1))})
        >>> out["segmentation_masks"].shape
        TensorShape([4, 32, 32, 2])
    """

    def transform(
        self, data: dict, transformation: dict, saliency_fn: Callable[[dict], tf.Tensor] | None = None
    ) -> dict:
        del saliency_fn  # a hard mix needs no saliency
        mixed = hard_mix_batch(
            data[IMAGES], data[MASKS], data[SUPERPIXELS], transformation["partner"], transformation["picked"],
            transformation["num_segments"], maps=data.get(SALIENCY), num_classes=self.num_classes,
            jit_compile=self.jit_compile,
        )
        out = dict(data)
        out[IMAGES], out[MASKS], out[SUPERPIXELS] = mixed.images, mixed.masks, mixed.superpixels
        if SALIENCY in data:
            out[SALIENCY] = mixed.maps
        return out
