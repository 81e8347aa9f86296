"""The augmentation methods a comparison trains, and the reference each one is paired with."""

from __future__ import annotations

from dataclasses import dataclass

#: What mixes the batches: a plain Keras model fed by a ``tf.data`` pipeline (``none``, ``cutmix``, ``mixup``,
#: ``randaugment``, ``augmix``), or :class:`keras_hsmix.HSMixModel`, mixing in ``train_step`` (``hsmix``).
MIXERS: tuple[str, ...] = ("none", "cutmix", "mixup", "randaugment", "augmix", "hsmix")


@dataclass(frozen=True)
class Method:
    """One augmentation method of a comparison.

    ``mixer``: one of :data:`MIXERS`. For ``"hsmix"``: ``probabilities`` = (hard, soft, none) per batch,
    ``saliency`` (``"gradcam"``, ``"static"`` or ``"random"``), ``p`` (``None``: the comparison's),
    ``segments_scale`` (multiplies the ``n_segments`` range) and ``mode`` (``"random"``: one branch per
    batch, or ``"concat"``: hard and soft batches concatenated). ``flips``: random flips and 90° rotations
    first; ``color``: strength of the colour jitter of each image (0: none).

    Example:
        >>> Method("hsmix_gradcam+flips", "hsmix", flips=True).saliency
        'gradcam'
    """

    name: str
    mixer: str
    flips: bool
    probabilities: tuple[float, float, float] = (1 / 3, 1 / 3, 1 / 3)
    saliency: str = "gradcam"
    p: float | None = None
    segments_scale: float = 1.0
    mode: str = "random"
    color: float = 0.0

    def __post_init__(self) -> None:
        if self.mixer not in MIXERS:
            raise ValueError(f"method {self.name!r}: unknown mixer {self.mixer!r}; known: {MIXERS}")


#: The methods of ``keras-hsmix compare``: no augmentation, flips, and each mixing on top of flips (HSMix with
#: Grad-CAM saliency, CutMix, MixUp), plus HSMix alone. Studies register more on the same machinery.
METHODS: dict[str, Method] = {m.name: m for m in (
    Method("none", "none", flips=False),
    Method("flips", "none", flips=True),
    Method("hsmix_gradcam+flips", "hsmix", flips=True),
    Method("cutmix+flips", "cutmix", flips=True),
    Method("mixup+flips", "mixup", flips=True),
    Method("hsmix_gradcam", "hsmix", flips=False),
)}


def reference_method(method: str) -> str:
    """The method a method is paired with: the same augmentation without the mixing.

    ``+flips`` methods against ``flips``, colour-jittered mixes against ``flips+color``, the rest against
    ``none``.

    Example:
        >>> [reference_method(m) for m in ("hsmix_gradcam", "cutmix+flips", "hsmix_gradcam+flips@p0.3",
        ...                                "hsmix_gradcam+flips+color", "flips+color")]
        ['none', 'flips', 'flips', 'flips+color', 'flips']
    """
    if method.endswith("+color") and method != "flips+color":
        return "flips+color"
    if method == "flips+color" or "+flips" in method:
        return "flips"
    return "none"
