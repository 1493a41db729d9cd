"""Pacing behind a gateway's own rate limit: nginx ``limit_req`` and an HAProxy stick table.

The sandbox (Business plan, 300 requests a minute: never the bound) behind real nginx and
HAProxy on 127.0.0.1 (``tests/gateways.py``), whose limits answer 429 without the upstream's
rate-limit headers. Each case loads 600 analyses in pages of 50 with ``load_calls(cache=False)``
and reads the gateway's own log. Reported per case: requests, 429s, the span from the first
request to the last, the floor the gateway's limit allows for the requests it let through, and
their ratio (acceptance: <= 2x). The floor: nginx's token bucket lets ``burst + 1`` through at
once, then one per ``1 / rate`` s; HAProxy's sliding count lets ``amount`` through per
``period``. The tests assert exactness and no 429 burst; wall figures live here, not in tests.
Usage: ``python bench/bench_gateways.py [--runs N]``. Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.gateways: the gateway harness lives beside the test suite

from callcov_analytics.sandbox import serve  # noqa: E402
from tests import gateways  # noqa: E402
from tests.gateways import ROWS, Gateway, Hit  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "gateways.json"
RATE, BURST = 2.0, 2  # nginx: 2 r/s, burst 2
AMOUNT, PERIOD = 4, 2.0  # HAProxy: at most 4 requests in a sliding 2 s
HIDDEN = "\n".join(
    f"proxy_hide_header {h};"
    for h in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After")
)
ZONE = f"limit_req_zone $binary_remote_addr zone=api:1m rate={RATE:g}r/s;\nlimit_req_status 429;"
LIMIT_REQ = f"limit_req zone=api burst={BURST} nodelay;\n"
STICK = (
    f"  stick-table type ip size 1k expire 30s store http_req_rate({PERIOD:g}s)\n"
    "  http-request track-sc0 src\n"
    f"  http-request deny deny_status 429 if {{ sc_http_req_rate(0) gt {AMOUNT} }}\n"
)


def nginx_floor(passed: int) -> float:
    return max(0.0, (passed - BURST - 1) / RATE)


def haproxy_floor(passed: int) -> float:
    return max(0.0, (passed - AMOUNT) * PERIOD / AMOUNT)


# name: (start the gateway in a folder in front of a port, the floor of n requests let through)
CASES: dict[str, tuple[Callable[[Path, int], Gateway], Callable[[int], float]]] = {
    "nginx-headers-passed": (lambda f, p: gateways.nginx(f, p, LIMIT_REQ, http=ZONE), nginx_floor),
    "nginx-headers-hidden": (
        lambda f, p: gateways.nginx(f, p, LIMIT_REQ + HIDDEN, http=ZONE),
        nginx_floor,
    ),
    "nginx-retry-after-1": (
        lambda f, p: gateways.nginx(
            f, p, LIMIT_REQ + "add_header Retry-After 1 always;", http=ZONE
        ),
        nginx_floor,
    ),
    "haproxy-stick-table": (lambda f, p: gateways.haproxy(f, p, STICK), haproxy_floor),
}


def run(name: str) -> dict[str, float | int | bool]:
    make, floor_of = CASES[name]
    api = serve("business", n_analyses=ROWS, window_seconds=60.0).start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            gateway = make(Path(tmp) / "gateway", api.port).start()
            try:
                started = time.perf_counter()
                df = gateways.load_through(gateway, api)
                wall = time.perf_counter() - started
                exact = df["id"].tolist() == api.ids()
                hits: list[Hit] = []
                for _ in range(50):  # the last line is written once the answer is sent
                    hits = gateway.hits()
                    if sum(h.status == 200 for h in hits) >= len(api.log):
                        break
                    time.sleep(0.05)
            finally:
                gateway.stop()
    finally:
        api.close()
    passed = sum(h.status != 429 for h in hits)
    span = hits[-1].at - hits[0].at
    floor = floor_of(passed)
    return {
        "requests": len(hits),
        "refused": len(hits) - passed,
        "span_s": round(span, 2),
        "floor_s": round(floor, 2),
        "ratio": round(span / floor, 2) if floor else 0.0,
        "wall_s": round(wall, 2),
        "rows_exact": exact,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1, help="runs of each case")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    results: dict[str, list[dict[str, float | int | bool]]] = {}
    for name in CASES:
        for _ in range(args.runs):
            r = run(name)
            results.setdefault(name, []).append(r)
            verdict = "met" if r["ratio"] <= 2.0 and r["rows_exact"] else "MISSED"
            print(
                f"{name:22} {r['requests']:3} req {r['refused']:2} x 429  span {r['span_s']:5.2f} s"
                f"  floor {r['floor_s']:5.2f} s  ratio {r['ratio']:4.2f}  rows ok {r['rows_exact']}"
                f"  {verdict} (<= 2x)"
            )
    RESULTS.write_text(json.dumps({"load_average": round(load, 2), "cases": results}, indent=1))
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
