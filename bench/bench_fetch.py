"""load_calls vs the two loops people write today, on the same rate-limited sandbox.

1. naive: the CallCov guide's loop (`requests.get`, `raise_for_status`, offset += limit);
2. tenacity: the same loop with the usual `@retry(wait_exponential)` on any HTTP error;
3. load_calls.

Every route reads the same seeded sandbox (a small window so the run crosses several) while
analyses keep arriving (one new analysis before each later page, as on a busy account). It
prints requests, 429s, wall time against the floor the plan allows, and correctness against
the sandbox's ground truth. Usage: ``python bench/bench_fetch.py [--window 2 --limit 5]``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
import tenacity

import callcov_analytics as cca
from callcov_analytics import sandbox

PAGE = 100


def _get_page(url: str, key: str, offset: int) -> list[dict[str, Any]]:
    """One page, the way CallCov's guide asks for it."""
    r = requests.get(
        f"{url}/calls",
        headers={"X-API-Key": key},
        params={"limit": PAGE, "offset": offset},
        timeout=30,
    )
    r.raise_for_status()
    data: list[dict[str, Any]] = r.json()["data"]
    return data


def _offset_loop(get_page: Callable[[int], list[dict[str, Any]]]) -> list[str]:
    """offset += limit until a short page: the loop everyone writes first."""
    ids: list[str] = []
    offset = 0
    while True:
        data = get_page(offset)
        ids += [d["id"] for d in data]
        if len(data) < PAGE:
            return ids
        offset += PAGE


def naive(url: str, key: str) -> list[str]:
    """The guide's loop: one page after another, raise_for_status on anything."""
    return _offset_loop(lambda offset: _get_page(url, key, offset))


def with_tenacity(url: str, key: str) -> list[str]:
    """The same loop, each page wrapped in the usual exponential backoff on any HTTP error."""
    backoff = tenacity.retry(
        wait=tenacity.wait_exponential(multiplier=1, max=30),
        retry=tenacity.retry_if_exception_type(requests.HTTPError),
        stop=tenacity.stop_after_attempt(12),
        reraise=True,
    )
    return _offset_loop(backoff(lambda offset: _get_page(url, key, offset)))


def ours(url: str, key: str) -> list[str]:
    """load_calls, no local store (every route starts from nothing)."""
    df = cca.load_calls(api_key=key, base_url=url, limit=PAGE, cache=False, progress=False)
    return list(df["id"])


def floor_seconds(log: list[Any]) -> float:
    """Time the rate limit forces: from each window's first request to its reset, but the last.

    The sandbox's window ends at the whole second after first request + window length, so
    this is the wait any client must sit out, whatever its strategy.
    """
    firsts: dict[int, float] = {}
    for entry in log:
        if entry.reset is not None:
            firsts.setdefault(entry.reset, entry.time)
    resets = sorted(firsts)
    return sum(reset - firsts[reset] for reset in resets[:-1])


def run(name: str, route: Callable[[str, str], list[str]], args: argparse.Namespace) -> dict:
    with sandbox.serve(
        plan="free", window_seconds=args.window, limit=args.limit, n_analyses=args.n, seed=3
    ) as api:
        api.mark()
        api.faults.churn_inserts = 1
        start = time.monotonic()
        error = None
        try:
            ids = route(api.url, api.key)
        except Exception as exc:  # the point is to report how each route fails
            ids, error = [], f"{type(exc).__name__}: {str(exc)[:60]}"
        wall = time.monotonic() - start
        log = api.log
        stable, ever = api.stable_ids(), api.ever_ids()
    return {
        "route": name,
        "requests": len(log),
        "429s": sum(e.status == 429 for e in log),
        "wall_s": round(wall, 2),
        "floor_s": round(floor_seconds(log), 2),
        "rows": len(ids),
        "duplicates": len(ids) - len(set(ids)),
        "missing": len(stable - set(ids)),
        "foreign": len(set(ids) - ever),
        "error": error,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="analyses in the sandbox")
    parser.add_argument("--window", type=float, default=2.0, help="window length, seconds")
    parser.add_argument("--limit", type=int, default=5, help="requests per window")
    args = parser.parse_args()
    rows = [
        run(name, route, args)
        for name, route in (
            ("naive loop", naive),
            ("tenacity backoff", with_tenacity),
            ("load_calls", ours),
        )
    ]
    header = (
        f"{'route':18} {'requests':>8} {'429s':>5} {'wall s':>7} {'floor s':>7} "
        f"{'rows':>5} {'dupes':>5} {'missing':>7}  error"
    )
    print(header)
    for r in rows:
        print(
            f"{r['route']:18} {r['requests']:>8} {r['429s']:>5} {r['wall_s']:>7} "
            f"{r['floor_s']:>7} {r['rows']:>5} {r['duplicates']:>5} {r['missing']:>7}  "
            f"{r['error'] or ''}"
        )
    out = Path(__file__).parent / "results" / "fetch.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "routes": rows}, indent=1))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
