"""Plan saturation: does load_calls use every request its plan allows, with 250 ms latency?

Each plan keeps its real per-window limit (Free 10, Starter 60, Business 300 requests) but
its 60 s window is scaled down so the bench takes about a minute: Free 6 s (x10), Starter
10 s (x6), Business 15 s (x4). A plan k times faster needs k times the connections to stay
busy when each request takes 250 ms: limit / window x latency is 0.04 / 0.25 / 1.25
connections on the real plans and 0.42 / 1.5 / 5 here. So Free stays sequential as on the
real plan, while Starter and Business need fetch-ahead (a few connections sharing one
rate-limit budget; at most 8), still a handful, as the real Business plan does.

Every plan gets its own sandbox (``latency=0.25``, seeded) holding enough analyses for
``--windows`` full windows of 100-row pages plus a third of one more. From the sandbox log,
per window (identified by its ``X-RateLimit-Reset``): requests answered 200 and 429s. Full
windows are all but the last (the crawl ends in it). Efficiency = mean requests per full
window / the plan's limit. Throughput is requests per second from the first request to the
start of the last window (idle gaps between windows included) / the plan's rate; the
sandbox ends a window at the whole second after first request + window, so a window lasts
W to W+1 s and throughput stays below 100% even at full windows. The
baseline in the same run, "1 conn": the most one connection could send per window at the
measured request time. Target: Business >= 95% and Free exactly its limit,
both with 0 x 429. Usage: ``python bench/bench_saturation.py [--windows 2]``. Not a test.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import statistics
import time
from pathlib import Path
from typing import Any

import callcov_analytics as cca
from callcov_analytics import CallCovClient, sandbox

RESULTS = Path(__file__).resolve().parent / "results" / "saturation.json"
PAGE = 100
LATENCY = 0.25
PLANS = {"free": (10, 6.0), "starter": (60, 10.0), "business": (300, 15.0)}  # limit, window s
BARS = {"free": 1.0, "business": 0.95}


def windows_of(log: list[Any]) -> list[dict[str, Any]]:
    """The sandbox's windows in order: requests answered 200, 429s, first and last request."""
    by_reset: dict[int, dict[str, Any]] = {}
    for entry in log:
        if entry.reset is None:
            continue
        w = by_reset.setdefault(
            entry.reset, {"reset": entry.reset, "ok": 0, "429s": 0, "first": entry.time}
        )
        w["ok"] += entry.status == 200
        w["429s"] += entry.status == 429
        w["last"] = entry.time
    return [by_reset[r] for r in sorted(by_reset)]


def run(plan: str, args: argparse.Namespace) -> dict[str, Any]:
    limit, window = PLANS[plan]
    requests_needed = args.windows * limit + math.ceil(limit / 3)
    with sandbox.serve(
        plan=plan,
        n_analyses=requests_needed * (PAGE - 1) + 1,
        window_seconds=window,
        latency=LATENCY,
        seed=5,
    ) as api:
        client = CallCovClient(api.key, api.url)
        start = time.monotonic()
        df = cca.load_calls(client=client, limit=PAGE, cache=False, progress=False)
        wall = time.monotonic() - start
        log = api.log
        rows_ok = df["id"].tolist() == api.ids()
        latency = client.latency or LATENCY
        client.close()
    wins = windows_of(log)
    full = wins[:-1]
    per_window = [w["ok"] for w in full]
    mean = statistics.fmean(per_window) if per_window else 0.0
    span = wins[-1]["first"] - wins[0]["first"] if len(wins) > 1 else 0.0
    throughput = sum(per_window) / span if span else 0.0
    # Client idle time at each window boundary: from the reset to the next first request.
    gaps = [b["first"] - a["reset"] for a, b in itertools.pairwise(wins)]
    one_conn = min(limit, math.floor(window / latency))
    efficiency = mean / limit
    bar = BARS.get(plan)
    return {
        "plan": plan,
        "limit": limit,
        "window_s": window,
        "scale": round(60 / window, 2),
        "connections_needed": round(limit / window * LATENCY, 2),
        "requests": len(log),
        "429s": sum(e.status == 429 for e in log),
        "full_windows": len(full),
        "per_full_window": per_window,
        "last_window": wins[-1]["ok"] if wins else 0,
        "mean_per_window": round(mean, 1),
        "efficiency": round(efficiency, 3),
        "throughput_per_s": round(throughput, 2),
        "plan_rate_per_s": round(limit / window, 2),
        "throughput_ratio": round(throughput / (limit / window), 3),
        "window_lengths_s": [round(w["reset"] - w["first"], 2) for w in wins],
        "boundary_gap_s": round(statistics.fmean(gaps), 2) if gaps else None,
        "request_s": round(latency, 3),
        "one_connection_per_window": one_conn,
        "vs_one_connection": round(mean / one_conn, 2) if one_conn else None,
        "wall_s": round(wall, 1),
        "rows_ok": rows_ok,
        "bar": bar,
        "meets_bar": None
        if bar is None
        else (
            sum(e.status == 429 for e in log) == 0
            and (all(n == limit for n in per_window) if bar == 1.0 else efficiency >= bar)
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=2, help="full windows per plan")
    parser.add_argument("--plans", nargs="+", choices=list(PLANS), default=list(PLANS))
    args = parser.parse_args()
    rows = [run(plan, args) for plan in args.plans]
    print(
        f"{'plan':9} {'limit/window':>12} {'per full window':>16} {'last':>4} {'429s':>4} "
        f"{'requests':>8} {'efficiency':>10} {'throughput':>10} {'gap s':>5} {'1 conn':>6} "
        f"{'x 1 conn':>8} {'wall s':>6} rows ok  bar"
    )
    for r in rows:
        bar = "-" if r["meets_bar"] is None else ("met" if r["meets_bar"] else "MISSED")
        print(
            f"{r['plan']:9} {str(r['limit']) + ' / ' + str(r['window_s']) + ' s':>12} "
            f"{' '.join(map(str, r['per_full_window'])):>16} {r['last_window']:>4} "
            f"{r['429s']:>4} {r['requests']:>8} {r['efficiency']:>10.1%} "
            f"{r['throughput_ratio']:>10.1%} {r['boundary_gap_s']!s:>5} "
            f"{r['one_connection_per_window']:>6} "
            f"{r['vs_one_connection']:>8} {r['wall_s']:>6} {r['rows_ok']!s:>7}  {bar}"
        )
    print(
        "efficiency = requests per full window / limit; throughput = requests/s incl. gaps "
        "between windows / the plan's rate (a sandbox window lasts W to W+1 s: its reset is a "
        "whole second); gap = idle from a reset to the next request the server sees; 1 conn = "
        "window / measured request time."
    )
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {"args": vars(args), "latency_s": LATENCY, "page": PAGE, "plans": rows}, indent=1
        )
    )
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
