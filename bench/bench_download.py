"""Does decoding keep up with the download? Business plan, 200,000 analyses, pages of 1,000.

Two routes, each against its own fresh sandbox process (``python -m callcov_analytics.sandbox
--plan business``; its own process, so serving JSON does not share this process's GIL):

1. bare download, the floor: the same pages fetched one after another with ``requests``, the
   bodies read and thrown away (no JSON, no columns, no frame);
2. ``load_calls(cache=False)``: the whole pipeline (pacing, fetch-ahead, decoding, the frame).

200 requests fit in one Business window (300 a minute), so neither route waits on the rate
limit: the ratio load_calls / bare is what fetching, decoding and building the frame cost over
the bytes alone. Target: <= 1.25x. Also printed: the CPU seconds this process spent on each
route. The sandbox needs a core of its own to serve at full speed; on a machine busy with
other work, every CPU second the client spends (decoding ~2.5 MB pages) is taken from the
server, and overlap cannot hide it. Usage: ``python bench/bench_download.py [--n 200000]``.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from callcov_analytics import load_calls  # imported here: the routes time the work, not imports

RESULTS = Path(__file__).resolve().parent / "results" / "download.json"
PAGE = 1000


@contextmanager
def business(n: int) -> Iterator[tuple[str, str]]:
    """A Business-plan sandbox in its own process: (base URL, key)."""
    argv = [sys.executable, "-m", "callcov_analytics.sandbox", "--plan", "business"]
    argv += ["--n-analyses", str(n), "--port", "0"]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = key = None
        while url is None or key is None:
            line = process.stdout.readline()
            if not line:
                raise RuntimeError("the sandbox exited")
            url = url or next(iter(re.findall(r"listening on (\S+)", line)), None)
            key = key or next(iter(re.findall(r"(sk_test_\S+)", line)), None)
        yield url, key
    finally:
        process.terminate()
        process.wait(10)


def bare(url: str, key: str, n: int) -> tuple[float, int]:
    """Every page read as bytes, one after another: (seconds, requests)."""
    session = requests.Session()
    session.headers["X-API-Key"] = key
    session.headers["Accept-Encoding"] = "gzip"
    start, requests_sent, offset = time.monotonic(), 0, 0
    while offset < n:
        response = session.get(f"{url}/calls", params={"limit": PAGE, "offset": offset})
        response.raise_for_status()
        _ = response.content
        requests_sent += 1
        offset += PAGE
    return time.monotonic() - start, requests_sent


def ours(url: str, key: str, n: int) -> tuple[float, int]:
    """load_calls, no local store: (seconds, requests)."""
    start = time.monotonic()
    df = load_calls(api_key=key, base_url=url, cache=False, progress=False)
    assert len(df) == n, (len(df), n)
    return time.monotonic() - start, int(df.attrs["requests"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000, help="analyses in the sandbox")
    args = parser.parse_args()
    rows = {}
    for name, route in (("bare download", bare), ("load_calls", ours)):
        with business(args.n) as (url, key):
            requests.get(f"{url}/health", headers={"X-API-Key": key}, timeout=30)  # warm
            cpu = time.process_time()
            wall, sent = route(url, key, args.n)
            cpu = time.process_time() - cpu
        rows[name] = {"wall_s": round(wall, 2), "requests": sent, "client_cpu_s": round(cpu, 2)}
        print(f"{name:14} {sent:>4} requests {wall:>7.2f} s  client CPU {cpu:>6.2f} s", flush=True)
    ratio = rows["load_calls"]["wall_s"] / rows["bare download"]["wall_s"]
    verdict = "met" if ratio <= 1.25 else "MISSED"
    print(f"load_calls / bare download: {ratio:.2f}x  {verdict} (<= 1.25x)")
    RESULTS.parent.mkdir(exist_ok=True)
    result = {"n": args.n, "routes": rows, "ratio": round(ratio, 2)}
    RESULTS.write_text(json.dumps(result, indent=1))
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
