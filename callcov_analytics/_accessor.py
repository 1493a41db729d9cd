"""The ``df.callcov`` accessor: the package's analyses as methods, under the functions' names.

Each method is the function of the same name applied to this frame: ``df.callcov.agent_scorecard()``
is ``metrics.agent_scorecard(df)``. Registered by the entry points that hand out frames
(`load_calls`, `load_segments`, `to_frame`: see the package's ``__getattr__``), so every frame
the package gives you has it; ``import callcov_analytics`` alone stays free of pandas.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = ["CallCovAccessor"]


@pd.api.extensions.register_dataframe_accessor("callcov")
class CallCovAccessor:
    """Analyses of a `load_calls` or `load_segments` frame: ``df.callcov.agent_scorecard()``."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self._frame = frame

    # -- calls (load_calls frames) ------------------------------------------------------------

    def agent_scorecard(
        self, period: str | None = None, min_calls: int = 5, *, detail: bool = False
    ) -> pd.DataFrame:
        """Who needs coaching, first, and why: per agent (and period) the weakest compliance
        check with its pass rate, 95% interval and the team's rate, and a rank (1 = fewest
        flagged calls, by the interval's upper bound). Percentages rounded to one decimal.

        Args:
            period: None for all time, or a pandas period alias on ``created`` ("W", "M").
            min_calls: analysed calls an agent needs to be ranked (others get rank NA).
            detail: every figure instead (about 60 columns: counts, unrounded rates and
                intervals of each check, sentiment, effort), best agent first.

        Example: ``df.callcov.agent_scorecard(period="M")``; every column is listed in
        ``help(callcov_analytics.metrics.agent_scorecard)``.
        """
        from .metrics import agent_scorecard

        return agent_scorecard(self._frame, period=period, min_calls=min_calls, detail=detail)

    def compliance_exceptions(self) -> pd.DataFrame:
        """The supervisor's review queue: one row per failed check of a call, with its
        severity, a one-line reason, the second it happened at (when the API gives one) and
        a link to the recording at that second; most serious call first, then newest.

        Example: ``df.callcov.compliance_exceptions().head(20)``.
        """
        from .metrics import compliance_exceptions

        return compliance_exceptions(self._frame)

    def check_outcomes(self) -> pd.DataFrame:
        """Per call: each of the five compliance checks as passed (True), failed (False) or
        unknown (NA), whether the call was analysed, and flagged (any check failed).

        Example: ``df.callcov.check_outcomes().mean(numeric_only=True)``.
        """
        from .metrics import check_outcomes

        return check_outcomes(self._frame)

    def sentiment_shift(self, by: str | list[str] = "agent_id") -> pd.DataFrame:
        """Per group: how the customer's sentiment moved from the call's start to its end
        (improved, same, worsened: counts and shares of the calls where both are known).

        Example: ``df.callcov.sentiment_shift(by="agent_id")``.
        """
        from .metrics import sentiment_shift

        return sentiment_shift(self._frame, by=by)

    def effort_distribution(self, by: str | list[str] = "agent_id") -> pd.DataFrame:
        """Per group: how many analysed calls have each customer-effort score (0-5), and the
        mean score.

        Example: ``df.callcov.effort_distribution()``.
        """
        from .metrics import effort_distribution

        return effort_distribution(self._frame, by=by)

    def volume(self, freq: str = "D") -> pd.DataFrame:
        """Calls per period (``freq``: "D" days, "W" weeks, "M" months) by status, in UTC.

        Example: ``df.callcov.volume("W")``.
        """
        from .metrics import volume

        return volume(self._frame, freq=freq)

    def changes(self) -> pd.DataFrame:
        """The rows the load that made this frame added or changed, with a ``change`` column
        ("new" or "updated"); ``df.attrs["summary"]`` says the same in one line.

        Example: ``df.callcov.changes()`` after a repeat ``load_calls(...)``.
        """
        kinds = dict.fromkeys(self._frame.attrs.get("updated", []), "updated")
        kinds.update(dict.fromkeys(self._frame.attrs.get("new", []), "new"))
        change = self._frame["id"].map(kinds)
        return self._frame[change.notna()].assign(change=change[change.notna()])

    def schema_summary(self) -> pd.DataFrame:
        """The columns by type: how many of each, how full they are, and their names.

        Example: ``df.callcov.schema_summary()`` (a first look at a new frame).
        """
        from ._decode.frame import schema_summary

        return schema_summary(self._frame)

    # -- transcripts (load_segments frames, or load_calls(include_transcript=True)) -----------

    def search_transcripts(
        self, pattern: str, regex: bool = False, context: int = 40, case: bool = False
    ) -> pd.DataFrame:
        """Where the transcripts say ``pattern``. On a `load_segments` frame: one row per
        segment that matches, with its second, speaker and a link to the recording at that
        second; on a ``load_calls(include_transcript=True)`` frame: one row per call.

        Example: ``load_segments(since="2026-11-01").callcov.search_transcripts("refund")``.
        """
        from .segments import search_transcripts

        return search_transcripts(self._frame, pattern, regex=regex, context=context, case=case)

    def transcript_context(
        self, pattern: str, id: str | None = None, *, around: int = 2, **options: Any
    ) -> pd.DataFrame:
        """The exchange around each hit of ``pattern`` in a `load_segments` frame: the
        ``around`` segments before and after, each with its second, speaker and audio link.

        Args:
            pattern: the text to find (``regex=True``, ``case=True`` as in search_transcripts).
            id: only this analysis; None looks at every call in the frame.
            around: segments shown before and after each hit.

        Example: ``segs.callcov.transcript_context("refund", around=2)``.
        """
        from .segments import transcript_context

        return transcript_context(self._frame, pattern, id, around=around, **options)

    def talk_metrics(self) -> pd.DataFrame:
        """Per call of a `load_segments` frame: talk time and share by role, the longest
        monologue, silences and overlaps.

        Example: ``segs.callcov.talk_metrics().agent_talk_share.describe()``.
        """
        from .segments import talk_metrics

        return talk_metrics(self._frame)
