"""HSMix: per batch, hard mixing, soft mixing or none (or both, concatenated)."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import keras
import tensorflow as tf

from keras_hsmix.layers import backend
from keras_hsmix.layers.base import BaseMix
from keras_hsmix.layers.hard_mix import HardMix
from keras_hsmix.layers.soft_mix import SoftMix
from keras_hsmix.ops.superpixels import DEFAULT_N_SEGMENTS

MODES = ("random", "concat")


@keras.saving.register_keras_serializable(package="keras_hsmix")
class HSMix(BaseMix):
    """Hard and soft superpixel mixing (Sun, Dornaika, Barrena, 2024).

    ``mode="random"``: for each batch, one of hard mixing, soft mixing or no
    mixing is chosen with ``probabilities`` (default 1/3 each, as the paper
    describes). ``mode="concat"``: the hard-mixed and the soft-mixed batches are
    returned concatenated (batch ``2B``), as the paper's code trains. The same
    partner order and picked superpixels serve both halves of one call.

    Args:
        p: probability of picking each superpixel of the partner.
        probabilities: ``(hard, soft, none)`` probabilities; must sum to 1.
        mode: ``"random"`` or ``"concat"``.
        saliency, alpha: as in :class:`SoftMix`.
        num_classes, n_segments, compactness, seed, jit_compile: as in :class:`HardMix`.

    With no mixing, images are unchanged and class-id masks are still
    returned one-hot, so every branch has the same output structure.

    Example:
        >>> import numpy as np
        >>> layer = HSMix(num_classes=2, n_segments=20, seed=0, mode="concat")
        >>> out = layer({"images": np.random.rand(4, 32, 32, 3).astype("float32"),
        ...              "segmentation_masks": np.random.randint(0, 2, (4, 32, 32))})
        >>> out["images"].shape
        TensorShape([8, 32, 32, 3])
    """

    def __init__(
        self,
        p: float = 0.5,
        probabilities: Sequence[float] = (1 / 3, 1 / 3, 1 / 3),
        mode: str = "random",
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
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        probabilities = tuple(float(v) for v in probabilities)
        if len(probabilities) != 3 or any(not 0.0 <= v <= 1.0 for v in probabilities):
            raise ValueError(
                f"probabilities must be three values (hard, soft, none) in [0, 1], got {probabilities}"
            )
        if abs(sum(probabilities) - 1.0) > 1e-6:
            raise ValueError(f"probabilities must sum to 1, got {probabilities} (sum {sum(probabilities)})")
        self.mode = mode
        self.probabilities = probabilities
        common = dict(p=p, num_classes=num_classes, n_segments=n_segments, compactness=compactness, seed=seed,
                      jit_compile=jit_compile, data_format=self.data_format)
        self.hard = HardMix(**common, name=f"{self.name}_hard")
        self.soft = SoftMix(saliency=saliency, alpha=alpha, **common, name=f"{self.name}_soft")
        self.saliency = saliency
        self.alpha = float(alpha)

    def get_random_transformation(self, data: dict, seed: Any = None) -> dict:
        seed = seed if seed is not None else self.seed_generator()
        transformation = self.soft.get_random_transformation(data, seed)
        u = backend.uniform((), seed)
        cumulative = tf.constant([self.probabilities[0], self.probabilities[0] + self.probabilities[1]])
        transformation["branch"] = tf.reduce_sum(tf.cast(u >= cumulative, tf.int32))
        return transformation

    def transform(
        self,
        data: dict,
        transformation: dict,
        saliency_fn: Callable[[dict], tf.Tensor] | None = None,
    ) -> dict:
        """Applies the drawn branch (or both halves in concat mode).

        Args:
            data: a canonical batch (see :meth:`prepare_inputs`).
            transformation: from :meth:`get_random_transformation`.
            saliency_fn: optional ``f(data) -> [B, H, W]`` saliency, evaluated only
                when soft mixing runs (e.g. Grad-CAM of the model in training,
                which costs a forward and a backward pass). Its map is used for
                λ and is not returned.
        """

        def soft() -> dict:
            return self.soft.transform(data, transformation, saliency_fn=saliency_fn)

        if self.mode == "concat":
            hard = self.hard.transform(data, transformation)
            mixed = soft()
            return {k: tf.concat([hard[k], mixed[k]], axis=0) for k in hard}
        return tf.switch_case(
            tf.convert_to_tensor(transformation["branch"], tf.int32),
            [lambda: self.hard.transform(data, transformation), soft, lambda: self.unmixed(data)],
        )

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            {
                "probabilities": self.probabilities,
                "mode": self.mode,
                "saliency": self.saliency,
                "alpha": self.alpha,
            }
        )
        return config
