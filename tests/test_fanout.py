"""Fan-out: ``pantheon queue add FLOW --each GLOB`` queues one job per file, or nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pantheon_engine.docops.rules import load_rules_file, rules_json
from pantheon_engine.errors import SpecError
from pantheon_engine.night.fanout import match_files, queue_each, shared_input
from pantheon_engine.night.jobqueue import JobQueue
from pantheon_engine.night.specs import FlowInput

from conftest import FLOWS

RULES = """\
rules:
  - kind: lowercase_keys
  - kind: absent
    key: draft
  - kind: equals
    key: status
    value: published
"""


def pantheon(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pantheon_engine", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300, env=dict(os.environ))


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    """A workspace with Markdown in nested folders, a hidden folder and house rules."""
    root = tmp_path / "ws"
    for rel in ("docs/b.md", "docs/a.md", "docs/guides/c.markdown", "docs/guides/deep/d.md",
                "notes/n.md", "docs/.drafts/e.md"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(f"---\nTitle: {rel}\ndraft: true\n---\n# {rel}\n")
    (root / "rules.yaml").write_text(RULES)
    return root


@pytest.fixture(scope="module")
def docops() -> FlowInput:
    return FlowInput(FLOWS / "docops.yaml")


def queued(artifacts: Path) -> list:
    with JobQueue.for_artifacts(artifacts) as queue:
        return queue.list()


def test_one_job_per_matched_file_with_the_shared_rules(ws: Path, tmp_path: Path,
                                                        docops: FlowInput) -> None:
    shared = shared_input(rules_file=ws / "rules.yaml")
    made = queue_each(tmp_path / "art", docops, "docs/**/*.md", shared=shared, workspace=ws,
                      priority=4)
    files = ["docs/a.md", "docs/b.md", "docs/guides/deep/d.md"]  # sorted, hidden skipped
    assert made.files == files and made.depth == 3 and made.workspace == ws.resolve()
    jobs = queued(tmp_path / "art")
    assert [j.input["path"] for j in jobs] == files
    want_rules = rules_json(load_rules_file(ws / "rules.yaml"))
    for job in jobs:
        assert job.input == {"rules": want_rules, "path": job.input["path"],
                             "workspace": str(ws.resolve())}
        assert job.flow == str(FLOWS / "docops.yaml") and job.flow_name == "docops"
        assert job.group_key == "doc.frontmatter" and job.priority == 4


def test_globs_are_relative_to_the_workspace(ws: Path) -> None:
    assert match_files(ws, "docs/*.md") == ["docs/a.md", "docs/b.md"]
    assert match_files(ws, "**/*.markdown") == ["docs/guides/c.markdown"]
    assert match_files(ws / "docs", "guides/**/*.md") == ["guides/deep/d.md"]
    assert match_files(ws, "docs/.drafts/*.md") == ["docs/.drafts/e.md"]  # named: kept
    assert match_files(ws, str(ws / "notes" / "*.md")) == ["notes/n.md"]


def test_a_file_that_is_not_markdown_queues_nothing_and_is_named(
        ws: Path, tmp_path: Path, docops: FlowInput) -> None:
    (ws / "docs" / "logo.png").write_bytes(b"\x89PNG")
    (ws / "docs" / "todo.txt").write_text("later")
    with pytest.raises(SpecError) as err:
        queue_each(tmp_path / "art", docops, "docs/*", workspace=ws,
                   shared=shared_input(rules_file=ws / "rules.yaml"))
    assert "docs/logo.png" in err.value.message and "docs/todo.txt" in err.value.message
    assert "docs/a.md" not in err.value.message
    assert queued(tmp_path / "art") == []


def test_a_glob_that_matches_nothing_is_an_error(ws: Path, docops: FlowInput,
                                                  tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="no file"):
        queue_each(tmp_path / "art", docops, "docs/*.rst", workspace=ws,
                   shared=shared_input(rules_file=ws / "rules.yaml"))
    assert queued(tmp_path / "art") == []


def test_files_outside_the_workspace_are_refused(ws: Path, tmp_path: Path) -> None:
    (tmp_path / "outside.md").write_text("# secret\n")
    with pytest.raises(SpecError, match="outside the workspace"):
        match_files(ws, "../*.md")
    with pytest.raises(SpecError, match="outside the workspace"):
        match_files(ws, str(tmp_path / "*.md"))
    (ws / "docs" / "link.md").symlink_to(tmp_path / "outside.md")
    with pytest.raises(SpecError, match=r"docs/link\.md"):
        match_files(ws, "docs/*.md")


def test_every_input_is_checked_before_anything_is_queued(ws: Path, tmp_path: Path,
                                                          docops: FlowInput) -> None:
    with pytest.raises(SpecError) as err:  # docops needs rules: none were given
        queue_each(tmp_path / "art", docops, "docs/*.md", workspace=ws)
    assert "docs/a.md" in err.value.message and "rules" in err.value.message
    assert queued(tmp_path / "art") == []


def test_the_shared_input_is_rules_or_a_json_object(ws: Path, tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="not both"):
        shared_input(rules_file=ws / "rules.yaml", input_file=ws / "x.json")
    task = tmp_path / "task.json"
    task.write_text(json.dumps({"rules": [{"kind": "lowercase_keys"}], "path": "docs/a.md"}))
    with pytest.raises(SpecError, match="path"):
        shared_input(input_file=task)
    task.write_text(json.dumps({"rules": [{"kind": "lowercase_keys"}]}))
    assert shared_input(input_file=task) == {"rules": [{"kind": "lowercase_keys"}]}


def test_cli_fans_out_over_a_glob_from_the_workspace(ws: Path) -> None:
    proc = pantheon("queue", "add", "docops", "--rules", "rules.yaml", "--each",
                    "docs/**/*.md", cwd=ws)
    assert proc.returncode == 0, proc.stderr
    assert "queued 3 job(s) on docops" in proc.stdout and "queue depth 3" in proc.stdout
    assert [j.input["path"] for j in queued(ws / "artifacts")] == [
        "docs/a.md", "docs/b.md", "docs/guides/deep/d.md"]
    (ws.parent / "task.json").write_text(json.dumps({"rules": [{"kind": "lowercase_keys"}]}))
    again = pantheon("queue", "add", "docops", "--input", "task.json", "--each", "notes/*.md",
                     "--workspace", str(ws), "--artifacts", str(ws / "artifacts"),
                     cwd=ws.parent)
    assert again.returncode == 0, again.stderr
    assert "queued 1 job(s)" in again.stdout and "queue depth 4" in again.stdout
    last = queued(ws / "artifacts")[-1]
    assert last.input == {"rules": [{"kind": "lowercase_keys"}], "path": "notes/n.md",
                          "workspace": str(ws.resolve())}


def test_cli_bad_rules_file_exits_2_naming_it_and_queues_nothing(ws: Path) -> None:
    (ws / "bad-rules.yaml").write_text("rules:\n  - kind: absent\n")  # absent needs a key
    proc = pantheon("queue", "add", "docops", "--rules", "bad-rules.yaml", "--each",
                    "docs/*.md", cwd=ws)
    assert proc.returncode == 2
    assert "bad-rules.yaml" in proc.stderr and "key" in proc.stderr
    (ws / "broken.yaml").write_text("rules: [\n")
    proc = pantheon("queue", "add", "docops", "--rules", "broken.yaml", "--each",
                    "docs/*.md", cwd=ws)
    assert proc.returncode == 2 and "broken.yaml" in proc.stderr and "YAML" in proc.stderr
    assert not (ws / "artifacts" / "queue.sqlite").exists() or queued(ws / "artifacts") == []


def test_cli_non_markdown_and_empty_globs_exit_2(ws: Path) -> None:
    (ws / "docs" / "todo.txt").write_text("later")
    wrong = pantheon("queue", "add", "docops", "--rules", "rules.yaml", "--each", "docs/*",
                     cwd=ws)
    assert wrong.returncode == 2 and "docs/todo.txt" in wrong.stderr
    empty = pantheon("queue", "add", "docops", "--rules", "rules.yaml", "--each", "src/*.md",
                     cwd=ws)
    assert empty.returncode == 2 and "no file" in empty.stderr
    stray = pantheon("queue", "add", "docops", "--rules", "rules.yaml", cwd=ws)
    assert stray.returncode == 2 and "--each" in stray.stderr
    assert not (ws / "artifacts" / "queue.sqlite").exists() or queued(ws / "artifacts") == []
