"""Morning fixes: a failed docops run fixed by hand becomes a demonstration for its agent.

The failed runs are real docops flow runs on the replay engine (the agent stops early, so
``check.rules`` fails the run); the fixes are edits of the copy ``prepare_fix`` writes, as
an editor would make them. What is asserted is what a user relies on: a fix that passes
its check is replayed through the agent's own loop and lands, with source ``fix``, in a
file ``pantheon traces mine --include`` reads; a fix that fails is refused with the check's
reasons and the edited file stays; nothing outside the fix folder is ever written.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from pantheon_engine.agents.registry import default_registry
from pantheon_engine.atomic import atomic_write_json, read_json
from pantheon_engine.cli.main import app
from pantheon_engine.docops.rules import parse_rules
from pantheon_engine.engines.replay import RecordedReply, ReplayEngine
from pantheon_engine.errors import ConfigError, SpecError, WorkspaceError
from pantheon_engine.evals.suite import SuiteTask
from pantheon_engine.night.triage import TriageLog
from pantheon_engine.policy import Policy
from pantheon_engine.run.flows import load_flow_checked
from pantheon_engine.run.orchestrator import Orchestrator
from pantheon_engine.specialize.demos import demonstrate
from pantheon_engine.specialize.fixes import (
    InexpressibleFix,
    apply_fix,
    editor_command,
    fix_calls,
    prepare_fix,
)
from pantheon_engine.specialize.mine import mine, read_examples

from conftest import FLOWS

PATH = "docs/guide.md"
RULES = [{"kind": "renamed", "key": "Title", "to": "title"},
         {"kind": "absent", "key": "draft"},
         {"kind": "equals", "key": "status", "value": "published"}]
FIXED = ("---\ntitle: Getting started\nauthor: ops-team\nstatus: published\n---\n"
         "# Getting started\n\nInstall the tool, then run `make setup`. The rest of this "
         "guide walks through the\nfirst project.\n")


def tool(name: str, **args: str) -> str:
    return json.dumps({"type": "tool", "name": name, "args": {"path": PATH, **args}})


FINAL = json.dumps({"type": "final", "output": {"summary": "done"}})


async def failed_run(repo: Path, art: Path, replies: list[str],
                     rules: list[dict] | None = None) -> str:
    """A docops run whose agent stops early: its check fails; returns the run id."""
    engine = ReplayEngine([RecordedReply(key="frontmatter", text=t) for t in replies])
    orchestrator = Orchestrator(registry=default_registry(), engine=engine,
                                policy=Policy(mode="day"), artifacts_root=art)
    result = await orchestrator.run(load_flow_checked(FLOWS / "docops.yaml"),
                                    {"path": PATH, "rules": rules or RULES}, repo)
    assert result.status == "failed" and result.failed_node == "check"
    return result.run_id


def doc(front: str, body: str = "# Doc\n\nText.\n") -> str:
    return f"---\n{front}---\n{body}"


# --- the diff as tool calls -----------------------------------------------------------------


def test_the_diff_becomes_renames_deletes_and_sets() -> None:
    before = doc("Title: Hello\ndraft: true\nDate: May 1, 2024\ntags: a, b\nn: 1\n")
    after = doc("title: Hello\ndate: 2024-05-01\ntags: [a, b]\nn: 1\nstatus: published\n")
    calls = [(c.name, c.args) for c in fix_calls(before, after)]
    assert calls == [
        ("fm_rename", {"key": "Title", "new_key": "title"}),  # same value: a rename
        ("fm_rename", {"key": "Date", "new_key": "date"}),  # same name but case ...
        ("fm_delete", {"key": "draft"}),
        ("fm_set", {"key": "date", "value": "2024-05-01", "parse": True}),  # ... and a set
        ("fm_set", {"key": "tags", "value": "[a, b]", "parse": True}),
        ("fm_set", {"key": "status", "value": "published"}),
    ]


def test_a_new_key_in_the_old_ones_place_is_a_rename_unless_a_rule_deletes_it() -> None:
    before = doc("title: Hello\nsummary: x\nauthor: me\ndraft: true\n")
    after = doc("title: Hello\nabstract: y\nauthor: me\nstatus: published\n")
    calls = [(c.name, c.args) for c in fix_calls(before, after)]
    assert calls == [("fm_rename", {"key": "summary", "new_key": "abstract"}),
                     ("fm_rename", {"key": "draft", "new_key": "status"}),
                     ("fm_set", {"key": "abstract", "value": "y"}),
                     ("fm_set", {"key": "status", "value": "published"})]
    rules = parse_rules([{"kind": "absent", "key": "draft"},
                         {"kind": "equals", "key": "status", "value": "published"}])
    calls = [(c.name, c.args) for c in fix_calls(before, after, rules)]
    assert calls[1:] == [("fm_delete", {"key": "draft"}),
                         ("fm_set", {"key": "abstract", "value": "y"}),
                         ("fm_set", {"key": "status", "value": "published"})]
    # a rule's rename wins over a key that merely holds the same value
    before, after = doc("Name: a\n"), doc("alias: a\ntitle: a\n")
    assert fix_calls(before, after)[0].args == {"key": "Name", "new_key": "alias"}
    assert [(c.name, c.args) for c in fix_calls(
        before, after, parse_rules([{"kind": "renamed", "key": "Name", "to": "title"}]))] == [
        ("fm_rename", {"key": "Name", "new_key": "title"}),
        ("fm_set", {"key": "alias", "value": "a"})]


def test_types_count_and_the_body_is_not_the_agents_to_change() -> None:
    # `true` and `1` are equal in Python, not in a document
    assert [(c.name, c.args) for c in fix_calls(doc("x: 1\n"), doc("x: true\n"))] == [
        ("fm_set", {"key": "x", "value": "true", "parse": True})]
    assert [(c.name, c.args) for c in fix_calls(doc("x: 1\n"), doc("x: '1'\n"))] == [
        ("fm_set", {"key": "x", "value": "1"})]
    assert fix_calls(doc("a: 1\n"), doc("a: 1\n")) == []
    with pytest.raises(InexpressibleFix, match="body"):
        fix_calls(doc("a: 1\n"), doc("a: 1\n", body="# Doc\n\nOther text.\n"))
    with pytest.raises(InexpressibleFix, match="cannot be read"):
        fix_calls(doc("a: 1\n"), "---\na: [1\n---\nbody\n")


def test_the_editor_is_visual_then_editor_then_vi(tmp_path: Path) -> None:
    file = tmp_path / "a.md"
    assert editor_command(file, {"VISUAL": "code -w", "EDITOR": "nano"}) == [
        "code", "-w", str(file)]
    assert editor_command(file, {"EDITOR": "emacs -nw"}) == ["emacs", "-nw", str(file)]
    assert editor_command(file, {}) == ["vi", str(file)]


# --- a fix that passes becomes a demonstration ----------------------------------------------


async def test_a_passing_fix_is_replayed_through_the_loop_and_recorded(
        docops_repo: Path, tmp_path: Path) -> None:
    art = tmp_path / "art"
    run_id = await failed_run(docops_repo, art, [tool("fm_rename", key="Title",
                                                      new_key="title"), FINAL])
    meta = read_json(art / "runs" / run_id / "run.json")
    assert not Path(meta["worktree"]).exists()  # a finished run removes its worktree

    target = prepare_fix(art, run_id)
    assert (target.node, target.failed_node, target.agent) == ("frontmatter", "check",
                                                               "doc.frontmatter@1")
    assert target.file == (art / "fixes" / run_id / PATH).resolve()
    # the copy starts as the agent left the file: its rename replayed on the base text
    assert target.origin == "agent"
    assert target.file.read_text().startswith("---\ntitle: Getting started\ndraft: true\n")
    assert "Title:" in target.base_text
    target.file.write_text(FIXED)

    result = await apply_fix(art, target, clock=lambda: 1000.0)
    assert result.recorded, result.reasons
    assert [(c.name, c.args) for c in result.calls] == [
        ("fm_rename", {"key": "Title", "new_key": "title"}),
        ("fm_delete", {"key": "draft"}), ("fm_set", {"key": "status", "value": "published"})]
    out = art / "specialize" / "doc.frontmatter" / "fixes.jsonl"
    assert result.out == str(out) and result.examples == 4
    examples = read_examples(out)
    assert [(e.meta.source, e.meta.kind, e.meta.run_id) for e in examples] == [
        ("fix", "tool", run_id)] * 3 + [("fix", "final", run_id)]
    assert [json.loads(e.reply)["name"] for e in examples[:3]] == [
        "fm_rename", "fm_delete", "fm_set"]

    # exactly the conversation the loop sends: the scripted demonstrator, which makes the
    # same edits through the same loop, saw the same requests
    spec = default_registry().get("doc.frontmatter")
    task = SuiteTask(id="t1", agent=spec.name, input={"path": PATH, "rules": RULES},
                     split="train", line=1)
    demo = await demonstrate(spec, task, docops_repo, tmp_path / "demo", run_id="d1")
    assert demo.status == "passed"
    assert [e.messages for e in examples] == [e.messages for e in demo.examples(
        source="demo", agent=spec.ref, tools=[])]
    assert "Title: \"Getting started\"" in examples[0].messages[1].content

    # the failure is triaged, and `pantheon traces mine --include` takes the file
    assert TriageLog(art).marks()[f"{run_id}/check"].mark == "triaged"
    mined, kept = await mine(art, spec, include=[out])
    assert mined.counts.by_source == {"fix": 4} and len(kept) == 4
    saved = read_json(art / "fixes" / f"{run_id}.json")
    assert saved["status"] == "recorded" and saved["examples"] == 4

    # fixing the same run again replaces its examples instead of adding copies
    again = await apply_fix(art, prepare_fix(art, run_id))
    assert again.recorded and len(read_examples(out)) == 4


async def test_a_failing_fix_is_refused_with_the_checks_reasons_and_kept(
        docops_repo: Path, tmp_path: Path) -> None:
    art = tmp_path / "art"
    run_id = await failed_run(docops_repo, art, [FINAL])
    target = prepare_fix(art, run_id)
    assert target.origin == "base"  # the agent made no edit
    half = target.file.read_text().replace("draft: true\n", "")
    target.file.write_text(half)

    result = await apply_fix(art, target)
    assert result.status == "check_failed" and not result.recorded
    assert result.reasons == ["renamed:Title: `Title` is still there",
                              "equals:status: `status` is missing"]
    assert str(target.file) in result.headline()
    assert target.file.read_text() == half  # nothing is lost
    assert not (art / "specialize").exists()
    assert f"{run_id}/check" not in TriageLog(art).marks()
    assert read_json(art / "fixes" / f"{run_id}.json")["status"] == "check_failed"

    # the next attempt continues from the kept copy; --fresh starts again
    assert prepare_fix(art, run_id).origin == "earlier fix"
    assert target.file.read_text() == half
    assert prepare_fix(art, run_id, fresh=True).origin == "base"
    assert "draft: true" in target.file.read_text()


async def test_a_fix_outside_the_agents_grammar_is_refused_and_kept(
        docops_repo: Path, tmp_path: Path) -> None:
    heading = "A " + "very " * 20 + "long title"  # longer than a value the grammar allows
    page = docops_repo / PATH
    page.write_text(f"---\nauthor: ops\n---\n# {heading}\n\nText.\n")
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@localhost", "commit",
                    "-qam", "long heading"], cwd=docops_repo, check=True)
    art = tmp_path / "art"
    run_id = await failed_run(docops_repo, art, [FINAL], rules=[{"kind": "title_heading"}])
    target = prepare_fix(art, run_id)
    target.file.write_text(f"---\nauthor: ops\ntitle: {heading}\n---\n# {heading}\n\nText.\n")

    result = await apply_fix(art, target)
    assert result.passed_check and result.status == "replay_failed"
    assert any("outside the agent's grammar" in reason for reason in result.reasons)
    assert not (art / "specialize").exists()
    assert f"title: {heading}" in target.file.read_text()


# --- what is refused before anything is edited ----------------------------------------------


def hand_run(art: Path, run_id: str, run_input: dict, **extra: object) -> None:
    atomic_write_json(art / "runs" / run_id / "run.json", {
        "run_id": run_id, "flow": "docops", "status": "failed", "input": run_input,
        "agents": {"frontmatter": "doc.frontmatter@1", "check": "check.rules@1"},
        "failed_node": "check", "repo": str(art / "nowhere"), "base": "HEAD", **extra})


def test_a_path_leading_out_of_the_fix_folder_is_refused(tmp_path: Path) -> None:
    art = tmp_path / "art"
    hand_run(art, "run-1", {"path": "../../outside.md", "rules": RULES})
    with pytest.raises(WorkspaceError, match="outside"):
        prepare_fix(art, "run-1")
    assert not (tmp_path / "outside.md").exists()
    assert sorted(p.name for p in (art / "fixes").rglob("*")) == ["run-1"]
    with pytest.raises(SpecError, match="not a run id"):
        prepare_fix(art, "../run-1")


def test_holdout_runs_other_flows_and_unknown_runs_are_refused(tmp_path: Path) -> None:
    art = tmp_path / "art"
    hand_run(art, "run-h", {"path": PATH, "rules": RULES}, split="holdout")
    with pytest.raises(ConfigError, match="holdout"):
        prepare_fix(art, "run-h")
    atomic_write_json(art / "runs" / "run-c" / "run.json", {
        "run_id": "run-c", "flow": "spec2code", "input": {"title": "x"},
        "agents": {"codegen": "codegen@1", "test": "test.pytest@1"}, "failed_node": "test"})
    with pytest.raises(SpecError, match="no document agent"):
        prepare_fix(art, "run-c")
    with pytest.raises(SpecError, match=r"no readable run\.json"):
        prepare_fix(art, "run-missing")


async def test_a_worktree_still_there_is_where_the_copy_starts(
        docops_repo: Path, tmp_path: Path) -> None:
    """An interrupted run keeps its worktree for its resume: the fix starts from it."""
    art = tmp_path / "art"
    run_id = await failed_run(docops_repo, art, [FINAL])
    meta = read_json(art / "runs" / run_id / "run.json")
    subprocess.run(["git", "worktree", "add", "-q", "--detach", meta["worktree"],
                    meta["base"]], cwd=docops_repo, check=True)
    in_progress = Path(meta["worktree"]) / PATH
    in_progress.write_text(in_progress.read_text().replace("draft: true\n", ""))
    target = prepare_fix(art, run_id)
    assert target.origin == "worktree"
    assert target.file.read_text() == in_progress.read_text()
    assert "draft: true" in target.base_text  # graded against the run's base, not the tree
    assert in_progress.parent != target.file.parent  # the worktree itself is not edited


# --- pantheon fix -------------------------------------------------------------------------


def test_pantheon_fix_opens_the_editor_then_records(
        docops_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    art = tmp_path / "art"
    run_id = asyncio.run(failed_run(docops_repo, art, [FINAL]))
    editor = tmp_path / "editor.py"
    editor.write_text("import sys\nfrom pathlib import Path\n"
                      f"Path(sys.argv[1]).write_text({FIXED!r})\n")
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", f"{sys.executable} {editor}")
    runner = CliRunner()
    result = runner.invoke(app, ["fix", run_id, "--artifacts", str(art)])
    assert result.exit_code == 0, result.output
    assert "fix recorded as 4 example(s) for doc.frontmatter@1" in result.output
    assert "pantheon traces mine doc.frontmatter" in result.output

    # a copy that fails its check: exit 1, the reasons, the file kept
    copy = art / "fixes" / run_id / PATH
    copy.write_text(FIXED.replace("status: published\n", ""))
    result = runner.invoke(app, ["fix", run_id, "--artifacts", str(art), "--no-edit",
                                 "--json"])
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["status"] == "check_failed"
    assert data["reasons"] == ["equals:status: `status` is missing"]
    assert yaml.safe_load(copy.read_text().split("---")[1]) == {
        "title": "Getting started", "author": "ops-team"}

    monkeypatch.setenv("EDITOR", "false")  # an editor that fails: nothing is checked
    result = runner.invoke(app, ["fix", run_id, "--artifacts", str(art)])
    assert result.exit_code == 1 and "nothing was checked" in result.output
    result = runner.invoke(app, ["fix", "no-such-run", "--artifacts", str(art)])
    assert result.exit_code == 2 and "no readable run.json" in result.output
