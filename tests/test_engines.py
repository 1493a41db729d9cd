"""One implementation on every engine: metrics on pandas, Polars, DuckDB and Spark agree exactly.

The rows are a real sandbox load (status mix, null results, unknown fields): load_calls' frame
is the pandas input, and the same rows reach the other engines through ``scan_calls`` (the
local store's table). pandas' figures are pinned to the sandbox's raw JSON in
test_metrics_sandbox.py; here every other engine must give those same figures, to the bit.
``scan_calls`` is checked against the sandbox's own filtered answers and its request log.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import callcov_analytics as cca
from callcov_analytics import UnsupportedEngineError, ValidationError, metrics, segments
from callcov_analytics.sandbox import Sandbox, serve
from tests.clients import client_for

# Sentiment/effort have fixed groups; the scorecard all-time, per week and per month (UTC).
CASES: dict[str, Callable[[Any], Any]] = {
    "scorecard": lambda f: metrics.agent_scorecard(f, min_calls=3, detail=True),
    "scorecard_weekly": lambda f: metrics.agent_scorecard(f, period="W", min_calls=2, detail=True),
    "scorecard_monthly": lambda f: metrics.agent_scorecard(f, period="M", min_calls=2, detail=True),
    "sentiment_shift": metrics.sentiment_shift,
    "effort_by_status": lambda f: metrics.effort_distribution(f, by="status"),
    "check_outcomes": metrics.check_outcomes,
}


@pytest.fixture(scope="module")
def stored(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Sandbox, Path, pd.DataFrame]]:
    """A sandbox, a store holding its history, and load_calls' frame of it."""
    root = tmp_path_factory.mktemp("engines-store")
    with serve("enterprise", n_analyses=900, window_seconds=60) as api:
        api.insert(5, status="processing")  # results unknown: counted apart on every engine
        df = cca.load_calls(client=client_for(api), cache_dir=root, progress=False)
        assert df["id"].tolist() == api.ids()
        yield api, root, df


def as_pandas(out: Any, like: pd.DataFrame) -> pd.DataFrame:
    """Any engine's result as pandas with ``like``'s dtypes (Spark's times are naive UTC)."""
    if hasattr(out, "toArrow"):  # Spark (its toPandas trips on pandas 3's deprecations)
        out = out.toArrow().to_pandas()
        if "period" in out.columns and out["period"].dt.tz is None:
            out["period"] = out["period"].dt.tz_localize("UTC")
    elif hasattr(out, "collect"):
        out = out.collect()
    elif hasattr(out, "df"):
        out = out.df()
    frame = out if isinstance(out, pd.DataFrame) else out.to_pandas()
    return frame.astype(dict(zip(like.columns, like.dtypes, strict=True)))


def expected(name: str, df: pd.DataFrame) -> pd.DataFrame:
    out = CASES[name](df)
    if name == "check_outcomes":  # other engines have no index: they say which call
        out = out.assign(id=df["id"])[["id", *out.columns]]
    return out.astype({c: "string" for c in ("status",) if c in out.columns})


def agree(name: str, got: Any, df: pd.DataFrame) -> None:
    want = expected(name, df)
    frame = as_pandas(got, want)
    if name == "check_outcomes":  # a lazy engine does not promise the input's row order
        frame = frame.set_index("id").loc[want["id"]].reset_index()
    if name == "effort_by_status":  # pandas sorts a category in its categories' order
        frame = frame.set_index("status").loc[want["status"]].reset_index()
    pd.testing.assert_frame_equal(frame, want.reset_index(drop=True), check_exact=True)


def test_pandas_figures_cover_every_call(stored: tuple[Sandbox, Path, pd.DataFrame]) -> None:
    api, _, df = stored
    card = metrics.agent_scorecard(df, detail=True)
    assert card["calls"].sum() == len(api.ids())
    processing = sum(r["status"] == "processing" for r in api.records())
    assert card["calls_without_results"].sum() >= processing > 0


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("engine", ["duckdb", "polars"])
def test_duckdb_and_polars_agree_with_pandas(
    stored: tuple[Sandbox, Path, pd.DataFrame], engine: str, name: str
) -> None:
    api, root, df = stored
    lazy = cca.scan_calls(client=client_for(api), cache_dir=root, engine=engine)  # type: ignore[arg-type]
    agree(name, CASES[name](lazy), df)


def test_polars_eager_frame_gives_a_polars_frame(
    stored: tuple[Sandbox, Path, pd.DataFrame],
) -> None:
    import polars as pl

    _, _, df = stored
    eager = pl.from_pandas(df.astype({"created": "datetime64[us, UTC]"}))
    out = metrics.agent_scorecard(eager, min_calls=3, detail=True)
    assert isinstance(out, pl.DataFrame)
    agree("scorecard", out, df)


def test_results_stay_lazy_and_of_the_input_kind(
    stored: tuple[Sandbox, Path, pd.DataFrame],
) -> None:
    import duckdb
    import polars as pl

    api, root, _ = stored
    rel = cca.scan_calls(client=client_for(api), cache_dir=root)
    assert isinstance(metrics.agent_scorecard(rel), duckdb.DuckDBPyRelation)
    lazy = cca.scan_calls(client=client_for(api), cache_dir=root, engine="polars")
    assert isinstance(metrics.sentiment_shift(lazy), pl.LazyFrame)


def test_pandas_only_functions_refuse_other_engines_with_what_to_do(
    stored: tuple[Sandbox, Path, pd.DataFrame],
) -> None:
    api, root, _ = stored
    rel = cca.scan_calls(client=client_for(api), cache_dir=root)
    with pytest.raises(UnsupportedEngineError, match=r"pandas only.*\.df\(\)"):
        segments.talk_metrics(rel)
    with pytest.raises(ValidationError, match="takes a pandas or Polars"):
        metrics.agent_scorecard([{"id": "a"}])


# --- scan_calls -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "filters",
    [
        {"status": "completed"},
        {"status": "processing"},
        {"search": "AGENT_00"},
        {"agent_id": "agent_003"},
        {"since": "2026-01-01", "until": "2026-12-31"},
    ],
    ids=lambda f: ",".join(f),
)
def test_scan_calls_filters_as_the_server_does_with_zero_requests(
    stored: tuple[Sandbox, Path, pd.DataFrame], filters: dict[str, str]
) -> None:
    api, root, _ = stored
    # The server's own answer: a load that keeps nothing, so the sandbox filters.
    want = cca.load_calls(client=client_for(api), cache=False, progress=False, **filters)
    api.clear_log()
    client = client_for(api)
    rel = cca.scan_calls(client=client, cache_dir=root, columns=["id", "status"], **filters)
    rows = rel.order("id").fetchall()
    assert [r[0] for r in rows] == sorted(want["id"])
    assert [r[1] for r in rows] == want.set_index("id").loc[sorted(want["id"]), "status"].tolist()
    assert api.log == [] and client.readings == []  # read from the store alone
    (table,) = cca.cache_info(root)["table"]  # the same file named directly: the same rows
    direct = cca.scan_calls(table=table, columns=["id"], **filters).order("id").fetchall()
    assert [r[0] for r in direct] == sorted(want["id"])


def test_scan_calls_refresh_brings_the_store_up_to_date(
    tmp_path: Path, sandbox_factory: Callable[..., Sandbox]
) -> None:
    api = sandbox_factory(plan="enterprise", n_analyses=120, window_seconds=60)
    with pytest.raises(ValidationError, match="nothing is stored"):
        cca.scan_calls(client=client_for(api), cache_dir=tmp_path)
    rel = cca.scan_calls(client=client_for(api), cache_dir=tmp_path, refresh=True)
    assert rel.count("*").fetchall() == [(120,)]
    new = [r["id"] for r in api.insert(3, status="completed")]
    stale = cca.scan_calls(client=client_for(api), cache_dir=tmp_path)  # no request: as stored
    assert stale.count("*").fetchall() == [(120,)]
    fresh = cca.scan_calls(client=client_for(api), cache_dir=tmp_path, refresh=True)
    ids = {r[0] for r in fresh.select("id").fetchall()}
    assert ids == set(api.ids()) and set(new) <= ids


def test_scan_calls_checks_its_arguments_before_any_request(tmp_path: Path) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"status": "done"}, "status"),
        ({"since": "tomorrow-ish"}, "since"),
        ({"engine": "pandas"}, "engine"),
        ({"engine": "spark"}, "spark"),
        ({"refresh": "sometimes"}, "refresh"),
        ({"table": tmp_path / "none.parquet"}, "table"),
    ]
    for kwargs, param in cases:
        with pytest.raises(ValidationError) as info:
            cca.scan_calls(api_key="sk_test_" + "x" * 24, cache_dir=tmp_path, **kwargs)
        assert info.value.param == param, kwargs


def test_package_import_loads_no_engine() -> None:
    code = (
        "import sys, callcov_analytics as c; a = {m for m in sys.modules}; c.load_calls; "
        "b = {m for m in sys.modules}; engines = ('duckdb', 'polars', 'pyspark', 'narwhals'); "
        "print([m for m in engines if m in a], [m for m in engines[:3] if m in b])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[] []"
