"""Pacing against the rate limiters APIs deploy: slowapi (uvicorn), Flask-Limiter (gunicorn).

Each case starts one server from ``tests/limiter_apps.py`` on 127.0.0.1 (the sandbox's generated
records, newest first, limited by ``X-API-Key`` with the library's headers on), loads every
analysis with ``load_calls(cache=False)`` and reads the server's own answer log. Reported per
case: requests the server answered, 429s, wall seconds, and the ratio to the minimum the
windows force: ``ceil(requests answered 200 / limit) x window`` for every limit the server
enforces (the largest of them), which is what a client that sends each window's whole budget
the instant the window opens would take, counting the last window in full. ``rows ok`` compares
the frame's ids with the server's list. The stall case compares its wall with the same server
without stalls in this run (acceptance: <= 2x). Usage:
``python bench/bench_limiters.py [--only slowapi-fixed-4s ...]``. Not a test.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.limiter_apps: the servers live beside the test suite

import callcov_analytics as cca  # noqa: E402
from callcov_analytics._http.client import CallCovClient  # noqa: E402
from tests import limiter_apps  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "limiters.json"
N = 12_000

# name: (server, limits, strategy, page size, extra server options)
CASES: dict[str, tuple[str, str, str, int, dict[str, Any]]] = {
    "slowapi-fixed-4s": ("slowapi", "4/4 seconds", "fixed-window", 1000, {}),
    "slowapi-fixed-2s": ("slowapi", "5/2 seconds", "fixed-window", 200, {}),
    "slowapi-sliding-2s": ("slowapi", "5/2 seconds", "sliding-window-counter", 200, {}),
    "slowapi-moving-4s": ("slowapi", "6/4 seconds", "moving-window", 500, {}),
    "slowapi-two-limits": ("slowapi", "5/2 seconds;12/10 seconds", "fixed-window", 500, {}),
    "slowapi-draft": ("slowapi", "5/2 seconds", "fixed-window", 500, {"headers": "draft"}),
    "slowapi-structured": (
        "slowapi",
        "5/2 seconds",
        "fixed-window",
        500,
        {"headers": "structured"},
    ),
    "flask-fixed-4s": ("flask", "4 per 4 seconds", "fixed-window", 1000, {}),
    "flask-fixed-2s": ("flask", "5 per 2 seconds", "fixed-window", 200, {}),
    "flask-moving-4s": ("flask", "6 per 4 seconds", "moving-window", 500, {"latency": 0.9}),
    "flask-sliding-2s": ("flask", "5 per 2 seconds", "sliding-window-counter", 200, {}),
    "flask-two-limits": ("flask", "5 per 2 seconds;12 per 10 seconds", "fixed-window", 500, {}),
}


def bar(name: str, limits: str) -> tuple[int, float]:
    """Acceptance: (most 429s, largest ratio to the minimum) for a case."""
    if "fixed" in name:
        return 0, 1.2 if limits.startswith("4") else 1.4
    if "two-limits" in name:
        return 1, 1.5  # one 429 for the hidden limit
    return 0, 1.5


STALL = ("slowapi", "10/2 seconds", "fixed-window", 200)  # no stalls, then 12% stalled
STALL_N = 6_000


def _limits(text: str) -> list[tuple[int, float]]:
    """(amount, seconds) of each limit in a "5/2 seconds;12 per 10 seconds" string."""
    out = []
    for part in text.split(";"):
        amount, _, window = part.replace(" per ", "/").partition("/")
        count, _, _unit = window.strip().partition(" ")
        out.append((int(amount), float(count)))
    return out


def run_one(
    kind: str, limits: str, strategy: str, page: int, n: int, **options: Any
) -> dict[str, Any]:
    """One load against one fresh server: requests, 429s, wall, minimum, rows."""
    with (
        tempfile.TemporaryDirectory() as tmp,
        limiter_apps.serve(kind, Path(tmp), limits=limits, strategy=strategy, n=n, **options) as s,
    ):
        client = CallCovClient(s.key, s.url)
        start = time.monotonic()
        error = None
        try:
            df = cca.load_calls(client=client, limit=page, cache=False, progress=False)
            rows_ok = df["id"].tolist() == s.ids()
        except Exception as exc:  # reported, not hidden: the table says which case failed
            if isinstance(exc, cca.LoadInterrupted):  # Ctrl-C: stop the bench (servers too)
                raise
            error, rows_ok = f"{type(exc).__name__}: {exc}"[:200], False
        wall = time.monotonic() - start
        client.close()
        log = s.log()
    ok = sum(e["status"] == 200 for e in log)
    minimum = max(math.ceil(ok / amount) * seconds for amount, seconds in _limits(limits))
    return {
        "server": kind,
        "limits": limits,
        "strategy": strategy,
        "page": page,
        "options": options,
        "requests": len(log),
        "429s": sum(e["status"] == 429 for e in log),
        "wall_s": round(wall, 2),
        "minimum_s": minimum,
        "ratio": round(wall / minimum, 2) if minimum else None,
        "rows_ok": rows_ok,
        "error": error,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=[*CASES, "stall"])
    parser.add_argument("--label", default="after", help="stored under this name in the results")
    args = parser.parse_args()
    rows: dict[str, dict[str, Any]] = {}
    for name, (kind, limits, strategy, page, options) in CASES.items():
        if args.only and name not in args.only:
            continue
        r = run_one(kind, limits, strategy, page, N, **options)
        most, ratio = bar(name, limits)
        r["meets"] = r["429s"] <= most and (r["ratio"] or 99) <= ratio and r["rows_ok"]
        r["bar"] = f"<={most} x 429, <={ratio}x"
        rows[name] = r
        _print(name, r)
    if not args.only or "stall" in args.only:
        kind, limits, strategy, page = STALL
        calm = run_one(kind, limits, strategy, page, STALL_N)
        _print("stall-0%", calm)
        stalled = run_one(kind, limits, strategy, page, STALL_N, stall_rate=0.12)
        stalled["vs_no_stall"] = round(stalled["wall_s"] / calm["wall_s"], 2)
        stalled["meets"] = stalled["vs_no_stall"] <= 2.0 and stalled["rows_ok"]
        stalled["bar"] = "<=2x the no-stall wall"
        rows["stall-0%"], rows["stall-12%"] = calm, stalled
        _print("stall-12%", stalled)
    RESULTS.parent.mkdir(exist_ok=True)
    stored = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    stored[args.label] = rows
    RESULTS.write_text(json.dumps(stored, indent=1))
    print(f"written to {RESULTS} as {args.label!r}")


def _print(name: str, r: dict[str, Any]) -> None:
    extra = f" vs no-stall {r['vs_no_stall']}x" if "vs_no_stall" in r else ""
    verdict = "" if "meets" not in r else ("  met" if r["meets"] else "  MISSED") + f" ({r['bar']})"
    print(
        f"{name:24} {r['requests']:>4} req {r['429s']:>3} x 429 {r['wall_s']:>7.1f} s "
        f"min {r['minimum_s']:>5.1f} s ratio {r['ratio']!s:>5}{extra} rows ok {r['rows_ok']}"
        f"{verdict}{'  ' + r['error'] if r['error'] else ''}",
        flush=True,
    )


if __name__ == "__main__":
    main()
