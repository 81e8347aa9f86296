"""SoftMix: blend a partner image with per-superpixel, saliency-driven weights."""

from __future__ import annotations

from typing import Any, Sequence

import keras
import tensorflow as tf

from keras_hsmix.layers.base import IMAGES, MASKS, SALIENCY, SUPERPIXELS, BaseMix
from keras_hsmix.ops import mixing
from keras_hsmix.ops.fused import soft_mix_batch
from keras_hsmix.ops.saliency import static_saliency
from keras_hsmix.ops.superpixels import DEFAULT_N_SEGMENTS

SALIENCY_MODES = ("static", "random")


@keras.saving.register_keras_serializable(package="keras_hsmix")
class SoftMix(BaseMix):
    """Soft superpixel mixing (the "soft" half of HSMix).

    Each sample A is paired with a random partner B of the same batch. A mixed
    superpixel map is built as in :class:`HardMix` (B's superpixels picked with
    probability ``p``, A's elsewhere). On each of its superpixels a coefficient
    λ is set, and ``image = (1-λ)·A + λ·B``; the one-hot masks are mixed with
    the same λ into soft labels that sum to 1.

    λ comes from a saliency map S: the ratio ``S_B / (S_A + S_B + eps)`` averaged
    over each superpixel, min-max normalised per image. S is taken from the
    batch's ``"saliency"`` key when present (e.g. the Grad-CAM of the model in
    training), otherwise computed in the graph with
    :func:`keras_hsmix.ops.saliency.static_saliency` (OpenCV's fine-grained
    static saliency). With ``saliency="random"``, λ ~ Beta(alpha, alpha) per
    superpixel instead, as the paper's code does for GlaS.

    Images keep their dtype: integer (e.g. uint8) images are blended in float32
    and rounded to the nearest value (half to even), clipped to the dtype's range.

    Args:
        p: probability of taking each superpixel of the partner into the mixed map.
        saliency: ``"static"`` (the ``"saliency"`` key when given, else static
            saliency) or ``"random"``.
        alpha: Beta parameter for ``saliency="random"``.
        num_classes, n_segments, compactness, seed, jit_compile: as in :class:`HardMix`.

    Example:
        >>> import numpy as np
        >>> layer = SoftMix(num_classes=2, n_segments=20, seed=0)
        >>> out = layer({"images": np.random.rand(4, 32, 32, 3).astype("float32"),
        ...              "segmentation_masks": np.random.randint(0, 2, (4, 32, 32))})
        >>> float(out["segmentation_masks"].numpy().sum(-1).min()) > 0.999
        True
    """

    def __init__(
        self,
        p: float = 0.5,
        saliency: str = "static",
        alpha: float = 1.0,
        num_classes: int | None = None,
        n_segments: int | Sequence[int] = DEFAULT_N_SEGMENTS,
        compactness: float = 10.0,
        seed: int | None = None,
        jit_compile: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(p, num_classes, n_segments, compactness, seed, jit_compile, **kwargs)
        if saliency not in SALIENCY_MODES:
            raise ValueError(f"saliency must be one of {SALIENCY_MODES}, got {saliency!r}")
        if alpha <= 0:
            raise ValueError(f"alpha must be > 0, got {alpha}")
        self.saliency = saliency
        self.alpha = float(alpha)

    def get_random_transformation(self, data: dict, seed: Any = None) -> dict:
        seed = seed if seed is not None else self.generator
        transformation = super().get_random_transformation(data, seed)
        if self.saliency == "random":
            shape = tf.stack([tf.shape(data[SUPERPIXELS])[0], 2 * transformation["num_segments"]])
            transformation["draws"] = keras.random.beta(shape, self.alpha, self.alpha, seed=seed)
        return transformation

    @staticmethod
    def _saliency(data: dict) -> tf.Tensor:
        """The batch's ``"saliency"`` key when given, else static saliency of the images."""
        return data[SALIENCY] if SALIENCY in data else static_saliency(data[IMAGES])

    def coefficients(self, data: dict, transformation: dict) -> tuple[tf.Tensor, tf.Tensor]:
        """Returns ``(lam [B, H, W], mixed superpixels [B, H, W])`` for a canonical batch.

        For inspection (plots, tests): :meth:`transform` computes the same λ inside
        :func:`keras_hsmix.ops.fused.soft_mix_batch`.
        """
        partner = transformation["partner"]
        n = transformation["num_segments"]
        sp = data[SUPERPIXELS]
        region = mixing.partner_region(sp, partner, transformation["picked"])
        mixed_sp = mixing.mixed_superpixels(sp, partner, region, n)
        if self.saliency == "random":
            lam = mixing.random_coefficients(transformation["draws"], mixed_sp)
        else:
            lam = mixing.saliency_coefficients(self._saliency(data), partner, mixed_sp, 2 * n)
        return lam, mixed_sp

    def transform(self, data: dict, transformation: dict) -> dict:
        saliency = None if self.saliency == "random" else self._saliency(data)
        mixed = soft_mix_batch(
            data[IMAGES], data[MASKS], data[SUPERPIXELS], transformation["partner"], transformation["picked"],
            transformation["num_segments"], saliency=saliency, draws=transformation.get("draws"),
            maps=data.get(SALIENCY), num_classes=self.num_classes, jit_compile=self.jit_compile,
        )
        out = dict(data)
        out[IMAGES], out[MASKS], out[SUPERPIXELS] = mixed.images, mixed.masks, mixed.superpixels
        if SALIENCY in data:
            out[SALIENCY] = mixed.maps
        return out

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"saliency": self.saliency, "alpha": self.alpha})
        return config
