"""``keras-hsmix train``: train a UNet with HSMix (resumable)."""

from __future__ import annotations

import argparse
import json

from keras_hsmix.cli.common import add_mask_arguments


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
        n_segments=(args.n_segments[0], args.n_segments[-1]),
        flips=not args.no_flips,
        color_jitter=args.color_jitter,
        seed=args.seed,
    )
    results = train(config, resume=args.resume, verbose=args.verbose)
    print(json.dumps(results, indent=2))
    print(f"run folder: {args.out} (best.weights.h5, history.csv, saved_model/)")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a UNet with HSMix on a folder or the built-in data")
    p.add_argument("--data", default=None, help="training folder with images/ and masks/ (default: built-in data)")
    p.add_argument("--test-data", default=None, help="optional test folder, evaluated at the end")
    p.add_argument("--out", default="runs/hsmix", help="run folder (checkpoints, history, results)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--num-classes", type=int, default=2)
    add_mask_arguments(p)
    p.add_argument("--num-images", type=int, default=32, help="built-in data only")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--lr-schedule", default="constant", choices=["constant", "cosine"],
                   help="constant, or cosine decay to lr / 1000 over the run")
    p.add_argument("--weight-decay", type=float, default=0.0,
                   help="> 0: AdamW with this weight decay (the authors' GlaS recipe: --lr 2e-3 --weight-decay 5e-4)")
    p.add_argument("--base-filters", type=int, default=16)
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--mixing", default="hsmix", choices=["hsmix", "none"])
    p.add_argument("--saliency", default="gradcam", choices=["gradcam", "static", "random"])
    p.add_argument("--n-segments", type=int, nargs="+", default=[200, 400], help="N or LOW HIGH")
    p.add_argument("--no-flips", action="store_true")
    p.add_argument("--color-jitter", type=float, default=0.0,
                   help="strength of the colour (stain) jitter of each training image, 0: none, 1: light")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--verbose", type=int, default=2)
    p.set_defaults(func=run)
