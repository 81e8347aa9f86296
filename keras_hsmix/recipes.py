"""Named HSMix recipes: every setting of a mixing policy, selected in one word.

``"default"`` is what the layers use when nothing is named (one of hard, soft or no mixing per batch: the
batch keeps its size). ``"paper"`` is what the paper describes (hard and soft halves concatenated every step,
saliency-driven λ averaged per superpixel, Grad-CAM in :class:`keras_hsmix.HSMixModel`), and what
:class:`keras_hsmix.HSMixModel` uses when nothing is named: it validated best (docs/recipes.md). The
``"authors-*"`` recipes are what the authors' public scripts actually run for each dataset (see
docs/fidelity.md for the file and line of every value, and for the bugs of those scripts that no recipe
copies).

A recipe fills the settings a caller leaves unset; a setting passed explicitly wins::

    HSMix(recipe="authors-glas")            # concat, Beta(1, 1) λ, p 0.5, N 200-400, compactness 8
    HSMix(recipe="authors-glas", p=0.3)     # the same with p 0.3

Example:
    >>> get_recipe("authors-glas").saliency
    'random'
    >>> sorted(RECIPES)[:3]
    ['authors-brats', 'authors-glas', 'authors-isic']
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

#: How λ aggregates the saliency over a superpixel: its mean, or its sum over the image's area (the authors').
SOFT_LAMBDAS = ("mean", "area")


@dataclass(frozen=True)
class Recipe:
    """The settings of one HSMix policy.

    ``saliency`` is the source of the soft-mix λ for :class:`keras_hsmix.HSMixModel` (``"gradcam"``,
    ``"static"`` or ``"random"``: Beta(alpha, alpha) per superpixel); the layers, which have no model,
    use ``"static"`` where a recipe says ``"gradcam"``.
    """

    name: str
    mode: str
    probabilities: tuple[float, float, float]
    p: float
    n_segments: tuple[int, int]
    compactness: float
    saliency: str
    alpha: float
    soft_lambda: str
    summary: str

    def settings(self) -> dict[str, Any]:
        """The settings as keyword arguments (without ``name`` and ``summary``)."""
        out = asdict(self)
        del out["name"], out["summary"]
        return out


_THIRDS = (1 / 3, 1 / 3, 1 / 3)

RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        Recipe("default", "random", _THIRDS, 0.5, (200, 400), 10.0, "gradcam", 1.0, "mean",
               "one of hard, soft or no mixing per batch (1/3 each); λ from the saliency's mean per superpixel"),
        Recipe("paper", "concat", _THIRDS, 0.5, (200, 400), 10.0, "gradcam", 1.0, "mean",
               "the paper: hard and soft halves every step; Grad-CAM λ averaged per superpixel"),
        Recipe("authors-glas", "concat", _THIRDS, 0.5, (200, 400), 8.0, "random", 1.0, "mean",
               "the authors' GlaS script: concat every step, λ ~ Beta(1, 1) per superpixel, no saliency"),
        Recipe("authors-monuseg", "concat", _THIRDS, 0.5, (300, 500), 8.0, "random", 1.0, "mean",
               "the authors' MoNuSeg script: as GlaS with 300-500 superpixels"),
        Recipe("authors-isic", "concat", _THIRDS, 0.2, (30, 80), 8.0, "static", 1.0, "area",
               "the authors' ISIC 2017 script: p 0.2, 30-80 superpixels, static saliency summed over the area"),
        Recipe("authors-brats", "concat", _THIRDS, 0.2, (50, 150), 10.0, "static", 1.0, "area",
               "the authors' BraTS script: p 0.2, 50-150 superpixels, static saliency summed over the area"),
        Recipe("authors-synapse", "concat", _THIRDS, 0.2, (200, 400), 0.1, "static", 1.0, "area",
               "the authors' Synapse script: p 0.2, 200-400 superpixels, static saliency summed over the area"),
    )
}

DEFAULT_RECIPE = "default"

#: :class:`keras_hsmix.HSMixModel`'s recipe when none is named: chosen on validation in the GlaS measurement of
#: docs/recipes.md (hard and soft halves every step validated above one-of-three per batch, 10 seeds). The layers
#: keep :data:`DEFAULT_RECIPE`: a preprocessing layer returns the batch size it is given, and concat doubles it.
MODEL_RECIPE = "paper"


def get_recipe(name: str | None) -> Recipe:
    """The recipe called ``name`` (``None``: ``"default"``); a ValueError lists the known names otherwise."""
    name = DEFAULT_RECIPE if name is None else name
    if name not in RECIPES:
        raise ValueError(f"recipe must be one of {sorted(RECIPES)}, got {name!r}")
    return RECIPES[name]


def resolve(recipe: str | None, **given: Any) -> dict[str, Any]:
    """The recipe's settings with every ``given`` value that is not ``None`` in their place.

    ``probabilities`` (the per-batch choice of hard, soft or none) given without ``mode`` select
    ``mode="random"``, the only mode that uses them: a concat recipe would otherwise ignore them.

    Example:
        >>> resolve("authors-glas", p=0.3, mode=None)["p"], resolve("authors-glas", p=0.3)["mode"]
        (0.3, 'concat')
        >>> resolve("paper", probabilities=(0, 1, 0))["mode"]
        'random'
    """
    settings = get_recipe(recipe).settings()
    unknown = sorted(set(given) - set(settings))
    if unknown:
        raise TypeError(f"not recipe settings: {unknown}")
    if given.get("probabilities") is not None and given.get("mode") is None:
        given = {**given, "mode": "random"}
    settings.update({k: v for k, v in given.items() if v is not None})
    if settings["soft_lambda"] not in SOFT_LAMBDAS:
        raise ValueError(f"soft_lambda must be one of {SOFT_LAMBDAS}, got {settings['soft_lambda']!r}")
    return settings
