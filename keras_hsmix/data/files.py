"""Finding image/mask pairs in a dataset folder (``images/`` and ``masks/`` matched by file stem)."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

logger = logging.getLogger("keras_hsmix.data.folder")

#: File extensions (lower case) that are read; matching is case-insensitive.
IMAGE_EXTENSIONS: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif")

MAX_LISTED = 10  #: how many file names / values an error message lists before "... and N more"


# --------------------------------------------------------------------------------------
# Listing and pairing
# --------------------------------------------------------------------------------------


def natural_sort_key(name: str) -> tuple[Any, ...]:
    """Sort key that orders embedded numbers by value, so ``"2" < "10"``.

    Example:
        >>> sorted(["10", "2", "img1", "img10", "img2"], key=natural_sort_key)
        ['2', '10', 'img1', 'img2', 'img10']
    """
    parts = re.split(r"(\d+)", name)
    # re.split with a capturing group puts text at even and digit runs at odd positions,
    # so positions always compare str with str and int with int.
    key = tuple(int(p) if i % 2 else p.lower() for i, p in enumerate(parts))
    return key + (name,)  # tie-break ("a01" vs "a1", "A" vs "a") for a total order


def format_list(items: Sequence[Any]) -> str:
    shown = ", ".join(str(x) for x in items[:MAX_LISTED])
    if len(items) > MAX_LISTED:
        shown += f", ... and {len(items) - MAX_LISTED} more"
    return shown


def _check_subdir(data_dir: Path, subdir: str, arg_name: str) -> Path:
    path = data_dir / subdir
    if not path.is_dir():
        found = sorted(p.name for p in data_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
        hint = f"; sub-folders found there: {found}" if found else "; it has no sub-folders"
        raise FileNotFoundError(
            f"{arg_name}: folder '{path}' not found (data_dir must contain '{subdir}/'{hint})"
        )
    return path


def _list_by_stem(folder: Path) -> dict[str, Path]:
    """Map file stem -> path for the readable image files directly inside ``folder``."""
    by_stem: dict[str, Path] = {}
    ignored = []
    for path in folder.iterdir():
        if path.name.startswith("."):  # .DS_Store, AppleDouble "._x.png", editor files
            continue
        if not path.is_file():
            continue
        if path.suffix.lower() not in IMAGE_EXTENSIONS:
            ignored.append(path.name)
            continue
        stem = path.stem
        if stem in by_stem:
            a, b = sorted([by_stem[stem].name, path.name])
            raise ValueError(
                f"two files with the same stem '{stem}' in '{folder}': '{a}' and '{b}' "
                "(an image and its mask are matched by stem, so each stem must be unique)"
            )
        by_stem[stem] = path
    if ignored:
        logger.debug(
            "ignoring %d non-image file(s) in %s: %s", len(ignored), folder, format_list(sorted(ignored))
        )
    return by_stem


def _strip_suffix(masks: dict[str, Path], suffix: str) -> dict[str, Path]:
    """Keys masks by their image's stem: ``12_mask`` -> ``12`` for ``suffix="_mask"``.

    A mask whose stem does not end with the suffix keeps its stem (and is then reported
    as unpaired unless an image has that stem).
    """
    if not suffix:
        return masks
    keyed: dict[str, Path] = {}
    for stem, path in masks.items():
        key = stem[: -len(suffix)] if stem.endswith(suffix) and len(stem) > len(suffix) else stem
        if key in keyed:
            a, b = sorted([keyed[key].name, path.name])
            raise ValueError(f"two masks for the image stem '{key}' with mask_suffix={suffix!r}: '{a}' and '{b}'")
        keyed[key] = path
    return keyed


def _suffix_hint(image_stems: set[str], mask_stems: list[str]) -> str:
    """Suggests ``mask_suffix`` when every unpaired mask is an unpaired image's stem plus one suffix."""
    suffixes = set()
    for stem in mask_stems:
        found = [stem[i:] for i in range(1, len(stem)) if stem[:i] in image_stems]
        if not found:
            return ""
        suffixes.add(min(found, key=len))
    if len(suffixes) == 1:
        suffix = suffixes.pop()
        return f"the masks look named '<image stem>{suffix}': pass mask_suffix={suffix!r} to pair them; or "
    return ""


def find_pairs(
    data_dir: str | os.PathLike[str],
    images_subdir: str = "images",
    masks_subdir: str = "masks",
    allow_unpaired: bool = False,
    mask_suffix: str = "",
) -> list[tuple[Path, Path]]:
    """List the ``(image_path, mask_path)`` pairs of a dataset folder.

    Images and masks are matched by file stem (extensions may differ) and returned in
    natural order of the stems (``2`` before ``10``). Files whose extension is not one of
    :data:`IMAGE_EXTENSIONS` (case-insensitive) and hidden files are ignored.

    Args:
        data_dir: folder that contains ``images_subdir`` and ``masks_subdir``.
        images_subdir: name of the image sub-folder.
        masks_subdir: name of the mask sub-folder.
        allow_unpaired: if False (default) an image without a mask or a mask without an
            image is an error; if True such files are skipped with a logged warning.
        mask_suffix: what a mask's stem adds to its image's stem, for datasets that name
            masks ``images/12.jpg`` -> ``masks/12_mask.png`` (``mask_suffix="_mask"``).
            When masks are unpaired and share such a suffix, the error suggests it.

    Returns:
        A list of ``(image_path, mask_path)`` tuples.

    Raises:
        FileNotFoundError: ``data_dir`` or one of its sub-folders does not exist.
        ValueError: no images, unpaired files (unless ``allow_unpaired``), or two files
            with the same stem in one sub-folder.

    Example:
        >>> import tempfile, numpy as np
        >>> from pathlib import Path
        >>> from PIL import Image
        >>> root = Path(tempfile.mkdtemp())
        >>> for sub in ("images", "masks"):
        ...     (root / sub).mkdir()
        ...     for stem in ("10", "2"):
        ...         Image.fromarray(np.zeros((4, 4), np.uint8)).save(root / sub / f"{stem}.png")
        >>> [img.name for img, _ in find_pairs(root)]
        ['2.png', '10.png']
    """
    if data_dir is None:
        raise FileNotFoundError("data_dir is None; pass the folder that contains images/ and masks/")
    root = Path(data_dir)
    if not root.exists():
        raise FileNotFoundError(f"data_dir '{root}' does not exist")
    if not root.is_dir():
        raise FileNotFoundError(f"data_dir '{root}' is not a directory")
    images_dir = _check_subdir(root, images_subdir, "images_subdir")
    masks_dir = _check_subdir(root, masks_subdir, "masks_subdir")

    if not isinstance(mask_suffix, str):
        raise TypeError(f"mask_suffix must be a string, got {type(mask_suffix).__name__}")
    images = _list_by_stem(images_dir)
    masks = _strip_suffix(_list_by_stem(masks_dir), mask_suffix)
    if not images:
        raise ValueError(
            f"no images found in '{images_dir}' (looked for files ending in {', '.join(IMAGE_EXTENSIONS)})"
        )

    no_mask = sorted((images[s].name for s in images.keys() - masks.keys()), key=natural_sort_key)
    no_image = sorted((masks[s].name for s in masks.keys() - images.keys()), key=natural_sort_key)
    if no_mask or no_image:
        parts = []
        if no_mask:
            parts.append(
                f"{len(no_mask)} image(s) in '{images_dir}' without a mask in '{masks_dir}': "
                f"{format_list(no_mask)}"
            )
        if no_image:
            parts.append(
                f"{len(no_image)} mask(s) in '{masks_dir}' without an image in '{images_dir}': "
                f"{format_list(no_image)}"
            )
        message = "; ".join(parts)
        if not allow_unpaired:
            hint = _suffix_hint(set(images) - set(masks), [masks[s].stem for s in masks.keys() - images.keys()])
            raise ValueError(
                f"unpaired files: {message} ({hint}pass allow_unpaired=True, or on_error='skip' in load_folder, "
                "to skip them)"
            )
        logger.warning("skipping unpaired files: %s", message)

    stems = sorted(images.keys() & masks.keys(), key=natural_sort_key)
    if not stems:
        raise ValueError(f"no image in '{images_dir}' has a mask with the same stem in '{masks_dir}'")
    return [(images[s], masks[s]) for s in stems]

