"""SoftMix: blend a partner image with per-superpixel, saliency-driven weights."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import keras
import tensorflow as tf

from keras_hsmix.layers import backend
from keras_hsmix.layers.base import IMAGES, MASKS, SALIENCY, SUPERPIXELS, BaseMix
from keras_hsmix.recipes import SOFT_LAMBDAS
from keras_hsmix.ops.fused import soft_coefficients, soft_mix_batch
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
        soft_lambda: how the saliency ratio aggregates over a superpixel: ``"mean"`` (default) or
            ``"area"`` (its sum over the superpixel divided by the image's area, then min-max normalised,
            as the authors' scripts compute it: λ then follows superpixel size; see docs/fidelity.md).
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
        soft_lambda: str = "mean",
        num_classes: int | None = None,
        n_segments: int | Sequence[int] = DEFAULT_N_SEGMENTS,
        compactness: float = 10.0,
        seed: int | None = None,
        jit_compile: bool | str = "auto",
        **kwargs: Any,
    ) -> None:
        super().__init__(p, num_classes, n_segments, compactness, seed, jit_compile, **kwargs)
        if saliency not in SALIENCY_MODES:
            raise ValueError(f"saliency must be one of {SALIENCY_MODES}, got {saliency!r}")
        if alpha <= 0:
            raise ValueError(f"alpha must be > 0, got {alpha}")
        if soft_lambda not in SOFT_LAMBDAS:
            raise ValueError(f"soft_lambda must be one of {SOFT_LAMBDAS}, got {soft_lambda!r}")
        self.saliency = saliency
        self.alpha = float(alpha)
        self.soft_lambda = soft_lambda

    def get_random_transformation(self, data: dict, seed: Any = None) -> dict:
        seed = seed if seed is not None else self.seed_generator()
        transformation = super().get_random_transformation(data, seed)
        if self.saliency == "random":
            shape = tf.stack([tf.shape(data[SUPERPIXELS])[0], 2 * transformation["num_segments"]])
            transformation["draws"] = backend.beta(shape, self.alpha, self.alpha, seed)
        return transformation

    @staticmethod
    def _saliency(data: dict) -> tf.Tensor:
        """The batch's ``"saliency"`` key when given, else static saliency of the images."""
        return data[SALIENCY] if SALIENCY in data else static_saliency(data[IMAGES])

    def coefficients(self, data: dict, transformation: dict) -> tuple[tf.Tensor, tf.Tensor]:
        """Returns ``(lam [B, H, W], mixed superpixels [B, H, W])`` for a canonical batch.

        For inspection (plots, tests): the same chain (:func:`keras_hsmix.ops.fused.soft_coefficients`)
        that :meth:`transform` runs inside :func:`keras_hsmix.ops.fused.soft_mix_batch`.
        """
        saliency = None if self.saliency == "random" else self._saliency(data)
        return soft_coefficients(data[SUPERPIXELS], transformation["partner"], transformation["picked"],
                                 transformation["num_segments"], saliency, transformation.get("draws"),
                                 self.soft_lambda)

    def transform(
        self, data: dict, transformation: dict, saliency_fn: Callable[[dict], tf.Tensor] | None = None
    ) -> dict:
        if saliency_fn is not None and self.saliency != "random":
            # A saliency computed for this batch (e.g. Grad-CAM) drives λ; it is not returned.
            out = self.transform({**data, SALIENCY: saliency_fn(data)}, transformation)
            return out if SALIENCY in data else {k: v for k, v in out.items() if k != SALIENCY}
        saliency = None if self.saliency == "random" else self._saliency(data)
        mixed = soft_mix_batch(
            data[IMAGES], data[MASKS], data[SUPERPIXELS], transformation["partner"], transformation["picked"],
            transformation["num_segments"], saliency=saliency, draws=transformation.get("draws"),
            maps=data.get(SALIENCY), num_classes=self.num_classes, jit_compile=self.jit_compile,
            soft_lambda=self.soft_lambda,
        )
        out = dict(data)
        out[IMAGES], out[MASKS], out[SUPERPIXELS] = mixed.images, mixed.masks, mixed.superpixels
        if SALIENCY in data:
            out[SALIENCY] = mixed.maps
        return out

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"saliency": self.saliency, "alpha": self.alpha, "soft_lambda": self.soft_lambda})
        return config
