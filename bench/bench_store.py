"""The local store: what a day of re-runs costs with it and without it.

Two sandboxes with the same seeded 50,000 analyses (enterprise plan: 1,000 requests per 60 s
window, so the rate limit never binds and every number is requests and the sandbox's speed)
see the same sequence of loads, pages of 1,000:

a. first load;
b. the same load again, nothing new on the server;
c. again after 500 new completed analyses (1%);
d. a fresh start interrupted at page 25 of ~51 (Ctrl-C from an observer), then run again.

Route "store" is ``load_calls(cache_dir=<temp>)`` (d: a second, empty temp store); route
"no store" is ``load_calls(cache=False)``, which re-reads everything every time. Requests are
counted from the sandbox's log (what the server saw; d: both runs), wall time around each
step. The sandbox builds a 1,000-analysis page in ~0.1 s of CPU, so wall times here are
mostly the sandbox's: compare them between routes, not with a real API. Each step's frame is
checked against the sandbox's ids. Usage: ``python bench/bench_store.py [--n 50000]``.
Not a test; results in bench/results/store.json.

Then, on 3,000 analyses with 6% stored as ``processing`` at random ages (minutes to months),
pages of 1,000, what each of these costs after a full first load (requests from the log):
a repeat with nothing new (now, 2 h and 2 days later: old ones fall due by back-off), a
filtered load (``status="completed"``, ``agent_id``, ``search``, ``include_transcript`` from
a transcript store), and the first load with a rotated key of the same account.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.observers: the Ctrl-C observer the store tests use too

import callcov_analytics as cca  # noqa: E402
from callcov_analytics import sandbox  # noqa: E402
from tests.observers import StopAfter  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "store.json"
PAGE = 1000
SEED = 11
STEPS = {
    "a": "first load",
    "b": "repeat, nothing new",
    "c": "repeat, 1% new",
    "d": "resume after interrupt at 50%",
}


@contextmanager
def measured(api: sandbox.Sandbox, into: dict[str, Any]) -> Iterator[None]:
    """Record the requests the sandbox saw and the wall time of the block."""
    seen = len(api.log)
    start = time.monotonic()
    try:
        yield
    finally:
        into["wall_s"] = round(into.get("wall_s", 0) + time.monotonic() - start, 2)
        log = api.log[seen:]
        into["requests"] = into.get("requests", 0) + len(log)
        into["429s"] = into.get("429s", 0) + sum(e.status == 429 for e in log)


def route(name: str, args: argparse.Namespace, anchor: int) -> dict[str, dict[str, Any]]:
    """Run steps a-d against a fresh sandbox; return each step's numbers."""
    steps: dict[str, dict[str, Any]] = {k: {} for k in STEPS}
    with (
        sandbox.serve(
            plan="enterprise", n_analyses=args.n, seed=SEED, anchor=anchor, window_seconds=60
        ) as api,
        tempfile.TemporaryDirectory(prefix="bench-store-") as tmp,
    ):
        options: dict[str, Any] = (
            {"cache": False} if name == "no store" else {"cache_dir": Path(tmp) / "first"}
        )

        def load(**extra: Any) -> Any:
            return cca.load_calls(
                api_key=api.key, base_url=api.url, limit=PAGE, progress=False, **options, **extra
            )

        for step in "abc":
            if step == "c":
                api.insert(args.n // 100, status="completed")
            with measured(api, steps[step]):
                df = load()
            steps[step]["rows_ok"] = df["id"].tolist() == api.ids()
            if step == "b":
                processing = (df["status"] == "processing").to_numpy().nonzero()[0]
                steps[step]["processing_rows"] = len(processing)
                steps[step]["oldest_processing_row"] = int(processing.max(initial=-1)) + 1
        if name == "store":
            options["cache_dir"] = Path(tmp) / "second"  # d starts from nothing
        with measured(api, steps["d"]):
            try:
                load(observer=StopAfter(args.interrupt_at))
                steps["d"]["interrupted"] = False
            except cca.LoadInterrupted as exc:
                steps["d"]["interrupted"] = True
                steps["d"]["rows_before_interrupt"] = len(exc.partial)
        steps["d"]["requests_before_interrupt"] = steps["d"]["requests"]
        with measured(api, steps["d"]):
            df = load()
        steps["d"]["rows_ok"] = df["id"].tolist() == api.ids()
    return steps


def quota_cases(anchor: int) -> dict[str, int]:
    """Requests of each repeat, filtered and rotated-key load after a first full load."""
    import random

    from callcov_analytics._store import sync as sync

    clock = [float(anchor)]
    real_now = sync.now
    sync.now = lambda: clock[0]  # type: ignore[assignment]  # the back-off's clock, moved here
    out: dict[str, int] = {}
    try:
        with (
            sandbox.serve("enterprise", n_analyses=3000, seed=SEED, anchor=anchor) as api,
            tempfile.TemporaryDirectory(prefix="bench-store-") as tmp,
        ):
            rng = random.Random(5)
            for analysis_id in rng.sample(api.ids(), 180):  # 6%, at random ages
                api.set_status(analysis_id, "processing")

            def count(key: str | None = None, **extra: Any) -> int:
                api.clear_log()
                cca.load_calls(
                    api_key=key or api.key, base_url=api.url, limit=PAGE, progress=False,
                    cache_dir=Path(tmp), **extra,
                )  # fmt: skip
                return len(api.log)

            out["first load, 6% processing at random ages"] = count(include_transcript=True)
            out["repeat with nothing new"] = count(include_transcript=True)
            clock[0] += 2 * 3600
            out["repeat, 2 h later"] = count(include_transcript=True)
            clock[0] += 2 * 86400
            out["repeat, 2 days later"] = count(include_transcript=True)
            out["status='completed' (from the store)"] = count(status="completed")
            out["agent_id='agent_003'"] = count(agent_id="agent_003")
            out["search='AGENT_01'"] = count(search="AGENT_01")
            out["include_transcript=True"] = count(include_transcript=True)
            out["rotated key, same account"] = count(key=api.keys["business"])
    finally:
        sync.now = real_now  # type: ignore[assignment]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000, help="analyses in the sandbox")
    parser.add_argument("--interrupt-at", type=int, default=25, help="pages before Ctrl-C (d)")
    args = parser.parse_args()
    anchor = int(time.time())  # both sandboxes hold the same analyses
    routes = {name: route(name, args, anchor) for name in ("store", "no store")}

    ours, base = routes["store"], routes["no store"]
    rows = []
    for step, label in STEPS.items():
        o, b = ours[step], base[step]
        rows.append(
            {
                "step": f"{step}. {label}",
                "store_requests": o["requests"],
                "store_wall_s": o["wall_s"],
                "no_store_requests": b["requests"],
                "no_store_wall_s": b["wall_s"],
                "requests_ratio": round(o["requests"] / max(b["requests"], 1), 3),
                "wall_ratio": round(o["wall_s"] / max(b["wall_s"], 1e-9), 3),
                "429s": o["429s"] + b["429s"],
                "rows_ok": o["rows_ok"] and b["rows_ok"],
            }
        )
    total_o = sum(r["store_requests"] for r in rows)
    total_b = sum(r["no_store_requests"] for r in rows)
    print(
        f"{'step':34} {'store req':>9} {'wall s':>7} {'no-store req':>12} {'wall s':>7} "
        f"{'req ratio':>9} {'wall ratio':>10} {'429s':>5} rows ok"
    )
    for r in rows:
        print(
            f"{r['step']:34} {r['store_requests']:>9} {r['store_wall_s']:>7} "
            f"{r['no_store_requests']:>12} {r['no_store_wall_s']:>7} {r['requests_ratio']:>9} "
            f"{r['wall_ratio']:>10} {r['429s']:>5} {r['rows_ok']}"
        )
    print(
        f"{'whole sequence':34} {total_o:>9} {'':>7} {total_b:>12} {'':>7} "
        f"{round(total_o / total_b, 3):>9}"
    )
    d_o, d_b, b_o = ours["d"], base["d"], ours["b"]
    print(
        f"d: interrupted after {d_o['requests_before_interrupt']} requests "
        f"({d_o.get('rows_before_interrupt')} rows kept) with the store, "
        f"{d_b['requests_before_interrupt']} without; the resume then cost "
        f"{d_o['requests'] - d_o['requests_before_interrupt']} vs "
        f"{d_b['requests'] - d_b['requests_before_interrupt']}."
    )
    print(
        f"b: {b_o['processing_rows']} analyses are stored as processing, the oldest at row "
        f"{b_o['oldest_processing_row']:,}; a repeat re-checks them by age (see the README)."
    )
    quota = quota_cases(anchor)
    for label, requests in quota.items():
        print(f"{label:46} {requests:>4} requests")
    result = {
        "args": vars(args),
        "quota_cases": quota,
        "plan": "enterprise (1,000 requests / 60 s window)",
        "page": PAGE,
        "steps": rows,
        "sequence": {
            "store_requests": total_o,
            "no_store_requests": total_b,
            "ratio": round(total_o / total_b, 3),
        },
        "raw": routes,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1))
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
