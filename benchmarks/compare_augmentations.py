"""Augmentation comparison study (issue 4): a thin wrapper around ``keras_hsmix.study.compare``.

Same options as ``keras-hsmix compare``; finished runs in ``--results-dir`` are skipped, so rerunning the
same command resumes the study. Example::

    python benchmarks/compare_augmentations.py --quick
    python benchmarks/compare_augmentations.py --fractions 0.25 --methods key
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv: list[str] | None = None) -> int:
    from keras_hsmix.study.compare import add_arguments
    from keras_hsmix.study.compare import main as study_main

    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="compare_augmentations.py", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return study_main(parser.parse_args(argv), argv)


if __name__ == "__main__":
    sys.exit(main())
