"""A million analyses end to end: load_calls against a sandbox in another process.

Three processes, so each number belongs to one of them:

- the sandbox (``python -m callcov_analytics.sandbox``, enterprise plan, a per-window limit
  high enough that the rate limit never binds), whose memory is not counted;
- the loader (this file with ``--child``): ``load_calls(limit=1000, cache=False)`` with the key
  and URL in its environment (never on a command line). It reports wall time, rows/s, the
  frame's bytes per row (``memory_usage(deep=True)``), ``ru_maxrss`` at the end (peak RSS of
  the whole process, imports included) and, from a 20 ms RSS sampler, the peak while pages
  were arriving vs the peak while the stored pages became the frame;
- this process, which afterwards measures the floor: the same number of connections fetching
  raw pages (gzip, no parsing) from the same sandbox, at offsets the load never asked for so
  the sandbox builds each one as it did for the load. ``wall / floor`` is what the client adds.

Target: peak RSS <= 1.5 GB for 1,000,000 analyses. Usage:
``python bench/bench_scale.py [--n 1000000] [--floor-pages 80]``; a smaller ``--n`` writes
results only with ``--out``. Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "scale.json"
BAR_BYTES = 1.5e9
PAGE = 1000
STEP = PAGE - 1  # load_calls overlaps pages by one row
LOAD_TIMEOUT = 900  # seconds; bounds the child even if the sandbox stalls
MB = 1e6


def rss_bytes() -> int:
    """Current resident set size of this process (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def maxrss_bytes() -> int:
    """ru_maxrss of this process in bytes (kilobytes on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


class _Stages:
    """Observer + RSS sampler: peak RSS while pages arrive vs after the last page."""

    def __init__(self) -> None:
        self.crawl_peak = 0
        self.after_peak = 0
        self.pages = 0
        self.crawling = True
        self.last_page_at: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> _Stages:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(1)

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            rss = rss_bytes()
            if self.crawling:
                self.crawl_peak = max(self.crawl_peak, rss)
            else:
                self.after_peak = max(self.after_peak, rss)

    def on_response(self, reading: Any) -> None:
        pass

    def on_wait(self, seconds: float, reason: str) -> None:
        pass

    def on_page(self, pages: int, rows: int, total: int | None) -> None:
        self.pages = pages
        self.last_page_at = time.monotonic()
        if total is not None and rows >= total:
            self.crawl_peak = max(self.crawl_peak, rss_bytes())
            self.crawling = False


def child() -> None:
    """The loader: one load_calls, then one JSON line of facts on stdout."""
    import callcov_analytics as cca

    rss_imports = rss_bytes()
    with _Stages() as stages:
        start = time.monotonic()
        df = cca.load_calls(limit=PAGE, cache=False, progress=False, observer=stages)
        wall = time.monotonic() - start
        stages.crawling = False
    frame_bytes = int(df.memory_usage(deep=True).sum())
    crawl_s = None if stages.last_page_at is None else stages.last_page_at - start
    facts = {
        "rows": len(df),
        "columns": df.shape[1],
        "unique_ids": int(df["id"].nunique()),
        "requests": df.attrs["requests"],
        "throttled": df.attrs["throttled"],
        "wall_s": round(wall, 2),
        "crawl_s": None if crawl_s is None else round(crawl_s, 2),
        "rss_after_imports_mb": round(rss_imports / MB, 1),
        "peak_rss_mb": round(maxrss_bytes() / MB, 1),
        "peak_rss_crawl_mb": round(stages.crawl_peak / MB, 1),
        "peak_rss_after_crawl_mb": round(stages.after_peak / MB, 1),
        "frame_mb": round(frame_bytes / MB, 1),
        "bytes_per_row": round(frame_bytes / max(len(df), 1), 1),
    }
    print(json.dumps(facts), flush=True)


def start_sandbox(n: int, limit: int, window: float) -> tuple[subprocess.Popen[str], str, str]:
    """Start the sandbox CLI on a free loopback port; return (process, url, key)."""
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "callcov_analytics.sandbox"),
            *("--plan", "enterprise", "--host", "127.0.0.1", "--port", "0"),
            *("--n-analyses", str(n), "--limit", str(limit)),
            *("--window-seconds", str(window), "--seed", "7"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    first, second = proc.stdout.readline(), proc.stdout.readline()
    url = re.search(r"listening on (\S+)", first)
    key = re.search(r": (sk_\S+)", second)
    if not (url and key):
        proc.kill()
        raise SystemExit(f"sandbox did not start: {first!r}")
    return proc, url.group(1), key.group(1)


def peak_rss_of(pid: int) -> float | None:
    """VmHWM (peak RSS) of another process, in MB, while it still runs (Linux only)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    found = re.search(r"VmHWM:\s+(\d+) kB", text)
    return None if found is None else round(int(found.group(1)) * 1024 / MB, 1)


def floor_rate(url: str, key: str, n: int, pages: int, workers: int) -> float:
    """Raw pages per second: `workers` connections, gzip, bodies read but not parsed."""
    import requests

    # Offsets the load never asked for (it used multiples of STEP), spread over the list.
    offsets = [(i * (n // max(pages, 1)) + PAGE // 2) % max(n - PAGE, 1) for i in range(pages)]
    local = threading.local()

    def get(offset: int) -> int:
        if not hasattr(local, "session"):
            local.session = requests.Session()
            local.session.headers.update({"X-API-Key": key, "Accept-Encoding": "gzip"})
        r = local.session.get(
            f"{url}/calls", params={"limit": PAGE, "offset": offset}, stream=True, timeout=60
        )
        r.raise_for_status()
        return len(r.raw.read(decode_content=False))

    start = time.monotonic()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(get, offsets))
    return pages / (time.monotonic() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="analyses in the sandbox")
    parser.add_argument("--window", type=float, default=10.0, help="window length, seconds")
    parser.add_argument(
        "--limit", type=int, default=100_000, help="requests per window (never binding)"
    )
    parser.add_argument("--floor-pages", type=int, default=80, help="raw pages for the floor")
    parser.add_argument("--workers", type=int, default=8, help="connections for the floor")
    parser.add_argument("--out", type=Path, help="JSON file (default: results/scale.json at 1M)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child()
        return

    started = time.monotonic()
    sandbox, url, key = start_sandbox(args.n, args.limit, args.window)
    try:
        env = {**os.environ, "CALLCOV_API_KEY": key, "CALLCOV_API_URL": url}
        done = subprocess.run(
            [sys.executable, __file__, "--child"],
            env=env,
            capture_output=True,
            text=True,
            timeout=LOAD_TIMEOUT,
        )
        if done.returncode != 0:
            sys.stderr.write(done.stderr[-3000:])
            raise SystemExit(f"loader failed with exit code {done.returncode}")
        load = json.loads(done.stdout.strip().splitlines()[-1])
        floor_pps = floor_rate(url, key, args.n, args.floor_pages, args.workers)
        sandbox_peak = peak_rss_of(sandbox.pid)
    finally:
        sandbox.terminate()
        sandbox.wait(10)

    pages = -(-max(args.n - 1, 1) // STEP)
    floor_s = pages / floor_pps
    rows_per_s = load["rows"] / load["wall_s"]
    peak = load["peak_rss_mb"] * MB
    result = {
        "args": {k: v for k, v in vars(args).items() if k not in ("child", "out")},
        "load": load,
        "rows_per_s": round(rows_per_s),
        "floor": {"raw_pages_per_s": round(floor_pps, 2), "pages": pages, "s": round(floor_s, 1)},
        "sandbox_peak_rss_mb": sandbox_peak,
        "ratios": {
            "wall_over_floor": round(load["wall_s"] / floor_s, 2),
            "peak_rss_over_bar": round(peak / BAR_BYTES, 3),
            "peak_rss_over_frame": round(peak / (load["frame_mb"] * MB), 2),
        },
        "meets_bar": peak <= BAR_BYTES and load["unique_ids"] == args.n,
        "bench_s": round(time.monotonic() - started, 1),
    }

    print(f"{'':34} {'value':>12}")
    for label, value in (
        ("analyses", f"{args.n:,}"),
        ("rows loaded (unique ids)", f"{load['rows']:,} ({load['unique_ids']:,})"),
        ("requests / 429s", f"{load['requests']} / {load['throttled']}"),
        ("wall s (pages arriving s)", f"{load['wall_s']} ({load['crawl_s']})"),
        ("rows/s", f"{rows_per_s:,.0f}"),
        ("floor s (raw pages/s, conns)", f"{floor_s:.1f} ({floor_pps:.1f}, {args.workers})"),
        ("peak RSS MB (ru_maxrss)", f"{load['peak_rss_mb']:,}"),
        ("  after imports MB", f"{load['rss_after_imports_mb']:,}"),
        ("  peak while pages arrive MB", f"{load['peak_rss_crawl_mb']:,}"),
        ("  peak after the last page MB", f"{load['peak_rss_after_crawl_mb']:,}"),
        ("frame MB (bytes/row)", f"{load['frame_mb']:,} ({load['bytes_per_row']})"),
        ("sandbox peak RSS MB (not counted)", f"{sandbox_peak}"),
    ):
        print(f"{label:34} {value:>12}")
    r = result["ratios"]
    print(
        f"ratios: wall/floor {r['wall_over_floor']}x, peak RSS/1.5 GB bar "
        f"{r['peak_rss_over_bar']}, peak RSS/frame {r['peak_rss_over_frame']}x -> "
        f"{'meets' if result['meets_bar'] else 'MISSES'} the bar"
    )
    out = args.out or (RESULTS if args.n == 1_000_000 else None)
    if out is None:
        print("not written (a smaller --n; pass --out to keep it)")
        return
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
