"""What a refresh costs as the store grows: 1M, 7M, 20M stored analyses.

A sandbox (enterprise plan, 2,000 analyses over its ~6 weeks) runs in this process; its memory
is not counted. The store is filled by one real load of those, then grown to ``--n`` rows by
appending synthetic completed analyses through the store's own ``append`` and ``compact``
(rows copied from the real ones with new ids, ``created`` spread evenly over the year below
the newest stored row: a 7M store holds ~134k analyses in any 7 days, as a 500-seat centre).
The sandbox never lists those rows, so a refresh's requests are what a real one makes.

Each step then runs in a child process of its own (key and URL in its environment), which
reports its wall time, CPU seconds (steadier on a shared machine) and ``ru_maxrss`` (peak RSS
of the whole process, imports included):

- ``scan50``: the sandbox inserts 50 analyses, then ``scan_calls(refresh=True)``;
- ``load50``: the sandbox inserts 50, then ``load_calls()``;
- ``nothing``: ``load_calls()`` again, nothing new;
- ``since7d``: ``load_calls(since="7d")``;
- ``scorecard``: ``metrics.agent_scorecard(scan_calls(), period="M").df()`` on DuckDB.

Bytes written: the sizes of the store's files created or changed by the step (inode, size
and mtime compared before and after). Usage::

    python bench/bench_store_growth.py --n 1000000 --work /tmp/growth --label after
    python bench/bench_store_growth.py --fill 1000000 --label after   # scan_calls filling 1M

Results are merged into bench/results/store_growth.json under ``label`` and ``n`` (label
"before" is the same script run against the one-``table.parquet`` store this layout replaced);
``--fit`` prints a least-squares line of each figure against stored rows. Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "store_growth.json"
SANDBOX_ROWS = 2000
YEAR = 365 * 86400
CHUNK = 250_000  # synthetic rows appended per page file
COMPACT_EVERY = 1_000_000  # folded into the table this often while growing
STEPS = ("scan50", "load50", "nothing", "since7d", "scorecard")


def maxrss() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def snapshot(root: Path) -> dict[str, tuple[int, int, int]]:
    """Every file under ``root``: inode, size, mtime."""
    out = {}
    for path in root.rglob("*"):
        if path.is_file():
            st = path.stat()
            out[str(path)] = (st.st_ino, st.st_size, st.st_mtime_ns)
    return out


def written(before: dict[str, tuple[int, int, int]], after: dict[str, tuple[int, int, int]]) -> int:
    return sum(v[1] for k, v in after.items() if before.get(k) != v)


def stored_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*.parquet"))


# -- child steps ---------------------------------------------------------------------------


def child(step: str, root: str) -> None:
    import callcov_analytics as cca
    from callcov_analytics import metrics

    t0 = time.perf_counter()
    key, url = os.environ["CALLCOV_API_KEY"], os.environ["CALLCOV_BASE_URL"]
    client = cca.CallCovClient(key, url)
    rows: int
    if step == "scan50" or step == "fill":
        cca.scan_calls(client=client, refresh=True, cache_dir=root)
        # Rows from the manifest: counting with DuckDB would add its scan to the refresh.
        (state,) = Path(root).rglob("state.json")
        rows = sum(f["rows"] for f in json.loads(state.read_text())["files"].values())
    elif step in ("load50", "nothing"):
        rows = len(cca.load_calls(client=client, cache_dir=root, progress=False))
    elif step == "since7d":
        rows = len(cca.load_calls(client=client, cache_dir=root, progress=False, since="7d"))
    elif step == "scorecard":
        rel = cca.scan_calls(client=client, cache_dir=root)
        rows = len(metrics.agent_scorecard(rel, period="M").df())
    else:
        raise SystemExit(f"unknown step {step}")
    wall = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime  # steadier than wall on a shared machine
    got = {
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "peak_rss_mb": round(maxrss() / 1e6),
        "rows": rows,
    }
    print(json.dumps(got))


def grow(root: str, n: int) -> None:
    """Append synthetic completed analyses below the newest stored row until ``n`` are stored."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from callcov_analytics._store.catalog import _datasets
    from callcov_analytics._store.folder import Store

    ((path, meta),) = _datasets(next(Path(root).glob("*")))
    store = Store(path, meta)
    state = store.state()
    template = store.read(filtered=False)
    assert template is not None
    template = template.drop_columns(["_seq"])
    head = int(state["head"])
    have = template.num_rows
    want = n - have
    step = YEAR / max(want, 1)
    status_type = template.schema.field("status").type
    seq = store.next_seq()
    rng = random.Random(n)
    made = 0
    since_compact = 0
    while made < want:
        size = min(CHUNK, want - made)
        # Random template rows and random ids: the file compresses as real data does.
        idx = pa.array([rng.randrange(have) for _ in range(size)])
        chunk = template.take(idx)
        ids = pa.array([str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(size)])
        created = pa.array(
            [int(head - 1 - (made + i) * step) * 10**6 for i in range(size)],
            pa.timestamp("us", tz="UTC"),
        ).cast(chunk.schema.field("created").type)
        chunk = chunk.set_column(chunk.schema.get_field_index("id"), "id", ids)
        chunk = chunk.set_column(chunk.schema.get_field_index("created"), "created", created)
        done = pa.array(["completed"] * size).cast(status_type)
        chunk = chunk.set_column(chunk.schema.get_field_index("status"), "status", done)
        # Interleaved in time with the real rows: sorted newest first by the store on compaction.
        order = pc.sort_indices(chunk, [("created", "descending"), ("id", "descending")])
        store.append(chunk.take(order), seq)
        seq += 1
        made += size
        since_compact += size
        if since_compact >= COMPACT_EVERY or made >= want:
            store.compact(state)
            since_compact = 0
            print(f"grown to {have + made:,}", file=sys.stderr, flush=True)


# -- parent --------------------------------------------------------------------------------


def run_child(args: list[str], api: Any) -> dict[str, Any]:
    env = {**os.environ, "CALLCOV_API_KEY": api.key, "CALLCOV_BASE_URL": api.url}
    out = subprocess.run(
        [sys.executable, __file__, *args], env=env, capture_output=True, text=True, timeout=3600
    )
    if out.returncode != 0:
        raise SystemExit(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1]) if out.stdout.strip() else {}


def measure(n: int, work: Path, steps: list[str], keep: bool) -> dict[str, Any]:
    from callcov_analytics.sandbox import serve

    root = work / f"store-{n}"
    results: dict[str, Any] = {"n": n}
    with serve("enterprise", n_analyses=SANDBOX_ROWS, window_seconds=60, seed=7) as api:
        shutil.rmtree(root, ignore_errors=True)
        t0 = time.perf_counter()
        run_child(["--child", "load50", str(root)], api)
        run_child(["--grow", str(root), str(n)], api)
        results["build_s"] = round(time.perf_counter() - t0, 1)
        results["stored_bytes"] = stored_bytes(root)
        for step in steps:
            if step in ("scan50", "load50"):
                api.insert(50, status="completed")
            before = snapshot(root)
            got = run_child(["--child", step, str(root)], api)
            got["written_bytes"] = written(before, snapshot(root))
            got["written_share"] = round(got["written_bytes"] / results["stored_bytes"], 4)
            results[step] = got
            print(step, got, file=sys.stderr, flush=True)
    if not keep:
        shutil.rmtree(root, ignore_errors=True)  # a 20M store is gigabytes
    return results


def fill(n: int, work: Path) -> dict[str, Any]:
    from callcov_analytics.sandbox import serve

    root = work / f"fill-{n}"
    shutil.rmtree(root, ignore_errors=True)
    with serve("enterprise", n_analyses=n, window_seconds=60, limit=100_000) as api:
        got = run_child(["--child", "fill", str(root)], api)
    got["stored_bytes"] = stored_bytes(root)
    shutil.rmtree(root, ignore_errors=True)
    return got


def save(label: str, key: str, results: dict[str, Any]) -> None:
    doc = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    doc.setdefault(label, {})[key] = results
    RESULTS.write_text(json.dumps(doc, indent=1) + "\n")


def fit(label: str) -> None:
    """Least squares of each figure against stored rows, over the sizes measured."""
    doc = json.loads(RESULTS.read_text())[label]
    sizes = [v for k, v in doc.items() if k.startswith("n=")]
    for step in STEPS:
        for figure in ("wall_s", "cpu_s", "peak_rss_mb", "written_bytes"):
            pts = [(r["n"] / 1e6, r[step][figure]) for r in sizes if figure in r.get(step, {})]
            if len(pts) < 2:
                continue
            mx = sum(x for x, _ in pts) / len(pts)
            my = sum(y for _, y in pts) / len(pts)
            var = sum((x - mx) ** 2 for x, _ in pts)
            slope = sum((x - mx) * (y - my) for x, y in pts) / var if var else 0.0
            print(f"{step:10} {figure:14} {my - slope * mx:12.3f} + {slope:10.3f} per million")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--fill", type=int)
    parser.add_argument("--work", default="/tmp/callcov-growth")
    parser.add_argument("--label", default="after")
    parser.add_argument("--steps", default=",".join(STEPS))
    parser.add_argument("--keep", action="store_true", help="keep the store afterwards")
    parser.add_argument("--fit", action="store_true")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--grow", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
    elif args.grow:
        grow(args.grow[0], int(args.grow[1]))
    elif args.fit:
        fit(args.label)
    elif args.fill:
        save(args.label, f"fill={args.fill}", fill(args.fill, Path(args.work)))
    else:
        results = measure(args.n, Path(args.work), args.steps.split(","), args.keep)
        save(args.label, f"n={args.n}", results)


if __name__ == "__main__":
    main()
