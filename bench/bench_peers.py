"""The same loads by the tools an analyst would pick instead, each in its own process.

Tools, each configured as its own docs recommend:

- ``load_calls``: ``cca.load_calls(limit=page, cache=False)``;
- ``dlt``: dlt's ``RESTClient`` with an ``OffsetPaginator(limit=page, total_path=None,
  has_more_path="has_more")`` and ``data_selector="data"``; its default session retries 429
  and 5xx (5 attempts) and waits ``Retry-After`` when the answer carries one;
- ``ratelimiter``: a requests-ratelimiter ``LimiterSession`` set to the plan's rate (N per
  window), each page wrapped in tenacity's ``retry`` (429 and connection errors,
  ``wait_exponential(multiplier=1, min=4, max=10)`` as tenacity's README shows, 8 attempts);
- ``vendor``: the vendor guide's loop: ``requests`` over offset pages until a short page,
  sleeping until ``X-RateLimit-Reset`` on a 429.

Each load runs in a child process of its own (its peak RSS is its own) against a fresh sandbox
served by this process, which holds the ground truth: the server's request log (requests,
429s) and the ids present when the crawl started and still present at its end (``missing``:
such ids a tool did not return; ``duplicated``: rows returned more than once). The sandbox
sends ``Retry-After`` beside its rate-limit headers, so dlt's support for it is exercised.

``floor`` = ceil(pages of the data at the start / window's limit) x window, the last window
counted whole: what a client sending each window's whole budget the instant it opens takes.
The windows are scaled down from 60 s (``--window``, default 5 s; printed) so the run takes
minutes: every request limit is the plan's, only the window is shorter.

Scenarios: ``free`` (Free plan, 10 a window, 3,000 analyses, pages of 100: 30 pages);
``business-churn`` (Business plan, 300 a window, 60,000 analyses, pages of 100, and before
every page after the first the server inserts 2 analyses and deletes 2 at random).

Not installed by the project (benches do not run in CI); first:
``.venv/bin/pip install dlt requests-ratelimiter`` (tenacity is already a dependency). Usage:
``python bench/bench_peers.py [--only free] [--tools load_calls dlt] [--window 5]``. Results in
bench/results/peers.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "peers.json"
TOOLS = ("load_calls", "dlt", "ratelimiter", "vendor")
# name: (plan, requests per window, analyses, page size, churn inserts, churn deletes)
SCENARIOS: dict[str, tuple[str, int, int, int, int, int]] = {
    "free": ("free", 10, 3_000, 100, 0, 0),
    "business-churn": ("business", 300, 60_000, 100, 2, 2),
}


# --- the child: one tool, one load -------------------------------------------------------


def _ours(url: str, key: str, page: int, per_window: int, window: float) -> list[str]:
    import callcov_analytics as cca

    df = cca.load_calls(api_key=key, base_url=url, limit=page, cache=False, progress=False)
    return [str(i) for i in df["id"]]


def _dlt(url: str, key: str, page: int, per_window: int, window: float) -> list[str]:
    from dlt.sources.helpers.rest_client import RESTClient
    from dlt.sources.helpers.rest_client.paginators import OffsetPaginator

    client = RESTClient(
        base_url=url,
        headers={"X-API-Key": key},
        paginator=OffsetPaginator(limit=page, total_path=None, has_more_path="has_more"),
        data_selector="data",
    )
    return [row["id"] for rows in client.paginate("/calls") for row in rows]


def _ratelimiter(url: str, key: str, page: int, per_window: int, window: float) -> list[str]:
    import requests
    from requests_ratelimiter import LimiterSession
    from tenacity import (
        retry,
        retry_if_exception_type,
        retry_if_result,
        stop_after_attempt,
        wait_exponential,
    )

    # per_minute=N for the real 60-s window; per_second x burst is the same N per window
    session = LimiterSession(per_second=per_window / window, burst=window)
    session.headers["X-API-Key"] = key

    @retry(
        retry=retry_if_result(lambda r: r.status_code == 429)
        | retry_if_exception_type(requests.ConnectionError),
        wait=wait_exponential(multiplier=1, min=4, max=10),
        stop=stop_after_attempt(8),
    )
    def get(offset: int) -> requests.Response:
        return session.get(f"{url}/calls", params={"limit": page, "offset": offset}, timeout=30)

    ids: list[str] = []
    offset = 0
    while True:
        response = get(offset)
        response.raise_for_status()
        rows = response.json()["data"]
        ids += [row["id"] for row in rows]
        if len(rows) < page:
            return ids
        offset += page


def _vendor(url: str, key: str, page: int, per_window: int, window: float) -> list[str]:
    import requests

    session = requests.Session()
    session.headers["X-API-Key"] = key
    ids: list[str] = []
    offset = 0
    while True:
        response = session.get(f"{url}/calls", params={"limit": page, "offset": offset})
        if response.status_code == 429:
            reset = int(response.headers["X-RateLimit-Reset"])
            time.sleep(max(0.0, reset - time.time()))
            continue
        response.raise_for_status()
        rows = response.json()["data"]
        ids += [row["id"] for row in rows]
        if len(rows) < page:
            return ids
        offset += page


def child(tool: str, url: str, page: int, per_window: int, window: float) -> None:
    """Run one tool's load and write its ids, wall and peak RSS as JSON to stdout."""
    key = os.environ.pop("BENCH_PEERS_KEY")
    load = {"load_calls": _ours, "dlt": _dlt, "ratelimiter": _ratelimiter, "vendor": _vendor}
    start = time.monotonic()
    error, ids = None, []
    try:
        ids = load[tool](url, key, page, per_window, window)
    except Exception as exc:  # reported in the table, not hidden
        error = f"{type(exc).__name__}: {exc}"[:200]
    wall = time.monotonic() - start
    # VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss over exec from the forked
    # parent (the sandbox's process), VmHWM belongs to this program's own memory
    status = Path("/proc/self/status").read_text()
    rss_mb = int(re.search(r"VmHWM:\s+(\d+)", status)[1]) / 1024  # type: ignore[index]
    sys.stdout.write(json.dumps({"ids": ids, "wall_s": wall, "rss_mb": rss_mb, "error": error}))


# --- the parent: a fresh sandbox per load, ground truth, the table ---------------------


def run_one(scenario: str, tool: str, window: float) -> dict[str, Any]:
    """One tool's load of one scenario against a fresh sandbox."""
    from callcov_analytics import sandbox
    from callcov_analytics.sandbox.faults import Faults

    plan, per_window, n, page, inserts, deletes = SCENARIOS[scenario]
    faults = Faults(retry_after=True, churn_inserts=inserts, churn_deletes=deletes)
    with sandbox.serve(plan, n_analyses=n, window_seconds=window, faults=faults) as api:
        api.mark()
        argv = [sys.executable, __file__, "--child", tool, "--url", api.url]
        argv += ["--page", str(page), "--per-window", str(per_window), "--window", str(window)]
        env = {**os.environ, "BENCH_PEERS_KEY": api.key}
        done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{tool} exited {done.returncode}: {done.stderr[-500:]}")
        out = json.loads(done.stdout)
        log = [e for e in api.log if e.path.endswith("/calls")]
        stable = api.stable_ids()
    ids = out["ids"]
    pages = math.ceil(n / page)
    floor = math.ceil(pages / per_window) * window
    return {
        "wall_s": round(out["wall_s"], 2),
        "floor_s": floor,
        "wall_over_floor": round(out["wall_s"] / floor, 2),
        "requests": len(log),
        "429s": sum(e.status == 429 for e in log),
        "rows": len(ids),
        "missing": len(stable - set(ids)),
        "duplicated": len(ids) - len(set(ids)),
        "peak_rss_mb": round(out["rss_mb"], 1),
        "error": out["error"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=list(SCENARIOS))
    parser.add_argument("--tools", nargs="+", choices=TOOLS, default=list(TOOLS))
    parser.add_argument("--window", type=float, default=5.0, help="window seconds (API: 60)")
    parser.add_argument("--child", choices=TOOLS, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--page", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--per-window", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.url, args.page, args.per_window, args.window)
        return
    print(f"windows scaled from 60 s to {args.window:g} s; request limits are the plans'")
    results: dict[str, Any] = {"window_s": args.window, "scenarios": {}}
    for scenario in args.only or SCENARIOS:
        rows = {tool: run_one(scenario, tool, args.window) for tool in args.tools}
        results["scenarios"][scenario] = rows
        print(f"\n{scenario}: {SCENARIOS[scenario]}")
        print(
            f"{'tool':12} {'wall s':>7} {'/floor':>6} {'req':>4} {'429':>4} "
            f"{'missing':>7} {'dup':>5} {'RSS MB':>7}  vs load_calls"
        )
        ours = rows["load_calls"]["wall_s"] if "load_calls" in rows else math.nan
        for tool, r in rows.items():
            print(
                f"{tool:12} {r['wall_s']:>7.2f} {r['wall_over_floor']:>6.2f} {r['requests']:>4} "
                f"{r['429s']:>4} {r['missing']:>7} {r['duplicated']:>5} {r['peak_rss_mb']:>7.1f}"
                f"  {r['wall_s'] / ours:.2f}x" + (f"  ERROR {r['error']}" if r["error"] else ""),
                flush=True,
            )
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1))
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
