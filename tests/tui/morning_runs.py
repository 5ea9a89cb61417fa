"""Two more runs for the fixture folder, with run ids as a night names them: a document the
night merged (its change in ``frontmatter/diff.patch``) and one that failed with a long
error. The fixture's own ids (``run-003``) are short; these are the ones a column cuts."""

from __future__ import annotations

from pathlib import Path

from pantheon_engine.atomic import atomic_write_json

from tui.conftest import NIGHT_ID, NIGHT_START

MERGED_ID = "20261120T231502Z-docops-5e1f0a"
FAILED_ID = "20261120T232210Z-docops-c3d4e5"
MERGED_DOC = "docs/handbook/on-call.md"
FAILED_DOC = "docs/guides/getting-started.md"
FAILED_ERROR = ("check.rules: 2 of 5 rules fail: date: '2024/03/05' is not YYYY-MM-DD; "
                "tags: 'release, process' is not a list [a, b]\nsecond line of detail")
DIFF = ("diff --git a/docs/handbook/on-call.md b/docs/handbook/on-call.md\n"
        "--- a/docs/handbook/on-call.md\n+++ b/docs/handbook/on-call.md\n"
        "@@ -1,5 +1,5 @@\n ---\n-Title: On-call handbook\n+title: On-call handbook\n"
        " status: published\n-date: 2024/02/01\n+date: 2024-02-01\n ---\n")
AGENTS = {"frontmatter": "doc.frontmatter@1", "check": "check.rules@1",
          "reviewA": "review.peer@1", "reviewB": "review.peer@1", "merge": "merge.gate@1"}


def _iso(t: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(t, tz=UTC).isoformat(timespec="milliseconds")


def add_morning_runs(artifacts: Path) -> None:
    """Write the two docops runs under ``artifacts/runs``."""
    for run_id, path, started, ok in ((MERGED_ID, MERGED_DOC, NIGHT_START + 4500, True),
                                      (FAILED_ID, FAILED_DOC, NIGHT_START + 4900, False)):
        run = artifacts / "runs" / run_id
        nodes = dict.fromkeys(AGENTS, "ok") if ok else {
            "frontmatter": "ok", "check": "failed", "reviewA": "not_run", "reviewB": "not_run",
            "merge": "not_run"}
        meta: dict[str, object] = {
            "run_id": run_id, "flow": "docops", "input": {"path": path, "workspace": "ws"},
            "agents": AGENTS, "status": "ok" if ok else "failed", "night_id": NIGHT_ID,
            "started_at": _iso(started), "finished_at": _iso(started + 40), "nodes": nodes,
            "check": {"nodes": ["check"], "passed": ok, "graded": ["doc.frontmatter@1"]},
        }
        for node, state in nodes.items():
            if state != "not_run":
                atomic_write_json(run / node / "metrics.json", {"status": state,
                                                                "agent": AGENTS[node]})
        (run / "frontmatter" / "diff.patch").write_text(DIFF if ok else "")
        atomic_write_json(run / "frontmatter" / "output.json", {
            "files_changed": 1, "lines_added": 2, "lines_removed": 2})
        if ok:
            for node in ("reviewA", "reviewB"):
                atomic_write_json(run / node / "review.json", {"verdict": "pass"})
            atomic_write_json(run / "merge" / "output.json", {
                "merged": True, "branch": f"pantheon/{run_id}", "commit": "9f8e7d6c5b4a3921",
                "files_changed": 1})
            meta["branch"] = f"pantheon/{run_id}"
        else:
            atomic_write_json(run / "check" / "error.json", {
                "node": "check", "agent": AGENTS["check"], "error_kind": "check_failed",
                "error": FAILED_ERROR, "attempts": 1})
            meta.update(failed_node="check", error_kind="check_failed")
        atomic_write_json(run / "run.json", meta)
