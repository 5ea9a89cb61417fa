"""Green work from every source a user has: feedback, a teacher, partial credit, balance.

The model is played by scripted engines; what is asserted is what a user relies on: a
feedback trajectory is stored as the conversation the agent gets at pass@1 (no feedback
turn, no refused final) and replays to a pass, every example says its source, tasks that
needed no work cannot dominate a harvest, a teacher endpoint is refused at night.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pantheon_engine.agents.registry import default_registry
from pantheon_engine.atomic import read_json
from pantheon_engine.docops.check import check_document
from pantheon_engine.docops.rules import parse_rules
from pantheon_engine.engines.base import Completion, Engine, EngineRequest
from pantheon_engine.errors import ConfigError
from pantheon_engine.evals.suite import load_suite
from pantheon_engine.policy import Policy
from pantheon_engine.specialize.balance import NO_WORK, cap_no_work
from pantheon_engine.specialize.episode import task_flows
from pantheon_engine.specialize.feedback import (
    CHECK_PREFIX,
    FeedbackConfig,
    feedback_sample,
    pytest_failures,
    rationalise,
)
from pantheon_engine.specialize.harvest import harvest_feedback
from pantheon_engine.specialize.mine import make_example, read_examples
from pantheon_engine.specialize.search import score_report
from test_mine import AGENT, DOC, FINAL, RENAME_AND_DROP, tool

from conftest import git_repo

RENAME = tool("fm_rename", key="Title", new_key="title")
DROP = tool("fm_delete", key="draft")


def write_suite(folder: Path, tasks: list[tuple]) -> Path:
    """tasks: (id, split, path, rules, extra front matter, edits)."""
    workspace = folder / "workspace"
    for _, _, path, _, extra, _ in tasks:
        target = workspace / path
        target.parent.mkdir(parents=True, exist_ok=True)
        name = Path(path).stem.upper()
        target.write_text(DOC.format(name=name, extra=extra, body="Text."), encoding="utf-8")
    git_repo(workspace)
    lines = [json.dumps({"id": tid, "agent": AGENT, "split": split,
                         "input": {"path": path, "rules": rules}, "meta": {"edits": edits}})
             for tid, split, path, rules, _, edits in tasks]
    (folder / "tasks.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


class Player(Engine):
    """Plays the model from what each request shows: ``play(messages text, feedback)``."""

    name = "player"
    model = "player"

    def __init__(self, play: Callable[[str, str | None], str]) -> None:
        self.play = play
        self.requests: list[EngineRequest] = []

    async def complete(self, request: EngineRequest) -> Completion:
        self.requests.append(request)
        last = request.messages[-1].content
        told = last if last.startswith(CHECK_PREFIX) else None
        return Completion(text=self.play(request.messages[1].content, told))


def stops_early(prompt: str, told: str | None) -> str:
    """Renames, then says final with `draft` still there; once told, drops it."""
    if "\nTitle: " in prompt:
        return RENAME
    if "\ndraft: " in prompt:
        return DROP if told else FINAL
    return FINAL


@pytest.fixture
def suite_dir(tmp_path: Path) -> Path:
    return write_suite(tmp_path / "suite", [
        ("tr1", "train", "docs/train/a.md", RENAME_AND_DROP, "", 2),
        ("ho1", "holdout", "docs/holdout/c.md", RENAME_AND_DROP, "", 2)])


# --- feedback and rationalisation -------------------------------------------------------


async def test_feedback_is_removed_and_the_stored_example_replays_to_a_pass(
        suite_dir: Path, tmp_path: Path) -> None:
    registry = default_registry()
    suite = load_suite(suite_dir, registry)
    spec = registry.get(AGENT)
    flow = task_flows(suite, spec, [suite.tasks[0]], registry)[0]
    player = Player(stops_early)
    outcome, trajectory = await feedback_sample(
        flow, spec=spec, registry=registry, engine=player, policy=Policy(mode="day"),
        root=tmp_path / "h", run_id="fb1", rounds=2, seed=0, temperature=0.7)

    # the model was told which rule failed, as a new user turn after its refused final
    assert outcome.status == "passed_after_feedback" and outcome.rounds == 1
    told = player.requests[2].messages
    assert [m.role for m in told[-2:]] == ["assistant", "user"]
    assert told[-2].content == FINAL and told[-1].content.startswith(CHECK_PREFIX)
    assert "rule not met" in told[-1].content and "`draft` is still there" in told[-1].content
    assert [r.messages[-1].role for r in player.requests] == ["user", "user", "user", "user"]

    # stored: the conversation at pass@1, without the feedback turn or the refused final
    assert trajectory is not None and trajectory.status == "passed"
    assert [s.reply for s in trajectory.steps] == [RENAME, DROP, FINAL]
    assert [s.outcome for s in trajectory.steps] == ["tool", "tool", "final"]
    for step in trajectory.steps:
        texts = [m.content for m in step.request.messages]
        assert [m.role for m in step.request.messages] == ["system", "user"]
        assert not any(CHECK_PREFIX in t or "check ran" in t for t in texts)
    # each stored request is what the loop sent in the feedback run in the same state,
    # less the added turns: the refused final changed nothing the prompt shows
    sent = [r.messages for r in player.requests]
    assert trajectory.steps[0].request.messages == sent[0]
    assert trajectory.steps[1].request.messages == sent[1] == sent[2][:2]
    assert trajectory.steps[2].request.messages == sent[3][:2]

    # and it replays to a pass: the stored replies alone, through the agent's own loop
    again = await rationalise(flow, spec=spec, registry=registry,
                              replies=[(s.reply, "stop") for s in trajectory.steps],
                              policy=Policy(mode="day"), root=tmp_path / "again",
                              run_id="again", constrained=False)
    assert again.status == "passed" and again.passed_check
    assert [s.request.messages for s in again.steps] == \
        [s.request.messages for s in trajectory.steps]


def never_fixes(prompt: str, told: str | None) -> str:
    """Says final at once, whatever it is told."""
    return FINAL


async def test_a_feedback_harvest_counts_each_source_and_stratum(tmp_path: Path) -> None:
    folder = write_suite(tmp_path / "suite", [
        ("tr1", "train", "docs/train/a.md", RENAME_AND_DROP, "", 2),
        ("tr2", "train", "docs/train/b.md", [{"kind": "absent", "key": "draft"}], "", 1),
        ("ok1", "train", "docs/train/c.md", [{"kind": "absent", "key": "status"}], "", 0),
        ("ho1", "holdout", "docs/holdout/d.md", RENAME_AND_DROP, "", 2)])
    registry = default_registry()
    suite = load_suite(folder, registry)
    art = tmp_path / "art"

    def play(prompt: str, told: str | None) -> str:
        if "docs/train/b.md" in prompt:  # right at once: a best-of-k green run
            return DROP if "\ndraft: " in prompt else FINAL
        if "docs/train/c.md" in prompt:  # nothing to do, and it says so
            return FINAL
        return stops_early(prompt, told)

    result = await harvest_feedback(suite, agent=AGENT, registry=registry,
                                    engine=Player(play), artifacts=art,
                                    config=FeedbackConfig(rounds=1, samples=1),
                                    concurrency=2, max_no_work_share=1.0)
    assert result.mode == "feedback" and result.tasks == 3 and result.feedback_rounds == 1
    assert result.outcomes == {"passed": 2, "passed_after_feedback": 1}
    assert {k: (v.tasks_green, v.trajectories, v.examples)
            for k, v in result.sources.items()} == {
        "best-of-k": (2, 2, 3), "feedback": (1, 1, 3)}
    assert result.counts.by_source == {"best-of-k": 3, "feedback": 3}
    assert {k: (v.tasks, v.tasks_green, v.examples) for k, v in result.strata.items()} == {
        "needs_work": (2, 2, 5), "no_work": (1, 1, 1)}
    examples = read_examples(Path(result.out or ""))
    assert [(e.meta.task_id, e.meta.source, e.meta.feedback_rounds) for e in examples] == [
        ("tr1", "feedback", 1), ("tr1", "feedback", 1), ("tr1", "feedback", 1),
        ("tr2", "best-of-k", None), ("tr2", "best-of-k", None), ("ok1", "best-of-k", None)]
    assert not any(CHECK_PREFIX in m.content for e in examples for m in e.messages)
    saved = read_json(art / "specialize" / AGENT / f"harvest-{result.harvest_id}.json")
    assert saved["sources"]["feedback"]["examples"] == 3
    assert saved["strata"]["no_work"]["examples"] == 1
    fed = read_json(art / "specialize" / AGENT / f"harvest-{result.harvest_id}" /
                    "feedback.json")
    assert [(o["task_id"], o["status"], o["rounds"]) for o in fed] == [
        ("tr1", "passed_after_feedback", 1), ("tr2", "passed", 0), ("ok1", "passed", 0)]
    assert "`draft` is still there" in fed[0]["feedback"][0]["text"]
    text = result.render()
    assert "green by source: best-of-k 2 task(s)" in text and "feedback 1 task(s)" in text

    # with the default cap (25 %) the one no-work example of six is within the share;
    # a model that never fixes anything gets feedback in vain and keeps nothing
    stubborn = await harvest_feedback(suite, agent=AGENT, registry=registry,
                                      engine=Player(never_fixes), artifacts=art,
                                      config=FeedbackConfig(rounds=2, samples=1))
    assert stubborn.outcomes == {"passed": 1, "failed": 2}
    assert stubborn.counts.examples == 0  # the only green one needed no work: capped
    assert stubborn.balance is not None and stubborn.balance.no_work_dropped == 1
    assert stubborn.counts.dropped == {"no_work_cap": 1}
    refused = json.loads((art / "specialize" / AGENT / f"harvest-{stubborn.harvest_id}" /
                          "feedback.json").read_text())
    assert [o["rounds"] for o in refused] == [2, 2, 0]


async def test_only_feedback_given_extends_the_budget(suite_dir: Path, tmp_path: Path) -> None:
    """Five unreadable replies exceed doc.frontmatter's four allowed failures: without
    feedback that sample fails as it would at pass@1, however many rounds are allowed."""
    registry = default_registry()
    suite = load_suite(suite_dir, registry)
    spec = registry.get(AGENT)
    flow = task_flows(suite, spec, [suite.tasks[0]], registry)[0]
    asked = 0

    def fumbles(prompt: str, told: str | None) -> str:
        nonlocal asked
        asked += 1
        return "not json" if asked <= 5 else stops_early(prompt, told)

    outcome, trajectory = await feedback_sample(
        flow, spec=spec, registry=registry, engine=Player(fumbles), policy=Policy(mode="day"),
        root=tmp_path / "h", run_id="fumble", rounds=2, seed=0, temperature=0.7)
    assert outcome.status == "failed" and outcome.rounds == 0 and trajectory is None
    assert "max_failures (4)" in (outcome.error or "")


def test_pytest_failures_name_the_test_and_the_assertion() -> None:
    log = (".F\n=================================== FAILURES ===================================\n"
           "_______________________________ test_edge_cases ________________________________\n"
           "\n    def test_edge_cases():\n        filter_words = _load()\n"
           ">       assert filter_words('') == '-'\n"
           "E       AssertionError: assert '' == '-'\nE         \nE         - -\n\n"
           "checks/train-001/test_train_001.py:33: AssertionError\n"
           "=========================== short test summary info ============================\n"
           "FAILED checks/train-001/test_train_001.py::test_edge_cases - AssertionError: ...\n"
           "!!!!!!!!!!!!!!!!!!!!!!!!!! stopping after 1 failures !!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
           "1 failed, 1 passed in 0.03s\n")
    assert pytest_failures(log) == [
        "test_edge_cases failed:", "  assert filter_words('') == '-'",
        "  AssertionError: assert '' == '-'", "  - -", "1 failed, 1 passed"]


# --- code tasks: pytest's failures fed back, partial credit by tests passed ---------------

SQUARE_STUB = 'def square(x: int) -> int:\n    """x times x."""\n'
SQUARE_TESTS = ("from funcs.sq import square\n\n\ndef test_zero():\n    assert square(0) == 0"
                "\n\n\ndef test_two():\n    assert square(2) == 4\n\n\n"
                "def test_negative():\n    assert square(-3) == 9\n")


def code_suite(folder: Path) -> Path:
    from pantheon_engine.evals.suite_files import codegen_flow_yaml

    workspace = folder / "workspace"
    (workspace / "funcs").mkdir(parents=True)
    (workspace / "funcs" / "__init__.py").write_text("")
    (workspace / "funcs" / "sq.py").write_text(SQUARE_STUB)
    (workspace / "checks" / "sq-1").mkdir(parents=True)
    (workspace / "checks" / "sq-1" / "test_sq.py").write_text(SQUARE_TESTS)
    git_repo(workspace)
    (folder / "codegen.yaml").write_text(codegen_flow_yaml("codegen", "square numbers"))
    task = {"id": "sq-1", "flow": "codegen.yaml", "split": "train", "meta": {"source": "code"},
            "input": {"title": "sq-1: implement square", "scope": "write square",
                      "acceptance": ["square does what its docstring says"],
                      "files": ["funcs/sq.py"], "tests": "checks/sq-1",
                      "steps": ["edit funcs/sq.py"],
                      "existing": {"funcs/sq.py": SQUARE_STUB}}}
    (folder / "tasks.jsonl").write_text(json.dumps(task) + "\n")
    return folder


def write(body: str) -> str:
    content = f"def square(x: int) -> int:\n    return {body}\n"
    return json.dumps({"type": "tool", "name": "write_file",
                       "args": {"path": "funcs/sq.py", "content": content}})


CODE_FINAL = json.dumps({"type": "final", "output": {"summary": "wrote square"}})


async def test_pytest_feedback_reaches_a_code_agent_and_leaves_no_trace(
        tmp_path: Path) -> None:
    folder = code_suite(tmp_path / "suite")
    registry = default_registry([folder])
    suite = load_suite(folder, registry)
    spec = registry.get("codegen")
    flow = task_flows(suite, spec, suite.tasks, registry)[0]
    told: list[str] = []

    class Coder(Engine):
        name = "coder"
        model = "coder"

        async def complete(self, request: EngineRequest) -> Completion:
            texts = [m.content for m in request.messages]
            said = [t for t in texts if t.startswith(CHECK_PREFIX)]
            if said:
                told.append(said[-1])
                return Completion(text=CODE_FINAL if "x * x" in texts[-2] or any(
                    "x * x" in t for t in texts[2:]) else write("x * x"))
            if any('"write_file"' in t for t in texts[2:]):
                return Completion(text=CODE_FINAL)
            return Completion(text=write("x"))

    outcome, trajectory = await feedback_sample(
        flow, spec=spec, registry=registry, engine=Coder(), policy=Policy(mode="day"),
        root=tmp_path / "h", run_id="code1", rounds=1, seed=0, temperature=0.5)
    assert outcome.status == "passed_after_feedback", outcome
    # the codegen loop keeps history: the check's words came back as its own user turn
    assert told and "test_two failed:" in told[0] and "assert square(2) == 4" in told[0]
    assert trajectory is not None
    assert [s.reply for s in trajectory.steps] == [write("x"), write("x * x"), CODE_FINAL]
    for step in trajectory.steps:
        texts = [m.content for m in step.request.messages]
        assert not any(CHECK_PREFIX in t for t in texts)
        assert CODE_FINAL not in texts  # the refused final is gone from the history
    # the second call's context holds the first call and its result, as at pass@1
    assert [m.role for m in trajectory.steps[1].request.messages] == \
        ["system", "user", "assistant", "user"]


async def test_code_search_climbs_by_the_share_of_tests_passed(tmp_path: Path) -> None:
    """square: `x` passes 1 of 3 tests, `x * abs(x)` 2, `x * x` all three."""
    from pantheon_engine.specialize.harvest import harvest_trajectories
    from pantheon_engine.specialize.search import SearchConfig

    folder = code_suite(tmp_path / "suite")
    registry = default_registry([folder])
    suite = load_suite(folder, registry)

    class Coder(Engine):
        name = "coder"
        model = "coder"

        def __init__(self) -> None:
            self.asked = 0

        async def complete(self, request: EngineRequest) -> Completion:
            self.asked += 1
            texts = " ".join(m.content for m in request.messages[2:])
            if "x * x" in texts:
                options = [CODE_FINAL, write("x")]
            elif "x * abs(x)" in texts:
                options = [write("x"), write("x * x")]
            else:
                options = [write("x"), write("x * abs(x)"), "not json"]
            return Completion(text=options[self.asked % len(options)])

    result = await harvest_trajectories(
        suite, agent="codegen", registry=registry, artifacts=tmp_path / "art", mode="search",
        engine=Coder(), config=SearchConfig(k=6, temperature=0.7), policy=Policy(mode="day"))
    assert result.outcomes == {"passed": 1}, result
    examples = read_examples(Path(result.out or ""))
    assert [e.reply for e in examples] == [write("x * abs(x)"), write("x * x"), CODE_FINAL]
    assert {e.meta.source for e in examples} == {"search"}
    steps = json.loads((tmp_path / "art" / "specialize" / "codegen" /
                        f"harvest-{result.harvest_id}" / "search.json").read_text())[0]["steps"]
    assert [(s["score_before"], s["score_after"]) for s in steps] == \
        [(0.0, pytest.approx(2 / 3)), (pytest.approx(2 / 3), 1.0), (1.0, 1.0)]


def test_tests_share_is_the_share_of_tests_that_passed() -> None:
    from pantheon_engine.specialize.code_search import tests_share
    from pantheon_engine.tools.dev import PytestCounts

    assert tests_share(PytestCounts(passed=2, failed=1)) == pytest.approx(2 / 3)
    assert tests_share(PytestCounts(passed=0, errors=1)) == 0.0
    assert tests_share(PytestCounts()) == 0.0  # nothing ran: the module did not import


# --- partial credit on documents ------------------------------------------------------------


def test_a_lowercase_rule_over_two_keys_scores_half_after_one_is_fixed() -> None:
    from pantheon_engine.docops.rules import LowercaseKeys

    before = "---\nTitle: A\nOwner: ops\n---\n# A\n"
    lower = [LowercaseKeys(kind="lowercase_keys")]
    none = check_document(before, lower, before)
    one = check_document("---\ntitle: A\nOwner: ops\n---\n# A\n", lower, before)
    both = check_document("---\ntitle: A\nowner: ops\n---\n# A\n", lower, before)
    assert [r.progress for r in none.rules] == [0.0]
    assert [r.progress for r in one.rules] == [0.5] and not one.passed
    assert [r.progress for r in both.rules] == [1.0] and both.passed
    assert score_report(none) < score_report(one) < score_report(both)

    # a rename is two requirements: the old key gone, the new one holding its value
    rename = parse_rules([{"kind": "renamed", "key": "Title", "to": "heading"}])
    start = "---\nTitle: A\n---\n# A\n"
    half = check_document("---\nTitle: A\nheading: A\n---\n# A\n", rename, start)
    assert [r.progress for r in half.rules] == [0.5]
    assert score_report(half) > score_report(check_document(start, rename, start))
    # what else a change breaks still counts against it
    broken = check_document("---\ntitle: A\n---\n# A\n", lower, before)  # Owner removed
    assert score_report(broken) < score_report(one)


async def test_search_takes_a_step_that_fixes_one_key_of_a_rule(tmp_path: Path) -> None:
    from pantheon_engine.specialize.search import SearchConfig, search_task

    folder = write_suite(tmp_path / "suite", [
        ("lc", "train", "docs/train/lc.md", [{"kind": "lowercase_keys"}], "Owner: ops\n", 2)])
    suite = load_suite(folder, default_registry())
    spec = default_registry().get(AGENT)

    def play(prompt: str, told: str | None) -> str:
        if "\nTitle: " in prompt:
            return tool("fm_rename", key="Title", new_key="title")
        if "\nOwner: " in prompt:
            return tool("fm_rename", key="Owner", new_key="owner")
        return FINAL

    trajectory, outcome = await search_task(spec, suite.tasks[0], suite.workspace,
                                            Player(play), tmp_path / "t",
                                            SearchConfig(k=2), run_id="lc")
    assert trajectory.status == "passed"
    assert [(s.score_before, s.score_after) for s in outcome.steps] == \
        [(0.0, 0.5), (0.5, 1.0), (1.0, 1.0)]


# --- balance -------------------------------------------------------------------------------


def test_the_no_work_cap_keeps_a_share_and_says_what_it_dropped() -> None:
    from pantheon_engine.specialize.balance import NEEDS_WORK

    def example(task: str, n: int) -> object:
        return make_example([{"role": "user", "content": f"{task} {n}"}], FINAL, tools=[],
                            source="best-of-k", agent=AGENT, kind="final", task_id=task)

    strata = {"w": NEEDS_WORK, "n": NO_WORK}
    work = [example("w", i) for i in range(6)]
    idle = [example("n", i) for i in range(4)]
    mixed = [idle[0], *work[:3], idle[1], *work[3:], idle[2], idle[3]]
    kept, dropped = cap_no_work(mixed, strata, 0.25)  # 6 of work allow 2 of no work
    assert dropped == [idle[2], idle[3]] and kept == [e for e in mixed if e not in dropped]
    assert sum(e.meta.task_id == "n" for e in kept) / len(kept) <= 0.25
    assert cap_no_work(mixed, strata, 1.0) == (mixed, [])
    assert cap_no_work(mixed, strata, 0.0)[1] == idle
    assert cap_no_work(idle, strata, 0.25) == ([], idle)  # only "stop": nothing to balance
    untold = [example("x", 0)]  # a task the suite does not place counts as work
    assert cap_no_work(untold, strata, 0.0) == (untold, [])
    with pytest.raises(ConfigError, match="between 0 and 1"):
        cap_no_work(mixed, strata, 1.5)


# --- a teacher ------------------------------------------------------------------------------


def test_a_teacher_endpoint_is_refused_at_night(tmp_path: Path, suite_dir: Path) -> None:
    from pantheon_engine.cli.main import app

    runner = CliRunner()
    base = ["harvest", AGENT, "--suite", str(suite_dir), "--artifacts", str(tmp_path / "a")]
    night = runner.invoke(app, [*base, "--teacher-base-url", "http://127.0.0.1:9/v1"])
    assert night.exit_code == 3, night.output
    assert "night mode refuses --teacher-base-url" in night.output and "--day" in night.output
    assert not (tmp_path / "a" / "specialize").exists()  # refused before anything ran
    demos = runner.invoke(app, [*base, "--day", "--mode", "demos", "--teacher", "m"])
    assert demos.exit_code == 2 and "calls no model" in demos.output
    queued = runner.invoke(app, [*base, "--day", "--queue", "--teacher", "m"])
    assert queued.exit_code == 2 and "--queue" in queued.output


async def test_a_teachers_green_runs_keep_the_students_prompt(suite_dir: Path,
                                                               tmp_path: Path) -> None:
    from pantheon_engine.engines.replay import ReplayEngine
    from pantheon_engine.specialize.harvest import harvest_best_of_k
    from test_mine import GOOD_RENAME, replies

    registry = default_registry()
    suite = load_suite(suite_dir, registry)
    teacher = ReplayEngine(replies(GOOD_RENAME, [FINAL]))
    result = await harvest_best_of_k(suite, agent=AGENT, registry=registry, engine=teacher,
                                     artifacts=tmp_path / "art", samples=2, concurrency=1,
                                     teacher="qwen2.5-coder-1.5b")
    assert result.teacher == "qwen2.5-coder-1.5b" and result.outcomes == {
        "passed": 1, "failed": 1}
    assert result.counts.by_source == {"teacher": 3}
    assert result.sources["teacher"].tasks_green == 1
    examples = read_examples(Path(result.out or ""))
    assert {(e.meta.source, e.meta.teacher) for e in examples} == {
        ("teacher", "qwen2.5-coder-1.5b")}
    # the prompt is the student agent's own, as it would be sent to the student
    assert examples[0].messages[0].content.startswith("You are doc.frontmatter")
    assert "HOUSE RULES" in examples[0].messages[1].content
    assert "(teacher)" in result.render()


# --- the real model ------------------------------------------------------------------------


@pytest.mark.model
def test_a_feedback_harvest_runs_end_to_end_on_the_embedded_model(tmp_path: Path) -> None:
    """Two paraphrased train tasks, one sample each, one feedback round: the harvest file
    and its counts per source and stratum are written whatever the model finds."""
    from pantheon_engine.cli.main import app
    from pantheon_engine.docops.generate import make_docops_suite

    make_docops_suite(tmp_path / "suite", 10, seed=3, scope="rule", phrasing="paraphrase")
    lines = (tmp_path / "suite" / "tasks.jsonl").read_text().splitlines()
    train = [line for line in lines if json.loads(line)["split"] == "train"][:2]
    (tmp_path / "suite" / "tasks.jsonl").write_text("\n".join(train) + "\n")
    art = tmp_path / "art"
    result = CliRunner().invoke(app, [
        "harvest", AGENT, "--suite", str(tmp_path / "suite"), "--mode", "feedback",
        "--samples", "1", "--feedback-rounds", "1", "--artifacts", str(art), "--json"])
    assert result.exit_code == 0, result.output
    saved = json.loads(result.output)
    assert saved["mode"] == "feedback" and saved["tasks"] == 2 and saved["sampled"] == 2
    assert sum(saved["outcomes"].values()) == 2
    assert set(saved["strata"]) == {"needs_work", "no_work"}
    assert sum(s["tasks"] for s in saved["strata"].values()) == 2
    assert saved["counts"]["examples"] == sum(s["examples"] for s in saved["sources"].values())
    assert saved["model"] == "smollm2-135m"
    on_disk = read_json(art / "specialize" / AGENT / f"harvest-{saved['harvest_id']}.json")
    assert on_disk["sources"] == saved["sources"] and on_disk["strata"] == saved["strata"]
    examples = read_examples(Path(saved["out"]))
    assert len(examples) == saved["counts"]["examples"]
    assert all(e.meta.source in ("best-of-k", "feedback") for e in examples)
    assert not any(CHECK_PREFIX in m.content for e in examples for m in e.messages)
