"""Strict JSON for run records: no ``NaN`` / ``Infinity``; an undefined number is ``null`` with a reason."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any


def finite_or_none(value: Any) -> Any:
    """``value`` with every non-finite float (NaN, ±Inf) inside dicts, lists and tuples replaced by None.

    Example:
        >>> finite_or_none({"dice": 0.5, "hd95": float("nan"), "per_image": [1.0, float("inf")]})
        {'dice': 0.5, 'hd95': None, 'per_image': [1.0, None]}
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(v) for v in value]
    return value


def dumps_strict(value: Any, **kwargs: Any) -> str:
    """``json.dumps(..., allow_nan=False)``: raises ``ValueError`` on NaN / Infinity instead of writing them.

    Example:
        >>> dumps_strict({"hd95": None})
        '{"hd95": null}'
    """
    return json.dumps(value, allow_nan=False, **kwargs)


def write_json(path: str | os.PathLike[str], value: Any, indent: int | None = 2) -> None:
    """Writes ``value`` as strict JSON, atomically (a temporary file renamed over ``path``)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(dumps_strict(value, indent=indent))
    tmp.replace(path)
