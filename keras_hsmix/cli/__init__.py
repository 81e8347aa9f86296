"""Command line ``keras-hsmix``: argument parsing and printing only.

Each subcommand lives in its own module with ``add_parser(subparsers)``; the
work happens in the package's other levels.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from keras_hsmix.cli import compare, preview, train  # noqa: E402

SUBCOMMANDS = (preview, train, compare)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="keras-hsmix", description="HSMix augmentation for Keras 3")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in SUBCOMMANDS:
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as err:
        print(f"keras-hsmix {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
