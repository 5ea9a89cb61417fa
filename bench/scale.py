"""Queue scaling benchmark: claims per second with 1, 2, 4 and 8 worker processes.

Each worker process opens its own handle on one queue, waits at a barrier, then claims
and completes no-op jobs until none is left (``claim`` + ``complete``: the two
transactions every job of a night costs the queue, heartbeats aside). The rate is the
jobs of the round over the time from the barrier to the last worker's last completion.

PostgreSQL runs on a throwaway server started here from the installed binaries
(``pantheon_engine.night.pg_server``; as root it runs as the ``postgres`` user), with its
default durability (fsync and synchronous commit on) unless ``--fast``; each round gets a
new database. SQLite runs on a file in a temporary folder (WAL, ``synchronous=FULL``) for
comparison. Prints one line per backend and worker count, then one JSON object.

Run:  python bench/scale.py                    # 2,000 jobs a round, 1 2 4 8 workers
      python bench/scale.py --jobs 500 --workers 1,4 --backend postgresql
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from pantheon_engine.night.queue_open import open_queue

FLOW = "bench.yaml"


def _worker(location: str, go: Any, out: Any) -> None:
    """Claim and complete until the queue is empty; report (first claim, last done, n)."""
    owner = f"bench-{multiprocessing.current_process().name}"
    with open_queue(location) as queue:
        queue.depth()  # connected and warm before the clock starts
        go.wait(120)
        started, done = time.perf_counter(), 0
        while (job := queue.claim(owner, lease_s=300)) is not None:
            queue.complete(job.id, owner, None)
            done += 1
        out.put((started, time.perf_counter(), done))


def one_round(location: str, jobs: int, workers: int) -> dict[str, Any]:
    with open_queue(location) as queue:
        queue.add_many([{"flow": FLOW, "input": {"i": i}} for i in range(jobs)])
    ctx = multiprocessing.get_context("spawn")
    go, out = ctx.Barrier(workers), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(location, go, out), name=f"w{k}")
             for k in range(workers)]
    for proc in procs:
        proc.start()
    results = [out.get(timeout=600) for _ in procs]
    for proc in procs:
        proc.join(timeout=60)
    seconds = max(r[1] for r in results) - min(r[0] for r in results)
    claimed = sum(r[2] for r in results)
    with open_queue(location) as queue:
        counts = queue.counts()
    return {"workers": workers, "jobs": claimed, "seconds": round(seconds, 3),
            "claims_per_s": round(claimed / seconds, 1), "done": counts["done"],
            "per_worker": sorted(r[2] for r in results)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=2000, help="jobs per round")
    parser.add_argument("--workers", default="1,2,4,8", help="worker counts, comma-separated")
    parser.add_argument("--backend", choices=["both", "postgresql", "sqlite"], default="both")
    parser.add_argument("--fast", action="store_true",
                        help="PostgreSQL with fsync and synchronous commit off")
    args = parser.parse_args()
    counts = [int(w) for w in args.workers.split(",")]
    results: dict[str, list[dict[str, Any]]] = {}

    if args.backend in ("both", "postgresql"):
        from pantheon_engine.night.pg_server import start_server

        server = start_server(fast=args.fast)
        try:
            rows = results["postgresql"] = []
            for workers in counts:
                url = server.create_database(f"bench_{workers}")
                rows.append(one_round(url, args.jobs, workers))
                print(f"postgresql {workers} workers: {rows[-1]['claims_per_s']:8.1f} claims/s "
                      f"({rows[-1]['jobs']} jobs in {rows[-1]['seconds']} s, per worker "
                      f"{rows[-1]['per_worker']})", flush=True)
        finally:
            server.stop()

    if args.backend in ("both", "sqlite"):
        folder = Path(tempfile.mkdtemp(prefix="pantheon-bench-"))
        try:
            rows = results["sqlite"] = []
            for workers in counts:
                path = folder / f"queue-{workers}.sqlite"
                rows.append(one_round(str(path), args.jobs, workers))
                print(f"sqlite     {workers} workers: {rows[-1]['claims_per_s']:8.1f} claims/s "
                      f"({rows[-1]['jobs']} jobs in {rows[-1]['seconds']} s, per worker "
                      f"{rows[-1]['per_worker']})", flush=True)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    print(json.dumps({"jobs_per_round": args.jobs, "pg_fast": args.fast, **results}))


if __name__ == "__main__":
    main()
