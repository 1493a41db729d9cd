"""The figures' look: Okabe-Ito colours with a marker or hatch per series, rc defaults, a Figure."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from io import BytesIO
from typing import TYPE_CHECKING, Any

from .._errors import optional_module

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


PNG_DPI = 150  # drawn at 150 dpi, shown at half that many CSS pixels an inch: sharp on HiDPI


def figure(width: float, height: float, **kwargs: Any) -> Figure:
    """A new Figure (no pyplot) that shows itself as a picture in any notebook front end."""
    return _shown_figure()(figsize=(width, height), layout="constrained", **kwargs)


@cache
def _shown_figure() -> type[Figure]:
    """The Figure subclass, defined on first use so matplotlib is imported only then."""
    from matplotlib.figure import Figure

    class ShownFigure(Figure):
        """A Figure with ``_repr_png_``: JupyterLab, VS Code, Colab and nbconvert draw it.

        A plain Figure made without pyplot shows as ``<Figure size ...>`` text unless
        ``%matplotlib inline`` registered IPython's display hook for it; the rich-display
        protocol (as seaborn.objects' Plot does it) needs no magic and no backend. With the
        magic active IPython's own hook wins, so the picture is shown once either way.
        """

        def _repr_png_(self) -> tuple[bytes, dict[str, int]]:
            buffer = BytesIO()
            self.savefig(buffer, format="png", dpi=PNG_DPI, facecolor="white")
            data = buffer.getvalue()
            # The PNG header holds the pixel size (IHDR, bytes 16-24): show it at half size.
            width, height = int.from_bytes(data[16:20]), int.from_bytes(data[20:24])
            return data, {"width": width // 2, "height": height // 2}

    ShownFigure.__qualname__ = "ShownFigure"  # pickle finds it through the module's __getattr__
    return ShownFigure


def __getattr__(name: str) -> Any:
    if name == "ShownFigure":
        return _shown_figure()
    raise AttributeError(name)
