"""The model makes the decisions: no built-in agent's grammar or prompt gives away the answer.

For each built-in model agent, on a concrete task: the grammar the engine would enforce
accepts at least one valid call that leaves the task unsolved (as well as the right
ones), no text the model is shown (prompt, progress, retry messages) contains the
expected edit, and a model that replies final at once fails the task's check.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pantheon_engine.agents.registry import default_registry
from pantheon_engine.docops.rules import parse_rules
from pantheon_engine.docops.solver import solve
from pantheon_engine.engines.base import Completion, EngineRequest
from pantheon_engine.engines.replay import RecordedReply, ReplayEngine
from pantheon_engine.loop.envelope import block_form
from pantheon_engine.loop.grammar import compact_json
from pantheon_engine.policy import Policy
from pantheon_engine.run.flows import load_flow_checked
from pantheon_engine.run.orchestrator import Orchestrator

from conftest import FLOWS

RULES = [{"kind": "renamed", "key": "Title", "to": "title"}, {"kind": "absent", "key": "draft"},
         {"kind": "equals", "key": "status", "value": "published"},
         {"kind": "title_heading"}]


class SeeingEngine(ReplayEngine):
    """A replay engine that enforces nothing but keeps every request it was sent."""

    supports_constraints = True

    def __init__(self, replies: list[RecordedReply]) -> None:
        super().__init__(replies)
        self.requests: list[EngineRequest] = []

    async def complete(self, request: EngineRequest) -> Completion:
        self.requests.append(request)
        return await super().complete(request)


def reply(key: str, **envelope: Any) -> RecordedReply:
    return RecordedReply(key=key, text=json.dumps(envelope))


async def run_docops(repo: Path, art: Path, frontmatter: list[RecordedReply]
                     ) -> tuple[Any, SeeingEngine]:
    engine = SeeingEngine([*frontmatter,
                           reply("reviewA", type="final",
                                 output={"verdict": "pass", "rationale": "ok"}),
                           reply("reviewB", type="final",
                                 output={"verdict": "pass", "rationale": "ok"})])
    orch = Orchestrator(registry=default_registry(), engine=engine,
                        policy=Policy(mode="night"), artifacts_root=art)
    result = await orch.run(load_flow_checked(FLOWS / "docops.yaml"),
                            {"path": "docs/guide.md", "rules": RULES}, repo)
    return result, engine


def shown_text(engine: SeeingEngine, key: str) -> str:
    return "\n".join(m.content for r in engine.requests if r.key == key for m in r.messages)


async def test_doc_frontmatter_grammar_admits_wrong_calls_and_hides_the_answer(
        docops_repo: Path, tmp_path: Path) -> None:
    original = (docops_repo / "docs" / "guide.md").read_text()
    expected = solve(original, parse_rules(RULES))
    assert len(expected) == 3  # rename Title, delete draft, set status
    wrong = {"type": "tool", "name": "fm_set", "args": {"key": "status", "value": "draft"}}
    result, engine = await run_docops(docops_repo, tmp_path / "art", [
        reply("frontmatter", **wrong),
        reply("frontmatter", type="final", output={"summary": "done"})])

    regexes = {r.constraint.regex for r in engine.requests if r.key == "frontmatter"}
    assert len(regexes) == 1, "one grammar for every step and every task"
    grammar = re.compile(regexes.pop())
    wrong_calls = [wrong, {"type": "final", "output": {"summary": "done"}},
                   {"type": "tool", "name": "fm_delete", "args": {"key": "author"}},
                   {"type": "tool", "name": "fm_rename", "args": {"key": "Title",
                                                                  "new_key": "Heading"}}]
    for call in wrong_calls:
        assert grammar.fullmatch(compact_json(call)), call
    for name, args in expected:  # the right calls are admitted too
        assert grammar.fullmatch(compact_json({"type": "tool", "name": name, "args": args}))

    shown = shown_text(engine, "frontmatter")
    for name, args in expected:
        assert compact_json(args) not in shown
        assert compact_json({"type": "tool", "name": name, "args": args}) not in shown
    assert "NEXT" not in shown and "THEN" not in shown

    # the wrong edit plus an early final: the agent ends "ok", the check fails the task
    assert result.status == "failed" and result.failed_node == "check"
    assert result.check == {"nodes": ["check"], "passed": False,
                            "graded": ["doc.frontmatter@1"], "error": result.error}


async def test_doc_frontmatter_final_at_once_fails_the_task(docops_repo: Path,
                                                            tmp_path: Path) -> None:
    result, _ = await run_docops(docops_repo, tmp_path / "art", [
        reply("frontmatter", type="final", output={"summary": "nothing to do"})])
    assert result.status == "failed" and result.error_kind == "check_failed"
    assert result.check is not None and result.check["passed"] is False


async def test_codegen_grammar_admits_wrong_code_and_final_at_once_fails(
        spec_repo: Path, tmp_path: Path) -> None:
    spec = {"title": "Add shout()", "scope": "Add shout(text) returning text upper-cased "
            "with one exclamation mark.", "acceptance": ['shout("hi") returns "HI!"'],
            "files": ["textkit/words.py"], "tests": "tests"}
    engine = SeeingEngine([reply("codegen", type="final", output={"summary": "done"})] * 8)
    orch = Orchestrator(registry=default_registry(), engine=engine,
                        policy=Policy(mode="night"), artifacts_root=tmp_path / "art")
    result = await orch.run(load_flow_checked(FLOWS / "spec2code.yaml"), spec, spec_repo)
    assert result.status == "failed" and result.failed_node == "codegen"
    assert result.check is not None and result.check["passed"] is not True
    grammar = re.compile(next(r.constraint.regex for r in engine.requests
                              if r.key == "codegen"))
    broken = block_form("write_file", {"path": "textkit/words.py",
                                       "content": "def shout(t):\n    return t\n"}, "content")
    assert grammar.fullmatch(broken)


async def test_review_grammar_admits_either_verdict(docops_repo: Path, tmp_path: Path) -> None:
    original = (docops_repo / "docs" / "guide.md").read_text()
    calls = [reply("frontmatter", type="tool", name=n, args=a)
             for n, a in solve(original, parse_rules(RULES))]
    result, engine = await run_docops(docops_repo, tmp_path / "art", [
        *calls, reply("frontmatter", type="final", output={"summary": "done"})])
    assert result.check is not None and result.check["passed"] is True
    grammar = re.compile(next(r.constraint.regex for r in engine.requests if r.key == "reviewA"))
    for verdict in ("pass", "fail"):
        assert grammar.fullmatch(compact_json(
            {"type": "final", "output": {"verdict": verdict, "rationale": "because"}}))
