"""Queue housekeeping from the shell (issue 17, point 12) and ``queue list`` by document
(point 10): ``queue cancel``, ``queue requeue`` and ``queue clear`` follow the rules the
room's keys follow (they are the queue's own: ``JobQueue.cancel_many`` and friends); a
command that names an unknown job, or a job it cannot act on, exits 2 naming them and
changes nothing. Each test runs on an SQLite queue (the artifacts folder's) and on a
PostgreSQL one (``--queue postgresql://…``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pantheon_engine.cli.main import app
from pantheon_engine.cli.queue import jobs_table
from pantheon_engine.night.jobqueue import Job, QueueError
from pantheon_engine.night.queue_base import JobQueueBase
from pantheon_engine.night.queue_open import is_postgres, open_queue

runner = CliRunner()
OWNER = "host:1:abc"
RUN_ID = "20261120T221503Z-docops-a1b2c3"
LONG_ERROR = ("check.rules: 2 of 5 rules fail: date: '2024/03/05' is not YYYY-MM-DD\n"
              "  tags: not a list")


@dataclass
class Where:
    """An artifacts folder and its queue: its own queue.sqlite, or a PostgreSQL database."""

    art: Where
    queue: str | Path

    @property
    def args(self) -> list[str]:
        """What a command is given to find the queue."""
        pg = ["--queue", str(self.queue)] if is_postgres(self.queue) else []
        return ["--artifacts", str(self.art), *pg]

    def open(self, **kwargs) -> JobQueueBase:
        return open_queue(self.queue, **kwargs)


@pytest.fixture
def art(tmp_path: Path, queue_location: str | Path) -> Where:
    """Jobs 1-2 queued, 3 running, 4 done, 5 failed (with its run and error), 6 cancelled."""
    art = tmp_path / "artifacts"
    art.mkdir()
    where = Where(art, queue_location)
    clock = [1000.0]
    with where.open(clock=lambda: clock[0]) as queue:
        for i in range(6):
            queue.add("docops", {"path": f"docs/page-{i + 1}.md"}, flow_name="docops")
        queue.add("spec2code", {"title": "Add [shout]()", "workspace": "."},
                  flow_name="spec2code", priority=-1)
        for job_id in (3, 4, 5, 6):
            queue.reprioritise(job_id, 10 - job_id)  # claimed in this order
        for _ in range(4):
            queue.claim(OWNER, lease_s=10 ** 6)
        queue.complete(4, OWNER, "run-4")
        queue.fail(5, OWNER, "check_failed", LONG_ERROR, RUN_ID)
        queue.cancel(6)
    return where


def states(art: Where) -> dict[int, str]:
    with art.open() as queue:
        return {job.id: job.state for job in queue.list(limit=None)}


def cli(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


BEFORE = {1: "queued", 2: "queued", 3: "running", 4: "done", 5: "failed", 6: "cancelled",
          7: "queued"}


def test_the_fixture(art: Where) -> None:
    assert states(art) == BEFORE


# --------------------------------------------------------------------------- the queue's rules


def test_cancel_many_is_all_or_nothing(art: Where) -> None:
    with art.open() as queue:
        with pytest.raises(QueueError, match=r"no jobs 98, 99 in queue"):
            queue.cancel_many([1, 98, 99])
        with pytest.raises(QueueError, match=r"job 4 is done, job 6 is cancelled; only queued "
                                             r"or running jobs cancel"):
            queue.cancel_many([1, 4, 6])
        assert states(art) == BEFORE
        jobs = queue.cancel_many([1, 3, 1])  # a repeated id counts once
    assert [(j.id, j.state) for j in jobs] == [(1, "cancelled"), (3, "cancelled")]
    assert states(art) == {**BEFORE, 1: "cancelled", 3: "cancelled"}


def test_requeue_many_is_all_or_nothing(art: Where) -> None:
    with art.open() as queue:
        with pytest.raises(QueueError, match=r"job 1 is queued; only failed or cancelled"):
            queue.requeue_many([5, 1])
        assert states(art) == BEFORE
        jobs = queue.requeue_many([5, 6])
    assert all(j.state == "queued" and j.attempts == 0 and j.run_id is None for j in jobs)
    assert states(art) == {**BEFORE, 5: "queued", 6: "queued"}


def test_one_job_commands_keep_their_rules(art: Where) -> None:
    """The room's keys call cancel and requeue: the same rules, one job at a time."""
    with art.open() as queue:
        with pytest.raises(QueueError, match=r"no job 99 in queue"):
            queue.cancel(99)
        with pytest.raises(QueueError, match=r"job 4 is done; only queued or running"):
            queue.cancel(4)
        assert queue.requeue(5).state == "queued"


def test_clear_removes_what_is_over_never_what_runs(art: Where) -> None:
    with art.open() as queue:
        with pytest.raises(QueueError, match=r"running jobs do not clear"):
            queue.clear(["done", "running"])
        with pytest.raises(QueueError, match=r"unknown job state\(s\): finished"):
            queue.clear(["finished"])
        assert states(art) == BEFORE
        assert queue.clear() == {"done": 1, "failed": 1, "cancelled": 1}
    assert states(art) == {1: "queued", 2: "queued", 3: "running", 7: "queued"}
    with art.open() as queue:
        assert queue.clear(["queued"]) == {"queued": 3}
    assert states(art) == {3: "running"}


# --------------------------------------------------------------------------- the commands


def test_queue_cancel(art: Where) -> None:
    code, out, err = cli("queue", "cancel", "1", "7", *art.args)
    assert code == 0, err
    assert "cancelled job 1 (docops · docs/page-1.md)" in out
    assert "cancelled job 7 (spec2code · Add [shout]())" in out  # printed as written
    assert "queued 1 · running 1 · done 1 · failed 1 · cancelled 3" in out
    assert states(art) == {**BEFORE, 1: "cancelled", 7: "cancelled"}


def test_queue_requeue(art: Where) -> None:
    code, out, err = cli("queue", "requeue", "5", "6", *art.args)
    assert code == 0, err
    assert "requeued job 5 (docops · docs/page-5.md)" in out and "requeued job 6" in out
    assert states(art) == {**BEFORE, 5: "queued", 6: "queued"}


@pytest.mark.parametrize(("args", "message"), [
    (("cancel", "2", "41", "42"), "error: no jobs 41, 42 in queue"),
    (("cancel", "2", "4"), "error: job 4 is done; only queued or running jobs cancel"),
    (("requeue", "5", "404"), "error: no job 404 in queue"),
    (("requeue", "5", "1", "3"),
     "error: job 1 is queued, job 3 is running; only failed or cancelled jobs requeue"),
    (("clear", "--state", "running"), "error: running jobs do not clear: a night holds them"),
    (("clear", "--state", "finished"), "error: unknown job state(s): finished"),
])
def test_a_refused_command_exits_2_naming_the_jobs_and_changes_nothing(
        art: Where, args: tuple[str, ...], message: str) -> None:
    code, out, err = cli("queue", *args, *art.args)
    assert code == 2 and out == ""
    assert message in " ".join(err.split())
    assert states(art) == BEFORE


def test_queue_clear(art: Where) -> None:
    code, out, err = cli("queue", "clear", "--state", "failed", "--state", "cancelled",
                         *art.args)
    assert code == 0, err
    assert "removed 2 jobs (failed 1, cancelled 1)" in out
    assert states(art) == {k: v for k, v in BEFORE.items() if k not in (5, 6)}
    code, out, _ = cli("queue", "clear", *art.args)
    assert code == 0 and "removed 1 job (done 1, failed 0, cancelled 0)" in out
    assert set(states(art).values()) == {"queued", "running"}


def test_commands_on_a_folder_without_a_queue_create_nothing(tmp_path: Path) -> None:
    code, _, err = cli("queue", "cancel", "3", "--artifacts", str(tmp_path))
    assert code == 2 and "no job 3: there is no queue yet" in " ".join(err.split())
    code, _, err = cli("queue", "clear", "--artifacts", str(tmp_path / "typo"))
    assert code == 2 and "no artifacts folder" in err
    assert list(tmp_path.iterdir()) == []


def test_commands_on_a_database_without_a_queue_create_nothing(pg_url: str,
                                                               tmp_path: Path) -> None:
    import psycopg

    code, _, err = cli("queue", "cancel", "3", "--queue", pg_url)
    assert code == 2 and "no job 3: there is no queue yet" in " ".join(err.split())
    assert "holds no queue tables" in " ".join(err.split())
    code, out, err = cli("queue", "list", "--queue", pg_url, "--json")
    assert code == 0 and json.loads(out)["jobs"] == [] and "no queue yet" in err
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT to_regclass('pantheon.jobs')").fetchone() == (None,)
    # the artifacts folder is not needed to reach a named queue, and none is made
    assert list(tmp_path.iterdir()) == []


def test_queue_url_from_pantheon_toml(pg_url: str, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """``[queue] url`` names the queue when --queue does not; --queue wins."""
    config = tmp_path / "pantheon.toml"
    config.write_text(f'[queue]\nurl = "{pg_url}"\n')
    monkeypatch.setenv("PANTHEON_CONFIG", str(config))
    with open_queue(pg_url) as queue:
        queue.add("docops", {"path": "docs/a.md"}, flow_name="docops")
    code, out, err = cli("queue", "list", "--json")
    assert code == 0, err
    assert [job["input_json"] for job in json.loads(out)["jobs"]] == ['{"path": "docs/a.md"}']
    other = tmp_path / "other.sqlite"
    code, out, err = cli("queue", "list", "--json", "--queue", str(other))
    assert code == 0 and json.loads(out)["jobs"] == [] and not other.exists()


def test_a_job_id_must_be_a_number(art: Where) -> None:
    code, _, err = cli("queue", "cancel", "x", *art.args)
    assert code == 2 and "JOB_ID" in err
    assert states(art) == BEFORE


# --------------------------------------------------------------------------- queue list


def test_queue_list_shows_the_document_the_run_and_the_error(art: Where) -> None:
    code, out, err = cli("queue", "list", *art.args)
    assert code == 0, err
    assert RUN_ID in out  # never cut
    assert "docs/page-5.md" in out and "Add [shout]()" in out
    text = " ".join(out.split())
    assert "check_failed: check.rules: 2 of 5 rules fail:" in text
    assert "tags: not a list" not in text  # the error's first line only


@pytest.mark.parametrize("width", [50, 60, 80, 120, 200])
def test_queue_list_keeps_run_ids_whole_at_any_width(art: Where, width: int) -> None:
    from rich.console import Console

    with art.open() as queue:
        jobs: list[Job] = queue.list(limit=None)
    console = Console(width=width, record=True, color_system=None)
    console.print(jobs_table(jobs, width))
    out = console.export_text()
    assert RUN_ID in out and "run-4" in out
    assert max(len(line) for line in out.splitlines()) <= width
    assert "docs/page-5.md" in out
    if width >= 120:  # side by side: the document and the error in their own columns
        assert re.search(rf"{RUN_ID}\s+docs/page-5\.md\s+check_failed", out)
    else:  # under the run id (and on a very narrow terminal the rest above it)
        assert re.search(rf"{RUN_ID}\s*\n\s*docs/page-5\.md · check_failed", out)
    if width <= 60:
        assert "failed · docops · prio 5 · tries 1/3" in out


def test_queue_list_json_is_unchanged(art: Where) -> None:
    code, out, _ = cli("queue", "list", "--json", *art.args)
    assert code == 0
    data = json.loads(out)
    assert data["counts"] == {"queued": 3, "running": 1, "done": 1, "failed": 1, "cancelled": 1}
    assert {j["id"] for j in data["jobs"]} == set(BEFORE)
