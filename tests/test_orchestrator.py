"""Flows end to end on the replay engine: success, stop-on-fail, retries, the bundle."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from pantheon_engine.agents.registry import default_registry
from pantheon_engine.artifacts import verify_manifest
from pantheon_engine.engines.replay import RecordedReply, ReplayEngine
from pantheon_engine.errors import SpecError
from pantheon_engine.policy import Policy
from pantheon_engine.run.flows import load_flow_checked, parse_flow
from pantheon_engine.run.orchestrator import Orchestrator

from conftest import EXAMPLES, FLOWS, reference_review

SHOUT = (
    '"""Word helpers."""\n\n\ndef count_words(text: str) -> int:\n'
    '    """Number of whitespace-separated words in ``text``."""\n'
    "    return len(text.split())\n\n\ndef shout(text: str) -> str:\n"
    '    return text.upper() + "!"\n'
)


def tool(name: str, **args: object) -> str:
    return json.dumps({"type": "tool", "name": name, "args": args})


def final(**output: object) -> str:
    return json.dumps({"type": "final", "output": output})


def replies(**by_node: list[str]) -> ReplayEngine:
    return ReplayEngine([RecordedReply(key=node, text=t)
                         for node, texts in by_node.items() for t in texts])


def orchestrator(engine: ReplayEngine, artifacts: Path, mode: str = "night") -> Orchestrator:
    return Orchestrator(registry=default_registry(), engine=engine, policy=Policy(mode=mode),
                        artifacts_root=artifacts)


def spec_input() -> dict:
    data = json.loads((EXAMPLES / "spec2code" / "input.json").read_text())
    data.pop("workspace")
    return data


def all_json_parses(run_dir: Path) -> None:
    for path in run_dir.rglob("*.json"):
        json.loads(path.read_text())
    for path in run_dir.rglob("*.jsonl"):
        for line in path.read_text().splitlines():
            json.loads(line)


async def test_spec2code_green_run_merges_on_a_branch(spec_repo: Path, tmp_path: Path) -> None:
    engine = replies(
        codegen=[tool("write_file", path="textkit/words.py", content=SHOUT),
                 final(summary="added shout")],
        reviewA=reference_review(),
        reviewB=reference_review(),
    )
    flow = load_flow_checked(FLOWS / "spec2code.yaml")
    result = await orchestrator(engine, tmp_path / "art").run(flow, spec_input(), spec_repo)
    assert result.status == "ok", result.error
    assert [n.status for n in result.nodes] == ["ok"] * 6
    run_dir = Path(result.dir)
    branch = f"pantheon/{result.run_id}"
    assert result.branch == branch
    shown = subprocess.run(["git", "show", f"{branch}:textkit/words.py"], cwd=spec_repo,
                           capture_output=True, text=True, check=True).stdout
    assert "def shout" in shown
    # the user's checkout is untouched: agents worked in a worktree
    assert "shout" not in (spec_repo / "textkit" / "words.py").read_text()
    for name in ("input.json", "prompt.txt", "tool_calls.jsonl", "model_calls.jsonl",
                 "output.json", "diff.patch", "metrics.json"):
        assert (run_dir / "codegen" / name).exists(), name
    assert (run_dir / "test" / "tests.log").exists()
    assert json.loads((run_dir / "test" / "report.json").read_text())["passed"] is True
    assert json.loads((run_dir / "reviewA" / "review.json").read_text())["verdict"] == "pass"
    assert "+def shout" in (run_dir / "codegen" / "diff.patch").read_text()
    run = json.loads((run_dir / "run.json").read_text())
    assert run["status"] == "ok" and run["agents"]["codegen"] == "codegen@1"
    assert not (run_dir / "FAILED.json").exists()
    assert verify_manifest(run_dir) == []
    all_json_parses(run_dir)


async def test_failing_tests_stop_the_flow(spec_repo: Path, tmp_path: Path) -> None:
    engine = replies(codegen=[tool("write_file", path="textkit/words.py",
                                   content=SHOUT.replace('+ "!"', "")),
                              final(summary="wrong")])
    flow = load_flow_checked(FLOWS / "spec2code.yaml")
    result = await orchestrator(engine, tmp_path / "art").run(flow, spec_input(), spec_repo)
    assert result.status == "failed"
    assert result.failed_node == "test" and result.error_kind == "tests_failed"
    statuses = {n.id: n.status for n in result.nodes}
    assert statuses == {"plan": "ok", "codegen": "ok", "test": "failed", "reviewA": "not_run",
                        "reviewB": "not_run", "merge": "not_run"}
    run_dir = Path(result.dir)
    failed = json.loads((run_dir / "FAILED.json").read_text())
    assert failed["node"] == "test" and failed["error_kind"] == "tests_failed"
    assert (run_dir / "test" / "error.json").exists()
    assert "1 failed, 1 passed" in (run_dir / "test" / "tests.log").read_text()
    assert verify_manifest(run_dir) == []
    all_json_parses(run_dir)
    branches = subprocess.run(["git", "branch", "--list", "pantheon/*"], cwd=spec_repo,
                              capture_output=True, text=True, check=True).stdout
    assert branches.strip() == ""


async def test_a_rejecting_reviewer_blocks_the_merge(docops_repo: Path, tmp_path: Path) -> None:
    engine = replies(
        frontmatter=[tool("fm_rename", path="docs/guide.md", key="Title", new_key="title"),
                     tool("fm_delete", path="docs/guide.md", key="draft"),
                     tool("fm_set", path="docs/guide.md", key="status", value="published"),
                     final(summary="normalised")],
        reviewA=[final(verdict="pass", rationale="ok")],
        reviewB=[final(verdict="fail", rationale="author key should go too")],
    )
    flow = load_flow_checked(FLOWS / "docops.yaml")
    data = {"path": "docs/guide.md", "rename": {"Title": "title"}, "delete": ["draft"],
            "set": {"status": "published"}}
    result = await orchestrator(engine, tmp_path / "art").run(flow, data, docops_repo)
    assert result.status == "failed" and result.failed_node == "merge"
    assert result.error_kind == "review_rejected"
    assert "author key" in (result.error or "")


async def test_an_early_final_is_graded_by_the_check_not_the_agent(
        docops_repo: Path, tmp_path: Path) -> None:
    engine = replies(
        frontmatter=[tool("fm_rename", path="docs/guide.md", key="Title", new_key="title"),
                     final(summary="all done")],  # the agent says done; the file says no
        reviewA=[final(verdict="pass", rationale="ok")],
        reviewB=[final(verdict="pass", rationale="ok")],
    )
    flow = load_flow_checked(FLOWS / "docops.yaml")
    data = {"path": "docs/guide.md", "rename": {"Title": "title"}, "delete": ["draft"],
            "set": {"status": "published"}}
    result = await orchestrator(engine, tmp_path / "art").run(flow, data, docops_repo)
    assert result.status == "failed" and result.failed_node == "check"
    assert result.error_kind == "check_failed"
    assert "1 of 3 rules met" in (result.error or "") and "absent:draft" in (result.error or "")
    statuses = {n.id: n.status for n in result.nodes}
    assert statuses["frontmatter"] == "ok" and statuses["merge"] == "not_run"
    run = json.loads((Path(result.dir) / "run.json").read_text())
    assert run["check"]["passed"] is False
    assert run["check"]["graded"] == ["doc.frontmatter@1"]
    report = json.loads((Path(result.dir) / "check" / "report.json").read_text())
    assert [r["label"] for r in report["rules"] if not r["ok"]] == ["absent:draft",
                                                                    "equals:status"]


async def test_docops_green(docops_repo: Path, tmp_path: Path) -> None:
    engine = replies(
        frontmatter=[tool("fm_rename", path="docs/guide.md", key="Title", new_key="title"),
                     tool("fm_delete", path="docs/guide.md", key="draft"),
                     tool("fm_set", path="docs/guide.md", key="status", value="published"),
                     final(summary="normalised")],
        reviewA=[final(verdict="pass", rationale="ok")],
        reviewB=[final(verdict="pass", rationale="ok")],
    )
    flow = load_flow_checked(FLOWS / "docops.yaml")
    data = {"path": "docs/guide.md", "rename": {"Title": "title"}, "delete": ["draft"],
            "set": {"status": "published"}}
    result = await orchestrator(engine, tmp_path / "art").run(flow, data, docops_repo)
    assert result.status == "ok", result.error
    node = result.nodes[0]
    assert node.failures == {} and node.tool_calls == 3
    assert json.loads((Path(result.dir) / "run.json").read_text())["check"]["passed"] is True
    text = subprocess.run(["git", "show", f"{result.branch}:docs/guide.md"], cwd=docops_repo,
                          capture_output=True, text=True, check=True).stdout
    assert text.startswith("---\ntitle: Getting started\n")
    assert "draft" not in text and "status: published" in text
    assert "Install the tool" in text
    # the node's diff is a patch that applies to the user's (untouched) checkout
    patch = Path(result.dir) / "frontmatter" / "diff.patch"
    subprocess.run(["git", "apply", "--check", str(patch)], cwd=docops_repo, check=True)
    output = json.loads((Path(result.dir) / "frontmatter" / "output.json").read_text())
    assert (output["files_changed"], output["lines_added"], output["lines_removed"]) == (1, 2, 2)


async def test_retries_rerun_a_failed_node(docops_repo: Path, tmp_path: Path) -> None:
    flow = parse_flow(
        "name: one\ninput: input\nnodes:\n  - id: fm\n    agent: doc.frontmatter\n"
        "    inputs: [input]\n    retries: 1\noutput: fm\n",
        source="one.yaml", known_agents=lambda n: n in default_registry(),
    )
    engine = replies(fm=["garbage"] * 6 + [
        tool("fm_delete", path="docs/guide.md", key="draft"), final(summary="done")])
    result = await orchestrator(engine, tmp_path / "art").run(
        flow, {"path": "docs/guide.md", "delete": ["draft"]}, docops_repo)
    assert result.status == "ok"
    assert result.nodes[0].attempts == 2


async def test_bad_input_is_refused_before_anything_runs(spec_repo: Path,
                                                         tmp_path: Path) -> None:
    flow = load_flow_checked(FLOWS / "spec2code.yaml")
    with pytest.raises(SpecError, match="acceptance"):
        await orchestrator(replies(), tmp_path / "art").run(
            flow, {"title": "x y z", "scope": "abc", "files": ["a.py"]}, spec_repo)
    assert not (tmp_path / "art" / "runs").exists()


async def test_replay_of_a_recorded_run_reproduces_it(spec_repo: Path, tmp_path: Path) -> None:
    engine = replies(
        codegen=[tool("read_file", path="textkit/words.py"),
                 tool("write_file", path="textkit/words.py", content=SHOUT),
                 final(summary="added shout")],
        reviewA=reference_review(),
        reviewB=reference_review(),
    )
    flow = load_flow_checked(FLOWS / "spec2code.yaml")
    first = await orchestrator(engine, tmp_path / "a").run(flow, spec_input(), spec_repo)
    again = ReplayEngine.from_path(first.dir)
    second = await orchestrator(again, tmp_path / "b").run(flow, spec_input(), spec_repo)
    assert second.status == first.status == "ok"
    assert [(n.id, n.steps, n.tool_calls) for n in second.nodes] == \
        [(n.id, n.steps, n.tool_calls) for n in first.nodes]
    assert (Path(second.dir) / "codegen" / "diff.patch").read_text() == \
        (Path(first.dir) / "codegen" / "diff.patch").read_text()


async def test_a_document_that_already_complies_ends_ok_with_nothing_merged(
        docops_repo: Path, tmp_path: Path) -> None:
    """The check passes and both reviewers pass the empty change: the run is done, no branch
    is made, and the merge report says nothing was merged (not a failure)."""
    engine = replies(
        frontmatter=[final(summary="already follows the rules")],
        reviewA=[final(verdict="pass", rationale="nothing to change")],
        reviewB=[final(verdict="pass", rationale="nothing to change")],
    )
    flow = load_flow_checked(FLOWS / "docops.yaml")
    data = {"path": "docs/guide.md", "delete": ["never_there"]}
    result = await orchestrator(engine, tmp_path / "art").run(flow, data, docops_repo)
    assert result.status == "ok", result.error
    report = json.loads((Path(result.dir) / "merge" / "report.json").read_text())
    assert report["merged"] is False and report["files_changed"] == 0
    branches = subprocess.run(["git", "branch", "--list", "pantheon/*"], cwd=docops_repo,
                              capture_output=True, text=True, check=True).stdout
    assert not branches.strip()
