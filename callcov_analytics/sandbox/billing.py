"""`GET /billing/usage`: the current calendar month's usage, limits and costs (docs/api.md §6)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .plans import Plan

MEAN_CALL_MINUTES = 5.2  # about the mean duration of the generated calls


def month_of(now: float) -> tuple[int, int]:
    """Return (year, month) of a Unix time, in UTC."""
    moment = datetime.fromtimestamp(now, UTC)
    return moment.year, moment.month


def month_start(now: float) -> int:
    """Return the Unix time of 00:00 UTC on the first day of `now`'s month."""
    year, month = month_of(now)
    return int(datetime(year, month, 1, tzinfo=UTC).timestamp())


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def usage(plan: Plan, per_day: int, requests: int, calls: int, now: float) -> dict[str, Any]:
    """Return the usage document for a key that made `requests` this month over `calls` calls."""
    year, month = month_of(now)
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    minutes = round(calls * MEAN_CALL_MINUTES, 2)
    storage = round(calls * 0.004, 3)
    costs = [round(minutes * 0.05, 2), round(requests * 0.0001, 2), round(storage * 0.1, 2)]
    return {
        "period": {"start": _iso(start), "end": _iso(end), "billing_cycle": "monthly"},
        "metrics": {"minutes_analyzed": minutes, "api_requests": requests, "storage_gb": storage},
        "limits": {
            "minutes_limit": plan.minutes_limit,
            "requests_limit": per_day * 30,
            "storage_limit_gb": plan.storage_limit_gb,
        },
        "costs": {
            "minutes_cost": costs[0],
            "api_cost": costs[1],
            "storage_cost": costs[2],
            "total": round(sum(costs), 2),
            "currency": "USD",
        },
    }
