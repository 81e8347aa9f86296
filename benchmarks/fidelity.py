"""Fidelity to the authors' code (issue 28): their mixing re-run in NumPy beside keras-hsmix, on the same images.

The authors' PyTorch scripts (github.com/DanielaPlusPlus/HSMix) are re-implemented here operation by
operation, from what their lines do (no code of theirs is copied; docs/fidelity.md cites file and line):

* SLIC on a channels-first tensor reshaped, not transposed, to H x W x C (which scrambles the image),
  ``n_segments`` drawn per image and step from ``[N_min, N_max]``, compactness 8, ``start_label=1``;
* hard mixing: each superpixel of the partner's map taken with probability p (Bernoulli);
* soft mixing, saliency scripts (ISIC, Synapse, BraTS): OpenCV's fine-grained static saliency of the
  float32 image, the ratio ``S_B / (S_A + S_B + 1e-4)`` summed over each superpixel of the mixed map
  and divided by the whole image's area, min-max normalised over the superpixels;
* soft mixing, GlaS / MoNuSeg scripts: λ ~ Beta(1, 1) per superpixel of the partner's map.

keras-hsmix runs on the same images through its public API (``slic_superpixels``, ``HardMix``,
``SoftMix``, ``static_saliency``), and every measurement of the issue is printed side by side.
Deterministic for a given ``--seed``. Examples::

    python benchmarks/fidelity.py
    python benchmarks/fidelity.py --images 32 --size 224 --seed 1
    python benchmarks/fidelity.py --data ../shared/datasets/glas
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

#: The authors' SLIC compactness in the GlaS, MoNuSeg and ISIC scripts (Synapse 0.1, BraTS 0.003 / 0.1).
AUTHORS_COMPACTNESS = 8.0
#: Offset the saliency scripts add to the sample's own superpixel ids in the mixed map.
AUTHORS_ID_OFFSET = 10000
#: Epsilons of the saliency scripts: in the ratio ``S_B / (S_A + S_B + eps)`` and in the min-max.
AUTHORS_RATIO_EPS = 1e-4
AUTHORS_MINMAX_EPS = 1e-5
#: Distance (pixels, chessboard) within which a mask boundary pixel counts as recalled.
RECALL_TOLERANCE = 2


@dataclass
class Settings:
    """What one measurement runs on."""

    images: int = 16
    size: int = 224
    batch: int = 4
    p: float = 0.5
    n_segments: tuple[int, int] = (200, 400)
    compactness: float = 10.0  # keras-hsmix's default
    alpha: float = 1.0
    seed: int = 0
    data: str | None = None
    jit_compile: bool = True  # XLA, as the layers run in tf.data; False skips XLA compilation (same values, quick tests)


# --------------------------------------------------------------------------- the authors' operations
def scrambled_hwc(image: np.ndarray) -> np.ndarray:
    """What their SLIC sees: the channels-first tensor ``[C, H, W]`` reshaped (not permuted) to ``[H, W, C]``."""
    chw = np.ascontiguousarray(np.transpose(image, (2, 0, 1)))
    return chw.reshape(chw.shape[1], chw.shape[2], -1)


def authors_slic(image: np.ndarray, n_segments: int, compactness: float = AUTHORS_COMPACTNESS,
                 scramble: bool = True) -> np.ndarray:
    """Their SLIC call on one ``[H, W, C]`` image in [0, 1]; ``scramble=False`` gives it the proper image."""
    from skimage.segmentation import slic

    source = scrambled_hwc(image) if scramble else np.ascontiguousarray(image)
    return slic(source, n_segments=int(n_segments), compactness=compactness, start_label=1)


def authors_hard_region(partner_map: np.ndarray, p: float, rng: np.random.Generator) -> np.ndarray:
    """Boolean region pasted from the partner: each of its superpixels kept with probability p."""
    values = np.unique(partner_map)
    kept = rng.binomial(1, p, size=values.shape[0]) == 1
    return np.isin(partner_map, values[kept])


def authors_beta_lambda(partner_map: np.ndarray, alpha: float, rng: np.random.Generator) -> np.ndarray:
    """GlaS / MoNuSeg soft λ: one Beta(alpha, alpha) draw per superpixel of the partner's map."""
    values, inverse = np.unique(partner_map, return_inverse=True)
    draws = rng.beta(alpha, alpha, size=values.shape[0]).astype(np.float32)
    return draws[inverse.reshape(partner_map.shape)]


def opencv_saliency(image: np.ndarray, as_float32: bool) -> np.ndarray:
    """OpenCV's fine-grained static saliency of an RGB image in [0, 1], given BGR as OpenCV expects.

    ``as_float32=True`` passes the float32 array, as the authors' scripts do (their tensors come from
    ``cv2.imread`` through ``to_tensor``, so BGR in [0, 1]); ``False`` the proper 8-bit image.
    """
    import cv2

    bgr = image[..., ::-1]
    source = bgr.astype(np.float32) if as_float32 else np.floor(np.clip(bgr, 0, 1) * 255 + 0.5).astype(np.uint8)
    _, saliency = cv2.saliency.StaticSaliencyFineGrained_create().computeSaliency(np.ascontiguousarray(source))
    return np.asarray(saliency, np.float32)


def region_lambda(ids: np.ndarray, ratio: np.ndarray, weighting: str, eps: float = AUTHORS_MINMAX_EPS) -> np.ndarray:
    """Per-pixel λ: ``ratio`` reduced over each superpixel of ``ids``, min-max normalised over them.

    ``weighting="area"``: the sum over the superpixel divided by the whole image's area (what their
    ``(r * mask).mean(dim=[-1, -2])`` computes); ``"mean"``: the true mean over the superpixel.
    """
    _, inverse = np.unique(ids, return_inverse=True)
    inverse = inverse.reshape(ids.shape)
    sums = np.bincount(inverse.ravel(), weights=ratio.ravel().astype(np.float64))
    if weighting == "area":
        values = sums / ids.size
    elif weighting == "mean":
        values = sums / np.bincount(inverse.ravel())
    else:
        raise ValueError(f"weighting must be 'area' or 'mean', got {weighting!r}")
    low, high = values.min(), values.max()
    return ((values - low) / (high - low + eps))[inverse].astype(np.float32)


def authors_saliency_lambda(map_a: np.ndarray, map_b: np.ndarray, region: np.ndarray,
                            saliency_a: np.ndarray, saliency_b: np.ndarray) -> np.ndarray:
    """Soft λ of the saliency scripts for one pair (A the sample, B its partner)."""
    mixed = np.where(region, map_b, map_a + AUTHORS_ID_OFFSET)
    ratio = saliency_b / (saliency_a + saliency_b + AUTHORS_RATIO_EPS)
    return region_lambda(mixed, ratio, "area")


# --------------------------------------------------------------------------- measures
def boundaries(labels: np.ndarray) -> np.ndarray:
    """Pixels with a 4-neighbour of another label (both sides of every edge)."""
    edge = np.zeros(labels.shape, bool)
    horizontal = labels[:, 1:] != labels[:, :-1]
    vertical = labels[1:, :] != labels[:-1, :]
    edge[:, 1:] |= horizontal
    edge[:, :-1] |= horizontal
    edge[1:, :] |= vertical
    edge[:-1, :] |= vertical
    return edge


def boundary_recall(superpixels: np.ndarray, mask: np.ndarray, tolerance: int = RECALL_TOLERANCE) -> float:
    """Share of the mask's boundary pixels with a superpixel boundary within ``tolerance`` px; NaN if none."""
    from scipy.ndimage import maximum_filter

    truth = boundaries(mask)
    if not truth.any():
        return float("nan")
    near = maximum_filter(boundaries(superpixels), size=2 * tolerance + 1)
    return float((truth & near).sum() / truth.sum())


def square_grid(height: int, width: int, n_segments: int) -> np.ndarray:
    """A plain grid of square cells, about ``n_segments`` of them."""
    side = max(1, round(float(np.sqrt(height * width / max(1, n_segments)))))
    cols = -(-width // side)
    return (np.arange(height)[:, None] // side) * cols + np.arange(width)[None, :] // side


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    if a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


# --------------------------------------------------------------------------- data
def load_images(settings: Settings) -> tuple[np.ndarray, np.ndarray]:
    """``(images float32 [N, S, S, 3] in [0, 1], masks int32 [N, S, S])``: built-in synthetic data or a folder."""
    size = (settings.size, settings.size)
    if settings.data is None:
        from keras_hsmix.data import synthetic_arrays

        images, masks = synthetic_arrays(settings.images, size, num_classes=2, seed=settings.seed)
        return images, masks[..., 0]
    from keras_hsmix.data import load_folder

    folder = data_folder(settings.data)
    dataset = load_folder(folder, image_size=size).take(settings.images)
    pairs = [(e["images"].numpy(), e["segmentation_masks"].numpy()) for e in dataset]
    if len(pairs) < settings.images:
        raise ValueError(f"--data: {folder} holds {len(pairs)} pairs, --images asks for {settings.images}")
    return np.stack([i for i, _ in pairs]).astype(np.float32), np.stack([m[..., 0] for _, m in pairs]).astype(np.int32)


def data_folder(path: str) -> Path:
    """The folder with ``images/`` and ``masks/``: ``path`` itself or its ``train/`` (GlaS layout)."""
    root = Path(path)
    for folder in (root, root / "train"):
        if (folder / "images").is_dir() and (folder / "masks").is_dir():
            return folder
    raise ValueError(f"--data: no images/ and masks/ in {root} or {root / 'train'}")


# --------------------------------------------------------------------------- the run
@dataclass
class Measured:
    """Per-image (or per-pixel) values of every measurement; :func:`report` summarises them."""

    values: dict[str, np.ndarray] = field(default_factory=dict)

    def add(self, key: str, value: Any) -> None:
        value = np.asarray(value, np.float64).ravel()
        self.values[key] = np.concatenate([self.values[key], value]) if key in self.values else value

    def mean(self, key: str) -> float:
        return float(np.nanmean(self.values[key]))

    def sd(self, key: str) -> float:
        return float(np.nanstd(self.values[key]))


def measure(settings: Settings, images: np.ndarray | None = None, masks: np.ndarray | None = None) -> Measured:
    """Runs both sides on the same images, batch by batch (their batch size 4), and records every figure."""
    import keras_hsmix

    if images is None or masks is None:
        images, masks = load_images(settings)
    n_images = images.shape[0]
    if settings.batch < 1 or n_images < settings.batch or n_images % settings.batch:
        raise ValueError(f"--images ({n_images}) must be a positive multiple of --batch ({settings.batch})")
    rng = np.random.default_rng(settings.seed)
    low, high = settings.n_segments
    m = Measured()
    height, width = images.shape[1:3]

    # Per image, the maps both sides need: theirs for the image as sample (A) and as partner (B), each with
    # its own fresh n_segments as their loop draws them; ours one map per image (the cache's role).
    asked_a = rng.integers(low, high + 1, size=n_images)
    asked_b = rng.integers(low, high + 1, size=n_images)
    theirs_a = [authors_slic(images[i], asked_a[i]) for i in range(n_images)]
    theirs_b = [authors_slic(images[i], asked_b[i]) for i in range(n_images)]
    unscrambled = [authors_slic(images[i], asked_a[i], scramble=False) for i in range(n_images)]
    ours = np.stack([
        keras_hsmix.slic_superpixels(images[i:i + 1], int(asked_a[i]), settings.compactness).numpy()[0]
        for i in range(n_images)
    ])
    for i in range(n_images):
        m.add("asked", asked_a[i])
        m.add("count_theirs", np.unique(theirs_a[i]).size)
        m.add("count_unscrambled", np.unique(unscrambled[i]).size)
        m.add("count_ours", np.unique(ours[i]).size)
        m.add("recall_theirs", boundary_recall(theirs_a[i], masks[i]))
        m.add("recall_unscrambled", boundary_recall(unscrambled[i], masks[i]))
        m.add("recall_ours", boundary_recall(ours[i], masks[i]))
        m.add("recall_grid", boundary_recall(square_grid(height, width, asked_a[i]), masks[i]))
        m.add("recall_grid_theirs_count",
              boundary_recall(square_grid(height, width, np.unique(theirs_a[i]).size), masks[i]))
        m.add("recall_grid_our_count", boundary_recall(square_grid(height, width, np.unique(ours[i]).size), masks[i]))
        m.add("edges_theirs", boundaries(theirs_a[i]).mean())
        m.add("edges_ours", boundaries(ours[i]).mean())
        m.add("edges_grid", boundaries(square_grid(height, width, asked_a[i])).mean())

    # Saliency: their float32 call, the proper 8-bit call, ours; and a constant image.
    sal_float = [opencv_saliency(image, as_float32=True) for image in images]
    sal_8bit = [opencv_saliency(image, as_float32=False) for image in images]
    sal_ours = keras_hsmix.static_saliency(images).numpy()
    for i in range(n_images):
        m.add("sal_corr_theirs", correlation(sal_float[i], sal_8bit[i]))
        m.add("sal_corr_ours", correlation(sal_ours[i], sal_8bit[i]))
        m.add("sal_maxdiff_ours", np.abs(sal_ours[i] - sal_8bit[i]).max())
    constant = np.full((1, height, width, 3), 0.5, np.float32)
    m.add("const_theirs", opencv_saliency(constant[0], as_float32=True).mean())
    m.add("const_8bit", opencv_saliency(constant[0], as_float32=False).mean())
    m.add("const_ours", keras_hsmix.static_saliency(constant).numpy().mean())

    common = {"p": settings.p, "num_classes": 2, "seed": settings.seed, "jit_compile": settings.jit_compile}
    hard = keras_hsmix.HardMix(**common)
    soft = keras_hsmix.SoftMix(**common)
    soft_beta = keras_hsmix.SoftMix(saliency="random", alpha=settings.alpha, **common)
    for start in range(0, n_images, settings.batch):
        idx = np.arange(start, start + settings.batch)
        partner = idx[rng.permutation(settings.batch)]  # torch.randperm within the batch; self-pairs allowed

        # Theirs, pair by pair.
        for i, j in zip(idx, partner):
            region = authors_hard_region(theirs_b[j], settings.p, rng)
            m.add("area_theirs", region.mean())
            lam = authors_saliency_lambda(theirs_a[i], theirs_b[j], region, sal_float[i], sal_float[j])
            m.add("lam_theirs", lam)
            m.add("lam_theirs_beta", authors_beta_lambda(theirs_b[j], settings.alpha, rng))

        # Ours, through the public layers, on the batch with our superpixel maps.
        data = {"images": images[idx], "segmentation_masks": masks[idx],
                "superpixels": ours[idx].astype(np.int32)}
        slots = int(ours[idx].max()) + 1
        out = hard(data)
        m.add("area_ours", (out["superpixels"].numpy() >= slots).mean(axis=(1, 2)))

        batch = soft.prepare_inputs(data)
        drawn = soft.get_random_transformation(batch)
        lam_ours, mixed = (t.numpy() for t in soft.coefficients(batch, drawn))
        m.add("lam_ours", lam_ours)
        # Their area weighting and a true mean re-computed here on exactly our inputs: same mixed map,
        # same partners and picks, same (static) saliency ratio. The "mean" one must reproduce ours.
        order = drawn["partner"].numpy()
        s_a, s_b = sal_ours[idx], sal_ours[idx][order]
        ratio = s_b / (s_a + s_b + 1e-6)
        for k in range(settings.batch):
            m.add("lam_area_on_ours", region_lambda(mixed[k], ratio[k], "area"))
            check = region_lambda(mixed[k], ratio[k], "mean", eps=0.0)
            m.add("lam_check_maxdiff", np.abs(check - lam_ours[k]).max())

        batch = soft_beta.prepare_inputs(data)
        lam_beta, _ = soft_beta.coefficients(batch, soft_beta.get_random_transformation(batch))
        m.add("lam_ours_beta", lam_beta.numpy())
    return m


# --------------------------------------------------------------------------- printing
def _pm(m: Measured, key: str, digits: int = 2) -> str:
    return f"{m.mean(key):.{digits}f} ± {m.sd(key):.{digits}f}"


def report(m: Measured, settings: Settings) -> str:
    """The side-by-side table of every measurement."""
    source = settings.data or "built-in synthetic data (keras_hsmix.data.synthetic_arrays)"
    low, high = settings.n_segments
    rows = [
        ("measurement", "authors' code (NumPy re-run)", "keras-hsmix", "reference"),
        (f"pasted area at p = {settings.p:g}, per image", _pm(m, "area_theirs"), _pm(m, "area_ours"),
         f"p = {settings.p:g}"),
        ("soft λ per pixel, saliency: theirs float32 OpenCV + area weighting, ours static + true mean",
         _pm(m, "lam_theirs"), _pm(m, "lam_ours"), ""),
        ("soft λ per pixel, their area weighting applied to our exact inputs", _pm(m, "lam_area_on_ours"),
         _pm(m, "lam_ours"), ""),
        (f"soft λ per pixel, Beta({settings.alpha:g}, {settings.alpha:g}) per superpixel (GlaS, MoNuSeg)",
         _pm(m, "lam_theirs_beta"), _pm(m, "lam_ours_beta"),
         f"Beta: 0.50 ± {np.sqrt(1 / (4 * (2 * settings.alpha + 1))):.2f}"),
        ((f"superpixels obtained for {_pm(m, 'asked', 0)} asked (theirs c 8 scrambled, ours c "
          f"{settings.compactness:g})"), _pm(m, "count_theirs", 0), _pm(m, "count_ours", 0),
         f"their call unscrambled: {_pm(m, 'count_unscrambled', 0)}"),
        (f"boundary recall within {RECALL_TOLERANCE} px of the masks", _pm(m, "recall_theirs"),
         _pm(m, "recall_ours"), f"square grid: {_pm(m, 'recall_grid')}"),
        ("boundary recall, references at the obtained counts", "", "",
         (f"grid at their count: {_pm(m, 'recall_grid_theirs_count')}; at ours: "
          f"{_pm(m, 'recall_grid_our_count')}; their call unscrambled: {_pm(m, 'recall_unscrambled')}")),
        ("superpixel boundary pixels, share of the image", _pm(m, "edges_theirs"), _pm(m, "edges_ours"),
         f"square grid: {_pm(m, 'edges_grid')}"),
        ("saliency map: correlation with OpenCV on the proper 8-bit image", _pm(m, "sal_corr_theirs", 3),
         _pm(m, "sal_corr_ours", 3), "1"),
        ("saliency map: largest difference from OpenCV on the 8-bit image", "",
         f"{m.values['sal_maxdiff_ours'].max():.1g}", "0"),
        ("saliency map of a constant image: mean", f"{m.mean('const_theirs'):.2f}", f"{m.mean('const_ours'):.2f}",
         f"OpenCV on 8-bit: {m.mean('const_8bit'):.2f}"),
    ]
    widths = [max(len(r[c]) for r in rows) for c in range(4)]
    lines = [
        (f"fidelity: {settings.images} images of {settings.size} px from {source}, seed {settings.seed}; "
         f"batches of {settings.batch}, p {settings.p:g}, n_segments {low}-{high} drawn per image"),
    ]
    for k, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(widths[c]) for c, cell in enumerate(row)).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append(f"check: a true mean re-computed here reproduces SoftMix's λ to "
                 f"{m.values['lam_check_maxdiff'].max():.1g} (largest difference)")
    return "\n".join(lines)


# --------------------------------------------------------------------------- command line
def parse_args(argv: list[str] | None) -> Settings:
    parser = argparse.ArgumentParser(
        prog="fidelity.py",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--images", type=int, default=16, help="number of images")
    parser.add_argument("--size", type=int, default=224, help="image height and width in pixels")
    parser.add_argument("--batch", type=int, default=4, help="batch size (partners are drawn within a batch)")
    parser.add_argument("--p", type=float, default=0.5, help="probability of taking each partner superpixel")
    parser.add_argument("--n-segments", type=int, nargs=2, default=(200, 400), metavar=("LOW", "HIGH"),
                        help="n_segments range, one value drawn per image")
    parser.add_argument("--compactness", type=float, default=10.0, help="keras-hsmix's SLIC compactness")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data and of every draw")
    parser.add_argument("--data", default=None,
                        help="folder of real images (images/ and masks/, or train/ with them), e.g. "
                             "../shared/datasets/glas; default: the built-in synthetic data")
    args = parser.parse_args(argv)
    low, high = args.n_segments
    if args.images < 1:
        parser.error(f"--images: expected >= 1, got {args.images}")
    if args.size < 16:
        parser.error(f"--size: expected >= 16, got {args.size}")
    if args.batch < 1 or args.images % args.batch:
        parser.error(f"--images ({args.images}) must be a multiple of --batch ({args.batch})")
    if not 0.0 <= args.p <= 1.0:
        parser.error(f"--p: expected a probability in [0, 1], got {args.p}")
    if not 1 <= low <= high:
        parser.error(f"--n-segments: expected 1 <= LOW <= HIGH, got {low} {high}")
    if args.data is not None:
        try:
            data_folder(args.data)
        except ValueError as error:
            parser.error(str(error))
    return Settings(images=args.images, size=args.size, batch=args.batch, p=args.p, n_segments=(low, high),
                    compactness=args.compactness, seed=args.seed, data=args.data)


def main(argv: list[str] | None = None) -> int:
    settings = parse_args(sys.argv[1:] if argv is None else argv)
    print(report(measure(settings), settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
