"""Overlap metrics (Dice / DSC and Jaccard / JAC) for segmentation.

Both metrics binarise predictions and targets, so they work with HSMix soft
labels:

* multi-class predictions ``[B, H, W, K]`` (``K > 1``) are turned into labels
  with ``argmax``; targets given as one-hot / soft labels ``[B, H, W, K]`` also
  go through ``argmax``, class ids ``[B, H, W]`` / ``[B, H, W, 1]`` are used as
  they are;
* binary predictions ``[B, H, W, 1]`` are foreground where the probability
  (``sigmoid(logit)`` when ``from_logits=True``) is ``>= threshold``; binary
  targets (``[B, H, W]`` or ``[B, H, W, 1]``, hard or soft) are foreground where
  they are ``>= 0.5``.

Three ways of averaging are offered (``average=``):

* ``"per_image"`` (default): for every image and every selected class the
  score is computed from that image's pixels; a class that is empty in both
  the target and the prediction of an image scores **1.0**. The per-class
  scores are averaged per image, and the result is the mean over all images
  seen since the last :meth:`reset_state` (the "mean per-image DSC" commonly
  reported on GlaS). With no image seen the result is 0.0.
* ``"micro"``: true positives, false positives and false negatives are
  summed over all pixels of all images of the epoch *and* over the selected
  classes, and one score is computed from the totals (dataset-level / global
  DSC). If nothing was ever positive the score is 1.0.
* ``"macro"``: TP/FP/FN are accumulated over all pixels of the epoch separately
  per selected class; the per-class global scores (1.0 for a class that never
  occurred) are averaged. Needs ``num_classes`` or ``class_ids`` up front,
  because the state holds one counter per class.

For a binary problem (one class) ``"micro"`` and ``"macro"`` coincide.

All state is held in Keras metric variables (``aggregation="sum"``), so the
metrics work inside ``model.compile(metrics=[...])``, under ``tf.function`` /
XLA and with ``tf.distribute`` strategies.
"""

from __future__ import annotations

from typing import Any, Sequence

import keras
from keras import ops

_AVERAGES = ("per_image", "micro", "macro")


class _OverlapMetric(keras.metrics.Metric):
    """Shared machinery of :class:`Dice` and :class:`Jaccard`."""

    default_name = "overlap"

    def __init__(
        self,
        num_classes: int | None = None,
        from_logits: bool = False,
        threshold: float = 0.5,
        class_ids: Sequence[int] | None = None,
        average: str = "per_image",
        name: str | None = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(name=name or self.default_name, dtype=dtype)
        cls = type(self).__name__
        if average not in _AVERAGES:
            raise ValueError(f"{cls}: average must be one of {_AVERAGES}, got {average!r}.")
        if num_classes is not None and int(num_classes) < 1:
            raise ValueError(f"{cls}: num_classes must be >= 1, got {num_classes}.")
        if not 0.0 < float(threshold) < 1.0:
            raise ValueError(f"{cls}: threshold must be in (0, 1), got {threshold}.")
        if class_ids is not None:
            class_ids = [int(c) for c in class_ids]
            if not class_ids:
                raise ValueError(f"{cls}: class_ids must not be empty.")
            if len(set(class_ids)) != len(class_ids):
                raise ValueError(f"{cls}: class_ids has duplicates: {class_ids}.")
            limit = None if num_classes is None else int(num_classes)
            for c in class_ids:
                if c < 0 or (limit is not None and c >= limit):
                    raise ValueError(
                        f"{cls}: class id {c} is out of range for num_classes={num_classes}."
                    )
        self.num_classes = None if num_classes is None else int(num_classes)
        self.from_logits = bool(from_logits)
        self.threshold = float(threshold)
        self.class_ids = class_ids
        self.average = average

        if average == "per_image":
            self.score_sum = self.add_variable(
                shape=(), initializer="zeros", dtype="float32", name="score_sum"
            )
            self.image_count = self.add_variable(
                shape=(), initializer="zeros", dtype="float32", name="image_count"
            )
        else:
            if average == "macro":
                n = self._num_tracked_static()
                if n is None:
                    raise ValueError(
                        f"{cls}: average='macro' needs num_classes or class_ids to size "
                        "its per-class counters."
                    )
                shape: tuple[int, ...] = (n,)
            else:
                shape = ()
            self.true_positives = self.add_variable(
                shape=shape, initializer="zeros", dtype="float32", name="true_positives"
            )
            self.false_positives = self.add_variable(
                shape=shape, initializer="zeros", dtype="float32", name="false_positives"
            )
            self.false_negatives = self.add_variable(
                shape=shape, initializer="zeros", dtype="float32", name="false_negatives"
            )

    # -- subclasses -------------------------------------------------------
    def _score(self, tp: Any, fp: Any, fn: Any) -> Any:
        """Score from counts; 1.0 where there is nothing to count."""
        raise NotImplementedError

    # -- helpers ----------------------------------------------------------
    def _num_tracked_static(self) -> int | None:
        if self.class_ids is not None:
            return len(self.class_ids)
        if self.num_classes is None:
            return None
        return 1 if self.num_classes == 1 else self.num_classes - 1

    def _selected_classes(self, num_channels: int) -> list[int]:
        if self.class_ids is not None:
            ids = self.class_ids
        elif num_channels == 1:
            ids = [0]
        else:
            ids = list(range(1, num_channels))
        for c in ids:
            if c >= num_channels:
                raise ValueError(
                    f"{type(self).__name__}: class id {c} out of range for predictions "
                    f"with {num_channels} channel(s)."
                )
        return list(ids)

    def _masks(self, y_true: Any, y_pred: Any) -> tuple[Any, Any]:
        """Boolean masks ``[B, ..., n]`` for the selected classes."""
        cls = type(self).__name__
        y_pred = ops.convert_to_tensor(y_pred)
        y_true = ops.convert_to_tensor(y_true)
        rank_pred = len(y_pred.shape)
        rank_true = len(y_true.shape)
        num_channels = y_pred.shape[-1]
        if rank_pred < 3 or num_channels is None:
            raise ValueError(
                f"{cls}: predictions must be [B, H, W, K] with a known K, got shape "
                f"{tuple(y_pred.shape)}."
            )
        if self.num_classes is not None and num_channels != self.num_classes:
            raise ValueError(
                f"{cls}: num_classes={self.num_classes} but predictions have "
                f"{num_channels} channel(s) (shape {tuple(y_pred.shape)})."
            )
        ids = self._selected_classes(num_channels)
        shape_error = ValueError(
            f"{cls}: cannot match targets of shape {tuple(y_true.shape)} to predictions "
            f"of shape {tuple(y_pred.shape)} (expected class ids [B, H, W] / [B, H, W, 1] "
            f"or labels [B, H, W, {num_channels}] with a known last dimension)."
        )
        if num_channels == 1:
            probs = ops.cast(y_pred[..., 0], "float32")
            if self.from_logits:
                probs = ops.sigmoid(probs)
            pred_fg = ops.greater_equal(probs, self.threshold)
            if rank_true == rank_pred and y_true.shape[-1] == 1:
                y_true = y_true[..., 0]
            elif rank_true != rank_pred - 1:
                raise shape_error
            true_fg = ops.greater_equal(ops.cast(y_true, "float32"), 0.5)
            return ops.expand_dims(true_fg, -1), ops.expand_dims(pred_fg, -1)

        pred_labels = ops.argmax(y_pred, axis=-1)
        if rank_true == rank_pred - 1:
            true_labels = y_true
        elif rank_true == rank_pred and y_true.shape[-1] == 1:
            true_labels = y_true[..., 0]
        elif rank_true == rank_pred and y_true.shape[-1] == num_channels:
            true_labels = ops.argmax(y_true, axis=-1)
        else:
            raise shape_error
        # Class ids may arrive as floats (e.g. cast by a data pipeline): round first.
        true_labels = ops.cast(ops.round(ops.cast(true_labels, "float32")), "int32")
        pred_labels = ops.cast(pred_labels, "int32")
        true_mask = ops.stack([ops.equal(true_labels, c) for c in ids], axis=-1)
        pred_mask = ops.stack([ops.equal(pred_labels, c) for c in ids], axis=-1)
        return true_mask, pred_mask

    @staticmethod
    def _pixel_weights(sample_weight: Any, like: Any) -> Any:
        """Broadcast ``sample_weight`` to ``like``'s shape ``[B, ..., 1]``."""
        rank = len(like.shape)
        w = ops.cast(ops.convert_to_tensor(sample_weight), "float32")
        w_rank = len(w.shape)
        if w_rank == 1:
            w = ops.reshape(w, (-1,) + (1,) * (rank - 1))
        elif w_rank == rank - 1:
            w = ops.expand_dims(w, -1)
        elif w_rank == rank and w.shape[-1] not in (1, None):
            raise ValueError(
                f"sample_weight of shape {tuple(w.shape)} cannot be used with masks of "
                f"shape {tuple(like.shape)[:-1]}; pass per-image [B] or per-pixel "
                "[B, H, W] weights."
            )
        elif w_rank > rank:
            raise ValueError(f"sample_weight has too many dimensions: {tuple(w.shape)}.")
        return ops.broadcast_to(w, ops.shape(like[..., :1]))

    def _pixel_counts(self, y_true: Any, y_pred: Any, sample_weight: Any) -> tuple[Any, Any, Any, Any]:
        """Per-pixel, per-selected-class true / false positives and false negatives ``[B, H, W, n]``
        (weighted when ``sample_weight`` is given) and the broadcast pixel weights ``[B, H, W, 1]`` or None."""
        true_mask, pred_mask = self._masks(y_true, y_pred)
        t = ops.cast(true_mask, "float32")
        p = ops.cast(pred_mask, "float32")
        tp = t * p
        fp = (1.0 - t) * p
        fn = t * (1.0 - p)
        if sample_weight is None:
            return tp, fp, fn, None
        w = self._pixel_weights(sample_weight, t)
        return tp * w, fp * w, fn * w, w

    def _image_scores(self, tp: Any, fp: Any, fn: Any) -> Any:
        """Per-image score ``[B]``: the counts summed over each image, scored per class, averaged over classes."""
        spatial = tuple(range(1, len(tp.shape) - 1))
        sums = [ops.sum(x, axis=spatial) for x in (tp, fp, fn)]  # [B, n] each
        return ops.mean(self._score(*sums), axis=-1)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """Accumulate the counts of one batch.

        Args:
            y_true: Class ids ``[B, H, W]`` / ``[B, H, W, 1]``, binary masks, or
                one-hot / soft labels ``[B, H, W, K]``.
            y_pred: Probabilities or logits ``[B, H, W, K]``.
            sample_weight: Optional per-image weights ``[B]`` or per-pixel weights
                ``[B, H, W]``. Pixel weights scale the pixel counts; in the
                ``"per_image"`` mean an image counts with its largest pixel
                weight (so a 0/1 valid-pixel mask counts an image iff it has a
                valid pixel).
        """
        tp, fp, fn, w = self._pixel_counts(y_true, y_pred, sample_weight)
        rank = len(tp.shape)
        if self.average == "per_image":
            scores = self._image_scores(tp, fp, fn)  # [B]
            if w is None:
                image_w = ops.ones_like(scores)
            else:
                image_w = ops.max(ops.reshape(w, (ops.shape(w)[0], -1)), axis=-1)
            self.score_sum.assign_add(ops.sum(scores * image_w))
            self.image_count.assign_add(ops.sum(image_w))
        else:
            axes = tuple(range(rank)) if self.average == "micro" else tuple(range(rank - 1))
            tp_s = ops.sum(tp, axis=axes)
            fp_s = ops.sum(fp, axis=axes)
            fn_s = ops.sum(fn, axis=axes)
            if self.average == "macro" and tuple(tp_s.shape) != tuple(self.true_positives.shape):
                raise ValueError(
                    f"{type(self).__name__}: {tp_s.shape[0]} classes selected by this batch "
                    f"but the state was sized for {self.true_positives.shape[0]}; set "
                    "num_classes / class_ids to match the predictions."
                )
            self.true_positives.assign_add(tp_s)
            self.false_positives.assign_add(fp_s)
            self.false_negatives.assign_add(fn_s)

    def per_image_scores(self, y_true: Any, y_pred: Any) -> Any:
        """Score of each image ``[B]`` (mean over the selected classes), without touching the state.

        The same per-image scores whose mean ``average="per_image"`` reports
        (a class empty in both target and prediction scores 1.0), whatever this
        metric's ``average``: for per-image analyses such as paired comparisons
        image by image.

        Example:
            >>> import numpy as np
            >>> y_true = np.array([[[0, 1]], [[1, 1]]])           # two 1x2 images
            >>> y_pred = np.eye(2)[np.array([[[0, 1]], [[1, 0]]])]  # one-hot predictions
            >>> [round(float(v), 3) for v in Dice().per_image_scores(y_true, y_pred)]
            [1.0, 0.667]
        """
        tp, fp, fn, _ = self._pixel_counts(y_true, y_pred, None)
        return self._image_scores(tp, fp, fn)

    def result(self) -> Any:
        if self.average == "per_image":
            return ops.divide_no_nan(self.score_sum, self.image_count)
        score = self._score(self.true_positives, self.false_positives, self.false_negatives)
        return ops.mean(score) if self.average == "macro" else score

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "num_classes": self.num_classes,
                "from_logits": self.from_logits,
                "threshold": self.threshold,
                "class_ids": None if self.class_ids is None else list(self.class_ids),
                "average": self.average,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="keras_hsmix")
class Dice(_OverlapMetric):
    """Dice similarity coefficient (DSC, F1 on pixels): ``2TP / (2TP + FP + FN)``.

    Predictions and targets are binarised (``argmax`` for ``K > 1`` channels;
    ``>= threshold`` for one channel, targets ``>= 0.5``), so soft HSMix labels
    are accepted. See the module docstring for the ``average`` modes; the
    default ``"per_image"`` is the mean over images of the per-image DSC, with a
    class empty in both target and prediction counted as 1.0.

    Args:
        num_classes: Number of prediction channels ``K``; optional, checked
            against the predictions when given. Required (or ``class_ids``) for
            ``average="macro"``.
        from_logits: Whether single-channel predictions are logits (a sigmoid
            is applied before thresholding). ``argmax`` ignores it.
        threshold: Foreground threshold on single-channel probabilities.
        class_ids: Classes to score and average. Default: the foreground
            classes ``1..K-1`` for ``K > 1``, channel 0 for one channel.
        average: ``"per_image"`` (default), ``"micro"`` or ``"macro"``.
        name: Metric name.
        dtype: Metric dtype.

    Example:

    >>> import numpy as np
    >>> m = Dice()
    >>> y_true = np.array([[[1, 1], [0, 0]]])            # [1, 2, 2] class ids
    >>> y_pred = np.array([[[[0.9], [0.2]], [[0.1], [0.1]]]])  # [1, 2, 2, 1] probs
    >>> m.update_state(y_true, y_pred)
    >>> round(float(m.result()), 4)  # 2*1 / (2*1 + 0 + 1)
    0.6667
    """

    default_name = "dice"

    def _score(self, tp: Any, fp: Any, fn: Any) -> Any:
        denominator = 2.0 * tp + fp + fn
        empty = ops.cast(ops.equal(denominator, 0.0), "float32")
        return ops.divide_no_nan(2.0 * tp, denominator) + empty


@keras.saving.register_keras_serializable(package="keras_hsmix")
class Jaccard(_OverlapMetric):
    """Jaccard index (JAC, IoU on pixels): ``TP / (TP + FP + FN)``.

    Same binarisation, class selection and averaging conventions as
    :class:`Dice` (``"per_image"`` default; empty-empty counts as 1.0).

    Args:
        num_classes: Number of prediction channels ``K`` (optional; needed, or
            ``class_ids``, for ``average="macro"``).
        from_logits: Whether single-channel predictions are logits.
        threshold: Foreground threshold on single-channel probabilities.
        class_ids: Classes to score and average (default: foreground classes).
        average: ``"per_image"`` (default), ``"micro"`` or ``"macro"``.
        name: Metric name.
        dtype: Metric dtype.

    Example:

    >>> import numpy as np
    >>> m = Jaccard(num_classes=3)
    >>> y_true = np.array([[[1, 2], [0, 0]]])
    >>> y_pred = np.eye(3)[np.array([[[1, 1], [0, 0]]])]  # one-hot predictions
    >>> m.update_state(y_true, y_pred)
    >>> round(float(m.result()), 4)  # mean(class 1: 1/2, class 2: 0/1)
    0.25
    """

    default_name = "jaccard"

    def _score(self, tp: Any, fp: Any, fn: Any) -> Any:
        denominator = tp + fp + fn
        empty = ops.cast(ops.equal(denominator, 0.0), "float32")
        return ops.divide_no_nan(tp, denominator) + empty
