"""``keras-hsmix train``: train a UNet with HSMix (resumable), then print what it measured and where it wrote."""

from __future__ import annotations

import argparse
import os
import time

from keras_hsmix.cli.common import (
    add_mask_arguments,
    add_verbosity_arguments,
    check_model_options,
    check_output_file,
    fit_verbosity,
    folder_options_given,
    n_segments_range,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    probability,
)

#: The demo's defaults (issue 25): on the built-in data, ``keras-hsmix train --out runs/demo`` reaches a
#: validation DSC >= 0.85 in a minute or less on 2 cores (``python benchmarks/demo.py`` measures it: DSC 0.927, 13 s
#: on the newer 2-core VM of docs/performance.md "Hosts", 52-53 s on the older one).
SIZE = 64
NUM_IMAGES = 48
EPOCHS = 12
BATCH_SIZE = 8
LEARNING_RATE = 3e-3
BASE_FILTERS = 8
DEPTH = 3
N_SEGMENTS = (20, 40)
#: Not Keras' 0.99: with it the moving statistics need some 500 steps to settle, and the demo's short run
#: validated with unsettled ones (training DSC 0.93, validation 0.47: foreground everywhere).
BN_MOMENTUM = 0.9


def check(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Checks what argparse's types cannot, before anything is read or written."""
    args.n_segments = n_segments_range(args.n_segments, parser)
    check_output_file(parser, "--out", args.out, folder=True)
    if args.test_data is not None and not os.path.isdir(args.test_data):  # read only after training: check it now
        parser.error(f"--test-data {args.test_data}: not a folder (it must hold images/ and masks/)")
    check_model_options(parser, args.size, args.depth, args.num_classes)
    if args.recipe is not None:
        from keras_hsmix.recipes import RECIPES  # plain Python: no TensorFlow

        if args.recipe not in RECIPES:
            parser.error(f"--recipe {args.recipe}: expected one of {', '.join(sorted(RECIPES))} (docs/recipes.md)")
    if args.data is None and folder_options_given(args):
        parser.error("--mask-mode, --mask-suffix and --label-values apply to a --data folder only (the built-in "
                     "data has binary class-id masks)")
    if args.data is None and args.num_images < 2:
        parser.error(f"--num-images: expected an integer >= 2 (a validation image is held out), got "
                     f"{args.num_images}")


def run(args: argparse.Namespace) -> int:
    from keras_hsmix.runs.train import TrainConfig, train

    config = TrainConfig(
        out=args.out,
        data=args.data,
        test_data=args.test_data,
        size=args.size,
        num_classes=args.num_classes,
        mask_mode=args.mask_mode,
        label_values=args.label_values,
        mask_suffix=args.mask_suffix,
        channels=args.channels,
        num_images=args.num_images,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        lr_schedule=args.lr_schedule,
        weight_decay=args.weight_decay,
        base_filters=args.base_filters,
        depth=args.depth,
        mixing=args.mixing,
        saliency=args.saliency,
        recipe=args.recipe,
        n_segments=args.n_segments,
        flips=not args.no_flips,
        color_jitter=args.color_jitter,
        bn_momentum=args.bn_momentum,
        seed=args.seed,
        export=not args.no_export,
    )
    start = time.perf_counter()
    results = train(config, resume=args.resume, verbose=fit_verbosity(args.quiet))
    print(summary(results, args.out, time.perf_counter() - start, exported=config.export))
    return 0


def intro(args: argparse.Namespace) -> str:
    """The first line: what is about to be trained, on what, and where it goes."""
    from keras_hsmix.recipes import MODEL_RECIPE, RECIPES  # plain Python: no TensorFlow

    source = args.data or f"built-in synthetic data ({args.num_images} images)"
    recipe = args.recipe or MODEL_RECIPE  # TrainConfig(recipe=None) trains HSMixModel's recipe
    saliency = args.saliency or RECIPES[recipe].saliency
    mixing = f"HSMix (recipe {recipe}, {saliency} saliency)" if args.mixing == "hsmix" else "no mixing"
    # --resume with no run folder yet starts the run (train(resume=True) does): say so, not "resuming".
    verb = "resuming" if args.resume and os.path.isdir(args.out) else "training"
    return (f"{verb} a UNet (depth {args.depth}, {args.base_filters} base filters) with {mixing} on {source}, "
            f"{args.size}x{args.size} px, {args.epochs} epoch{'s' if args.epochs > 1 else ''}; run folder {args.out}")


def summary(results: dict, out: str, seconds: float, exported: bool = True) -> str:
    """What the run measured and where each output is."""
    lines = [f"done in {seconds:.0f} s"]
    for split, scores in results.items():
        if isinstance(scores, dict) and "dice" in scores:
            lines.append(f"{split}: DSC {scores['dice']:.4f}  JAC {scores['jaccard']:.4f}  "
                         f"HD95 {scores['hd95']:.2f} px")
    outputs = [("run folder", ""), ("best weights", "best.weights.h5"), ("history", "history.csv"),
               ("results", "results.json"), ("settings", "config.json")]
    if exported:
        outputs.append(("SavedModel", "saved_model"))
    width = max(len(name) for name, _ in outputs)
    lines += [f"{name + ':':<{width + 1}} {os.path.join(out, rel) if rel else out}" for name, rel in outputs]
    return "\n".join(lines)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train", help="train a UNet with HSMix on a folder or the built-in data",
        description="Train a UNet with HSMix (resumable: --resume), evaluate DSC / JAC / HD95 on a held-out "
                    "validation split (and --test-data), export a SavedModel. At the defaults, on the built-in "
                    "data, it reaches a validation DSC of about 0.93 in a minute or less on 2 cores.",
    )
    p.add_argument("--data", default=None, help="training folder with images/ and masks/ (default: built-in data)")
    p.add_argument("--test-data", default=None, help="test folder, evaluated at the end (default: none)")
    p.add_argument("--out", default="runs/hsmix", help="run folder (checkpoints, history, results, SavedModel)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    p.add_argument("--size", type=positive_int, default=SIZE,
                   help="resize images to SIZE x SIZE, a multiple of 2**--depth (small for a fast demo; preview draws at 224 "
                        "to be legible)")
    p.add_argument("--num-classes", type=positive_int, default=2, help="classes including background")
    add_mask_arguments(p)
    p.add_argument("--num-images", type=positive_int, default=NUM_IMAGES,
                   help="built-in data only: number of synthetic images (20 %% held out for validation)")
    p.add_argument("--epochs", type=positive_int, default=EPOCHS, help="passes over the training images")
    p.add_argument("--batch-size", type=positive_int, default=BATCH_SIZE, help="images per optimizer step")
    p.add_argument("--lr", type=positive_float, default=LEARNING_RATE, help="learning rate of Adam (or AdamW)")
    p.add_argument("--lr-schedule", default="constant", choices=["constant", "cosine"],
                   help="constant, or cosine decay to lr / 1000 over the run")
    p.add_argument("--weight-decay", type=non_negative_float, default=0.0,
                   help="> 0: AdamW with this weight decay (the authors' GlaS recipe: --lr 2e-3 --weight-decay 5e-4)")
    p.add_argument("--base-filters", type=positive_int, default=BASE_FILTERS,
                   help="filters of the UNet's first level (doubled at each level down)")
    p.add_argument("--bn-momentum", type=probability, default=BN_MOMENTUM,
                   help="momentum of the batch-norm moving statistics used for validation and export (Keras' "
                        "default 0.99 needs hundreds of steps to settle; 0.9 suits short runs)")
    p.add_argument("--depth", type=positive_int, default=DEPTH, help="UNet levels (down-samplings)")
    p.add_argument("--mixing", default="hsmix", choices=["hsmix", "none"],
                   help="hsmix: HSMix as the recipe says (by default hard and soft halves every step); none: no "
                        "mixing (a baseline)")
    p.add_argument("--saliency", default=None, choices=["gradcam", "static", "random"],
                   help="what weighs the soft mix: the model's Grad-CAM, static (image) saliency, or random "
                        "(default: the recipe's; gradcam for paper and default)")
    p.add_argument("--recipe", default=None, metavar="NAME",
                   help="a named HSMix policy (docs/recipes.md): paper (hard and soft halves every step; the "
                        "default), default (one of hard, soft or no mixing per batch: half the images per step), "
                        "or what the authors' script runs for a dataset (authors-glas, authors-monuseg, "
                        "authors-isic, authors-brats, authors-synapse); --n-segments stays the one given for this "
                        "image size")
    p.add_argument("--n-segments", type=positive_int, nargs="+", default=list(N_SEGMENTS), metavar="N",
                   help="SLIC superpixels per image: N, or LOW HIGH (drawn per image); 20 40 at 64 px is one per 100-200 "
                        "pixels, as preview's 300 at 224 px")
    p.add_argument("--no-flips", action="store_true", help="no random flips of the training images")
    p.add_argument("--no-export", action="store_true",
                   help="do not write saved_model/ (the SavedModel for serving) at the end: a quicker experiment")
    p.add_argument("--color-jitter", type=non_negative_float, default=0.0,
                   help="strength of the colour (stain) jitter of each training image, 0: none, 1: light")
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed of the data split, model and draws")
    add_verbosity_arguments(p)
    p.set_defaults(func=run, check=lambda args: check(args, p), intro=intro)
