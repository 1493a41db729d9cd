"""metrics: hand-computed scorecards, exceptions, shifts, effort and volume; properties."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import callcov_analytics._accessor  # noqa: F401  # registers df.callcov
from callcov_analytics import SCHEMA, ValidationError, metrics

Z = 1.96
PASS: dict[str, Any] = {
    "status": "completed",
    "identity_verified": True,
    "identity_verified_at_s": 12.0,
    "identity_flagged": False,
    "disclosures_read": True,
    "disclosures_matched": 2,
    "disclosures_missing": 0,
    "missing_disclosures": "",
    "purpose_disclosed": True,
    "purpose_interaction_number": 1,
    "purpose_flagged": False,
    "prohibited_phrases_used": False,
    "prohibited_phrase_count": 0,
    "sensitive_data_shared": False,
    "sensitive_data_count": 0,
    "recommendation_count": 0,
    "recommendations_high": 0,
    "recommendations_medium": 0,
    "recommendations_low": 0,
}
FAIL: dict[str, Any] = PASS | {
    "identity_verified": False,
    "identity_verified_at_s": None,
    "identity_flagged": True,
    "disclosures_read": False,
    "disclosures_matched": 0,
    "disclosures_missing": 2,
    "missing_disclosures": "Recording notice; Right to cancel",
    "purpose_disclosed": False,
    "purpose_interaction_number": None,
    "purpose_flagged": True,
    "prohibited_phrases_used": True,
    "prohibited_phrase_count": 2,
    "prohibited_phrase_first_at_s": 30.5,
    "sensitive_data_shared": True,
    "sensitive_data_count": 1,
    "sensitive_data_first_at_s": 61.0,
}


def make_frame(rows: list[dict[str, Any]], transcripts: bool = False) -> pd.DataFrame:
    """A load_calls()-shaped frame: every SCHEMA column, its dtype, NA where a row is silent."""
    schema = SCHEMA | ({"transcript_text": "string"} if transcripts else {})
    data = {column: [row.get(column) for row in rows] for column in schema}
    return pd.DataFrame(data, dtype=object).astype(schema)


def call(
    id_: str, agent: str, created: str, seconds: float, base: dict[str, Any] | None, **kw: Any
) -> dict[str, Any]:
    """One row: ``base`` (PASS/FAIL) results, or none (processing/failed/result-less)."""
    row = {"status": "completed"} if base is None else dict(base)
    row |= {"id": id_, "agent_id": agent, "contact_id": f"ct-{id_}"}
    row |= {"created": pd.Timestamp(f"2024-03-{created}", tz="UTC"), "duration_seconds": seconds}
    return row | kw


def quality(sentiment: str, start: str, end: str, effort: int, empathy: int, interrupts: int):
    return {
        "sentiment_overall": sentiment,
        "sentiment_customer_start": start,
        "sentiment_customer_end": end,
        "customer_effort_score": effort,
        "empathy_count": empathy,
        "interruption_count": interrupts,
    }


def recs(high: int = 0, medium: int = 0, low: int = 0) -> dict[str, int]:
    return {
        "recommendation_count": high + medium + low,
        "recommendations_high": high,
        "recommendations_medium": medium,
        "recommendations_low": low,
    }


# ann: all pass, plus a processing and a failed call; bob: every check fails on every call;
# cat: mixed, plus a completed call whose results are null; dan: one call; eve: ties with ann.
# fmt: off
ROWS = [
    call("a1", "ann", "01 09:00", 120, PASS, **quality("positive", "neutral", "positive", 1, 2, 0)),
    call("a2", "ann", "01 10:00", 60, PASS, **quality("positive", "neutral", "neutral", 2, 1, 1),
         **recs(low=1)),
    call("a3", "ann", "02 09:00", 90, PASS, **quality("neutral", "positive", "positive", 1, 3, 0)),
    call("a4", "ann", "04 08:00", 30, None, status="processing"),
    call("a5", "ann", "04 08:30", 45, None, status="failed", error_message="audio unreadable"),
    call("b1", "bob", "01 11:00", 300, FAIL, **quality("negative", "neutral", "negative", 5, 0, 4),
         **recs(high=2, medium=1)),
    call("b2", "bob", "02 11:00", 240, FAIL, **quality("negative", "negative", "negative", 4, 0, 3),
         **recs(high=1), identity_verified=True, identity_verified_at_s=130.0),
    call("b3", "bob", "04 11:00", 180, FAIL, **quality("neutral", "positive", "negative", 5, 1, 2),
         **recs(high=1, medium=1), purpose_disclosed=True, purpose_interaction_number=4),
    call("c1", "cat", "01 12:00", 100, PASS,
         **quality("positive", "negative", "positive", 0, 2, 1)),
    call("c2", "cat", "02 12:00", 200, PASS, **quality("neutral", "neutral", "neutral", 3, 1, 1),
         **recs(medium=1), identity_flagged=True, identity_verified_at_s=95.0),
    call("c3", "cat", "04 12:00", 150, PASS, **quality("negative", "neutral", "negative", 4, 0, 2),
         **recs(high=1, low=1), disclosures_missing=1, missing_disclosures="Right to cancel",
         prohibited_phrases_used=True, prohibited_phrase_count=1,
         prohibited_phrase_first_at_s=40.0),
    call("c4", "cat", "04 13:00", 50, None),
    call("d1", "dan", "02 14:00", 75, PASS, **quality("positive", "neutral", "positive", 1, 1, 0)),
    call("e1", "eve", "01 15:00", 80, PASS, **quality("positive", "positive", "positive", 2, 1, 0)),
    call("e2", "eve", "02 15:00", 70, PASS, **quality("positive", "neutral", "positive", 2, 2, 1),
         **recs(low=1)),
    call("e3", "eve", "04 15:00", 65, PASS, **quality("neutral", "neutral", "neutral", 3, 0, 0)),
]
# fmt: on


@pytest.fixture
def calls() -> pd.DataFrame:
    return make_frame(ROWS)


def wilson(k: int, n: int) -> tuple[float, float]:
    """The Wilson score interval, written out from the textbook formula."""
    p = k / n
    centre = (p + Z**2 / (2 * n)) / (1 + Z**2 / n)
    half = Z / (1 + Z**2 / n) * math.sqrt(p * (1 - p) / n + Z**2 / (4 * n**2))
    return centre - half, centre + half


def test_wilson_interval_matches_the_formula_and_closed_forms() -> None:
    assert metrics.wilson_interval(2, 3) == pytest.approx(wilson(2, 3), abs=1e-9)
    assert metrics.wilson_interval(0, 3) == pytest.approx((0.0, Z**2 / (3 + Z**2)), abs=1e-9)
    assert metrics.wilson_interval(3, 3) == pytest.approx((3 / (3 + Z**2), 1.0), abs=1e-9)
    assert metrics.wilson_interval(8, 10) == pytest.approx((0.4902, 0.9433), abs=1e-4)
    low, high = metrics.wilson_interval(0, 0)
    assert math.isnan(low) and math.isnan(high)
    k = pd.Series([1, 0, pd.NA], dtype="Int64")
    n = pd.Series([2, 0, 5], dtype="Int64")
    lows, highs = metrics.wilson_interval(k, n)
    assert lows.dtype == "Float64" and lows.iloc[1:].isna().all()
    assert highs.iloc[0] == pytest.approx(wilson(1, 2)[1], abs=1e-9)


@pytest.mark.parametrize(("k", "n", "z"), [(4, 3, 1.96), (-1, 3, 1.96), (1, 3, 0.0)])
def test_wilson_interval_rejects_impossible_counts(k: int, n: int, z: float) -> None:
    with pytest.raises(ValidationError):
        metrics.wilson_interval(k, n, z=z)


def test_check_outcomes_follow_the_documented_rules(calls: pd.DataFrame) -> None:
    out = metrics.check_outcomes(calls).set_axis(calls["id"])
    assert list(out.columns) == [*metrics.CHECKS, "flagged", "analysed"]
    assert (out.dtypes == "boolean").all()
    assert out.loc["c2"].tolist() == [False, True, True, True, True, True, True]
    assert out.loc["c3"].tolist() == [True, False, True, False, True, True, True]
    # processing, failed and result-less calls are unknown, never failures
    for id_ in ("a4", "a5", "c4"):
        assert out.loc[id_, [*metrics.CHECKS, "flagged"]].isna().all()
        assert not out.loc[id_, "analysed"]


def test_scorecard_counts_rates_and_intervals(calls: pd.DataFrame) -> None:
    card = metrics.agent_scorecard(calls, min_calls=3, detail=True).set_index("agent_id")
    assert list(card.index) == ["ann", "eve", "cat", "bob", "dan"]  # rank, then agent_id
    assert card["calls"].tolist() == [5, 3, 4, 3, 1]
    assert card["analysed_calls"].tolist() == [3, 3, 3, 3, 1]
    assert card["calls_without_results"].tolist() == [2, 0, 1, 0, 0]
    assert card["talk_seconds"].tolist() == [345.0, 215.0, 500.0, 720.0, 75.0]
    assert card.loc["bob", "talk_minutes"] == 12.0
    expected_passed = {  # ann, eve, cat, bob, dan
        "identity_verification": [3, 3, 2, 0, 1],
        "mandatory_disclosures": [3, 3, 2, 0, 1],
        "purpose_declaration": [3, 3, 3, 0, 1],
        "prohibited_phrases": [3, 3, 2, 0, 1],
        "sensitive_data": [3, 3, 3, 0, 1],
    }
    for check, passed in expected_passed.items():
        assert card[f"{check}_passed"].tolist() == passed
        assert card[f"{check}_n"].tolist() == [3, 3, 3, 3, 1]
        for agent, k in zip(card.index, passed, strict=True):
            n = card.loc[agent, f"{check}_n"]
            assert card.loc[agent, f"{check}_pass_rate"] == k / n
            low, high = wilson(k, n)
            assert card.loc[agent, f"{check}_ci_low"] == pytest.approx(low, abs=1e-9)
            assert card.loc[agent, f"{check}_ci_high"] == pytest.approx(high, abs=1e-9)
    assert card["flagged_calls"].tolist() == [0, 0, 2, 3, 0]
    assert card["flagged_share"].tolist() == [0.0, 0.0, 2 / 3, 1.0, 0.0]
    assert card.loc["cat", "flagged_ci_high"] == pytest.approx(wilson(2, 3)[1], abs=1e-9)
    assert card["ranked"].tolist() == [True, True, True, True, False]
    assert card["rank"].tolist()[:4] == [1, 1, 3, 4] and pd.isna(card.loc["dan", "rank"])


def test_scorecard_quality_columns(calls: pd.DataFrame) -> None:
    card = metrics.agent_scorecard(calls, min_calls=3, detail=True).set_index("agent_id")
    cat, bob, ann = card.loc["cat"], card.loc["bob"], card.loc["ann"]
    assert ann[
        ["sentiment_n", "sentiment_negative", "sentiment_neutral", "sentiment_positive"]
    ].tolist() == [3, 0, 1, 2]
    assert ann["sentiment_positive_share"] == 2 / 3
    assert bob[["shift_n", "improved", "same", "worsened"]].tolist() == [3, 0, 1, 2]
    assert cat[["improved_share", "same_share", "worsened_share"]].tolist() == [1 / 3] * 3
    assert cat[["effort_n", "effort_mean"]].tolist() == [3, 7 / 3]
    assert bob[["empathy_n", "empathy_per_call"]].tolist() == [3, 1 / 3]
    assert bob[["interruptions_n", "interruptions_per_call"]].tolist() == [3, 3.0]
    assert ann["effort_mean"] == 4 / 3  # processing/failed calls are not zeros
    recs_cols = [f"recommendations_{k}" for k in ("n", "high", "medium", "low")]
    assert bob[recs_cols].tolist() == [3, 4, 2, 0]
    assert cat[recs_cols].tolist() == [3, 1, 1, 1]


def test_scorecard_does_not_rank_below_min_calls(calls: pd.DataFrame) -> None:
    # min_calls=5: ann has 5 calls but 3 analysed
    card = metrics.agent_scorecard(calls, detail=True)
    assert not card["ranked"].any() and card["rank"].isna().all()
    assert card["agent_id"].tolist() == ["ann", "bob", "cat", "dan", "eve"]


def test_scorecard_per_week_ranks_within_the_period(calls: pd.DataFrame) -> None:
    card = metrics.agent_scorecard(calls, period="W", min_calls=1, detail=True)
    assert list(card.columns[:3]) == ["agent_id", "period", "calls"]
    week2 = card[card["period"] == pd.Timestamp("2024-03-04", tz="UTC")].set_index("agent_id")
    assert week2["calls"].to_dict() == {"eve": 1, "bob": 1, "cat": 2, "ann": 2}
    assert week2["analysed_calls"].to_dict() == {"eve": 1, "bob": 1, "cat": 1, "ann": 0}
    assert week2["rank"].iloc[:3].tolist() == [1, 2, 2]  # cat's one call fails too
    assert not week2.loc["ann", "ranked"] and card["calls"].sum() == len(calls)


def test_scorecard_dtypes_and_column_order(calls: pd.DataFrame) -> None:
    card = metrics.agent_scorecard(calls, detail=True)
    assert list(card.columns) == ["agent_id", *metrics.SCORECARD_COLUMNS]
    assert card.dtypes.astype(str).tolist() == ["string", *metrics.SCORECARD_COLUMNS.values()]


def test_default_scorecard_leads_with_who_needs_coaching_and_why(calls: pd.DataFrame) -> None:
    card = metrics.agent_scorecard(calls, min_calls=3)
    assert list(card.columns) == ["agent_id", *metrics.COACHING_COLUMNS]
    assert card.dtypes.astype(str).tolist() == ["string", *metrics.COACHING_COLUMNS.values()]
    outcomes = metrics.check_outcomes(calls).assign(agent_id=calls["agent_id"])
    team = {c: outcomes[c].sum() / outcomes[c].notna().sum() for c in metrics.CHECKS}
    detail = metrics.agent_scorecard(calls, min_calls=3, detail=True).set_index("agent_id")
    needs = {}
    for agent, rows in outcomes.groupby("agent_id"):
        known = {c: rows[c].dropna().astype(bool) for c in metrics.CHECKS}
        bounds = {c: wilson(int(k.sum()), len(k)) for c, k in known.items() if len(k)}
        margins = {c: team[c] - high for c, (_, high) in bounds.items()}
        weakest = max(margins, key=lambda c: margins[c])  # the first of equals
        got = card.set_index("agent_id").loc[agent]
        ranked = rows["analysed"].sum() >= 3
        needs[agent] = bool(ranked and margins[weakest] > 0)
        assert got["weakest_check"] == weakest, agent
        assert got["needs_coaching"] == needs[agent], agent
        rate = known[weakest].mean()
        for column, share in [("pass_pct", rate), ("team_pct", team[weakest]),
                              ("ci_low_pct", bounds[weakest][0]),
                              ("ci_high_pct", bounds[weakest][1])]:  # fmt: skip
            assert got[column] == pytest.approx(round(share * 100, 1), abs=0.051), (agent, column)
        below = ", ".join(c for c, m in margins.items() if m > 0)
        assert (got["below_team"] if needs[agent] else None) == (below or None), agent
        assert got["rank"] is pd.NA or got["rank"] == detail.loc[agent, "rank"]
    assert needs["bob"] and not needs["ann"]
    # Coaching first; within each part the worst rank first, the unranked last.
    assert card["needs_coaching"].tolist() == sorted(needs.values(), reverse=True)
    for part in (card[card["needs_coaching"]], card[~card["needs_coaching"]]):
        ranks = part["rank"].dropna().tolist()
        assert ranks == sorted(ranks, reverse=True)
        assert part["rank"].isna().tolist() == sorted(part["rank"].isna().tolist())


def test_scorecard_percentages_are_rounded_half_up_to_one_decimal() -> None:
    # 1 of 16 calls flagged is 6.25%: rounded half up to 6.3 on every engine, not to even.
    rows = [call(f"x{i}", "ann", "01 09:00", 60, FAIL if i == 0 else PASS) for i in range(16)]
    card = metrics.agent_scorecard(make_frame(rows), min_calls=1)
    assert card.loc[0, "flagged_pct"] == 6.3


def test_compliance_exceptions_review_queue(calls: pd.DataFrame) -> None:
    # fay's call is the newest but fails only the low-severity check: it waits at the end.
    fay = call("f1", "fay", "05 09:00", 60, PASS, purpose_disclosed=False)
    frame = make_frame([*ROWS, fay])
    frame["audio_url"] = ("https://cdn.example/" + frame["id"] + ".mp3").astype("string")
    frame.loc[frame["id"] == "b1", "audio_url"] = pd.NA
    out = metrics.compliance_exceptions(frame)
    assert list(out.columns) == list(metrics.EXCEPTION_COLUMNS)
    assert out.dtypes.astype(str).tolist() == list(metrics.EXCEPTION_COLUMNS.values())
    missing = "disclosures not read, missing 2: Recording notice; Right to cancel"
    expected = [
        ("c3", "high", "prohibited_phrases", "1 prohibited phrase", 40.0),
        ("c3", "medium", "mandatory_disclosures", "missing 1: Right to cancel", None),
        ("b3", "high", "identity_verification", "identity not verified", None),
        ("b3", "high", "prohibited_phrases", "2 prohibited phrases", 30.5),
        ("b3", "high", "sensitive_data", "1 sensitive data instance", 61.0),
        ("b3", "medium", "mandatory_disclosures", missing, None),
        ("b3", "low", "purpose_declaration", "purpose declaration flagged (interaction 4)", None),
        ("c2", "high", "identity_verification", "verified late at 95 s", 95.0),
        ("b2", "high", "identity_verification", "verified late at 130 s", 130.0),
        ("b2", "high", "prohibited_phrases", "2 prohibited phrases", 30.5),
        ("b2", "high", "sensitive_data", "1 sensitive data instance", 61.0),
        ("b2", "medium", "mandatory_disclosures", missing, None),
        ("b2", "low", "purpose_declaration", "purpose not declared", None),
        ("b1", "high", "identity_verification", "identity not verified", None),
        ("b1", "high", "prohibited_phrases", "2 prohibited phrases", 30.5),
        ("b1", "high", "sensitive_data", "1 sensitive data instance", 61.0),
        ("b1", "medium", "mandatory_disclosures", missing, None),
        ("b1", "low", "purpose_declaration", "purpose not declared", None),
        ("f1", "low", "purpose_declaration", "purpose not declared", None),
    ]
    got = [
        (r.id, r.severity, r.check, r.detail, None if pd.isna(r.at_s) else r.at_s)
        for r in out.itertuples(index=False)
    ]
    assert got == expected
    assert out["contact_id"].iloc[0] == "ct-c3" and out["agent_id"].iloc[2] == "bob"
    links = out.set_index(["id", "check"])["link"]
    assert links["c3", "prohibited_phrases"] == "https://cdn.example/c3.mp3#t=40"
    assert links["c3", "mandatory_disclosures"] == "https://cdn.example/c3.mp3"
    assert links["b1"].isna().all()  # no recording, no link


def test_sentiment_shift_by_agent(calls: pd.DataFrame) -> None:
    out = metrics.sentiment_shift(calls).set_index("agent_id")
    assert list(out.columns) == list(metrics.SHIFT_COLUMNS)
    assert out[
        ["calls", "calls_without_results", "shift_n", "improved", "same", "worsened"]
    ].to_dict("index") == {
        "ann": dict(calls=5, calls_without_results=2, shift_n=3, improved=1, same=2, worsened=0),
        "bob": dict(calls=3, calls_without_results=0, shift_n=3, improved=0, same=1, worsened=2),
        "cat": dict(calls=4, calls_without_results=1, shift_n=3, improved=1, same=1, worsened=1),
        "dan": dict(calls=1, calls_without_results=0, shift_n=1, improved=1, same=0, worsened=0),
        "eve": dict(calls=3, calls_without_results=0, shift_n=3, improved=1, same=2, worsened=0),
    }
    assert out.loc["ann", "same_share"] == 2 / 3


def test_sentiment_shift_by_categorical_column(calls: pd.DataFrame) -> None:
    out = metrics.sentiment_shift(calls, by="status")
    assert out["status"].tolist() == ["completed", "failed", "processing"]
    assert out["calls"].tolist() == [14, 1, 1] and out["shift_n"].tolist() == [13, 0, 0]


def test_effort_distribution(calls: pd.DataFrame) -> None:
    out = metrics.effort_distribution(calls).set_index("agent_id")
    buckets = [f"effort_{s}" for s in range(6)]
    assert out.loc["ann", buckets].tolist() == [0, 2, 1, 0, 0, 0]
    assert out.loc["bob", buckets].tolist() == [0, 0, 0, 0, 1, 2]
    assert out.loc["cat", buckets].tolist() == [1, 0, 0, 1, 1, 0]
    assert out["effort_n"].tolist() == [3, 3, 3, 1, 3]
    assert out["calls_without_results"].tolist() == [2, 0, 1, 0, 0]
    assert out["effort_mean"].tolist() == [4 / 3, 14 / 3, 7 / 3, 1.0, 7 / 3]


def test_volume_per_day_includes_empty_days(calls: pd.DataFrame) -> None:
    out = metrics.volume(calls)
    assert list(out.columns) == list(metrics.VOLUME_COLUMNS)
    assert out["period"].tolist() == [pd.Timestamp(f"2024-03-0{d}", tz="UTC") for d in (1, 2, 3, 4)]
    assert out["calls"].tolist() == [5, 5, 0, 6]
    assert out["completed"].tolist() == [5, 5, 0, 4]
    assert out["processing"].tolist() == [0, 0, 0, 1]
    assert out["failed"].tolist() == [0, 0, 0, 1]
    assert out["talk_seconds"].tolist() == [660.0, 675.0, 0.0, 520.0]
    assert out["talk_minutes"].tolist() == [11.0, 11.25, 0.0, 520 / 60]


def test_volume_per_week_starts_on_monday(calls: pd.DataFrame) -> None:
    out = metrics.volume(calls, freq="W")
    assert out["period"].dt.day_name().tolist() == ["Monday", "Monday"]
    assert out["calls"].tolist() == [10, 6]


def test_bad_arguments_raise_validation_errors(calls: pd.DataFrame) -> None:
    with pytest.raises(ValidationError) as info:
        metrics.volume(calls, freq="fortnight")
    assert info.value.param == "freq"
    with pytest.raises(ValidationError):
        metrics.agent_scorecard(calls, min_calls=0)
    with pytest.raises(ValidationError, match="status"):
        metrics.compliance_exceptions(calls.drop(columns="status"))


def test_accessor_delegates(calls: pd.DataFrame) -> None:
    acc = calls.callcov
    pd.testing.assert_frame_equal(
        acc.agent_scorecard(min_calls=3), metrics.agent_scorecard(calls, min_calls=3)
    )
    pd.testing.assert_frame_equal(acc.compliance_exceptions(), metrics.compliance_exceptions(calls))
    pd.testing.assert_frame_equal(acc.sentiment_shift(), metrics.sentiment_shift(calls))
    pd.testing.assert_frame_equal(
        acc.effort_distribution(by="status"), metrics.effort_distribution(calls, "status")
    )
    pd.testing.assert_frame_equal(acc.volume("W"), metrics.volume(calls, "W"))
    assert acc.check_outcomes()["flagged"].sum() == 5


@pytest.mark.parametrize(
    ("function", "columns"),
    [
        (
            lambda f: metrics.agent_scorecard(f, detail=True),
            {"agent_id": "string", **metrics.SCORECARD_COLUMNS},
        ),
        (metrics.agent_scorecard, {"agent_id": "string", **metrics.COACHING_COLUMNS}),
        (metrics.compliance_exceptions, metrics.EXCEPTION_COLUMNS),
        (metrics.sentiment_shift, {"agent_id": "string", **metrics.SHIFT_COLUMNS}),
        (metrics.effort_distribution, {"agent_id": "string", **metrics.EFFORT_COLUMNS}),
        (metrics.volume, metrics.VOLUME_COLUMNS),
    ],
)
def test_empty_input_gives_empty_typed_frames(function: Any, columns: dict[str, str]) -> None:
    out = function(make_frame([]))
    assert out.empty
    assert dict(out.dtypes.astype(str)) == columns


# --- properties -------------------------------------------------------------------------
maybe_bool = st.sampled_from([True, False, None])
sentiment = st.sampled_from(["negative", "neutral", "positive", None])
row_strategy = st.fixed_dictionaries(
    {
        "id": st.uuids().map(str),
        "agent_id": st.sampled_from(["ann", "bob", "cat", None]),
        "status": st.sampled_from(["completed", "completed", "processing", "failed"]),
        "created": st.datetimes(
            min_value=pd.Timestamp("2024-01-01").to_pydatetime(),
            max_value=pd.Timestamp("2024-03-31").to_pydatetime(),
        ).map(lambda t: pd.Timestamp(t, tz="UTC")),
        "duration_seconds": st.one_of(st.none(), st.floats(0, 3600)),
        "identity_verified": maybe_bool,
        "identity_flagged": maybe_bool,
        "disclosures_read": maybe_bool,
        "disclosures_missing": st.one_of(st.none(), st.integers(0, 3)),
        "purpose_disclosed": maybe_bool,
        "purpose_flagged": maybe_bool,
        "prohibited_phrases_used": maybe_bool,
        "sensitive_data_shared": maybe_bool,
        "sentiment_overall": sentiment,
        "sentiment_customer_start": sentiment,
        "sentiment_customer_end": sentiment,
        "customer_effort_score": st.one_of(st.none(), st.integers(-1, 7)),
        "empathy_count": st.one_of(st.none(), st.integers(0, 5)),
        "interruption_count": st.one_of(st.none(), st.integers(0, 5)),
    }
)
frames = st.lists(row_strategy, max_size=30).map(make_frame)
fast = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@fast
@given(frames)
def test_scorecard_rates_are_proportions_and_counts_add_up(df: pd.DataFrame) -> None:
    card = metrics.agent_scorecard(df, min_calls=2, detail=True)
    assert card["calls"].sum() == len(df)
    assert (card["analysed_calls"] + card["calls_without_results"] == card["calls"]).all()
    for check in metrics.CHECKS:
        rate, low, high = (card[f"{check}_{c}"] for c in ("pass_rate", "ci_low", "ci_high"))
        known = rate.notna()
        assert (card[f"{check}_n"] <= card["analysed_calls"]).all()
        assert ((rate[known] >= 0) & (rate[known] <= 1)).all()
        assert ((low[known] <= rate[known]) & (rate[known] <= high[known])).all()
        assert ((low[known] >= 0) & (high[known] <= 1)).all()
        assert (rate.isna() == (card[f"{check}_n"] == 0)).all()
    shares = card[
        ["sentiment_negative_share", "sentiment_neutral_share", "sentiment_positive_share"]
    ]
    assert ((shares.sum(axis=1) - 1).abs()[card["sentiment_n"] > 0] < 1e-9).all()
    assert (card["rank"].notna() == card["ranked"]).all()


@fast
@given(frames)
def test_exceptions_are_exactly_the_failed_checks(df: pd.DataFrame) -> None:
    outcomes = metrics.check_outcomes(df)
    failed = int((outcomes[list(metrics.CHECKS)] == False).sum().sum())  # noqa: E712
    assert len(metrics.compliance_exceptions(df)) == failed


@fast
@given(frames)
def test_distributions_add_up(df: pd.DataFrame) -> None:
    shift = metrics.sentiment_shift(df)
    assert shift["calls"].sum() == len(df)
    assert (shift["improved"] + shift["same"] + shift["worsened"] == shift["shift_n"]).all()
    assert (shift["shift_n"] + shift["calls_without_results"] == shift["calls"]).all()
    effort = metrics.effort_distribution(df)
    buckets = effort[[f"effort_{s}" for s in range(6)]].sum(axis=1)
    assert (buckets == effort["effort_n"]).all() and effort["calls"].sum() == len(df)
    mean = effort["effort_mean"].dropna()
    assert ((mean >= 0) & (mean <= 5)).all()
    vol = metrics.volume(df, freq="W")
    assert vol["calls"].sum() == len(df)
    assert (vol["completed"] + vol["processing"] + vol["failed"] == vol["calls"]).all()


@fast
@given(st.integers(1, 10_000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_interval_contains_the_estimate(kn: tuple[int, int]) -> None:
    k, n = kn
    low, high = metrics.wilson_interval(k, n)
    assert 0.0 <= low <= k / n <= high <= 1.0
