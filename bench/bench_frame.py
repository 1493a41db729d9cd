"""Benchmark: the analysis frame via parse_page/frame_from_tables vs json.loads + json_normalize.

Run: ``python bench/bench_frame.py [--n 100000] [--page 1000] [--segments 40]``.
Pages of realistic ~23 KB analyses (a 40-segment transcript each) are written to a temp
directory once; each route then runs in a fresh subprocess that reads the pages one at a
time, as they would arrive, and reports the build time (wall time less the time spent
reading the files, which is also reported), CPU time, rows/s, peak RSS growth
(ru_maxrss after minus RSS before, via psutil or /proc) and the final frame's bytes per row.
Routes: "ours" (parse_page: msgspec for pages of documented fields), "generic" (ours with
every page sent down the path for pages holding fields the schema lacks: Arrow's reader) and
the baseline, which builds the same frame: json.loads per page, one pd.json_normalize, then the
SCHEMA columns selected, derived and cast (its json.loads + json_normalize time alone is
reported too). Ratios (ours vs baseline) are printed and written to bench/results/frame.json
(frame_<N>seg.json for other --segments). Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "frame.json"
WORDS = [
    "the", "account", "balance", "payment", "card", "please", "thank", "you", "verify", "date",
    "of", "birth", "address", "help", "today", "policy", "refund", "transfer", "minute", "call",
    "back", "number", "late", "fee", "statement", "understand", "sorry", "confirm", "email",
    "update", "plan", "cancel", "upgrade", "schedule", "appointment", "branch",
]  # fmt: skip


def make_pages(directory: Path, n: int, page_size: int, segments: int = 40, seed: int = 7) -> int:
    """Write n analyses as list-envelope JSON pages; return the total bytes written."""
    rng = random.Random(seed)
    # A pool of sentences keeps generation fast; choices from it keep records distinct.
    sentences = [
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(30, 50))).capitalize() + "."
        for _ in range(4000)
    ]
    total = 0
    for page_no, start in enumerate(range(0, n, page_size)):
        count = min(page_size, n - start)
        data = [record(rng, start + i, sentences, segments) for i in range(count)]
        body = json.dumps(
            {"object": "list", "data": data, "has_more": start + count < n, "total": n,
             "limit": page_size, "offset": start},
            separators=(",", ":"),
        ).encode()  # fmt: skip
        (directory / f"page_{page_no:05d}.json").write_bytes(body)
        total += len(body)
    return total


def record(rng: random.Random, i: int, sentences: list[str], segments: int) -> dict[str, Any]:
    """One analysis shaped like docs/api.md §3 (90% completed with results and transcript)."""
    status = rng.choices(["completed", "processing", "failed"], [0.9, 0.05, 0.05])[0]
    created = 1_760_000_000 - i * 37
    duration_ms = rng.randint(30_000, 900_000)
    rec: dict[str, Any] = {
        "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "object": "analysis",
        "created": created,
        "status": status,
        "livemode": False,
        "call": {
            "agent_id": f"agent_{rng.randint(1, 50):03d}",
            "contact_id": f"contact_{rng.randint(1, 5000):05d}",
            "duration_ms": duration_ms,
            "duration_seconds": duration_ms / 1000,
        },
        "audio": {
            "url": f"https://storage.callcov.com/audio/{i}.wav",
            "size_bytes": duration_ms * 32,
            "format": rng.choice(["wav", "mp3", "m4a", "flac", "ogg"]),
            "duration_seconds": duration_ms / 1000,
        },
        "transcript": None,
        "results": None,
        "metadata": {
            "webhook_url": None,
            "completed_at": None,
            "processing_time_ms": None,
            "error_message": "Audio could not be decoded" if status == "failed" else None,
        },
    }
    if status != "completed":
        return rec
    turns = [
        {"speaker": "AB"[k % 2], "text": rng.choice(sentences), "start": k * 6.0,
         "end": k * 6.0 + 5.5}
        for k in range(segments)
    ]  # fmt: skip
    rec["transcript"] = {
        "text": " ".join(s["text"] for s in turns),
        "language": "en",
        "segments": turns,
    }
    rec["metadata"].update(
        completed_at=created + 120, processing_time_ms=rng.randint(1_000, 90_000)
    )

    def sentiment() -> str:
        return rng.choice(["positive", "neutral", "negative"])

    rec["results"] = {
        "compliance": {
            "identity_verification": {"verified": True, "timestamp": 12.5, "flagged": False},
            "mandatory_disclosures": {
                "read": True,
                "matched_disclosures": ["recording", "privacy"],
                "missing_disclosures": rng.choice([[], ["fees"]]),
            },
            "purpose_declaration": {"disclosed": True, "interaction_number": 2, "flagged": False},
            "prohibited_phrases": {"used": False, "instances": []},
            "sensitive_data": {
                "shared": True,
                "instances": [{"type": "card_number", "timestamp": 88.0}],
            },
        },
        "quality": {
            "greeting": {"present": True, "timestamp": 1.5},
            "sentiment_analysis": {
                "overall": sentiment(),
                "customer_start": sentiment(),
                "customer_end": sentiment(),
            },
            "empathy": {"count": rng.randint(0, 6)},
            "interruptions": {"count": rng.randint(0, 4)},
            "call_structure": {"opening": True, "resolution": True, "closing": False},
        },
        "coaching": {
            "customer_effort_score": rng.randint(0, 5),
            "recommendations": [
                {"priority": rng.choice(["high", "medium", "low"]), "category": "empathy",
                 "text": rng.choice(sentences)}
                for _ in range(3)
            ],
        },
    }  # fmt: skip
    return rec


def rss_now() -> int:
    """Current resident set size in bytes (psutil when installed, else /proc)."""
    try:
        import psutil
    except ImportError:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    return int(psutil.Process().memory_info().rss)


def shape_like_ours(flat: Any, spec: dict[str, tuple[str, str, str]]) -> Any:
    """The baseline's last step: the same columns, derived values and dtypes as ours."""
    import pandas as pd

    def derive(value: Any, how: str) -> Any:
        if not isinstance(value, list):
            return None
        if how == "len":
            return len(value)
        if how == "join":
            return "; ".join(value)
        if how == "first_ts":
            return value[0].get("timestamp") if value else None
        field, wanted = how.removeprefix("count:").split("=")
        return sum(1 for item in value if item.get(field) == wanted)

    columns = {}
    for name, (dtype, path, how) in spec.items():
        column = flat[path] if path in flat.columns else pd.Series(None, index=flat.index)
        if how != "value":
            column = column.map(lambda value, how=how: derive(value, how))
        if dtype.startswith("datetime"):
            column = pd.to_datetime(column, unit="s", utc=True)
        columns[name] = column.astype(dtype)
    return pd.DataFrame(columns)


class _Declines:
    """A fast path that declines every page."""

    def read(self, body: bytes) -> Any:
        from callcov_analytics._decode.page_json import SlowPath

        raise SlowPath


def run_route(route: str, directory: Path) -> dict[str, Any]:
    """Build the frame one way, in this (fresh) process; return the measurements."""
    import pandas as pd

    from callcov_analytics._decode.frame import frame_from_tables
    from callcov_analytics._decode.parse import parse_page
    from callcov_analytics._decode.schema import SCHEMA_SPEC

    files = sorted(directory.glob("page_*.json"))
    phases: dict[str, float] = {}
    read_s = 0.0

    def pages() -> Any:
        """The page bodies, one at a time; the time spent reading them is kept apart."""
        nonlocal read_s
        for path in files:
            began = time.perf_counter()
            body = path.read_bytes()
            read_s += time.perf_counter() - began
            yield body

    rss_before = rss_now()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_before = usage.ru_utime + usage.ru_stime
    start = time.perf_counter()
    if route == "generic":  # every page with a field the schema lacks: Arrow reads them all
        import callcov_analytics._decode.parse

        callcov_analytics._decode.parse.struct_reader = lambda *_: _Declines()  # type: ignore[assignment]
    if route in ("ours", "generic"):
        tables = []
        for body in pages():
            page = parse_page(body)
            tables.append(page.take(range(len(page.ids))))  # what the paginator does
        df = frame_from_tables(tables)
    else:
        records: list[dict[str, Any]] = []
        for body in pages():
            records.extend(json.loads(body)["data"])
        flat = pd.json_normalize(records)
        phases["loads_normalize_s"] = round(time.perf_counter() - start - read_s, 3)
        df = shape_like_ours(flat, SCHEMA_SPEC)
    seconds = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_seconds = usage.ru_utime + usage.ru_stime - cpu_before
    peak = usage.ru_maxrss * 1024  # KiB on Linux
    return {
        "route": route,
        "rows": len(df),
        "columns": len(df.columns),
        "seconds": round(seconds, 3),  # reading the page files included
        "read_s": round(read_s, 3),
        "build_s": round(seconds - read_s, 3),
        "cpu_seconds": round(cpu_seconds, 3),
        "rows_per_s": round(len(df) / (seconds - read_s)),
        "peak_rss_delta_mb": round((peak - rss_before) / 1e6, 1),
        "frame_bytes_per_row": round(int(df.memory_usage(deep=True).sum()) / max(len(df), 1), 1),
        **phases,
    }


def main() -> None:
    """Generate pages, run both routes in subprocesses, print and save the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--page", type=int, default=1000)
    parser.add_argument("--segments", type=int, default=40, help="transcript segments per call")
    parser.add_argument("--route", choices=["ours", "generic", "baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.route:  # child process: one route, JSON on stdout
        print(json.dumps(run_route(args.route, args.dir)))
        return

    directory = Path(tempfile.mkdtemp(prefix="bench_frame_"))
    try:
        started = time.perf_counter()
        size = make_pages(directory, args.n, args.page, args.segments)
        print(
            f"generated {args.n:,} analyses in {args.n // args.page} pages: {size / 1e9:.2f} GB "
            f"({size / args.n / 1000:.1f} KB/analysis) in {time.perf_counter() - started:.0f} s"
        )
        os.sync()  # let writeback finish now, not while a route is being timed
        for path in sorted(directory.glob("page_*.json")):
            path.read_bytes()  # both routes then read from the page cache
        root = Path(__file__).resolve().parent.parent
        env = {**os.environ, "PYTHONPATH": str(root)}
        runs = {}
        for route in ("ours", "generic", "baseline"):
            command = [sys.executable, __file__, "--route", route, "--dir", str(directory)]
            output = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
            runs[route] = json.loads(output.stdout)
            print(json.dumps(runs[route]))
    finally:
        shutil.rmtree(directory, ignore_errors=True)

    ours, base = runs["ours"], runs["baseline"]
    ratios = {
        "speedup": round(base["build_s"] / ours["build_s"], 1),
        "speedup_vs_loads_normalize_only": round(base["loads_normalize_s"] / ours["build_s"], 1),
        "speedup_with_reads": round(base["seconds"] / ours["seconds"], 1),
        "generic_speedup": round(base["build_s"] / runs["generic"]["build_s"], 1),
        "peak_memory_fraction": round(ours["peak_rss_delta_mb"] / base["peak_rss_delta_mb"], 3),
        "frame_bytes_per_row_fraction": round(
            ours["frame_bytes_per_row"] / base["frame_bytes_per_row"], 3
        ),
    }
    print(
        f"ours: {ratios['speedup']}x faster than the baseline building the same frame "
        f"({ratios['speedup_vs_loads_normalize_only']}x vs its json.loads + json_normalize "
        f"alone; {ratios['speedup_with_reads']}x counting the time both spend reading the page "
        f"files, {ours['read_s']} s and {base['read_s']} s); "
        f"peak RSS growth {100 * ratios['peak_memory_fraction']:.1f}% of baseline; "
        f"frame {100 * ratios['frame_bytes_per_row_fraction']:.0f}% of its bytes/row "
        "(targets: >=10x, <=10%)"
    )
    print(
        f"pages with fields the schema lacks (Arrow's reader): {ratios['generic_speedup']}x "
        "faster than the baseline"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    machine = {"python": platform.python_version(), "cpus": os.cpu_count()}
    result = {"n": args.n, "page": args.page, "segments": args.segments, "bytes": size}
    result |= {"machine": machine, **runs}
    results = RESULTS if args.segments == 40 else RESULTS.with_stem(f"frame_{args.segments}seg")
    results.write_text(json.dumps({**result, "ratios": ratios}, indent=2) + "\n")
    print(f"wrote {results}")


if __name__ == "__main__":
    main()
