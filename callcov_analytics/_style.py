"""The figures' look: Okabe-Ito colours with a marker or hatch per series, rc defaults, a Figure."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ._errors import optional_module

if TYPE_CHECKING:
    from matplotlib.figure import Figure


OKABE_ITO: dict[str, str] = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
    "grey": "#999999",
}


STATUS_STYLE: dict[str, tuple[str, str]] = {  # status -> (colour, hatch)
    "completed": (OKABE_ITO["bluish_green"], ""),
    "processing": (OKABE_ITO["sky_blue"], "//"),
    "failed": (OKABE_ITO["vermillion"], "xx"),
}


CHECK_STYLE: dict[str, tuple[str, str]] = {  # check -> (colour, marker)
    "identity_verification": (OKABE_ITO["blue"], "o"),
    "mandatory_disclosures": (OKABE_ITO["orange"], "s"),
    "purpose_declaration": (OKABE_ITO["bluish_green"], "D"),
    "prohibited_phrases": (OKABE_ITO["reddish_purple"], "^"),
    "sensitive_data": (OKABE_ITO["vermillion"], "v"),
}


SENTIMENT_STYLE: dict[str, tuple[str, str]] = {
    "negative": (OKABE_ITO["vermillion"], "xx"),
    "neutral": ("#CCCCCC", ""),
    "positive": (OKABE_ITO["bluish_green"], "//"),
}


SHIFT_STYLE: dict[str, tuple[str, str]] = {
    "worsened": (OKABE_ITO["vermillion"], "xx"),
    "same": ("#CCCCCC", ""),
    "improved": (OKABE_ITO["blue"], "//"),
}


_RC: Any = {  # Any: matplotlib's stubs type the keys as a Literal of every rc name
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.titleweight": "bold",
    "axes.labelsize": 11,
    "legend.fontsize": 10,
    "figure.titlesize": 14,
    "figure.titleweight": "bold",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.dpi": 100,
    "savefig.dpi": 120,
}


@contextmanager
def style() -> Iterator[None]:
    """Readable defaults for the figures built inside (matplotlib imported lazily)."""
    matplotlib = optional_module("matplotlib", "plot")
    with matplotlib.rc_context(_RC):
        yield


def figure(width: float, height: float, **kwargs: Any) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained", **kwargs)
