"""Queue scaling: claims per second with 1 to 8 workers; with --night, a fleet night.

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

Fleet night (``--night``): the docops jobs of ``pantheon demo`` (its twelve documents,
queued over again to ``--night-jobs``) on a PostgreSQL database of the throwaway server,
drained by 1, 2 and 4 real ``pantheon night`` processes (``--queue postgresql://…
--engine openai``, each with ``--base-url`` repeated for 1, 2 and 3 servers, at night:
everything is on loopback) against fake model servers that answer at once and play the
docops model (``bench/_fake_openai.py``): the editor makes the edits the rules need, the
reviewers pass, so every job runs to the check and the merge (canaries off). Each cell
gets a fresh demo repository, database and artifacts folder. Prints, per (workers,
servers) cell: jobs per minute over the queue's own times (first claim to last
completion) and over the wall clock (process start to last exit, so with the workers'
start-up); the CPU the workers and their git processes used; the model call's time as
the worker measured it (its traces) against the time the server spent answering it
(``/stats``): the difference is everything between them (engine, routing, HTTP, and the
worker's event loop, busy with its other flows); the same for the engine alone, one
request at a time on an idle loop; how the requests spread over the servers (each
worker's ``metrics.jsonl``); and whether every job was done exactly once (one claim,
one run, no other run folder). ``--real`` adds one cell: 1 worker against ``pantheon
serve`` of the small model, a handful of jobs.

Run:  python bench/scale.py --night            # 36 jobs a cell, 1 2 4 workers x 1 2 3 servers
      python bench/scale.py --night --night-workers 1,2 --servers 1,3 --real
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import re
import resource
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from _fake_openai import server_stats, start_fakes, stop

from pantheon_engine.atomic import iter_jsonl
from pantheon_engine.night.queue_open import open_queue

FLOW = "bench.yaml"
ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(
    p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH", "")) if p)}


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


# --- fleet night -------------------------------------------------------------------------


def demo_jobs(cell: Path, count: int) -> list[dict[str, Any]]:
    """A fresh ``pantheon demo`` repository in ``cell``; ``count`` of its docops jobs (its
    documents in turn, as ``pantheon queue add docops --each`` repeated would queue them)."""
    from pantheon_engine.night.demo import create_demo

    scratch = cell / "demo-queue.sqlite"
    create_demo(cell / "demo", cell / "art", queue=scratch)
    with open_queue(scratch) as queue:
        docops = [job for job in queue.list(limit=None) if job.flow_name == "docops"]
    return [{"flow": job.flow, "flow_name": job.flow_name, "group_key": job.group_key,
             "input": job.input} for job in (docops[i % len(docops)] for i in range(count))]


def start_night(cell: Path, url: str, urls: list[str], concurrency: int,
                index: int) -> subprocess.Popen[bytes]:
    """One ``pantheon night`` worker on the shared queue and artifacts folder, its traces
    in a file of its own (as on its own machine's disk)."""
    bases = [arg for base in urls for arg in ("--base-url", base)]
    with (cell / f"worker{index}.log").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "pantheon_engine", "night", "--queue", url, "--artifacts",
             str(cell / "art"), "--engine", "openai", *bases, "-c", str(concurrency),
             "--canary-share", "0", "--sample-s", "1",
             "--traces", str(cell / f"worker{index}.traces.sqlite")],
            cwd=cell, env=ENV, stdout=log, stderr=subprocess.STDOUT)


def model_call_seconds(cell: Path) -> list[float]:
    """Every model call's seconds as its worker measured them (the traces of all workers)."""
    seconds: list[float] = []
    for path in sorted(cell.glob("worker*.traces.sqlite")):
        with sqlite3.connect(path) as conn:
            seconds += [row[0] for row in conn.execute("SELECT seconds FROM model_calls")]
    return seconds


def requests_per_server(art: Path) -> dict[str, int]:
    """Requests each model server answered, over every worker's night (its last sample)."""
    spread: Counter[str] = Counter()
    for metrics in sorted(art.glob("nights/*/metrics.jsonl")):
        last: dict[str, Any] = {}
        for record in iter_jsonl(metrics):
            last = record
        for row in last.get("endpoints") or []:
            spread[row["url"]] += row["requests"]
    return dict(spread)


def exactly_once(url: str, art: Path, count: int) -> tuple[bool, dict[str, Any]]:
    """Whether each job finished in one claim and one run, its folder the only one; and the
    queue's numbers (states, the first claim and last completion, jobs per worker)."""
    with open_queue(url) as queue:
        jobs = queue.list(limit=None)
        counts = queue.counts()
    runs = {p.parent.name: json.loads(p.read_text()) for p in art.glob("runs/*/run.json")}
    once = (len(jobs) == count and all(job.attempts == 1 for job in jobs)
            and counts.get("done", 0) + counts.get("failed", 0) == count
            and set(runs) == {job.run_id for job in jobs}
            and sorted(run.get("job_id") for run in runs.values()) == sorted(
                job.id for job in jobs))
    return once, {
        "states": {k: v for k, v in counts.items() if v},
        "failed_by": dict(Counter(job.error_kind for job in jobs if job.state == "failed")),
        "first_claim": min(job.started_at or 0.0 for job in jobs),
        "last_done": max(job.finished_at or 0.0 for job in jobs),
        "per_worker": sorted(Counter(job.lease_owner for job in jobs).values()),
        "claims": sum(job.attempts for job in jobs), "runs": len(runs),
    }


def fleet_cell(url: str, folder: Path, name: str, workers: int, urls: list[str], jobs: int,
               concurrency: int, fakes: bool) -> dict[str, Any]:
    """One night of ``jobs`` demo jobs drained by ``workers`` processes over ``urls``."""
    cell = folder / name
    cell.mkdir()
    with open_queue(url) as queue:
        queue.add_many(demo_jobs(cell, jobs))
    before = [server_stats(u) for u in urls] if fakes else []
    cpu_before = _children_cpu_s()
    started = time.perf_counter()
    procs = [start_night(cell, url, urls, concurrency, i) for i in range(workers)]
    codes = []
    try:
        codes = [proc.wait(timeout=900) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    wall_s = time.perf_counter() - started
    cpu_s = _children_cpu_s() - cpu_before
    if any(codes):
        logs = "\n".join((cell / f"worker{i}.log").read_text()[-2000:] for i in range(workers))
        raise RuntimeError(f"a worker failed ({codes}):\n{logs}")
    once, seen = exactly_once(url, cell / "art", jobs)
    drain_s = seen["last_done"] - seen["first_claim"]
    client = model_call_seconds(cell)
    row: dict[str, Any] = {
        "workers": workers, "servers": len(urls), "concurrency": concurrency, "jobs": jobs,
        "states": seen["states"], "failed_by": seen["failed_by"], "exactly_once": once,
        "claims": seen["claims"], "runs": seen["runs"], "per_worker": seen["per_worker"],
        "drain_s": round(drain_s, 2), "jobs_per_min": round(jobs * 60 / drain_s, 1),
        "wall_s": round(wall_s, 2), "jobs_per_min_wall": round(jobs * 60 / wall_s, 1),
        "worker_cpu_s": round(cpu_s, 2),
        "model_calls": len(client),
        "client_ms_mean": round(statistics.fmean(client) * 1000, 2) if client else None,
        "client_ms_p50": round(statistics.median(client) * 1000, 2) if client else None,
        "requests_per_server": list(requests_per_server(cell / "art").values()),
    }
    if fakes:
        after = [server_stats(u) for u in urls]
        chats = sum(a["chats"] - b["chats"] for a, b in zip(after, before, strict=True))
        busy = sum(a["busy_s"] - b["busy_s"] for a, b in zip(after, before, strict=True))
        row["server_chats"] = chats
        row["server_ms_mean"] = round(busy / chats * 1000, 3) if chats else None
        if client and chats:
            row["between_ms_mean"] = round((statistics.fmean(client) - busy / chats) * 1000,
                                           2)
    return row


def _children_cpu_s() -> float:
    """CPU seconds of the reaped child processes (the workers, and the git and tool
    processes they ran)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def engine_alone(urls: list[str], requests: int = 200) -> dict[str, float]:
    """The ``openai`` engine over ``urls`` with nothing else on its event loop, one request
    at a time: the model call as the client sees it against the time the servers spent on
    it (routing, HTTP and parsing are the difference)."""
    from pantheon_engine.engines.base import EngineRequest, Message
    from pantheon_engine.engines.openai import OpenAIEngine

    ask = EngineRequest(messages=[Message(role="system", content="You are review.peer, …"),
                                  Message(role="user", content="DIFF:\n" + "+x\n" * 400)],
                        max_tokens=160)
    seconds: list[float] = []
    async with OpenAIEngine(endpoints=urls, concurrency=8) as engine:
        for _ in range(20):
            await engine.complete(ask)  # connections open, code warm
        before = [server_stats(u) for u in urls]
        for _ in range(requests):
            started = time.perf_counter()
            await engine.complete(ask)
            seconds.append(time.perf_counter() - started)
    after = [server_stats(u) for u in urls]
    busy = sum(a["busy_s"] - b["busy_s"] for a, b in zip(after, before, strict=True))
    return {"servers": len(urls), "client_ms_mean": round(statistics.fmean(seconds) * 1000, 3),
            "client_ms_p50": round(statistics.median(seconds) * 1000, 3),
            "server_ms_mean": round(busy / requests * 1000, 3)}


def start_serve(model: str, concurrency: int) -> tuple[subprocess.Popen[str], str]:
    """``pantheon serve`` of ``model`` on a free loopback port; the process and its URL."""
    proc = subprocess.Popen([sys.executable, "-m", "pantheon_engine", "serve", "--port", "0",
                             "--model", model, "--concurrency", str(concurrency)],
                            stdout=subprocess.PIPE, text=True, env=ENV,
                            start_new_session=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    found = re.search(r"on (http://\S+/v1)", line)
    if not found:
        proc.kill()
        raise RuntimeError(f"pantheon serve did not start: {line!r}")
    stdout = proc.stdout
    threading.Thread(target=lambda: stdout.read(), daemon=True).start()  # never blocks it
    return proc, found.group(1)


def fleet(args: argparse.Namespace) -> dict[str, Any]:
    from pantheon_engine.night.pg_server import start_server

    workers = [int(w) for w in args.night_workers.split(",")]
    servers = [int(n) for n in args.servers.split(",")]
    folder = Path(tempfile.mkdtemp(prefix="pantheon-fleet-"))
    server = start_server(fast=args.fast)
    procs: list[subprocess.Popen[bytes]] = []
    out: dict[str, Any] = {"jobs_per_cell": args.night_jobs, "concurrency": args.concurrency,
                           "pg_fast": args.fast, "cells": []}
    try:
        procs, urls = start_fakes(max(servers), folder, answer="docops")
        out["engine_alone"] = []
        for count in servers:
            alone = asyncio.run(engine_alone(urls[:count]))
            out["engine_alone"].append(alone)
            print(f"engine alone x {count} servers: model call {alone['client_ms_mean']} ms "
                  f"(p50 {alone['client_ms_p50']}) at the client vs "
                  f"{alone['server_ms_mean']} ms at the server", flush=True)
            for n in workers:
                name = f"w{n}-s{count}"
                row = fleet_cell(server.create_database(name.replace("-", "_")), folder,
                                 name, n, urls[:count], args.night_jobs, args.concurrency,
                                 fakes=True)
                out["cells"].append(row)
                print(f"fleet {n} workers x {count} servers: {row['jobs_per_min']:6.1f} "
                      f"jobs/min ({row['jobs_per_min_wall']:.1f} wall), {row['states']}, "
                      f"exactly once {row['exactly_once']}, per worker {row['per_worker']}, "
                      f"per server {row['requests_per_server']}, model call "
                      f"{row['client_ms_mean']} ms at the worker vs "
                      f"{row['server_ms_mean']} ms at the server, worker CPU "
                      f"{row['worker_cpu_s']} s", flush=True)
        stop(procs)
        procs = []
        if args.real:
            serve, base = start_serve(args.model, args.real_jobs)
            try:
                row = fleet_cell(server.create_database("real"), folder, "real", 1, [base],
                                 args.real_jobs, args.real_jobs, fakes=False)
            finally:
                serve.send_signal(signal.SIGTERM)
                serve.wait(60)
            out["real"] = {"model": args.model, **row}
            print(f"real  1 worker x pantheon serve {args.model}: {row['jobs_per_min']:.1f} "
                  f"jobs/min ({row['jobs_per_min_wall']:.1f} wall), {row['states']} "
                  f"{row['failed_by']}, exactly once {row['exactly_once']}, model call "
                  f"{row['client_ms_mean']} ms",
                  flush=True)
    finally:
        stop(procs)
        server.stop()
        if args.keep:
            print(f"kept: {folder}", flush=True)
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=2000, help="jobs per round")
    parser.add_argument("--workers", default="1,2,4,8", help="worker counts, comma-separated")
    parser.add_argument("--backend", choices=["both", "postgresql", "sqlite"], default="both")
    parser.add_argument("--fast", action="store_true",
                        help="PostgreSQL with fsync and synchronous commit off")
    night = parser.add_argument_group("fleet night")
    night.add_argument("--night", action="store_true",
                       help="the fleet night instead of claims/s")
    night.add_argument("--night-jobs", type=int, default=36, help="demo jobs per cell")
    night.add_argument("--night-workers", default="1,2,4", help="pantheon night processes")
    night.add_argument("--servers", default="1,2,3", help="fake model servers (--base-url)")
    night.add_argument("--concurrency", type=int, default=8, help="flows at once per worker")
    night.add_argument("--real", action="store_true",
                       help="and 1 worker against pantheon serve of --model")
    night.add_argument("--model", default="smollm2-135m")
    night.add_argument("--real-jobs", type=int, default=6)
    night.add_argument("--keep", action="store_true",
                       help="keep the cells' folders (logs, artifacts, traces)")
    args = parser.parse_args()
    if args.night:
        print(json.dumps(fleet(args)))
        return
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
