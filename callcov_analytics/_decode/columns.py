"""One helper for every table this package returns: exact columns, order and dtypes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd


def typed(frame: pd.DataFrame, columns: Mapping[str, Any]) -> pd.DataFrame:
    """``frame`` reduced to ``columns``, in that order, cast to their dtypes, index reset."""
    return frame.reset_index(drop=True)[list(columns)].astype(dict(columns))
