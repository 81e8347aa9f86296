"""HSMixModel: a Keras model whose ``train_step`` applies HSMix, with Grad-CAM saliency."""

from __future__ import annotations

from typing import Any, Sequence

import keras
import tensorflow as tf

from keras_hsmix.layers.backend import require_tensorflow_backend
from keras_hsmix.layers.base import IMAGES, MASKS
from keras_hsmix.layers.hsmix import HSMix
from keras_hsmix.recipes import MODEL_RECIPE, get_recipe, resolve
from keras_hsmix.ops.masks import one_hot_masks, to_soft_masks
from keras_hsmix.training.gradcam import GradCAM
from keras_hsmix.training.guards import StopOnNonFiniteLoss

SALIENCY_SOURCES = ("gradcam", "static", "random")


@keras.saving.register_keras_serializable(package="keras_hsmix")
class HSMixModel(keras.Model):
    """Wraps a segmentation model so that ``fit`` trains it with HSMix.

    ``train_step`` (one implementation, also callable from a custom
    distributed loop inside ``strategy.run``):

    1. takes a batch as a dict (``images``, ``segmentation_masks``, optional
       ``superpixels``) or an ``(x, y[, sample_weight])`` tuple;
    2. draws hard, soft or no mixing (or concat) with :class:`HSMix`; for soft
       mixing with ``saliency="gradcam"`` it computes the Grad-CAM of the current
       weights on the clean batch, on its own tape, outside the weight update
       (the partner's saliency is the same map permuted);
    3. runs the forward pass, ``compute_loss`` and ``optimizer.apply``, and
       updates the loss tracker (with the loss unscaled for the number of
       replicas, so that ``fit`` logs the same loss on one device and under a
       ``tf.distribute`` strategy) and the compiled metrics.

    ``test_step``, ``predict_step``, ``call`` and exported models never augment;
    class-id targets are turned one-hot in ``test_step`` too, so training and
    validation losses compare.

    Args:
        model: a functional (or Sequential) segmentation model ``[B, H, W, C] -> [B, H, W, K]``, or a
            binary model with one (sigmoid / logit) output channel and ``num_classes=2``: it is then
            trained and validated on the foreground channel of the (mixed) one-hot masks.
        num_classes: with class-id masks, the number of classes (``K``); ``None`` for float masks.
        saliency: ``"gradcam"``, ``"static"`` or ``"random"`` (Beta(alpha, alpha) per superpixel).
        gradcam_layer: feature layer for Grad-CAM: a name, a path through nested sub-models
            (``"deep_lab_v3_backbone/stack3_block0_out"``) or a layer object; default: the
            bottleneck, also inside a backbone sub-model (see :class:`GradCAM`). The config
            holds its path.
        gradcam_target: ``"masks"`` (target region = the true masks) or ``"prediction"``.
        from_logits: whether ``model`` outputs logits (used by Grad-CAM's prediction region).
        p, probabilities, mode, alpha, n_segments, compactness, seed, soft_lambda: as in :class:`HSMix`.
        recipe: a named set of the mixing settings (``"paper"``, ``"default"``, ``"authors-glas"``, ...;
            see :mod:`keras_hsmix.recipes`): settings left at ``None`` take the recipe's value, settings
            passed explicitly win. ``None``: ``"paper"`` (:data:`keras_hsmix.recipes.MODEL_RECIPE`): every
            step trains on the hard-mixed and the soft-mixed batch (2B images, Grad-CAM λ), the policy
            that validated best (docs/recipes.md); ``recipe="default"`` mixes one of hard, soft or none
            per batch, on half the images per step.

    The mixing runs with ``tf.numpy_function`` SLIC when batches carry no
    superpixels, and draws Beta variates for ``saliency="random"``; neither is
    XLA-compilable, so ``jit_compile="auto"`` resolves to no XLA for this model.

    Example:
        >>> import keras
        >>> from keras_hsmix.models import unet
        >>> from keras_hsmix.data import make_pipeline, make_synthetic_dataset
        >>> model = HSMixModel(unet((32, 32, 3), num_classes=2, base_filters=4, depth=2), num_classes=2, seed=0)
        >>> model.compile(optimizer="adam", loss=keras.losses.CategoricalCrossentropy(from_logits=True))
        >>> ds = make_pipeline(make_synthetic_dataset(8, (32, 32)), batch_size=4, mixer=None,
        ...                    n_segments=20, output="dict")
        >>> history = model.fit(ds, epochs=1, verbose=0)
    """

    def __init__(
        self,
        model: keras.Model,
        num_classes: int | None = None,
        saliency: str | None = None,
        p: float | None = None,
        probabilities: Sequence[float] | None = None,
        mode: str | None = None,
        alpha: float | None = None,
        gradcam_layer: str | keras.layers.Layer | None = None,
        gradcam_target: str = "masks",
        from_logits: bool = True,
        n_segments: int | Sequence[int] | None = None,
        compactness: float | None = None,
        seed: int | None = None,
        soft_lambda: str | None = None,
        recipe: str | None = None,
        **kwargs: Any,
    ) -> None:
        require_tensorflow_backend("HSMixModel", "its train_step mixes and takes gradients with tf.GradientTape")
        super().__init__(**kwargs)
        recipe = MODEL_RECIPE if recipe is None else recipe
        settings = resolve(recipe, saliency=saliency, p=p, probabilities=probabilities, mode=mode, alpha=alpha,
                           n_segments=n_segments, compactness=compactness, soft_lambda=soft_lambda)
        saliency = settings.pop("saliency")
        if saliency not in SALIENCY_SOURCES:
            raise ValueError(f"saliency must be one of {SALIENCY_SOURCES}, got {saliency!r}")
        if gradcam_target not in ("masks", "prediction"):
            raise ValueError(f"gradcam_target must be 'masks' or 'prediction', got {gradcam_target!r}")
        _check_single_output(model)
        channels = _output_channels(model)
        if num_classes is not None and channels is not None and channels != num_classes:
            if not (channels == 1 and num_classes == 2):
                raise ValueError(
                    f"model {model.name!r} outputs {channels} channels but num_classes={num_classes}: the output "
                    "needs one channel per class (or one sigmoid channel with num_classes=2)"
                )
        self.model = model
        self.num_classes = num_classes
        self.foreground_only = channels == 1 and num_classes == 2
        self.saliency = saliency
        self.gradcam_target = gradcam_target
        self.from_logits = from_logits
        self.recipe = get_recipe(recipe).name
        self.mixer = HSMix(
            **settings,
            saliency="random" if saliency == "random" else "static",
            num_classes=num_classes,
            seed=seed,
            recipe=recipe,
            data_format="channels_last",  # batches and models here are [B, H, W, C]
            name="hsmix",
        )
        self.gradcam = GradCAM(model, gradcam_layer, from_logits) if saliency == "gradcam" else None
        if isinstance(gradcam_layer, keras.layers.Layer):  # kept (and serialised) as the path naming it
            gradcam_layer = self.gradcam.layer_path if self.gradcam is not None else gradcam_layer.name
        self.gradcam_layer = gradcam_layer
        if model.built:
            self.built = True  # all weights live in the wrapped, already built model

    def build(self, input_shape: Any = None) -> None:
        if not self.model.built:
            self.model.build(input_shape)
        self.built = True

    # ---------------------------------------------------------------- forward
    def call(self, inputs: Any, training: bool | None = None) -> Any:
        if isinstance(inputs, dict):
            inputs = inputs[IMAGES]
        return self.model(inputs, training=training)

    # ----------------------------------------------------------- unpack / mix
    @staticmethod
    def unpack(data: Any) -> tuple[dict, Any]:
        """``dict`` or ``(x, y[, sample_weight])`` -> (batch dict, sample_weight)."""
        if isinstance(data, dict):
            if IMAGES not in data or MASKS not in data:
                raise ValueError(
                    f"HSMixModel expects dict batches with '{IMAGES}' and '{MASKS}', got keys {sorted(data)}"
                )
            return dict(data), data.get("sample_weight")
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        if y is None:
            raise ValueError("HSMixModel.train_step needs targets: pass (images, masks) or a dict batch")
        return {IMAGES: x, MASKS: y}, sample_weight

    def _saliency(self, batch: dict) -> tf.Tensor:
        target = one_hot_masks(batch[MASKS], self.mixer.num_classes) if self.gradcam_target == "masks" else None
        return self.gradcam(batch[IMAGES], target)

    def augment(self, batch: dict) -> tuple[tf.Tensor, tf.Tensor]:
        """Mixes one batch as ``train_step`` does; returns ``(images, soft masks)``."""
        saliency_fn = self._saliency if self.gradcam is not None else None
        out = self.mixer.mix({k: batch[k] for k in batch if k in (IMAGES, MASKS, "superpixels")}, saliency_fn)
        return out[IMAGES], out[MASKS]

    # ------------------------------------------------------------------ steps
    def fit(self, x: Any = None, y: Any = None, batch_size: Any = None, epochs: int = 1, verbose: Any = "auto",
            callbacks: Any = None, **kwargs: Any) -> Any:
        """``keras.Model.fit``, stopped with a clear error at the first non-finite loss (:class:`StopOnNonFiniteLoss`)."""
        if isinstance(callbacks, keras.callbacks.CallbackList):
            return super().fit(x, y, batch_size, epochs, verbose, callbacks, **kwargs)
        callbacks = list(callbacks or [])
        if not any(isinstance(c, StopOnNonFiniteLoss) for c in callbacks):
            callbacks.insert(0, StopOnNonFiniteLoss())
        self._build_optimizer()
        return super().fit(x, y, batch_size, epochs, verbose, callbacks, **kwargs)

    def _build_optimizer(self) -> None:
        """Creates the optimizer's variables before ``fit`` traces ``train_step``.

        Without a distribution strategy Keras leaves them to the first trace, and a ``tf.function`` that creates
        variables is traced a second time: the Grad-CAM and mixing step would be traced twice (about twice the
        first epoch's overhead). Only for a built wrapped model, whose variables are all known.
        """
        if self.optimizer is not None and not self.optimizer.built and self.model.built:
            with self.distribute_strategy.scope():
                self.optimizer.build(self.trainable_variables)

    def train_step(self, data: Any) -> dict:
        batch, sample_weight = self.unpack(data)
        x, y = self.augment(batch)
        y = self._fit_output(y)
        if sample_weight is not None and self.mixer.mode == "concat":
            sample_weight = tf.concat([sample_weight, sample_weight], axis=0)
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True)
            scaled = self.optimizer.scale_loss(loss)
        gradients = tape.gradient(scaled, self.trainable_weights)
        self.optimizer.apply(gradients, self.trainable_weights)
        self._update_loss_tracker(loss, x)
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def _update_loss_tracker(self, loss: tf.Tensor, x: tf.Tensor) -> None:
        # Keras' losses divide by the number of replicas for gradient summing;
        # undo that for the logged value, weighted by the local batch size.
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss * replicas, sample_weight=tf.shape(x)[0])

    def _fit_output(self, y: tf.Tensor) -> tf.Tensor:
        """Two-class masks for a one-channel model: its target is the foreground channel."""
        return y[..., 1:] if self.foreground_only else y

    def _targets(self, y: Any) -> Any:
        return self._fit_output(to_soft_masks(y, self.num_classes)) if self.num_classes is not None else y

    def test_step(self, data: Any) -> dict:
        batch, sample_weight = self.unpack(data)
        return super().test_step((batch[IMAGES], self._targets(batch[MASKS]), sample_weight))

    def predict_step(self, data: Any) -> Any:
        if isinstance(data, dict):
            data = data[IMAGES]
        return super().predict_step(data)

    def export(self, filepath: str, format: str = "tf_saved_model", **kwargs: Any) -> Any:
        """Exports the wrapped model (for TF Serving): inference only, no augmentation."""
        return self.model.export(filepath, format=format, **kwargs)

    # ---------------------------------------------------------------- config
    def get_config(self) -> dict:
        mixer = self.mixer.get_config()
        return {
            "name": self.name,
            "model": keras.saving.serialize_keras_object(self.model),
            "num_classes": self.num_classes,
            "saliency": self.saliency,
            "p": mixer["p"],
            "probabilities": mixer["probabilities"],
            "mode": mixer["mode"],
            "alpha": mixer["alpha"],
            "gradcam_layer": self.gradcam_layer,
            "gradcam_target": self.gradcam_target,
            "from_logits": self.from_logits,
            "n_segments": mixer["n_segments"],
            "compactness": mixer["compactness"],
            "seed": mixer["seed"],
            "soft_lambda": mixer["soft_lambda"],
            "recipe": self.recipe,
        }

    @classmethod
    def from_config(cls, config: dict) -> "HSMixModel":
        config = dict(config)
        config["model"] = keras.saving.deserialize_keras_object(config["model"])
        return cls(**config)


def _check_single_output(model: keras.Model) -> None:
    """A model with several outputs (deep supervision, auxiliary heads) has no one target for the mixed masks."""
    try:
        outputs = model.outputs
    except AttributeError:  # subclassed model: its output is checked by compute_loss
        return
    if outputs is not None and len(outputs) > 1:
        names = getattr(model, "output_names", None) or list(range(len(outputs)))
        raise ValueError(
            f"model {model.name!r} has {len(outputs)} outputs ({names}); HSMixModel trains one segmentation "
            "output against the mixed masks. Wrap the output to train, sharing its weights: "
            "HSMixModel(keras.Model(model.inputs, model.outputs[0]), ...)"
        )


def _output_channels(model: keras.Model) -> int | None:
    """The last dimension of a built functional / Sequential model's first output; None when unknown."""
    try:
        return model.outputs[0].shape[-1]
    except (AttributeError, IndexError, TypeError, ValueError):
        return None
