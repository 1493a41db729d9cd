"""agent_scorecard on a real load agrees with the same figures computed from the raw JSON."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest

import callcov_analytics as cca
from callcov_analytics import CallCovClient
from callcov_analytics.metrics import CHECKS, agent_scorecard
from callcov_analytics.sandbox import Sandbox


def _and(a: bool | None, b: bool | None) -> bool | None:
    if a is False or b is False:
        return False
    return None if a is None or b is None else True


def _not(a: bool | None) -> bool | None:
    return None if a is None else not a


def raw_checks(record: dict[str, Any]) -> dict[str, bool | None]:
    """The five checks straight from the API object (None: not known)."""
    results = record.get("results") if record["status"] == "completed" else None
    compliance = (results or {}).get("compliance") or {}

    def part(name: str) -> dict[str, Any]:
        return compliance.get(name) or {}

    missing = part("mandatory_disclosures").get("missing_disclosures")
    return {
        "identity_verification": _and(
            part("identity_verification").get("verified"),
            _not(part("identity_verification").get("flagged")),
        ),
        "mandatory_disclosures": _and(
            part("mandatory_disclosures").get("read"), None if missing is None else not missing
        ),
        "purpose_declaration": _and(
            part("purpose_declaration").get("disclosed"),
            _not(part("purpose_declaration").get("flagged")),
        ),
        "prohibited_phrases": _not(part("prohibited_phrases").get("used")),
        "sensitive_data": _not(part("sensitive_data").get("shared")),
    }


@pytest.fixture
def seeded(sandbox_factory) -> Sandbox:  # type: ignore[no-untyped-def]
    return sandbox_factory(plan="enterprise", n_analyses=1500, window_seconds=60)


def test_scorecard_matches_figures_from_the_raw_json(seeded: Sandbox) -> None:
    df = cca.load_calls(client=CallCovClient(seeded.key, seeded.url), progress=False)
    card = agent_scorecard(df, min_calls=1, detail=True).set_index("agent_id")

    expected: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for record in seeded.records():
        row = expected[record["call"]["agent_id"]]
        row["calls"] += 1
        row["talk_seconds"] += record["call"]["duration_seconds"]
        checks = raw_checks(record)
        known = [v for v in checks.values() if v is not None]
        row["flagged_calls"] += bool(known) and not all(known)
        for name, outcome in checks.items():
            if outcome is not None:
                row[f"{name}_n"] += 1
                row[f"{name}_passed"] += outcome

    assert set(card.index) == set(expected)
    for agent, row in expected.items():
        got = card.loc[agent]
        assert got["calls"] == row["calls"], agent
        assert got["talk_seconds"] == pytest.approx(row["talk_seconds"]), agent
        assert got["flagged_calls"] == row["flagged_calls"], agent
        for name in CHECKS:
            assert got[f"{name}_n"] == row[f"{name}_n"], (agent, name)
            assert got[f"{name}_passed"] == row[f"{name}_passed"], (agent, name)
            if row[f"{name}_n"]:
                rate = row[f"{name}_passed"] / row[f"{name}_n"]
                assert got[f"{name}_pass_rate"] == pytest.approx(rate), (agent, name)


def test_results_keep_the_loaded_zone_and_the_load_keeps_its_readings(seeded: Sandbox) -> None:
    # The analytics leave the load's bulky attrs behind (pandas deep-copies attrs into every
    # result), but the analyst's zone and the source carry on, and the loaded frame is intact.
    with CallCovClient(seeded.key, seeded.url) as client:
        df = cca.load_calls(client=client, tz="Europe/London", progress=False)
    readings = len(df.attrs["quota"])
    for result in (cca.metrics.compliance_exceptions(df), cca.metrics.volume(df)):
        assert result.attrs["tz"] == "Europe/London"
        assert "quota" not in result.attrs and "new" not in result.attrs
    assert readings > 0 and len(df.attrs["quota"]) == readings and "new" in df.attrs
