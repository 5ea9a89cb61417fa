"""The persistent job queue: ordering, leases, operator commands, and many processes.

Every test that is not about one backend's storage runs twice: on an SQLite file and on a
PostgreSQL database (a throwaway server, see ``pg_server`` in conftest.py).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sqlite3
import time
from collections import Counter
from pathlib import Path

import pytest

from pantheon_engine.errors import UserError
from pantheon_engine.night.jobqueue import (
    SCHEMA_VERSION,
    Job,
    JobQueue,
    NewJob,
    QueueError,
)
from pantheon_engine.night.queue_base import JobQueueBase
from pantheon_engine.night.queue_open import open_existing_queue, open_queue

FLOW = "flows/docops.yaml"


class Clock:
    """A hand-moved clock for lease tests."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def tick(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def queue(queue_location: str | Path, clock: Clock):
    q = open_queue(queue_location, clock=clock)
    yield q
    q.close()


# --- file and schema (SQLite) ------------------------------------------------------------


def test_default_path_wal_and_integrity(tmp_path: Path) -> None:
    with JobQueue.for_artifacts(tmp_path / "artifacts") as q:
        assert q.path == tmp_path / "artifacts" / "queue.sqlite"
        assert q.path.exists()
        assert q.journal_mode() == "wal"
        assert q.integrity_check() == "ok"
        synchronous = q._conn.execute("PRAGMA synchronous").fetchone()[0]
        assert synchronous == 2  # FULL
        assert q._conn.execute("PRAGMA busy_timeout").fetchone()[0] > 0
        assert q._conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    # A second open of the same file keeps the data and the version.
    with JobQueue(tmp_path / "artifacts" / "queue.sqlite") as q:
        q.add(FLOW, {"a": 1})
    with JobQueue(tmp_path / "artifacts" / "queue.sqlite") as q:
        assert q.depth() == 1


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "queue.sqlite"
    JobQueue(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(QueueError, match="schema version 2") as info:
        JobQueue(path)
    assert isinstance(info.value, UserError)
    assert "upgrade Pantheon" in str(info.value)


def test_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "queue.sqlite"
    path.write_bytes(b"this is not sqlite at all, just text " * 100)
    with pytest.raises(QueueError, match="not a usable SQLite database"):
        JobQueue(path)


def test_open_existing_creates_nothing(tmp_path: Path) -> None:
    art = tmp_path / "artifacts"
    art.mkdir()
    assert JobQueue.open_existing(art) is None
    assert list(art.iterdir()) == []  # a reading command leaves no queue file behind
    with JobQueue.for_artifacts(art) as q:
        q.add(FLOW, {"a": 1})
    opened = JobQueue.open_existing(art)
    assert opened is not None
    with opened:
        assert opened.depth() == 1


# --- database and schema (PostgreSQL) ----------------------------------------------------


def test_pg_tables_in_their_own_schema_and_reopened(pg_url: str) -> None:
    import psycopg

    with open_queue(pg_url) as q:
        q.add(FLOW, {"a": 1})
    with open_queue(pg_url) as q:  # a second open keeps the data and the version
        assert q.depth() == 1
    with psycopg.connect(pg_url) as conn:
        tables = {r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'pantheon'")}
        version = conn.execute("SELECT value FROM pantheon.queue_meta"
                               " WHERE name = 'schema_version'").fetchone()
    assert tables == {"jobs", "queue_meta"}
    assert version == (1,)


def test_pg_newer_schema_is_refused(pg_url: str) -> None:
    import psycopg

    open_queue(pg_url).close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("UPDATE pantheon.queue_meta SET value = value + 1")
    with pytest.raises(QueueError, match="schema version 2") as info:
        open_queue(pg_url)
    assert isinstance(info.value, UserError)
    assert "upgrade Pantheon" in str(info.value)


def test_pg_open_existing_creates_nothing(pg_url: str) -> None:
    import psycopg

    assert open_existing_queue(pg_url) is None
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT to_regclass('pantheon.jobs')").fetchone() == (None,)
    with open_queue(pg_url) as q:
        q.add(FLOW, {"a": 1})
    opened = open_existing_queue(pg_url)
    assert opened is not None
    with opened:
        assert opened.depth() == 1


def test_pg_unreachable_server_is_a_clear_error_without_the_password() -> None:
    from pantheon_engine.night.pg_server import free_port
    from pantheon_engine.night.queue_model import QueueUnavailable

    url = f"postgresql://night:s3cret@127.0.0.1:{free_port()}/pantheon"
    with pytest.raises(QueueUnavailable, match=r"cannot use queue postgresql://night:\*\*\*@"
                                               r"127\.0\.0\.1") as info:
        open_queue(url)
    assert "s3cret" not in str(info.value)
    assert "database server runs" in str(info.value)


def test_pg_url_that_is_not_a_url_is_refused() -> None:
    with pytest.raises(QueueError, match="port 'notaport' is not a number"):
        open_queue("postgresql://127.0.0.1:notaport/db")
    with pytest.raises(QueueError, match=r"queue URL postgresql://127\.0\.0\.1/db.*nosuch"):
        open_queue("postgresql://127.0.0.1/db?nosuch=1")


def _cut_queue_connections(url: str) -> int:
    """End the server side of every queue connection to ``url``'s database (as a server
    restart or a network cut does), waiting until they are gone."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE"
            " application_name = 'pantheon-queue' AND datname = current_database()").fetchall()
    return len(rows)


def test_pg_a_lost_connection_is_retried_and_the_work_goes_on(pg_url: str) -> None:
    heard: list[str] = []
    with open_queue(pg_url, notify=heard.append) as q:
        job = q.add(FLOW, {"n": 1})
        assert _cut_queue_connections(pg_url) == 1
        claimed = q.claim("w", lease_s=30)  # the first try fails; the retry claims
        assert claimed is not None and claimed.id == job.id and claimed.attempts == 1
        assert q.complete(job.id, "w", "r1") is True
    assert len(heard) == 2
    assert "retrying" in heard[0] and heard[1].startswith(f"queue {pg_url}: reconnected after")


def test_pg_a_change_cut_while_committing_is_not_sent_again(
        pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Adding jobs whose commit was cut: maybe done, maybe not; never done twice."""
    from pantheon_engine.night.queue_model import QueueUnavailable

    original = JobQueueBase._insert

    def insert_then_cut(self, tx, spec, now):
        job = original(self, tx, spec, now)
        _cut_queue_connections(pg_url)  # after the insert, before the commit
        return job

    with open_queue(pg_url) as q:
        monkeypatch.setattr(JobQueueBase, "_insert", insert_then_cut)
        with pytest.raises(QueueUnavailable, match="may or may not have been made"):
            q.add(FLOW, {"n": 1})
        monkeypatch.setattr(JobQueueBase, "_insert", original)
        assert q.depth() == 0  # the server rolled the cut transaction back; nothing retried
        assert q.add(FLOW, {"n": 2}).input == {"n": 2}
        assert q.depth() == 1


def test_pg_a_server_that_stays_away_ends_in_a_clear_error(pg_server) -> None:
    from pantheon_engine.night.jobqueue_pg import PgJobQueue
    from pantheon_engine.night.pg_server import start_server
    from pantheon_engine.night.queue_model import QueueUnavailable

    server = start_server()
    try:
        q = PgJobQueue(server.url(), reconnect_s=1.0)
        q.add(FLOW, {})
        server.stop()
        started = time.monotonic()
        with pytest.raises(QueueUnavailable, match=r"unavailable for 1s") as info:
            q.depth()
        assert 1.0 <= time.monotonic() - started < 10
        assert isinstance(info.value.kind, str) and info.value.kind == "queue_unavailable"
        q.close()
    finally:
        server.stop()


# --- adding and ordering -----------------------------------------------------------------


def test_add_fields_and_defaults(queue: JobQueueBase, clock: Clock) -> None:
    job = queue.add(Path(FLOW), {"task": "x", "n": [1, 2]}, group_key="writer")
    assert job.id >= 1
    assert job.flow == FLOW
    assert job.flow_name == "docops"
    assert job.input == {"task": "x", "n": [1, 2]}
    assert job.state == "queued"
    assert (job.attempts, job.max_attempts, job.priority) == (0, 3, 0)
    assert job.created_at == clock.now
    assert job.group_key == "writer"
    assert job.lease_owner is None
    assert queue.get(job.id) == job
    assert queue.get(9999) is None


def test_bad_input_is_refused(queue: JobQueueBase) -> None:
    with pytest.raises(QueueError, match="not JSON"):
        queue.add(FLOW, {"x": object()})
    with pytest.raises(QueueError, match="invalid job"):
        queue.add(FLOW, {}, max_attempts=0)
    assert queue.depth() == 0


def test_add_many_is_one_transaction(queue: JobQueueBase) -> None:
    jobs = queue.add_many(
        [
            NewJob(flow=FLOW, input={"i": 0}),
            {"flow": Path(FLOW), "input": {"i": 1}, "priority": 5, "flow_name": "docs"},
        ]
    )
    assert [j.input["i"] for j in jobs] == [0, 1]
    assert jobs[1].flow_name == "docs"
    assert queue.depth() == 2
    # One bad item: nothing of the batch is added.
    with pytest.raises(QueueError):
        queue.add_many([{"flow": FLOW, "input": 1}, {"flow": FLOW, "input": {1, 2}}])
    assert queue.depth() == 2


def test_replace_queued_removes_only_the_picked_queued_jobs(queue: JobQueueBase) -> None:
    old = queue.add_many([{"flow": FLOW, "input": {"workspace": "/demo", "i": i}}
                          for i in range(3)])
    other = queue.add(FLOW, {"workspace": "/elsewhere"})
    ran = queue.claim("w")  # the oldest demo job runs: it is history, not replaced
    assert ran is not None and ran.id == old[0].id

    def demo(job: Job) -> bool:
        return bool(job.input["workspace"] == "/demo")

    removed, added = queue.replace_queued(demo, [{"flow": FLOW, "input": {"workspace": "/demo"}}])
    assert removed == 2 and len(added) == 1
    queued = queue.list(states=["queued"])
    assert {j.id for j in queued} == {other.id, added[0].id}
    assert queue.get(ran.id) is not None
    # a bad new job: nothing is removed either
    with pytest.raises(QueueError):
        queue.replace_queued(demo, [{"flow": FLOW, "input": {1, 2}}])
    assert queue.depth() == 2


def test_claim_order_priority_then_age(queue: JobQueueBase, clock: Clock) -> None:
    ids = {}
    for name, priority in [("old-low", 0), ("old-high", 5), ("mid-low", 0), ("new-high", 5)]:
        ids[queue.add(FLOW, {"name": name}, priority=priority).id] = name
        clock.tick(1)
    # Same timestamp: insertion order breaks the tie.
    ids[queue.add(FLOW, {"name": "tie-a"}, priority=1).id] = "tie-a"
    ids[queue.add(FLOW, {"name": "tie-b"}, priority=1).id] = "tie-b"
    assert [j.input["name"] for j in queue.list()] == [
        "old-high",
        "new-high",
        "tie-a",
        "tie-b",
        "old-low",
        "mid-low",
    ]
    claimed = []
    while (job := queue.claim("w")) is not None:
        claimed.append(job.input["name"])
    assert claimed == ["old-high", "new-high", "tie-a", "tie-b", "old-low", "mid-low"]
    assert queue.claim("w") is None


# --- lifecycle ---------------------------------------------------------------------------


def test_claim_complete_lifecycle(queue: JobQueueBase, clock: Clock) -> None:
    added = queue.add(FLOW, {"t": 1})
    clock.tick(2)
    job = queue.claim("w1", lease_s=30)
    assert job is not None and job.id == added.id
    assert job.state == "running"
    assert job.attempts == 1
    assert job.lease_owner == "w1"
    assert job.lease_expires_at == clock.now + 30
    assert job.started_at == clock.now
    assert job.lease_live(clock.now)
    assert queue.counts() == {"queued": 0, "running": 1, "done": 0, "failed": 0, "cancelled": 0}
    clock.tick(5)
    assert queue.complete(job.id, "w1", "run-123") is True
    done = queue.get(job.id)
    assert done is not None
    assert done.state == "done"
    assert done.run_id == "run-123"
    assert done.finished_at == clock.now
    assert done.lease_expires_at is None
    # Finished: no second complete, no fail, no heartbeat.
    assert queue.complete(job.id, "w1", "run-456") is False
    assert queue.fail(job.id, "w1", "tool_error", "boom") is False
    assert queue.heartbeat(job.id, "w1") is False
    assert queue.get(job.id).run_id == "run-123"  # type: ignore[union-attr]


def test_claim_fail_lifecycle(queue: JobQueueBase) -> None:
    queue.add(FLOW, {})
    job = queue.claim("w1")
    assert job is not None
    assert queue.fail(job.id, "intruder", "engine_error", "nope") is False
    assert queue.fail(job.id, "w1", "engine_error", "engine went away", run_id="r1") is True
    failed = queue.get(job.id)
    assert failed is not None
    assert failed.state == "failed"
    assert (failed.error_kind, failed.error, failed.run_id) == (
        "engine_error",
        "engine went away",
        "r1",
    )
    assert failed.finished_at is not None
    assert queue.claim("w2") is None


def test_fail_with_retry_requeues_until_attempts_run_out(queue: JobQueueBase) -> None:
    queue.add(FLOW, {}, max_attempts=2)
    job = queue.claim("w")
    assert job is not None
    assert queue.fail(job.id, "w", "engine_unavailable", "down", retry=True)
    again = queue.get(job.id)
    assert again is not None and again.state == "queued" and again.attempts == 1
    assert again.error_kind == "engine_unavailable"
    job = queue.claim("w")
    assert job is not None and job.attempts == 2
    assert queue.fail(job.id, "w", "engine_unavailable", "still down", retry=True)
    final = queue.get(job.id)
    assert final is not None and final.state == "failed" and final.finished_at is not None


def test_live_lease_blocks_a_second_claim(queue: JobQueueBase, clock: Clock,
                                          queue_location: str | Path) -> None:
    job = queue.add(FLOW, {})
    assert queue.claim("w1", lease_s=60) is not None
    clock.tick(59.9)
    assert queue.claim("w2") is None
    # A second handle on the same queue (another process's view) sees the same.
    other = open_queue(queue_location, clock=clock)
    try:
        assert other.claim("w3") is None
        assert other.get(job.id).lease_owner == "w1"  # type: ignore[union-attr]
    finally:
        other.close()


def test_expired_lease_is_reclaimed(queue: JobQueueBase, clock: Clock) -> None:
    job = queue.add(FLOW, {})
    first = queue.claim("crashed-night", lease_s=60)
    assert first is not None and first.attempts == 1
    clock.tick(60)
    second = queue.claim("new-night", lease_s=60)
    assert second is not None
    assert second.id == job.id
    assert second.attempts == 2
    assert second.lease_owner == "new-night"
    # The crashed owner lost the job: every lease call now says no.
    assert queue.heartbeat(job.id, "crashed-night") is False
    assert queue.complete(job.id, "crashed-night", "r-old") is False
    assert queue.release(job.id, "crashed-night") is False
    assert queue.complete(job.id, "new-night", "r-new") is True


def test_expired_but_unclaimed_lease_is_still_held(queue: JobQueueBase, clock: Clock) -> None:
    job = queue.add(FLOW, {})
    assert queue.claim("slow", lease_s=10) is not None
    clock.tick(30)
    assert queue.heartbeat(job.id, "slow", lease_s=10) is True
    assert queue.claim("other") is None
    assert queue.complete(job.id, "slow", "r") is True


def test_max_attempts_exceeded_fails_with_lease_expired(queue: JobQueueBase, clock: Clock) -> None:
    job = queue.add(FLOW, {}, max_attempts=2)
    assert queue.claim("a", lease_s=10).attempts == 1  # type: ignore[union-attr]
    clock.tick(11)
    assert queue.claim("b", lease_s=10).attempts == 2  # type: ignore[union-attr]
    clock.tick(11)
    assert queue.claim("c", lease_s=10) is None
    failed = queue.get(job.id)
    assert failed is not None
    assert failed.state == "failed"
    assert failed.error_kind == "lease_expired"
    assert "b" in (failed.error or "")
    assert failed.attempts == 2
    assert failed.finished_at == clock.now
    assert queue.complete(job.id, "b", "late") is False


def test_expired_job_does_not_block_the_next_one(queue: JobQueueBase, clock: Clock) -> None:
    dead = queue.add(FLOW, {"n": "dead"}, priority=9, max_attempts=1)
    live = queue.add(FLOW, {"n": "live"})
    assert queue.claim("a", lease_s=5).id == dead.id  # type: ignore[union-attr]
    clock.tick(6)
    nxt = queue.claim("b")
    assert nxt is not None and nxt.id == live.id
    assert queue.get(dead.id).state == "failed"  # type: ignore[union-attr]


def test_heartbeat_extends_only_for_the_owner(queue: JobQueueBase, clock: Clock) -> None:
    job = queue.add(FLOW, {})
    assert queue.claim("owner", lease_s=10) is not None
    clock.tick(8)
    assert queue.heartbeat(job.id, "someone-else", lease_s=100) is False
    assert queue.get(job.id).lease_expires_at == clock.now + 2  # type: ignore[union-attr]
    assert queue.heartbeat(job.id, "owner", lease_s=10) is True
    assert queue.get(job.id).lease_expires_at == clock.now + 10  # type: ignore[union-attr]
    clock.tick(9)  # past the first lease, inside the extended one
    assert queue.claim("thief") is None
    assert queue.heartbeat(9999, "owner") is False


def test_release_puts_job_back_without_counting_the_attempt(queue: JobQueueBase) -> None:
    job = queue.add(FLOW, {})
    assert queue.claim("w") is not None
    assert queue.release(job.id, "not-me") is False
    assert queue.release(job.id, "w") is True
    back = queue.get(job.id)
    assert back is not None
    assert back.state == "queued"
    assert back.attempts == 0
    assert back.lease_owner is None and back.lease_expires_at is None
    again = queue.claim("w2")
    assert again is not None and again.id == job.id and again.attempts == 1


# --- operator commands -------------------------------------------------------------------


def test_cancel(queue: JobQueueBase) -> None:
    queued = queue.add(FLOW, {"n": 1})
    running = queue.add(FLOW, {"n": 2}, priority=1)
    assert queue.claim("w").id == running.id  # type: ignore[union-attr]
    assert queue.cancel(queued.id).state == "cancelled"
    cancelled = queue.cancel(running.id)
    assert cancelled.state == "cancelled"
    # The worker of a cancelled job finds out on its next lease call.
    assert queue.heartbeat(running.id, "w") is False
    assert queue.complete(running.id, "w", "r") is False
    assert queue.claim("w") is None
    with pytest.raises(QueueError, match="only queued or running"):
        queue.cancel(queued.id)
    with pytest.raises(QueueError, match="no job 4242"):
        queue.cancel(4242)


def test_requeue(queue: JobQueueBase, clock: Clock) -> None:
    job = queue.add(FLOW, {}, max_attempts=1)
    assert queue.claim("w", lease_s=1) is not None
    clock.tick(2)
    assert queue.claim("w") is None
    assert queue.get(job.id).error_kind == "lease_expired"  # type: ignore[union-attr]
    back = queue.requeue(job.id)
    assert back.state == "queued"
    assert back.attempts == 0
    assert (back.error_kind, back.error, back.finished_at, back.lease_owner) == (
        None,
        None,
        None,
        None,
    )
    assert queue.claim("w") is not None
    with pytest.raises(QueueError, match="only failed or cancelled"):
        queue.requeue(job.id)
    other = queue.add(FLOW, {})
    queue.cancel(other.id)
    assert queue.requeue(other.id).state == "queued"
    with pytest.raises(QueueError):
        queue.requeue(777)


def test_reprioritise(queue: JobQueueBase, clock: Clock) -> None:
    first = queue.add(FLOW, {"n": 1})
    clock.tick(1)
    second = queue.add(FLOW, {"n": 2})
    assert queue.reprioritise(second.id, 10).priority == 10
    assert queue.claim("w").id == second.id  # type: ignore[union-attr]
    assert queue.claim("w").id == first.id  # type: ignore[union-attr]
    with pytest.raises(QueueError):
        queue.reprioritise(555, 1)


def test_group_key_preference(queue: JobQueueBase, clock: Clock) -> None:
    queue.add(FLOW, {"n": "coder-hi"}, priority=5, group_key="coder")
    clock.tick(1)
    queue.add(FLOW, {"n": "writer-1"}, group_key="writer")
    clock.tick(1)
    queue.add(FLOW, {"n": "none"})
    clock.tick(1)
    queue.add(FLOW, {"n": "writer-2"}, group_key="writer")

    def name(job):
        assert job is not None
        return job.input["n"]

    assert name(queue.claim("w", group_key="writer")) == "writer-1"
    assert name(queue.claim("w", group_key="writer")) == "writer-2"
    # Group exhausted: fall back to the usual order.
    assert name(queue.claim("w", group_key="writer")) == "coder-hi"
    assert name(queue.claim("w", group_key="nobody")) == "none"
    assert queue.claim("w", group_key="writer") is None


def test_list_counts_depth(queue: JobQueueBase) -> None:
    jobs = [queue.add(FLOW, {"n": i}) for i in range(5)]
    queue.claim("w")
    queue.cancel(jobs[4].id)
    assert queue.counts() == {"queued": 3, "running": 1, "done": 0, "failed": 0, "cancelled": 1}
    assert queue.depth() == 3
    assert len(queue.list()) == 5
    assert len(queue.list(limit=2)) == 2
    assert [j.state for j in queue.list(states=["running"])] == ["running"]
    assert {j.state for j in queue.list(states=("queued", "cancelled"))} == {
        "queued",
        "cancelled",
    }
    assert queue.list(states=[]) == []
    with pytest.raises(QueueError, match="unknown job state"):
        queue.list(states=["bogus"])


# --- many processes ----------------------------------------------------------------------


def _worker(path: str, out: str, go, lease_s: float) -> None:
    """Claim and complete until the queue is empty; log every claim to ``out``."""
    q = open_queue(path)
    owner = f"proc-{Path(out).stem}"
    go.wait(30)  # a barrier: every process starts claiming at the same moment
    with open(out, "a", encoding="utf-8") as log:
        while (job := q.claim(owner, lease_s=lease_s)) is not None:
            log.write(json.dumps({"id": job.id, "attempts": job.attempts}) + "\n")
            log.flush()
            time.sleep(0.002)  # "run" the job, so the other processes get their turns
            if not q.heartbeat(job.id, owner, lease_s):
                log.write(json.dumps({"lost": job.id}) + "\n")
            if not q.complete(job.id, owner, f"run-{job.id}-{owner}"):
                log.write(json.dumps({"lost": job.id}) + "\n")
    q.close()


def test_four_processes_every_job_done_exactly_once(queue_location: str | Path,
                                                    tmp_path: Path) -> None:
    path = queue_location
    n_jobs, n_procs = 200, 4
    with open_queue(path) as q:
        q.add_many(
            [
                {"flow": FLOW, "input": {"i": i}, "priority": i % 3, "group_key": f"g{i % 2}"}
                for i in range(n_jobs)
            ]
        )
    ctx = multiprocessing.get_context("spawn")
    go = ctx.Barrier(n_procs)
    logs = [tmp_path / f"claims-{k}.jsonl" for k in range(n_procs)]
    procs = [ctx.Process(target=_worker, args=(str(path), str(log), go, 60.0)) for log in logs]
    started = time.monotonic()
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
    assert all(p.exitcode == 0 for p in procs), [p.exitcode for p in procs]
    assert time.monotonic() - started < 60

    records = [json.loads(line) for log in logs for line in log.read_text().splitlines()]
    assert not [r for r in records if "lost" in r]
    claimed = Counter(r["id"] for r in records)
    assert len(claimed) == n_jobs  # 0 lost
    assert max(claimed.values()) == 1  # 0 duplicated
    assert all(r["attempts"] == 1 for r in records)
    per_process = [sum(1 for _ in log.read_text().splitlines()) for log in logs]
    assert sum(1 for n in per_process if n > 0) >= 2, per_process  # they really competed
    with open_queue(path) as q:
        assert q.counts()["done"] == n_jobs
        assert q.depth() == 0
        jobs = q.list(limit=None)
        assert {j.id for j in jobs} == set(claimed)
        # The run id names the process that claimed it, and that process logged the claim.
        for j in jobs:
            owner = j.run_id.split("-", 2)[2]  # type: ignore[union-attr]
            assert owner == j.lease_owner
        if isinstance(q, JobQueue):
            assert q.integrity_check() == "ok"


def _crash_holding_a_job(path: str) -> None:
    """Claim a job with a short lease, then die without a word (a crashed night)."""
    q = open_queue(path)
    job = q.claim("doomed", lease_s=0.5)
    assert job is not None
    os._exit(17)


def test_a_crashed_process_job_is_reclaimed(queue_location: str | Path) -> None:
    path = queue_location
    with open_queue(path) as q:
        job = q.add(FLOW, {"n": 1})
    ctx = multiprocessing.get_context("spawn")
    proc = ctx.Process(target=_crash_holding_a_job, args=(str(path),))
    proc.start()
    proc.join(timeout=30)
    assert proc.exitcode == 17
    with open_queue(path) as q:
        held = q.get(job.id)
        assert held is not None and held.state == "running" and held.lease_owner == "doomed"
        time.sleep(max(0.0, (held.lease_expires_at or 0) - q.now()) + 0.05)
        again = q.claim("survivor")
        assert again is not None and again.id == job.id and again.attempts == 2
        assert q.complete(job.id, "survivor", "r") is True
