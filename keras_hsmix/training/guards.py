"""Training guards: stop ``fit`` at the first non-finite loss, with the likely cause in the message."""

from __future__ import annotations

import math
from typing import Any

import keras


class NonFiniteLossError(ValueError):
    """The training loss became NaN or infinite (the message names the likely cause)."""


def _loss_description(model: Any) -> str:
    loss = getattr(model, "loss", None)
    if loss is None:
        return "the loss"
    name = type(loss).__name__ if not isinstance(loss, str) else repr(loss)
    from_logits = getattr(loss, "from_logits", None)
    return f"{name}(from_logits={from_logits})" if from_logits is not None else name


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Raises :class:`NonFiniteLossError` at the first batch whose loss is NaN or infinite.

    Keras' ``TerminateOnNaN`` stops quietly; this names the batch and the likely cause: most often a loss
    that expects probabilities (``from_logits=False``) on a model that outputs logits (as
    :func:`keras_hsmix.models.unet` and ``deeplab_v3_plus`` do by default), or a learning rate too high.
    :class:`keras_hsmix.HSMixModel` adds it to every ``fit``.
    """

    def __init__(self) -> None:
        super().__init__()
        self._epoch = 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        value = (logs or {}).get("loss")
        if value is None:
            return
        value = float(value)
        if math.isfinite(value):
            return
        self.model.stop_training = True
        raise NonFiniteLossError(
            f"training loss is {value} at epoch {self._epoch + 1}, batch {batch + 1}; training stopped. The likely "
            f"cause: the loss, {_loss_description(self.model)}, does not match the model's outputs: the package's "
            "models (unet, deeplab_v3_plus) output logits, which need from_logits=True in the loss (DiceCELoss's "
            "default); a loss with from_logits=False expects probabilities (a softmax / sigmoid output). "
            "Otherwise: a learning rate too high, or NaN in the data."
        )
