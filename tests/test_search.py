"""Search (``--search K``): the flow's own check picks among a model node's candidates."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from pantheon_engine.agents.registry import default_registry
from pantheon_engine.artifacts import verify_manifest
from pantheon_engine.engines.replay import RecordedReply, ReplayEngine
from pantheon_engine.errors import UserError
from pantheon_engine.policy import Policy
from pantheon_engine.run.flows import load_flow_checked
from pantheon_engine.run.orchestrator import Orchestrator
from pantheon_engine.run.search import SEARCH_TEMPERATURE, searched_check

from conftest import EXAMPLES, FLOWS, reference_review

GOOD = (
    '"""Word helpers."""\n\n\ndef count_words(text: str) -> int:\n'
    '    """Number of whitespace-separated words in ``text``."""\n'
    "    return len(text.split())\n\n\ndef shout(text: str) -> str:\n"
    '    return text.upper() + "!"\n'
)
WRONG = GOOD.replace('+ "!"', "")


def tool(name: str, **args: object) -> str:
    return json.dumps({"type": "tool", "name": name, "args": args})


def final(**output: object) -> str:
    return json.dumps({"type": "final", "output": output})


def candidate(*calls: str) -> list[RecordedReply]:
    """One codegen candidate: its tool calls then its final, 10+5 tokens a reply."""
    return [RecordedReply(key="codegen", text=t, prompt_tokens=10, completion_tokens=5)
            for t in [*calls, final(summary="done")]]


def engine(*candidates: list[RecordedReply], reviews: bool = True) -> ReplayEngine:
    replies = [r for c in candidates for r in c]
    if reviews:
        replies += [RecordedReply(key=k, text=t) for k in ("reviewA", "reviewB")
                    for t in reference_review()]
    return ReplayEngine(replies)


def orchestrator(replay: ReplayEngine, artifacts: Path, search: int) -> Orchestrator:
    return Orchestrator(registry=default_registry(), engine=replay,
                        policy=Policy(mode="night"), artifacts_root=artifacts, seed=7,
                        search=search)


def spec_input() -> dict:
    data = json.loads((EXAMPLES / "spec2code" / "input.json").read_text())
    data.pop("workspace")
    return data


def branch_files(repo: Path, branch: str) -> list[str]:
    return subprocess.run(["git", "diff", "--name-only", "main", branch], cwd=repo,
                          capture_output=True, text=True, check=True).stdout.split()


def test_the_check_that_selects_is_the_first_check_below_a_model_node() -> None:
    registry = default_registry()
    spec2code = load_flow_checked(FLOWS / "spec2code.yaml")
    docops = load_flow_checked(FLOWS / "docops.yaml")
    assert searched_check(spec2code, registry, "codegen") == "test"
    assert searched_check(docops, registry, "frontmatter") == "check"
    # builtin nodes and model nodes below the check are never searched
    assert searched_check(spec2code, registry, "plan") is None
    assert searched_check(spec2code, registry, "reviewA") is None


@pytest.mark.parametrize("k", [0, -2])
def test_search_below_one_is_a_clear_error(k: int, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="--search must be"):
        orchestrator(engine(), tmp_path / "art", k)


async def test_a_model_that_is_never_right_is_never_accepted(spec_repo: Path,
                                                             tmp_path: Path) -> None:
    wrong = [candidate(tool("write_file", path="textkit/words.py", content=WRONG))
             for _ in range(4)]
    flow = load_flow_checked(FLOWS / "spec2code.yaml")
    result = await orchestrator(engine(*wrong), tmp_path / "art", 4).run(
        flow, spec_input(), spec_repo)
    # the run fails exactly as it does without search
    assert result.status == "failed"
    assert result.failed_node == "test" and result.error_kind == "tests_failed"
    assert {n.id: n.status for n in result.nodes}["merge"] == "not_run"
    search = result.search
    assert search is not None
    assert search["tried"] == 4 and search["accepted"] is None
    assert search["passed_first"] is False
    assert [c["check"] for c in search["nodes"][0]["candidates"]] == ["failed"] * 4
    assert search["tokens"] == 4 * 2 * 15
    run_dir = Path(result.dir)
    # candidate 1 is kept: its files are the node's and the check's
    assert (run_dir / "test" / "error.json").exists()
    assert "1 failed, 1 passed" in (run_dir / "test" / "tests.log").read_text()
    assert json.loads((run_dir / "run.json").read_text())["search"]["tried"] == 4
    for n in range(1, 5):
        verdict = json.loads(
            (run_dir / "codegen" / "candidates" / str(n) / "candidate.json").read_text())
        assert verdict["check"] == "failed"
    assert verify_manifest(run_dir) == []


async def test_the_third_candidate_is_accepted_from_a_clean_workspace(
        spec_repo: Path, tmp_path: Path) -> None:
    first = candidate(tool("write_file", path="textkit/words.py", content=WRONG))
    second = candidate(tool("write_file", path="textkit/junk.py", content="BROKEN = (\n"),
                       tool("write_file", path="textkit/words.py", content=WRONG))
    third = candidate(tool("write_file", path="textkit/words.py", content=GOOD))
    flow = load_flow_checked(FLOWS / "spec2code.yaml")
    result = await orchestrator(engine(first, second, third), tmp_path / "art", 4).run(
        flow, spec_input(), spec_repo)
    assert result.status == "ok", result.error
    search = result.search
    assert search is not None
    assert search["accepted"] == 3 and search["tried"] == 3
    assert search["passed_first"] is False
    assert search["tokens"] == (2 + 3 + 2) * 15
    tried = search["nodes"][0]["candidates"]
    assert [(c["n"], c["seed"], c["check"]) for c in tried] == \
        [(1, 7, "failed"), (2, 8, "failed"), (3, 9, "passed")]
    assert tried[0]["temperature"] == 0.0
    assert tried[2]["temperature"] == SEARCH_TEMPERATURE
    # candidate 2's bad edit is gone: only candidate 3's change is merged
    assert branch_files(spec_repo, result.branch or "") == ["textkit/words.py"]
    run_dir = Path(result.dir)
    assert "junk" not in (run_dir / "codegen" / "diff.patch").read_text()
    assert "+    return text.upper() + \"!\"" in (run_dir / "codegen" / "diff.patch").read_text()
    assert "junk.py" in (run_dir / "codegen" / "candidates" / "2" / "diff.patch").read_text()
    # the kept check result is the run's, not run again
    assert json.loads((run_dir / "test" / "report.json").read_text())["passed"] is True
    assert not (run_dir / "codegen" / "candidates" / "3" / "test").exists()
    assert (run_dir / "codegen" / "candidates" / "2" / "test" / "error.json").exists()
    assert verify_manifest(run_dir) == []


async def test_search_one_runs_as_without_search(spec_repo: Path, tmp_path: Path) -> None:
    flow = load_flow_checked(FLOWS / "spec2code.yaml")
    replay = engine(candidate(tool("write_file", path="textkit/words.py", content=WRONG)),
                    candidate(tool("write_file", path="textkit/words.py", content=GOOD)))
    result = await orchestrator(replay, tmp_path / "art", 1).run(flow, spec_input(), spec_repo)
    assert result.status == "failed" and result.failed_node == "test"
    assert result.search is None
    run_dir = Path(result.dir)
    assert not (run_dir / "codegen" / "candidates").exists()
    assert json.loads((run_dir / "run.json").read_text()).get("search") is None
    assert replay.remaining("codegen") == 2  # the second program was never asked for


async def test_a_first_candidate_that_passes_is_pass_at_one(docops_repo: Path,
                                                            tmp_path: Path) -> None:
    replay = ReplayEngine([RecordedReply(key=k, text=t) for k, t in [
        ("frontmatter", tool("fm_delete", path="docs/guide.md", key="draft")),
        ("frontmatter", final(summary="done")),
        ("reviewA", final(verdict="pass", rationale="ok")),
        ("reviewB", final(verdict="pass", rationale="ok"))]])
    flow = load_flow_checked(FLOWS / "docops.yaml")
    result = await orchestrator(replay, tmp_path / "art", 3).run(
        flow, {"path": "docs/guide.md", "delete": ["draft"]}, docops_repo)
    assert result.status == "ok", result.error
    assert result.search is not None
    assert (result.search["accepted"], result.search["tried"]) == (1, 1)
    assert result.search["passed_first"] is True


async def test_the_morning_report_counts_pass_at_one_and_accepted_apart(
        spec_repo: Path, docops_repo: Path, tmp_path: Path) -> None:
    from pantheon_engine.night.report import render_markdown
    from pantheon_engine.night.summary import build_summary

    art = tmp_path / "art"
    spec = engine(candidate(tool("write_file", path="textkit/words.py", content=WRONG)),
                  candidate(tool("write_file", path="textkit/words.py", content=GOOD)))
    ran = await orchestrator(spec, art, 4).run(
        load_flow_checked(FLOWS / "spec2code.yaml"), spec_input(), spec_repo)
    assert ran.search is not None and ran.search["accepted"] == 2
    docs = ReplayEngine([RecordedReply(key=k, text=t) for k, t in [
        ("frontmatter", final(summary="left it")), ("frontmatter", final(summary="again"))]])
    failed = await orchestrator(docs, art, 2).run(
        load_flow_checked(FLOWS / "docops.yaml"), {"path": "docs/guide.md",
                                                   "delete": ["draft"]}, docops_repo)
    assert failed.status == "failed" and failed.failed_node == "check"
    summary = build_summary(art)
    assert summary.search is not None
    tally = summary.search
    assert (tally.k, tally.runs, tally.passed_first, tally.accepted) == (4, 2, 0, 1)
    assert (tally.samples, tally.tokens) == (4, 4 * 15)
    text = render_markdown(summary)
    assert "pass@1 without search 0/2 · accepted with search 1/2" in text
    assert "4.0 samples, 60 tokens per accepted task" in text


async def test_eval_reports_pass_at_one_and_accepted_with_search(tmp_path: Path) -> None:
    from pantheon_engine.evals.runner import run_eval
    from pantheon_engine.evals.suite import load_suite
    from test_eval import (
        AGENT,
        BREAKS_A_KEY,
        COMPLETION_TOKENS,
        FINAL,
        GARBAGE,
        GOOD_RENAME,
        PROMPT_TOKENS,
        recorded,
        write_suite,
    )

    registry = default_registry()
    suite = load_suite(write_suite(tmp_path / "suite"), registry)
    # t1 right at its 2nd candidate, t2 at its 1st, t3 never, t4 after a failed node
    replies = recorded([FINAL], GOOD_RENAME, GOOD_RENAME, BREAKS_A_KEY, BREAKS_A_KEY,
                       GARBAGE, GOOD_RENAME)
    result = await run_eval(suite, agent=AGENT, split="holdout", engine=ReplayEngine(replies),
                            registry=registry, artifacts=tmp_path / "art", concurrency=1,
                            search=2)
    assert [t.passed for t in result.tasks] == [1, 1, 0, 1]
    tally = result.search
    assert tally is not None
    assert (tally.k, tally.runs, tally.passed_first, tally.accepted) == (2, 4, 1, 3)
    assert tally.samples == 2 + 1 + 2 + 2
    assert tally.tokens == (1 + 3 + 3 + 3 + 3 + 5 + 3) * (PROMPT_TOKENS + COMPLETION_TOKENS)
    assert "pass@1 without search 1/4 · accepted with search 3/4" in result.render_text()


@pytest.mark.parametrize("command", [["run", "spec2code", "--input", "x.json"], ["night"],
                                     ["eval", "doc.frontmatter"]])
def test_the_commands_refuse_search_zero(command: list[str], tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from pantheon_engine.cli.main import app

    out = CliRunner().invoke(app, [*command, "--search", "0"])
    assert out.exit_code == 2
    assert "--search must be a whole number of candidates, 1 or more; got 0" in out.output
