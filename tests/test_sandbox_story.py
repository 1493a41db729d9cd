"""The sandbox's data tells a contact centre's story: most calls pass, a few agents need coaching,
and (when asked) new calls arrive and processing analyses complete while it runs."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import requests

from callcov_analytics.sandbox import serve
from tests.sandbox_fixtures import FakeClock

CHECKS = {
    "identity": lambda c: c["identity_verification"]["flagged"],
    "disclosures": lambda c: not c["mandatory_disclosures"]["read"],
    "purpose": lambda c: c["purpose_declaration"]["flagged"],
    "prohibited": lambda c: c["prohibited_phrases"]["used"],
    "sensitive": lambda c: c["sensitive_data"]["shared"],
}


def whole(record: dict[str, Any]) -> bool:
    """Not one of the few deliberately malformed records (null sections)."""
    compliance = (record.get("results") or {}).get("compliance") or {}
    return all(
        isinstance(compliance.get(k), dict)
        for k in (
            "identity_verification",
            "mandatory_disclosures",
            "purpose_declaration",
            "prohibited_phrases",
            "sensitive_data",
        )
    )


def flags(record: dict[str, Any]) -> dict[str, bool]:
    compliance = record["results"]["compliance"]
    return {name: bool(check(compliance)) for name, check in CHECKS.items()}


def test_pass_and_flag_rates_are_a_contact_centres() -> None:
    """Bounds chosen for the sandbox: per check 1-20% flagged, most calls clean, agents apart."""
    with serve(n_analyses=2500) as api:
        records = [r for r in api.records() if r["status"] == "completed" and whole(r)]
    assert len(records) > 2000
    per_call = [flags(r) for r in records]
    for name in CHECKS:
        share = sum(f[name] for f in per_call) / len(per_call)
        assert 0.01 <= share <= 0.20, (name, share)
    clean = sum(not any(f.values()) for f in per_call) / len(per_call)
    assert 0.5 <= clean <= 0.9, clean  # most calls pass every check, not all
    by_agent: dict[str, list[bool]] = defaultdict(list)
    for record, f in zip(records, per_call, strict=True):
        by_agent[record["call"]["agent_id"]].append(any(f.values()))
    shares = sorted(sum(v) / len(v) for v in by_agent.values() if len(v) >= 50)
    assert len(shares) == 12
    assert shares[-1] - shares[0] >= 0.15  # some agents need coaching, most do not
    assert shares[-1] <= 0.75 and shares[len(shares) // 2] <= 0.4


def listing(url: str, key: str) -> dict[str, Any]:
    answer = requests.get(f"{url}/calls", params={"limit": 1000}, headers={"X-API-Key": key})
    answer.raise_for_status()
    body: dict[str, Any] = answer.json()
    return body


def test_calls_arrive_and_complete_while_it_runs() -> None:
    clock = FakeClock(1_800_000_000.0)
    with serve(plan="enterprise", n_analyses=300, clock=clock, arrivals_per_minute=60) as api:
        first = listing(api.url, api.key)
        assert first["total"] == 300
        clock.now += 10.5  # ten arrivals, one a second
        second = listing(api.url, api.key)
        assert second["total"] == 310
        new = second["data"][:10]
        assert {r["status"] for r in new} == {"processing"}
        assert [r["created"] for r in new] == sorted((r["created"] for r in new), reverse=True)
        clock.now += 120  # each completes 20-90 s after it arrived
        third = listing(api.url, api.key)
        done = {r["id"]: r for r in third["data"]}
        assert all(done[r["id"]]["status"] in ("completed", "failed") for r in new)
        assert all(done[r["id"]]["metadata"]["completed_at"] for r in new)
        assert not any(r["status"] == "processing" for r in third["data"][130:])


def test_the_default_sandbox_stays_still() -> None:
    clock = FakeClock(1_800_000_000.0)
    with serve(plan="enterprise", n_analyses=300, clock=clock) as api:
        before = listing(api.url, api.key)
        clock.now += 3600
        after = listing(api.url, api.key)
    assert before["total"] == after["total"] == 300
    assert [r["status"] for r in before["data"]] == [r["status"] for r in after["data"]]
