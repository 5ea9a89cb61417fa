"""kill -9 a night at chosen points, resume it, and check that nothing is lost or torn."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import EXAMPLES, FLOWS, ROOT

JOBS = 3
CALLS = [
    {"type": "tool", "name": "fm_rename", "args": {"key": "Title", "new_key": "title"}},
    {"type": "tool", "name": "fm_delete", "args": {"key": "draft"}},
    {"type": "tool", "name": "fm_set", "args": {"key": "status", "value": "published"}},
    {"type": "final", "output": {"summary": "done"}},
]
VERDICT = {"type": "final", "output": {"verdict": "pass", "rationale": "ok"}}


def pantheon(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pantheon_engine", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def replies_file(path: Path) -> Path:
    lines = []
    for _ in range(JOBS * 2):  # enough for every job twice over
        lines += [{"key": "frontmatter", "text": json.dumps(c)} for c in CALLS]
        lines += [{"key": node, "text": json.dumps(VERDICT)} for node in ("reviewA", "reviewB")]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def nothing_torn(art: Path) -> None:
    for path in art.rglob("*.json"):
        if "worktrees" not in path.parts and "workspaces" not in path.parts:
            json.loads(path.read_text())
    for path in art.rglob("*.jsonl"):
        for line in path.read_text().splitlines():
            json.loads(line)


@pytest.mark.parametrize("point", ["after_claim", "after_model_reply:5", "after_tool:2",
                                   "before_rename:9", "after_done"])
def test_kill_then_resume_finishes_every_job(point: str, tmp_path: Path) -> None:
    art, replies = tmp_path / "art", replies_file(tmp_path / "replies.jsonl")
    for _ in range(JOBS):
        added = pantheon("queue", "add", str(FLOWS / "docops.yaml"), "--input",
                         str(EXAMPLES / "docops" / "input.json"), "--artifacts", str(art))
        assert added.returncode == 0, added.stderr
    night = ["night", "--replay", str(replies), "--artifacts", str(art), "-c", "1",
             "--sample-s", "0.1"]
    killed = pantheon(*night, env={"PANTHEON_CRASH_AT": point})
    assert killed.returncode == -9, killed.stdout + killed.stderr  # SIGKILL: no cleanup ran
    nothing_torn(art)

    resumed = pantheon(*night, "--resume")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    nothing_torn(art)
    with sqlite3.connect(art / "queue.sqlite") as db:
        states = dict(db.execute("SELECT state, count(*) FROM jobs GROUP BY state").fetchall())
        assert states == {"done": JOBS}
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        runs = [row[0] for row in db.execute("SELECT run_id FROM jobs")]
    for run_id in runs:
        run = json.loads((art / "runs" / run_id / "run.json").read_text())
        assert run["status"] == "ok" and (art / "runs" / run_id / "manifest.json").exists()
        if run.get("resumed"):  # completed nodes of an interrupted run were not run again
            for node in run["resumed"]:
                if node == "check":  # a builtin: no model calls
                    continue
                calls = (art / "runs" / run_id / node / "model_calls.jsonl").read_text()
                assert len(calls.splitlines()) == (4 if node == "frontmatter" else 1)
    if point == "after_model_reply:5":  # the crash hit a review: frontmatter was kept
        resumed_runs = [json.loads((art / "runs" / r / "run.json").read_text()) for r in runs]
        assert any("frontmatter" in r.get("resumed", []) for r in resumed_runs)
