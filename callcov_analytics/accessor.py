"""The ``df.callcov`` accessor: the metrics of :mod:`callcov_analytics.metrics` as methods.

Importing this module registers the accessor (``import callcov_analytics`` does it).
"""

from __future__ import annotations

import pandas as pd

from callcov_analytics import metrics

__all__ = ["CallCovAccessor"]


@pd.api.extensions.register_dataframe_accessor("callcov")
class CallCovAccessor:
    """Analytics on a load_calls() frame: ``calls.callcov.scorecard(period="M")``."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self._frame = frame

    def scorecard(self, period: str | None = None, min_calls: int = 5) -> pd.DataFrame:
        """:func:`~callcov_analytics.metrics.agent_scorecard` of this frame."""
        return metrics.agent_scorecard(self._frame, period=period, min_calls=min_calls)

    def exceptions(self) -> pd.DataFrame:
        """:func:`~callcov_analytics.metrics.compliance_exceptions` of this frame."""
        return metrics.compliance_exceptions(self._frame)

    def checks(self) -> pd.DataFrame:
        """:func:`~callcov_analytics.metrics.check_outcomes` of this frame."""
        return metrics.check_outcomes(self._frame)

    def sentiment_shift(self, by: str | list[str] = "agent_id") -> pd.DataFrame:
        """:func:`~callcov_analytics.metrics.sentiment_shift` of this frame."""
        return metrics.sentiment_shift(self._frame, by=by)

    def effort(self, by: str | list[str] = "agent_id") -> pd.DataFrame:
        """:func:`~callcov_analytics.metrics.effort_distribution` of this frame."""
        return metrics.effort_distribution(self._frame, by=by)

    def volume(self, freq: str = "D") -> pd.DataFrame:
        """:func:`~callcov_analytics.metrics.volume` of this frame."""
        return metrics.volume(self._frame, freq=freq)

    def search(
        self, pattern: str, regex: bool = False, context: int = 40, case: bool = False
    ) -> pd.DataFrame:
        """:func:`~callcov_analytics.segments.search_transcripts` of this frame."""
        return metrics.search_transcripts(
            self._frame, pattern, regex=regex, context=context, case=case
        )
