"""Workers sharing a PostgreSQL queue, under faults, against a real server.

Real ``pantheon night`` processes (the replay engine: no model) drain one queue into one
artifacts folder: one of three is killed with SIGKILL in the middle of a job, or the
server restarts under them. Every job must end done, counted once, in one run whose
files were written once; and two claimers racing for 1,000 jobs take each exactly once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from pantheon_engine.artifacts import verify_manifest
from pantheon_engine.night.queue_open import open_queue

from conftest import EXAMPLES, ROOT

CALLS = [
    {"type": "tool", "name": "fm_rename", "args": {"key": "Title", "new_key": "title"}},
    {"type": "tool", "name": "fm_delete", "args": {"key": "draft"}},
    {"type": "tool", "name": "fm_set", "args": {"key": "status", "value": "published"}},
    {"type": "final", "output": {"summary": "done"}},
]
VERDICT = {"type": "final", "output": {"verdict": "pass", "rationale": "ok"}}


def replies_file(path: Path, jobs: int) -> Path:
    """Replies for ``jobs`` docops runs (a worker may run every job of the night)."""
    lines = []
    for _ in range(jobs):
        lines += [{"key": "frontmatter", "text": json.dumps(c)} for c in CALLS]
        lines += [{"key": node, "text": json.dumps(VERDICT)} for node in ("reviewA", "reviewB")]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def pantheon(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pantheon_engine", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, **kwargs)


def queue_docops_jobs(url: str, art: Path, repo: Path, n: int, tmp_path: Path) -> None:
    """``pantheon queue add --queue URL``: n docops jobs on the same document."""
    task = json.loads((EXAMPLES / "docops" / "input.json").read_text())
    task["workspace"] = str(repo)
    inputs = tmp_path / "inputs.jsonl"
    inputs.write_text("".join(json.dumps(task) + "\n" for _ in range(n)))
    added = pantheon("queue", "add", "docops", "--input", str(inputs), "--queue", url,
                     "--artifacts", str(art))
    assert added.returncode == 0, added.stderr


def start_worker(url: str, art: Path, replies: Path, log: Path, *, lease_s: float,
                 crash_at: str | None = None) -> subprocess.Popen:
    """``pantheon night`` on the shared queue and artifacts folder; its traces in its own
    file beside its log (as on its own machine's disk)."""
    env = {**os.environ}
    if crash_at:
        env["PANTHEON_CRASH_AT"] = crash_at
    return subprocess.Popen(
        [sys.executable, "-m", "pantheon_engine", "night", "--replay", str(replies),
         "--queue", url, "--artifacts", str(art), "-c", "1", "--lease-s", str(lease_s),
         "--sample-s", "0.2", "--traces", str(log.with_suffix(".traces.sqlite"))],
        cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


def wait_all(workers: list[subprocess.Popen], timeout: float = 240) -> list[int]:
    deadline = time.monotonic() + timeout
    codes = []
    for proc in workers:
        try:
            codes.append(proc.wait(timeout=max(1.0, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            for other in workers:
                other.kill()
            raise
    return codes


def every_job_once(url: str, art: Path, n: int) -> dict[int, dict]:
    """Every job done, in exactly one run (its run.json names the job; its files are
    the ones its manifest sealed); the runs of the folder are exactly the jobs' runs."""
    with open_queue(url) as queue:
        jobs = queue.list(limit=None)
    assert len(jobs) == n
    assert Counter(job.state for job in jobs) == {"done": n}
    runs = {}
    for run_json in (art / "runs").glob("*/run.json"):
        runs[run_json.parent.name] = json.loads(run_json.read_text())
    assert set(runs) == {job.run_id for job in jobs}  # one run per job, none left over
    assert sorted(run["job_id"] for run in runs.values()) == sorted(job.id for job in jobs)
    for run_id, run in runs.items():
        assert run["status"] == "ok", run
        assert verify_manifest(art / "runs" / run_id) == [], run_id  # nothing rewritten
    return {job.id: {"job": job, "run": runs[job.run_id or ""]} for job in jobs}


def report_jobs(url: str, art: Path) -> dict:
    done = pantheon("report", "--format", "json", "--queue", url, "--artifacts", str(art))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_worker_killed_mid_night_its_job_is_finished_by_the_others(
        pg_url: str, docops_repo: Path, tmp_path: Path) -> None:
    n = 9
    art = tmp_path / "shared-artifacts"  # the folder every worker writes to
    queue_docops_jobs(pg_url, art, docops_repo, n, tmp_path)
    replies = replies_file(tmp_path / "replies.jsonl", n)
    logs = [tmp_path / f"worker-{i}.log" for i in range(3)]
    # worker 0 dies (SIGKILL, no cleanup) after its 5th model reply: in the middle of its
    # first job, its frontmatter node complete, a review in flight, the lease still held
    workers = [start_worker(pg_url, art, replies, logs[0], lease_s=2,
                            crash_at="after_model_reply:5")]
    workers += [start_worker(pg_url, art, replies, log, lease_s=2) for log in logs[1:]]
    codes = wait_all(workers)
    assert codes[0] == -9, logs[0].read_text()
    assert codes[1:] == [0, 0], [log.read_text() for log in logs[1:]]

    done = every_job_once(pg_url, art, n)
    dead_pid = f":{workers[0].pid}:"
    reclaimed = [d for d in done.values() if d["job"].attempts == 2]
    assert len(reclaimed) == 1  # the killed worker's one job, claimed again
    assert all(d["job"].attempts == 1 for d in done.values() if d not in reclaimed)
    job, run = reclaimed[0]["job"], reclaimed[0]["run"]
    assert dead_pid not in (job.lease_owner or "")  # finished by a survivor
    assert run["run_id"] == job.run_id and "frontmatter" in run.get("resumed", [])
    # the dead worker's completed node was taken over, not run again
    calls = (art / "runs" / run["run_id"] / "frontmatter" / "model_calls.jsonl").read_text()
    assert len(calls.splitlines()) == 4
    finished_by = Counter(d["job"].lease_owner for d in done.values())
    assert not [owner for owner in finished_by if dead_pid in (owner or "")]
    assert len(finished_by) == 2  # both survivors worked
    assert all(d["job"].worker_host for d in done.values())

    report = report_jobs(pg_url, art)
    assert report["jobs"]["jobs"] == n  # each job once, across the three workers' nights
    assert report["jobs"]["states"] == {"done": n}
    assert report["jobs"]["claimed_again"] == 1
    assert report["totals"]["runs"] == n
    # three nights wrote the runs (the resumed run keeps the night it started in)
    assert len({run["run"]["night_id"] for run in done.values()}) == 3
    assert len(list((art / "nights").iterdir())) == 3
    assert all(log.with_suffix(".traces.sqlite").is_file() for log in logs)
    assert not (art / "traces.sqlite").exists()


def test_workers_reconnect_when_the_server_restarts(docops_repo: Path, tmp_path: Path,
                                                    pg_server) -> None:
    from pantheon_engine.night.pg_server import start_server

    server = start_server()  # its own server: this test restarts it
    try:
        url = server.create_database("restart")
        n = 10
        art = tmp_path / "shared-artifacts"
        queue_docops_jobs(url, art, docops_repo, n, tmp_path)
        replies = replies_file(tmp_path / "replies.jsonl", n)
        logs = [tmp_path / f"worker-{i}.log" for i in range(2)]
        workers = [start_worker(url, art, replies, log, lease_s=20) for log in logs]
        with open_queue(url) as queue:
            deadline = time.monotonic() + 120
            while queue.counts()["done"] < 2:  # mid-night: some done, most to do
                assert time.monotonic() < deadline, [log.read_text() for log in logs]
                assert all(w.poll() is None for w in workers)
                time.sleep(0.1)
            before = queue.counts()
        server.restart()  # every connection is cut
        codes = wait_all(workers)
        out = [log.read_text() for log in logs]
        assert codes == [0, 0], out
        assert before["done"] < n
        assert any("reconnected after" in text for text in out), out
        every_job_once(url, art, n)
        assert report_jobs(url, art)["jobs"]["states"] == {"done": n}
    finally:
        server.stop()


def test_two_workers_racing_for_1000_jobs_claim_each_exactly_once(pg_url: str) -> None:
    n = 1000
    with open_queue(pg_url) as queue:
        queue.add_many([{"flow": "docops", "input": {"i": i}, "priority": i % 3}
                        for i in range(n)])
    claims: dict[str, list[int]] = {"a": [], "b": []}
    go = threading.Barrier(2)
    failures: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            with open_queue(pg_url) as mine:
                go.wait(30)
                while (job := mine.claim(name, lease_s=60)) is not None:
                    claims[name].append(job.id)
                    assert mine.complete(job.id, name, f"run-{job.id}")
        except BaseException as exc:  # surfaced below, with the thread's error
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(name,)) for name in claims]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not failures, failures
    every = claims["a"] + claims["b"]
    assert len(every) == n and len(set(every)) == n  # none twice, none lost
    assert claims["a"] and claims["b"]  # they really raced
    with open_queue(pg_url) as queue:
        jobs = queue.list(limit=None)
    assert Counter(j.state for j in jobs) == {"done": n}
    assert all(j.attempts == 1 for j in jobs)
    assert {j.id: j.lease_owner for j in jobs} == {
        job_id: name for name, ids in claims.items() for job_id in ids}
