"""Which tasks need work: read from a task's meta, recorded by an eval, read back from a
suite, and a paired comparison cut into the two strata."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pantheon_engine.agents.registry import default_registry
from pantheon_engine.docops.generate import make_docops_suite
from pantheon_engine.engines.replay import RecordedReply, ReplayEngine
from pantheon_engine.errors import ConfigError
from pantheon_engine.evals.results import EvalResult, SampleResult, TaskResult
from pantheon_engine.evals.runner import run_eval
from pantheon_engine.evals.stats import mcnemar_exact
from pantheon_engine.evals.strata import stratify, suite_work, task_needs_work
from pantheon_engine.evals.suite import load_suite

from conftest import git_repo

AGENT = "doc.frontmatter"
RULES = [{"kind": "renamed", "key": "Title", "to": "title"}, {"kind": "absent", "key": "draft"}]
FINAL = json.dumps({"type": "final", "output": {"summary": "done"}})


@pytest.mark.parametrize(("meta", "agent", "generator", "expected"), [
    ({"edits": 0}, AGENT, "docops", False),
    ({"edits": 3}, AGENT, "docops", True),
    ({"needs_work": False, "edits": 3}, AGENT, None, False),  # said outright: it wins
    ({"needs_work": True}, AGENT, None, True),
    ({"edits": True}, AGENT, None, None),  # a flag is not a count of edits
    ({"edits": "2"}, AGENT, None, None),
    ({}, "codegen@3", None, True),  # code to write, whatever the suite
    ({}, AGENT, "humaneval", True),
    ({"source": "spec2code"}, AGENT, None, True),
    ({"source": "wiki"}, AGENT, "my-suite", None),
    ({}, AGENT, None, None),
])
def test_a_task_says_whether_it_needs_work(meta: dict[str, object], agent: str,
                                          generator: str | None, expected: bool | None) -> None:
    assert task_needs_work(meta, agent=agent, generator=generator) is expected


def test_a_docops_suite_marks_its_compliant_documents(tmp_path: Path) -> None:
    make_docops_suite(tmp_path / "suite", 16, seed=5)
    suite = load_suite(tmp_path / "suite")
    assert suite.generator == "docops"
    answers = {t.id: task_needs_work(t.meta, agent=AGENT, generator=suite.generator)
               for t in suite.tasks}
    assert answers == {t.id: t.meta["edits"] > 0 for t in suite.tasks}
    assert 0 < sum(not v for v in answers.values()) < len(answers)  # some comply already
    assert suite_work(tmp_path / "suite", AGENT) == answers
    assert suite_work(tmp_path / "nowhere", AGENT) == {}


def _eval(agent: str, passes: list[bool], work: list[bool | None]) -> EvalResult:
    tasks = [TaskResult(id=f"t{i}", split="holdout", samples=1, passed=int(ok),
                        results=[SampleResult(sample=0, passed=ok)], needs_work=w)
             for i, (ok, w) in enumerate(zip(passes, work, strict=True))]
    return EvalResult.build(eval_id=f"e-{agent}", agent=agent, engine="replay", model=None,
                            suite="/s", split="holdout", samples=1, temperature=None, seed=0,
                            seconds=1.0, tasks=tasks)


def test_strata_count_each_part_with_its_own_exact_test() -> None:
    # t0-t5 need work (won 4, lost 1, both 1), t6-t9 are compliant (won 3, neither 1)
    work: list[bool | None] = [True] * 6 + [False] * 4
    new = _eval("a@2", [True] * 4 + [False, True] + [True] * 3 + [False], work)
    old = _eval("a@1", [False] * 4 + [True, True] + [False] * 4, work)
    strata = stratify(new, old)
    assert strata.needs_work.model_dump() == {
        "tasks": 6, "both": 1, "wins": 4, "losses": 1, "neither": 0,
        "p_value": mcnemar_exact(4, 1), "assumed": 0}
    assert strata.no_work.model_dump() == {
        "tasks": 4, "both": 0, "wins": 3, "losses": 0, "neither": 1,
        "p_value": mcnemar_exact(3, 0), "assumed": 0}
    assert "needs work: 6 tasks, won 4, lost 1, both 1, neither 0" in strata.text()
    assert "no work: 4 tasks, won 3, lost 0, both 0, neither 1" in strata.text()


def test_a_task_the_evals_do_not_place_comes_from_the_suite_or_counts_as_work() -> None:
    unknown: list[bool | None] = [None, None, None]
    new, old = _eval("a@2", [True, True, False], unknown), _eval("a@1", [False] * 3, unknown)
    strata = stratify(new, old, {"t0": False})  # t0 from the suite; t1, t2 nobody says
    assert (strata.no_work.tasks, strata.no_work.wins) == (1, 1)
    assert (strata.needs_work.tasks, strata.needs_work.wins, strata.needs_work.assumed) == \
        (2, 1, 2)
    assert "(2 of them because the suite does not say)" in strata.text()
    # one eval's own record is enough
    strata = stratify(_eval("a@2", [True] * 3, [False, None, None]), old)
    assert (strata.no_work.tasks, strata.needs_work.assumed) == (1, 2)


def test_evals_that_disagree_about_a_task_did_not_run_the_same_suite() -> None:
    new = _eval("a@2", [True, False], [True, False])
    old = _eval("a@1", [True, False], [True, True])
    with pytest.raises(ConfigError, match="task 't1' needs work in a@2's eval"):
        stratify(new, old)


async def test_an_eval_records_which_tasks_need_work(tmp_path: Path) -> None:
    """t1 needs edits, t2 already complies, t3 does not say: the eval keeps all three."""
    workspace = tmp_path / "suite" / "workspace"
    (workspace / "docs").mkdir(parents=True)
    docs = {"t1": "---\nTitle: T1\ndraft: true\n---\n# T1\n\nSome text.\n",
            "t2": "---\ntitle: T2\n---\n# T2\n\nSome text.\n",
            "t3": "---\ntitle: T3\n---\n# T3\n\nSome text.\n"}
    metas = {"t1": {"edits": 2}, "t2": {"edits": 0}, "t3": {}}
    lines = []
    for tid, text in docs.items():
        (workspace / "docs" / f"{tid}.md").write_text(text)
        lines.append(json.dumps({"id": tid, "agent": AGENT, "split": "holdout",
                                 "input": {"path": f"docs/{tid}.md", "rules": RULES},
                                 "meta": metas[tid]}))
    git_repo(workspace)
    (tmp_path / "suite" / "tasks.jsonl").write_text("\n".join(lines) + "\n")
    engine = ReplayEngine([RecordedReply(key="frontmatter", text=FINAL) for _ in docs])
    result = await run_eval(load_suite(tmp_path / "suite"), agent=AGENT, split="holdout",
                            engine=engine, registry=default_registry(),
                            artifacts=tmp_path / "art", concurrency=1)
    assert {t.id: t.needs_work for t in result.tasks} == {"t1": True, "t2": False, "t3": None}
    # stopping at once passes the compliant documents and fails the one with work to do
    assert {t.id: t.passed for t in result.tasks} == {"t1": 0, "t2": 1, "t3": 1}
    assert EvalResult.load(result.dir or "").tasks[1].needs_work is False
