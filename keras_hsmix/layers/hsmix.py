"""HSMix: per batch, hard mixing, soft mixing or none (or both, concatenated)."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import keras
import tensorflow as tf

from keras_hsmix.layers import backend
from keras_hsmix.layers.base import BaseMix
from keras_hsmix.layers.hard_mix import HardMix
from keras_hsmix.recipes import get_recipe, resolve
from keras_hsmix.layers.soft_mix import SoftMix

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
        saliency, alpha, soft_lambda: as in :class:`SoftMix`.
        num_classes, n_segments, compactness, seed, jit_compile: as in :class:`HardMix`.
        recipe: a named set of the settings above (:data:`keras_hsmix.recipes.RECIPES`:
            ``"default"``, ``"paper"``, ``"authors-glas"``, ...); every setting left at ``None`` takes the
            recipe's value, a setting passed explicitly wins. A recipe whose saliency is Grad-CAM gives the
            layer static saliency (a layer has no model; :class:`keras_hsmix.HSMixModel` computes Grad-CAM).

    With no mixing, images are unchanged and class-id masks are still
    returned one-hot, so every branch has the same output structure.

    Example:
        >>> import numpy as np
        >>> layer = HSMix(num_classes=2, n_segments=20, seed=0, mode="concat")
        >>> out = layer({"images": np.random.rand(4, 32, 32, 3).astype("float32"),
        ...              "segmentation_masks": np.random.randint(0, 2, (4, 32, 32))})
        >>> out["images"].shape
        TensorShape([8, 32, 32, 3])
        >>> HSMix(recipe="authors-glas").saliency, HSMix(recipe="authors-glas", p=0.3).p
        ('random', 0.3)
    """

    def __init__(
        self,
        p: float | None = None,
        probabilities: Sequence[float] | None = None,
        mode: str | None = None,
        saliency: str | None = None,
        alpha: float | None = None,
        num_classes: int | None = None,
        n_segments: int | Sequence[int] | None = None,
        compactness: float | None = None,
        seed: int | None = None,
        jit_compile: bool | str = "auto",
        soft_lambda: str | None = None,
        recipe: str | None = None,
        **kwargs: Any,
    ) -> None:
        settings = resolve(recipe, p=p, probabilities=probabilities, mode=mode, saliency=saliency, alpha=alpha,
                           n_segments=n_segments, compactness=compactness, soft_lambda=soft_lambda)
        p, mode, n_segments, compactness = (settings[k] for k in ("p", "mode", "n_segments", "compactness"))
        saliency = "static" if settings["saliency"] == "gradcam" else settings["saliency"]
        alpha, soft_lambda = settings["alpha"], settings["soft_lambda"]
        super().__init__(p, num_classes, n_segments, compactness, seed, jit_compile, **kwargs)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        probabilities = tuple(float(v) for v in settings["probabilities"])
        if len(probabilities) != 3 or any(not 0.0 <= v <= 1.0 for v in probabilities):
            raise ValueError(
                f"probabilities must be three values (hard, soft, none) in [0, 1], got {probabilities}"
            )
        if abs(sum(probabilities) - 1.0) > 1e-6:
            raise ValueError(f"probabilities must sum to 1, got {probabilities} (sum {sum(probabilities)})")
        self.recipe = get_recipe(recipe).name
        self.mode = mode
        self.probabilities = probabilities
        common = dict(p=p, num_classes=num_classes, n_segments=n_segments, compactness=compactness, seed=seed,
                      jit_compile=jit_compile, data_format=self.data_format)
        self.hard = HardMix(**common, name=f"{self.name}_hard")
        self.soft = SoftMix(saliency=saliency, alpha=alpha, soft_lambda=soft_lambda, **common, name=f"{self.name}_soft")
        self.saliency = saliency
        self.alpha = float(alpha)
        self.soft_lambda = soft_lambda

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
                "soft_lambda": self.soft_lambda,
                "recipe": self.recipe,
            }
        )
        return config
