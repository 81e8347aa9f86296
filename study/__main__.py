"""``python -m study``: run, resume or report the GlaS study (see :mod:`study.run`)."""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from study.run import main  # noqa: E402

sys.exit(main())
