"""Links to the recording at a second: a W3C media fragment, for segments and exceptions."""

from __future__ import annotations

import pandas as pd


def audio_links(audio_url: pd.Series, second: pd.Series) -> pd.Series:
    """The recording at each second (a W3C media fragment ``#t=``); the bare URL where the
    second is unknown, NA where the URL is."""
    seconds = second.astype("Float64")
    fragment = seconds.fillna(0).astype(float).map("#t={:.0f}".format).astype("string")
    links: pd.Series = audio_url.astype("string") + fragment.where(seconds.notna(), "")
    return links
