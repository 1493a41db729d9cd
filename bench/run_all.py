"""Run every ``bench/bench_*.py`` in turn, each in its own process, streaming its output.

What ``make bench`` runs. Each benchmark writes its own ``bench/results/*.json``; this script
writes nothing. A benchmark that fails or overruns its time limit (its process group is
stopped) is reported and the next one still runs; the exit code is 1 if any did.
Usage: ``python bench/run_all.py [--only store scale] [--timeout 900]``.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Quick ones first; the million-analysis load, then the 20-million-analysis engines bench last.
ORDER = ("frame", "fetch", "store", "limiters", "saturation", "scale", "engines")


def benches() -> list[Path]:
    """bench_*.py in ORDER, then any others alphabetically."""
    found = {p.stem.removeprefix("bench_"): p for p in HERE.glob("bench_*.py")}
    return [found[n] for n in ORDER if n in found] + [
        found[n] for n in sorted(found) if n not in ORDER
    ]


def run(path: Path, timeout: float) -> tuple[str, float]:
    """Run one benchmark with inherited stdout/stderr; return (outcome, seconds)."""
    start = time.monotonic()
    # Its own session, so a timeout also stops what it started (the scale bench's sandbox).
    proc = subprocess.Popen([sys.executable, str(path)], cwd=HERE.parent, start_new_session=True)
    try:
        code = proc.wait(timeout)
    except (subprocess.TimeoutExpired, KeyboardInterrupt) as exc:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if isinstance(exc, KeyboardInterrupt):
            raise
        return f"stopped after {timeout:.0f} s", time.monotonic() - start
    return ("ok" if code == 0 else f"exit {code}"), time.monotonic() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", help="bench names, e.g. store scale")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per benchmark")
    args = parser.parse_args()
    selected = [p for p in benches() if not args.only or p.stem.removeprefix("bench_") in args.only]
    outcomes = []
    for path in selected:
        print(f"\n=== {path.name} ===", flush=True)
        outcome, seconds = run(path, args.timeout)
        outcomes.append((path.name, outcome, seconds))
        print(f"=== {path.name}: {outcome} in {seconds:.0f} s ===", flush=True)
    print("\nsummary")
    for name, outcome, seconds in outcomes:
        print(f"  {name:24} {outcome:20} {seconds:6.0f} s")
    print(f"  {'total':24} {'':20} {sum(s for *_, s in outcomes):6.0f} s")
    return 0 if all(outcome == "ok" for _, outcome, _ in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
