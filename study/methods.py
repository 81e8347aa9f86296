"""The GlaS study's methods: every base method alone and on top of flips, and the ablations at 25 %.

They are :class:`keras_hsmix.runs.compare.Method` entries, trained by the same machinery as
``keras-hsmix compare``; the package's own methods are a subset (same names, same settings).
"""

from __future__ import annotations

from typing import Iterable

from keras_hsmix.runs.compare import Method


def _methods() -> dict[str, Method]:
    bases: list[tuple[str, dict]] = [
        ("none", dict(mixer="none")),
        ("cutmix", dict(mixer="cutmix")),
        ("mixup", dict(mixer="mixup")),
        ("hard", dict(mixer="hsmix", probabilities=(1.0, 0.0, 0.0), saliency="static")),
        ("soft_static", dict(mixer="hsmix", probabilities=(0.0, 1.0, 0.0), saliency="static")),
        ("soft_gradcam", dict(mixer="hsmix", probabilities=(0.0, 1.0, 0.0), saliency="gradcam")),
        ("hsmix_gradcam", dict(mixer="hsmix", saliency="gradcam")),
        ("hsmix_static", dict(mixer="hsmix", saliency="static")),
        ("randaugment", dict(mixer="randaugment")),
        ("augmix", dict(mixer="augmix")),
    ]
    out: dict[str, Method] = {}
    for name, kw in bases:
        out[name] = Method(name, flips=False, **kw)
        flipped = "flips" if name == "none" else f"{name}+flips"
        out[flipped] = Method(flipped, flips=True, **kw)
    # Ablations (25 %): p, n_segments range, saliency source (random Beta(1, 1) per superpixel), the share of
    # clean batches (probabilities: @mix0.5 mixes half the batches, @mix1 every batch), the share of hard-mixed
    # batches (@hard0.5, @hard0.67: the rest split evenly between soft and clean) and the paper's concat.
    for p in (0.3, 0.7):
        name = f"hsmix_gradcam+flips@p{p}"
        out[name] = Method(name, "hsmix", True, saliency="gradcam", p=p)
    for scale in (0.5, 2.0):
        name = f"hsmix_gradcam+flips@segx{scale:g}"
        out[name] = Method(name, "hsmix", True, saliency="gradcam", segments_scale=scale)
    out["hsmix_random+flips"] = Method("hsmix_random+flips", "hsmix", True, saliency="random")
    for share, probabilities in (("0.5", (0.25, 0.25, 0.5)), ("1", (0.5, 0.5, 0.0))):
        name = f"hsmix_gradcam+flips@mix{share}"
        out[name] = Method(name, "hsmix", True, probabilities=probabilities, saliency="gradcam")
    for share, hard in (("0.5", 1 / 2), ("0.67", 2 / 3)):
        name = f"hsmix_gradcam+flips@hard{share}"
        rest = (1.0 - hard) / 2
        out[name] = Method(name, "hsmix", True, probabilities=(hard, rest, rest), saliency="gradcam")
    out["hsmix_gradcam+flips@concat"] = Method("hsmix_gradcam+flips@concat", "hsmix", True, mode="concat")
    # The authors' GlaS script: hard and soft halves concatenated every step, Beta(1, 1) λ per superpixel.
    out["hsmix_random+flips@concat"] = Method("hsmix_random+flips@concat", "hsmix", True, saliency="random",
                                              mode="concat")
    # Colour (stain) jitter on top of flips, for the reference and for HSMix (compared with each other).
    out["flips+color"] = Method("flips+color", "none", True, color=1.0)
    out["hsmix_gradcam+flips+color"] = Method("hsmix_gradcam+flips+color", "hsmix", True, color=1.0)
    out["mixup+flips+color"] = Method("mixup+flips+color", "mixup", True, color=1.0)
    return out


METHODS: dict[str, Method] = _methods()
KEY_METHODS: tuple[str, ...] = (
    "none", "flips", "hsmix_gradcam+flips", "hsmix_static+flips", "hard+flips",
    "cutmix+flips", "mixup+flips", "hsmix_gradcam",
)
# The comparison table: each base method alone and on top of flips (no ablation variants).
TABLE_METHODS: tuple[str, ...] = tuple(m for m in METHODS if "@" not in m and "color" not in m and "random" not in m)
ABLATIONS: tuple[str, ...] = (
    "hsmix_gradcam+flips@p0.3", "hsmix_gradcam+flips@p0.7", "hsmix_gradcam+flips@segx0.5",
    "hsmix_gradcam+flips@segx2", "hsmix_random+flips", "hsmix_gradcam+flips@mix0.5",
    "hsmix_gradcam+flips@mix1", "hsmix_gradcam+flips@concat", "hsmix_random+flips@concat",
    "hsmix_gradcam+flips@hard0.5",
    "hsmix_gradcam+flips@hard0.67", "flips+color", "hsmix_gradcam+flips+color", "mixup+flips+color",
)
MAIN_METHODS: tuple[str, ...] = tuple(m for m in METHODS if m not in ABLATIONS)
OTHER_METHODS: tuple[str, ...] = tuple(m for m in MAIN_METHODS if m not in KEY_METHODS)


def order(methods: Iterable[str]) -> list[str]:
    """The report's order of methods: key methods, the other methods, then the ablations (unknown ones last).

    Example:
        >>> order(["hsmix_gradcam+flips@p0.3", "augmix", "flips", "none"])
        ['none', 'flips', 'augmix', 'hsmix_gradcam+flips@p0.3']
    """
    ranked = list(KEY_METHODS) + list(OTHER_METHODS) + list(ABLATIONS)
    return sorted(set(methods), key=lambda m: ranked.index(m) if m in ranked else len(ranked))
