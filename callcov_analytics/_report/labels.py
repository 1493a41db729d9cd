"""The measures' names that every sheet prints, and how a rate and its interval read."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from ..metrics import CHECKS

MEASURES: tuple[str, ...] = (*CHECKS, "flagged")
LABELS: dict[str, str] = {
    "identity_verification": "Identity verification",
    "mandatory_disclosures": "Mandatory disclosures",
    "purpose_declaration": "Purpose declaration",
    "prohibited_phrases": "Prohibited phrases",
    "sensitive_data": "Sensitive data",
    "flagged": "Flagged (any check failed)",
}


def pct(x: float) -> str:
    """A share as a whole percentage that never rounds a miss away (99.7% is '>99%')."""
    if 0 < x < 0.005:
        return "<1%"
    if 0.995 <= x < 1:
        return ">99%"
    return f"{x:.0%}"


def interval_text(rate: Any, low: Any, high: Any) -> str:
    """``46% (42–51%)``: a rate and its interval, rounded outward; "no data" when unknown."""
    if pd.isna(rate):
        return "no data"
    # Outward, so the printed interval is never narrower than the real one.
    down, up = math.floor(float(low) * 100 + 1e-9), math.ceil(float(high) * 100 - 1e-9)
    return f"{pct(float(rate))} ({down}–{up}%)"
