"""Segmentation losses that accept HSMix soft labels.

HSMix mixes two images and their one-hot masks with per-pixel coefficients, so
the targets seen by the loss are *soft* probability maps ``[B, H, W, K]``.
:class:`DiceCELoss` combines a soft Dice loss with (binary or categorical)
cross-entropy; both terms are well defined for soft targets.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf
from keras import ops

_MODES = ("auto", "binary", "multiclass")


def _checked_ids(class_ids: Any, num_channels: int) -> Any:
    """Class ids, checked to lie in ``[0, num_channels)`` before they are made one-hot.

    ``one_hot`` turns an id outside the range into an all-zero target, so masks that hold 255 for
    the foreground (or ids of more classes than the model predicts) used to train silently on wrong
    targets. (Under XLA, TensorFlow drops the check; on another Keras backend it is skipped.)
    """
    if keras.backend.backend() != "tensorflow" or not tf.is_tensor(class_ids):
        return class_ids
    checks = [
        tf.debugging.assert_non_negative(class_ids, message="DiceCELoss: negative class id in the targets"),
        tf.debugging.assert_less(
            class_ids, tf.constant(num_channels, class_ids.dtype),
            message=f"DiceCELoss: class id >= {num_channels}, the number of prediction channels (targets must be "
            f"class ids 0..{num_channels - 1}, or one-hot / soft labels)",
        ),
    ]
    with tf.control_dependencies(checks):
        return tf.identity(class_ids)


def _standardize_targets(y_true: Any, y_pred: Any) -> Any:
    """Bring ``y_true`` to the shape of ``y_pred`` (``[B, ..., K]``).

    The decision is made from static shapes only (Keras casts ``y_true`` to the
    loss dtype before :meth:`DiceCELoss.call`, so the original dtype is lost):

    * ``y_true`` has one dimension less than ``y_pred``: class ids
      ``[B, H, W]``; one-hot encoded when ``K > 1``, given a channel axis when
      ``K == 1`` (a binary 0/1 or soft foreground map).
    * same rank and last dimension ``K``: one-hot or soft labels, used as is.
    * same rank, last dimension 1 and ``K > 1``: class ids ``[B, H, W, 1]``.
    """
    num_channels = y_pred.shape[-1]
    rank_pred = len(y_pred.shape)
    rank_true = len(y_true.shape)
    if rank_true == rank_pred - 1:
        if num_channels == 1:
            return ops.expand_dims(y_true, axis=-1)
        class_ids = _checked_ids(ops.cast(ops.round(y_true), "int32"), num_channels)
        return ops.one_hot(class_ids, num_channels, dtype=y_pred.dtype)
    if rank_true == rank_pred:
        true_channels = y_true.shape[-1]
        if true_channels == num_channels:
            return y_true
        if true_channels == 1 and num_channels > 1:
            class_ids = _checked_ids(ops.cast(ops.round(ops.squeeze(y_true, axis=-1)), "int32"), num_channels)
            return ops.one_hot(class_ids, num_channels, dtype=y_pred.dtype)
    raise ValueError(
        "DiceCELoss: cannot match targets of shape "
        f"{tuple(y_true.shape)} to predictions of shape {tuple(y_pred.shape)}. "
        "Expected class ids [B, H, W] or [B, H, W, 1], or one-hot / soft labels "
        f"[B, H, W, K] with K={num_channels} (the static last dimension must be known)."
    )


@keras.saving.register_keras_serializable(package="keras_hsmix")
class DiceCELoss(keras.losses.Loss):
    """Soft Dice + cross-entropy loss for (soft-labelled) segmentation.

    The loss of one sample is ``dice_weight * dice + ce_weight * ce`` where

    * ``ce`` is the pixel-mean cross-entropy: categorical (softmax) for
      ``"multiclass"``, element-wise binary (sigmoid) for ``"binary"``;
    * ``dice`` is the soft Dice loss computed per sample and per channel,
      ``1 - (2 * sum(p * y) + smooth) / (sum(p) + sum(y) + smooth)``
      (sums over the spatial axes), averaged over the channels. In
      ``"multiclass"`` mode every class, background included, is averaged
      (set ``include_background=False`` to drop channel 0); in ``"binary"``
      mode every channel is a foreground channel (one channel for a binary
      problem, ``K`` channels for multi-label).

    :meth:`call` returns one value per sample (shape ``[B]``), so Keras'
    ``reduction`` and per-sample ``sample_weight`` (shape ``[B]``) apply as for
    any built-in loss.

    Targets may be class ids (``[B, H, W]``, or ``[B, H, W, 1]`` when
    ``K > 1``; one-hot encoded internally) or one-hot / soft labels
    ``[B, H, W, K]`` such as HSMix outputs. Shapes decide which: Keras casts
    targets to float before the loss sees them. Any number of spatial
    axes works (``[B, D, H, W, K]`` too).

    Args:
        from_logits: Whether ``y_pred`` holds logits (the default, as the
            package's models output: the cross-entropy is then computed
            stably from the logits) or probabilities (``False``, for a model
            ending in a softmax / sigmoid). The default was ``False`` before
            issue 27, which trained the package's own models to a loss of
            ``nan``.
        mode: ``"binary"`` (sigmoid / binary cross-entropy, one or more
            independent channels), ``"multiclass"`` (softmax / categorical
            cross-entropy, ``K > 1``) or ``"auto"`` (binary when ``K == 1``,
            multiclass otherwise).
        dice_weight: Weight of the Dice term.
        ce_weight: Weight of the cross-entropy term.
        smooth: Additive smoothing of the Dice ratio (``>= 0``); a channel that
            is empty in both target and prediction gets Dice loss 0.
        name: Name of the loss.
        reduction: Keras reduction over the per-sample losses.
        include_background: Multiclass only: whether channel 0 takes part in
            the Dice average.
        dtype: Dtype of the loss computation (default ``keras.backend.floatx()``).

    Example:

    >>> import numpy as np
    >>> loss = DiceCELoss(from_logits=True)
    >>> logits = np.random.default_rng(0).normal(size=(2, 8, 8, 3)).astype("float32")
    >>> labels = np.random.default_rng(1).integers(0, 3, size=(2, 8, 8))
    >>> float(loss(labels, logits)) > 0
    True
    >>> soft = np.full((2, 8, 8, 3), 1 / 3, dtype="float32")  # soft labels work too
    >>> float(loss(soft, logits)) > 0
    True
    """

    def __init__(
        self,
        from_logits: bool = True,
        mode: str = "auto",
        dice_weight: float = 1.0,
        ce_weight: float = 1.0,
        smooth: float = 1e-5,
        name: str = "dice_ce_loss",
        reduction: str | None = "sum_over_batch_size",
        include_background: bool = True,
        dtype: Any = None,
    ) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if mode not in _MODES:
            raise ValueError(f"DiceCELoss: mode must be one of {_MODES}, got {mode!r}.")
        if dice_weight < 0 or ce_weight < 0:
            raise ValueError(
                "DiceCELoss: dice_weight and ce_weight must be >= 0, got "
                f"dice_weight={dice_weight}, ce_weight={ce_weight}."
            )
        if smooth < 0:
            raise ValueError(f"DiceCELoss: smooth must be >= 0, got {smooth}.")
        self.from_logits = bool(from_logits)
        self.mode = mode
        self.dice_weight = float(dice_weight)
        self.ce_weight = float(ce_weight)
        self.smooth = float(smooth)
        self.include_background = bool(include_background)
        self._dtype_arg = dtype

    def _resolve_mode(self, num_channels: int) -> str:
        if self.mode == "auto":
            return "binary" if num_channels == 1 else "multiclass"
        if self.mode == "multiclass" and num_channels < 2:
            raise ValueError(
                "DiceCELoss: mode='multiclass' needs predictions with K > 1 channels, "
                f"got K={num_channels}; use mode='binary' (or 'auto') for one channel."
            )
        return self.mode

    def call(self, y_true: Any, y_pred: Any) -> Any:
        """Per-sample loss, shape ``[B]``."""
        if len(y_pred.shape) < 3:
            raise ValueError(
                "DiceCELoss: predictions must be [B, H, W, K] (channels last), got "
                f"shape {tuple(y_pred.shape)}."
            )
        num_channels = y_pred.shape[-1]
        if num_channels is None:
            raise ValueError("DiceCELoss: the channel dimension of y_pred must be known.")
        mode = self._resolve_mode(num_channels)
        y_true = ops.cast(_standardize_targets(y_true, y_pred), y_pred.dtype)
        rank = len(y_pred.shape)
        spatial_axes = tuple(range(1, rank - 1))

        if mode == "binary":
            ce_map = ops.binary_crossentropy(y_true, y_pred, from_logits=self.from_logits)
            ce = ops.mean(ce_map, axis=tuple(range(1, rank)))
            probs = ops.sigmoid(y_pred) if self.from_logits else y_pred
            dice_true, dice_probs = y_true, probs
        else:
            ce_map = ops.categorical_crossentropy(
                y_true, y_pred, from_logits=self.from_logits, axis=-1
            )
            ce = ops.mean(ce_map, axis=spatial_axes)
            probs = ops.softmax(y_pred, axis=-1) if self.from_logits else y_pred
            dice_true, dice_probs = y_true, probs
            if not self.include_background:
                dice_true, dice_probs = dice_true[..., 1:], dice_probs[..., 1:]

        intersection = ops.sum(dice_probs * dice_true, axis=spatial_axes)
        denominator = ops.sum(dice_probs, axis=spatial_axes) + ops.sum(
            dice_true, axis=spatial_axes
        )
        denominator = denominator + self.smooth
        # divide_no_nan + indicator: with smooth == 0 an empty-empty channel scores 1.
        dice_score = ops.divide_no_nan(2.0 * intersection + self.smooth, denominator) + ops.cast(
            ops.equal(denominator, 0.0), denominator.dtype
        )
        dice = 1.0 - ops.mean(dice_score, axis=-1)
        return self.dice_weight * dice + self.ce_weight * ce

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        dtype = self._dtype_arg
        if dtype is not None and not isinstance(dtype, str):
            dtype = keras.dtype_policies.serialize(dtype)
        config.update(
            {
                "from_logits": self.from_logits,
                "mode": self.mode,
                "dice_weight": self.dice_weight,
                "ce_weight": self.ce_weight,
                "smooth": self.smooth,
                "include_background": self.include_background,
                "dtype": dtype,
            }
        )
        return config
