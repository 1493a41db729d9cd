"""plots: figures drawn with Agg from a real sandbox load, checked for what a reader needs.

PNGs are written to the test's tmp folder and copied to test-artifacts/ for humans to look at.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import matplotlib
import pandas as pd
import pytest

from callcov_analytics import QuotaReading, ValidationError, load_calls, metrics, plots, sandbox
from tests.clients import client_for
from tests.sandbox_fixtures import FakeClock
from tests.seam import in_process

matplotlib.use("Agg")

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.fixture(scope="module")
def three_windows(tmp_path_factory: pytest.TempPathFactory) -> Iterator[pd.DataFrame]:
    """A load of 2,100 calls in pages of 100 on the free plan (10 requests per 2 s window),
    in-process on one fake clock: the client's waits for each window pass at once."""
    clock = FakeClock()
    api = in_process(sandbox.SandboxApp("free", window_seconds=2, n_analyses=2100, clock=clock))
    client = client_for(api, clock=clock)
    yield load_calls(client=client, limit=100, cache=False, progress=False)


def save(fig: object, tmp_path: Path, name: str) -> Path:
    """Save as PNG in the test's folder and copy it to test-artifacts/."""
    path = tmp_path / name
    fig.savefig(path)  # type: ignore[attr-defined]
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(path, ARTIFACTS / name)
    assert path.stat().st_size > 10_000  # a real picture, not an empty canvas
    return path


def texts(fig: object) -> str:
    """Every string on the figure: titles, labels, tick labels, legends, annotations."""
    from matplotlib.text import Text

    return "\n".join(t.get_text() for t in fig.findobj(Text))  # type: ignore[attr-defined]


def test_quota_plot_of_a_three_window_load(three_windows: pd.DataFrame, tmp_path: Path) -> None:
    readings = three_windows.attrs["quota"]
    summary = plots.quota_summary(readings)
    # A page per 100 new rows (the overlap row rides in a page of 101): 21 requests.
    assert summary["requests"] == -(-2100 // 100) and summary["windows"] == 3
    assert summary["throttled"] == 0 and summary["waited"] > 1.0
    assert summary["daily_quota"] == 1000

    fig = plots.plot_quota(readings)
    window, sent, day = fig.axes
    assert window.get_title() == "Requests remaining in the rate-limit window"
    assert window.get_ylabel() == "Remaining (requests)"
    assert sent.get_xlabel() == "Time since the load started (s)"
    assert f"{summary['requests']} requests over 3 windows" in fig.get_suptitle()
    # one "remaining" line per window, the limit line, and the resets between windows
    remaining_lines = [ln for ln in window.get_lines() if ln.get_marker() == "o"]
    assert len(remaining_lines) == 3
    assert [ln.get_ydata()[0] for ln in remaining_lines] == [9, 9, 9]
    assert any(ln.get_label().startswith("limit: 10") for ln in window.get_lines())
    all_text = texts(fig)
    for words in (
        "waiting for the window to reset",
        "window reset",
        "window 3",
        f"{summary['requests']} of 1,000 requests per day ({summary['requests'] / 10:.1f}%)",
    ):
        assert words in all_text
    assert day.get_xlim() == (0.0, 100.0)
    save(fig, tmp_path, "quota_three_windows.png")


def test_quota_plot_marks_429s_and_accepts_reading_objects(tmp_path: Path) -> None:
    t = 1_800_000_000.0
    readings = [
        QuotaReading(
            at=t + i * 0.1,
            server_at=t,
            status=200,
            limit=60,
            remaining=59 - i,
            reset=t + 60,
            reset_local=t + 60,
        )
        for i in range(3)
    ]
    readings.append(
        QuotaReading(
            at=t + 0.5,
            server_at=t,
            status=429,
            limit=60,
            remaining=0,
            reset=t + 60,
            reset_local=t + 60,
            code="rate_limit_exceeded",
        )
    )
    readings.append(
        QuotaReading(
            at=t + 61,
            server_at=t + 61,
            status=200,
            limit=60,
            remaining=59,
            reset=t + 121,
            reset_local=t + 121,
            waited=60.4,
        )
    )
    fig = plots.plot_quota(readings)
    labels = [ln.get_label() for ax in fig.axes for ln in ax.get_lines()]
    assert "429 rate limited" in labels and "429 (counted, no data)" in labels
    assert "1 rate-limited (429)" in fig.get_suptitle()
    assert "5 of 10,000 requests per day" in texts(fig)
    save(fig, tmp_path, "quota_with_429.png")


def test_quota_plot_without_a_known_plan_says_so() -> None:
    reading = {
        "at": 1.0,
        "server_at": None,
        "status": 200,
        "limit": 7,
        "remaining": 6,
        "reset": None,
        "reset_local": None,
        "waited": 0.0,
        "code": None,
    }
    assert "daily quota unknown" in texts(plots.plot_quota([reading]))
    assert "3 of 50 requests per day" in texts(plots.plot_quota([reading] * 3, daily_quota=50))
    assert "no responses recorded" in texts(plots.plot_quota([]))
    with pytest.raises(ValidationError):
        plots.plot_quota([42])  # type: ignore[list-item]


def test_volume_plot(three_windows: pd.DataFrame, tmp_path: Path) -> None:
    fig = plots.plot_volume(three_windows)
    (ax,) = fig.axes
    dates = plots.date_range(three_windows["created"])
    assert ax.get_title() == f"Calls per day by status, {dates} (2,100 calls)"
    first, last = three_windows["created"].min(), three_windows["created"].max()
    assert f"{last:%-d %b %Y}" in dates and f"{first:%-d %b}" in dates
    assert ax.get_ylabel() == "Calls per day" and ax.get_xlabel() == "Day (UTC)"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "completed",
        "processing",
        "failed",
    ]
    heights = sum(p.get_height() for p in ax.patches)
    assert heights == len(three_windows)
    save(fig, tmp_path, "volume.png")


def test_compliance_plot(three_windows: pd.DataFrame, tmp_path: Path) -> None:
    scorecard = metrics.agent_scorecard(three_windows, detail=True)
    fig = plots.plot_compliance(scorecard)
    (ax,) = fig.axes
    dates = plots.date_range(three_windows["created"])
    assert ax.get_title() == f"Compliance pass rate per agent and check, {dates}"
    assert "95% Wilson confidence interval" in ax.get_xlabel()
    assert len(ax.get_yticklabels()) == len(scorecard)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        c.replace("_", " ") for c in metrics.CHECKS
    ]
    # one errorbar series per check, and one more for agents with too few calls to rank
    assert len(ax.containers) == 2 * len(metrics.CHECKS)
    save(fig, tmp_path, "compliance.png")
    with pytest.raises(ValidationError):
        plots.plot_compliance(metrics.agent_scorecard(three_windows, period="W", detail=True))


def test_tiny_groups_are_drawn_as_too_few_to_rank(three_windows: pd.DataFrame) -> None:
    # nobody is ranked
    scorecard = metrics.agent_scorecard(three_windows, min_calls=10**6, detail=True)
    (ax,) = plots.plot_compliance(scorecard).axes
    assert "hollow, dotted: too few calls to rank" in ax.get_xlabel()
    ranked = [c for c in ax.containers if not c.get_label().startswith("_")]
    assert all(len(c.lines[0].get_xdata()) == 0 for c in ranked)  # every marker is hollow
    hollow = [c for c in ax.containers if c.get_label().startswith("_")]
    assert {c.lines[0].get_markerfacecolor() for c in hollow} == {"white"}


def test_sentiment_plot(three_windows: pd.DataFrame, tmp_path: Path) -> None:
    fig = plots.plot_sentiment(three_windows)
    left, right = fig.axes
    assert left.get_title() == "Overall call sentiment"
    assert right.get_title() == "Customer sentiment, start → end of call"
    labels = [t.get_text() for t in left.get_yticklabels()]
    assert labels[0].startswith("All agents (n=")
    # every row's shares add up to 100% (or 0 for an agent without analysed calls)
    widths: dict[float, float] = {}
    for patch in left.patches:
        widths[patch.get_y()] = widths.get(patch.get_y(), 0) + patch.get_width()
    assert all(w == pytest.approx(100) or w == 0 for w in widths.values())
    save(fig, tmp_path, "sentiment.png")


def test_figures_never_touch_pyplot(three_windows: pd.DataFrame) -> None:
    plots.plot_quota(three_windows.attrs["quota"])
    assert (
        "matplotlib.pyplot" not in sys.modules or not sys.modules["matplotlib.pyplot"].get_fignums()
    )


def test_import_does_not_load_matplotlib_or_ipywidgets() -> None:
    code = textwrap.dedent("""
        import sys
        import callcov_analytics, callcov_analytics.notebook
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("matplotlib", "ipywidgets"))
        print(heavy)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_missing_matplotlib_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from callcov_analytics._errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    with pytest.raises(MissingDependencyError, match=r"callcov-analytics\[plot\]"):
        plots.plot_quota([])


def test_interactive_compliance_chart_tooltips(three_windows: pd.DataFrame) -> None:
    from callcov_analytics.charts import compliance_chart

    scorecard = metrics.agent_scorecard(three_windows, detail=True)
    spec = compliance_chart(scorecard).to_dict()
    tooltips = {t["field"] for layer in spec["layer"] for t in layer["encoding"]["tooltip"]}
    assert {"agent", "calls", "interval"} <= tooltips
    assert spec["title"].endswith(plots.date_range(three_windows["created"]))
    rows = next(iter(spec["datasets"].values()))
    first = scorecard.iloc[0]
    mine = [r for r in rows if r["agent"] == first["agent_id"] and r["check"] == "sensitive data"]
    assert mine and mine[0]["calls"] == int(first["sensitive_data_n"])


def test_a_figure_draws_itself_for_notebooks_and_survives_pickling() -> None:
    """Any front end shows `_repr_png_` (no %matplotlib); pickle and savefig still work."""
    import pickle

    from callcov_analytics._figures.style import figure

    fig = figure(4, 3)
    fig.add_subplot().plot([1, 2, 3])
    png, size = fig._repr_png_()  # type: ignore[attr-defined]
    assert png.startswith(b"\x89PNG") and size == {"width": 300, "height": 225}
    again = pickle.loads(pickle.dumps(fig))
    assert again._repr_png_()[1] == size
