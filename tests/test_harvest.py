"""Harvest: best-of-k keeps passing runs, search follows the checks, demos are the real loop.

The model is played by scripted engines that propose known good and bad candidates, or
by the replay engine; what is asserted is what a user relies on: only green data comes
out, every example is the conversation the loop sent, every example says its source.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pantheon_engine.agents.docops import STEP_SCHEMAS
from pantheon_engine.agents.io import DocFinal, DocTask
from pantheon_engine.agents.registry import default_registry
from pantheon_engine.atomic import read_json
from pantheon_engine.docops.check import check_document
from pantheon_engine.engines.base import Completion, Engine, EngineRequest
from pantheon_engine.engines.replay import ReplayEngine
from pantheon_engine.errors import ConfigError
from pantheon_engine.evals.runner import run_eval
from pantheon_engine.evals.suite import Suite, SuiteTask, load_suite
from pantheon_engine.loop.grammar import envelope_regex
from pantheon_engine.loop.traces import TraceStore
from pantheon_engine.specialize.demos import DEMO_SUMMARY, demonstrate, scripted_replies
from pantheon_engine.specialize.harvest import harvest_best_of_k, harvest_trajectories
from pantheon_engine.specialize.mine import HARVEST_MARKER, find_runs, mine, read_examples
from pantheon_engine.specialize.search import SearchConfig, search_task
from test_mine import (
    AGENT,
    BREAKS_A_KEY,
    FINAL,
    GOOD_PUBLISH,
    GOOD_RENAME,
    RENAME_AND_DROP,
    replies,
    tool,
    write_suite,
)

TASKS = [  # id, split, path, rules, extra front matter, body
    ("tr1", "train", "docs/train/a.md", RENAME_AND_DROP, "", "Some text."),
    ("tr2", "train", "docs/train/b.md",
     [{"kind": "absent", "key": "draft"}, {"kind": "equals", "key": "status",
                                           "value": "published"}], "", "Other text."),
    ("ho1", "holdout", "docs/holdout/c.md", RENAME_AND_DROP, "", "Held out text."),
]
RENAME = tool("fm_rename", key="Title", new_key="title")
DROP = tool("fm_delete", key="draft")
BREAK = tool("fm_delete", key="author")  # a key no rule lets go: breaks the document
NEUTRAL = tool("fm_set", key="draft", value="no")  # changes the file, fixes nothing
SEARCH_FINAL = json.dumps({"type": "final", "output": {"summary": "renamed and dropped"}})


class ProposingEngine(Engine):
    """Plays the model: the i-th request for the same prompt gets ``propose(prompt, i)``."""

    name = "scripted"
    model = "scripted"

    def __init__(self, propose: Callable[[str, int], str]) -> None:
        self.propose = propose
        self.requests: list[EngineRequest] = []
        self._asked: Counter[str] = Counter()

    async def complete(self, request: EngineRequest) -> Completion:
        self.requests.append(request)
        prompt = request.messages[1].content
        index = self._asked[prompt]
        self._asked[prompt] += 1
        return Completion(text=self.propose(prompt, index))


def right_move(prompt: str) -> str:
    """The right next reply for RENAME_AND_DROP, read off the live front matter."""
    if "\nTitle: " in prompt:
        return RENAME
    if "\ndraft: " in prompt:
        return DROP
    return SEARCH_FINAL


def mixed(prompt: str, index: int) -> str:
    """Four candidates per step, only one of them right; the bad ones first."""
    return [BREAK, "not json", SEARCH_FINAL if "\nTitle: " in prompt else NEUTRAL,
            right_move(prompt)][index % 4]


@pytest.fixture
def suite_dir(tmp_path: Path) -> Path:
    return write_suite(tmp_path / "suite", TASKS)


def _task(suite_dir: Path, task_id: str) -> tuple[Suite, SuiteTask]:
    suite = load_suite(suite_dir, default_registry())
    return suite, next(t for t in suite.tasks if t.id == task_id)


# --- verifier-guided search ----------------------------------------------------------------


async def test_search_follows_the_checks_and_ends_with_the_models_final(
        suite_dir: Path, tmp_path: Path) -> None:
    suite, task = _task(suite_dir, "tr1")
    spec = default_registry().get(AGENT)
    engine = ProposingEngine(mixed)
    config = SearchConfig(k=4, temperature=0.7, seed=3)
    trajectory, outcome = await search_task(spec, task, suite.workspace, engine,
                                            tmp_path / "t", config, run_id="s1")

    assert trajectory.status == "passed" and trajectory.passed_check
    assert [s.reply for s in trajectory.steps] == [RENAME, DROP, SEARCH_FINAL]
    assert [s.outcome for s in trajectory.steps] == ["tool", "tool", "final"]
    # k candidates per step, each the loop's own request at the search temperature and
    # its own seed
    by_prompt: dict[str, list[EngineRequest]] = defaultdict(list)
    for request in engine.requests:
        by_prompt[request.messages[1].content].append(request)
    assert [len(group) for group in by_prompt.values()] == [4, 4, 4]
    for step, group in zip(trajectory.steps, by_prompt.values(), strict=True):
        assert all(r.temperature == 0.7 for r in group)
        assert len({r.seed for r in group}) == 4
        assert all(r.messages == step.request.messages for r in group)
    # sampled, unparseable, improving, final answers, chosen
    assert [(s.sampled, s.invalid, s.improving, s.finals, s.chosen)
            for s in outcome.steps] == [
        (4, 1, 1, 1, "tool"),   # breaks a key / not json / a final too early / right
        (4, 1, 1, 0, "tool"),   # breaks a key / not json / neutral (refused) / right
        (4, 1, 0, 1, "final"),  # now passing: the model's final answer is taken
    ]
    assert outcome.sampled == 12
    # the examples are the chosen replies with the exact requests of the loop
    examples = trajectory.examples(source="search", agent=spec.ref, tools=[])
    assert [(e.meta.kind, e.meta.step, e.reply) for e in examples] == [
        ("tool", 1, RENAME), ("tool", 2, DROP), ("final", 3, SEARCH_FINAL)]
    assert [[m.model_dump() for m in e.messages[:-1]] for e in examples] == \
        [[m.model_dump() for m in s.request.messages] for s in trajectory.steps]
    # the scratch scoring never touched the suite's own file
    original = (suite.workspace / task.input["path"]).read_text()
    assert not check_document(original, [], None).error and "Title: " in original


async def test_search_gives_up_when_no_candidate_helps(suite_dir: Path, tmp_path: Path) -> None:
    suite, task = _task(suite_dir, "tr1")
    spec = default_registry().get(AGENT)
    engine = ProposingEngine(lambda prompt, i: [BREAK, "not json", NEUTRAL][i % 3])
    trajectory, outcome = await search_task(spec, task, suite.workspace, engine,
                                            tmp_path / "t", SearchConfig(k=3, rounds=2),
                                            run_id="s2")
    assert trajectory.status == "stuck" and not trajectory.passed_check
    assert trajectory.steps == [] and outcome.steps[0].rounds == 2
    assert outcome.sampled == 6

    # a neutral call is taken only when asked for, and still leads nowhere here
    engine = ProposingEngine(lambda prompt, i: NEUTRAL)
    trajectory, _ = await search_task(spec, task, suite.workspace, engine, tmp_path / "u",
                                      SearchConfig(k=2, allow_neutral=True), run_id="s3")
    assert trajectory.status == "stuck" and [s.reply for s in trajectory.steps] == [NEUTRAL]


async def test_a_passing_file_without_a_sampled_final_is_kept_only_on_request(
        suite_dir: Path, tmp_path: Path) -> None:
    def never_final(prompt: str, index: int) -> str:
        move = right_move(prompt)
        return move if move != SEARCH_FINAL else tool("fm_set", key="title", value="A")

    suite = load_suite(suite_dir, default_registry())
    tr1 = [t for t in suite.tasks if t.id == "tr1"]
    common = {"agent": AGENT, "registry": default_registry(), "mode": "search",
              "config": SearchConfig(k=2), "tasks": tr1}
    strict = await harvest_trajectories(suite, artifacts=tmp_path / "a",
                                        engine=ProposingEngine(never_final), **common)
    assert strict.outcomes == {"passed_no_final": 1} and strict.counts.examples == 0
    loose = await harvest_trajectories(suite, artifacts=tmp_path / "b", keep_unfinished=True,
                                       engine=ProposingEngine(never_final), **common)
    assert loose.counts.by_kind == {"tool": 2} and loose.counts.by_source == {"search": 2}


async def test_a_search_harvest_writes_green_examples_of_train_tasks_only(
        suite_dir: Path, tmp_path: Path) -> None:
    def solves_tr1_only(prompt: str, index: int) -> str:
        return mixed(prompt, index) if "docs/train/a.md" in prompt else BREAK

    suite = load_suite(suite_dir, default_registry())
    art = tmp_path / "art"
    result = await harvest_trajectories(
        suite, agent=AGENT, registry=default_registry(), artifacts=art, mode="search",
        engine=ProposingEngine(solves_tr1_only), config=SearchConfig(k=4))
    assert result.tasks == 2 and result.outcomes == {"passed": 1, "stuck": 1}
    assert result.tasks_green == 1 and result.sampled == 12 + 8
    examples = read_examples(Path(result.out or ""))
    assert [(e.meta.source, e.meta.task_id, e.meta.kind) for e in examples] == [
        ("search", "tr1", "tool"), ("search", "tr1", "tool"), ("search", "tr1", "final")]
    assert {e.meta.agent for e in examples} == {"doc.frontmatter@1"}
    assert examples[0].tools and "path" not in json.dumps(examples[0].tools)
    folder = art / "specialize" / AGENT
    assert read_json(folder / f"harvest-{result.harvest_id}.json")["counts"]["examples"] == 3
    assert (folder / f"harvest-{result.harvest_id}" / "tr1" / "model_calls.jsonl").is_file()


# --- demonstrations ---------------------------------------------------------------------


async def test_demonstrations_are_what_the_loop_sends(suite_dir: Path, tmp_path: Path) -> None:
    registry = default_registry()
    suite, task = _task(suite_dir, "tr2")
    spec = registry.get(AGENT)
    demo = await demonstrate(spec, task, suite.workspace, tmp_path / "demo", run_id="d1")
    assert demo.status == "passed"
    final = json.dumps({"type": "final", "output": {"summary": DEMO_SUMMARY}},
                       separators=(",", ":"))
    assert [s.reply for s in demo.steps] == [
        '{"type":"tool","name":"fm_delete","args":{"key":"draft"}}',
        '{"type":"tool","name":"fm_set","args":{"key":"status","value":"published"}}',
        final]
    # every reply is one the agent's grammar lets the model write
    grammar = envelope_regex(STEP_SCHEMAS, DocFinal.model_json_schema(),
                             max_string=spec.limits.grammar_max_string)
    assert all(re.fullmatch(grammar, s.reply) for s in demo.steps)

    # an ordinary eval run given the same replies sends exactly the same requests
    art = tmp_path / "art"
    with TraceStore.for_artifacts(art) as store:
        await run_eval(suite, agent=AGENT, split="train",
                       engine=ReplayEngine(replies(GOOD_RENAME)  # tr1 runs first
                                           + replies([s.reply for s in demo.steps])),
                       registry=registry, artifacts=art, concurrency=1, traces=store)
        run_id = next(r.run_id for r in find_runs(art) if r.task_id == "tr2")
        rows = store.model_calls(run_id=run_id)
    assert [json.loads(r["messages_json"]) for r in rows] == \
        [[m.model_dump() for m in s.request.messages] for s in demo.steps]
    assert [r["reply"] for r in rows] == [s.reply for s in demo.steps]


async def test_a_scripted_reply_outside_the_grammar_is_no_demonstration(
        tmp_path: Path) -> None:
    heading = "A heading far longer than any value the grammar lets the model write " * 2
    folder = write_suite(tmp_path / "suite", [
        ("long", "train", "docs/train/long.md", [{"kind": "title_heading"}], "", "")])
    doc = folder / "workspace" / "docs" / "train" / "long.md"
    doc.write_text(f"---\nauthor: ops\n---\n# {heading.strip()}\n\nText.\n")
    suite, task = _task(folder, "long")
    spec = default_registry().get(AGENT)
    assert len(scripted_replies(doc.read_text(), DocTask.model_validate(task.input))) == 2
    demo = await demonstrate(spec, task, suite.workspace, tmp_path / "d", run_id="d2")
    assert demo.status == "invalid" and "outside the agent's grammar" in (demo.error or "")
    assert demo.examples(source="demo", agent=spec.ref, tools=[]) == []


async def test_a_demos_harvest_imports_and_reports_per_source(
        suite_dir: Path, tmp_path: Path) -> None:
    registry = default_registry()
    suite = load_suite(suite_dir, registry)
    imported = tmp_path / "green.jsonl"
    imported.write_text(json.dumps({"messages": [
        {"role": "system", "content": "You are doc.frontmatter."},
        {"role": "user", "content": "FILE docs/other.md\nFRONT MATTER NOW:\ndraft: true"},
        {"role": "assistant", "content": DROP}]}) + "\n")
    result = await harvest_trajectories(suite, agent=AGENT, registry=registry,
                                        artifacts=tmp_path / "art", mode="demos",
                                        demos=imported)
    assert result.outcomes == {"passed": 2} and result.tasks == 2
    assert result.counts.by_source == {"demo": 6, "import": 1}
    assert result.counts.by_kind == {"tool": 5, "final": 2}
    examples = read_examples(Path(result.out or ""))
    assert {e.meta.task_id for e in examples} == {"tr1", "tr2", None}  # never ho1
    assert examples[-1].meta.source == "import"
    assert examples[-1].tools == examples[0].tools  # the agent's, like every other line

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"messages": [{"role": "user", "content": "no reply"}]}\n')
    with pytest.raises(ConfigError, match=r"bad\.jsonl:1"):
        await harvest_trajectories(suite, agent=AGENT, registry=registry,
                                   artifacts=tmp_path / "art", mode="demos", demos=bad)


async def test_the_holdout_split_is_never_harvested(suite_dir: Path, tmp_path: Path) -> None:
    suite = load_suite(suite_dir, default_registry())
    with pytest.raises(ConfigError, match="only train tasks may become training data"):
        await harvest_trajectories(suite, agent=AGENT, registry=default_registry(),
                                   artifacts=tmp_path, mode="demos", split="holdout")
    with pytest.raises(ConfigError, match="only train tasks"):
        await harvest_best_of_k(suite, agent=AGENT, registry=default_registry(),
                                engine=ReplayEngine([]), artifacts=tmp_path, split="holdout")


# --- best-of-k -----------------------------------------------------------------------------


async def test_best_of_k_keeps_only_the_passing_runs(suite_dir: Path, tmp_path: Path) -> None:
    registry = default_registry()
    suite = load_suite(suite_dir, registry)
    art = tmp_path / "art"
    # with concurrency 1 the samples run in order: tr1 s0, tr1 s1, tr2 s0, tr2 s1
    engine = ReplayEngine(replies([FINAL], GOOD_RENAME, BREAKS_A_KEY, GOOD_PUBLISH))
    result = await harvest_best_of_k(suite, agent=AGENT, registry=registry, engine=engine,
                                     artifacts=art, samples=2, temperature=0.9,
                                     concurrency=1)
    assert (result.tasks, result.samples, result.sampled) == (2, 2, 4)
    assert result.outcomes == {"passed": 2, "failed": 2} and result.tasks_green == 2

    evaluated = read_json(art / "evals" / result.harvest_id / "eval.json")
    assert evaluated["split"] == "train" and evaluated["temperature"] == 0.9
    passed = {r["run_id"] for t in evaluated["tasks"] for r in t["results"] if r["passed"]}
    examples = read_examples(Path(result.out or ""))
    assert {e.meta.run_id for e in examples} == passed and len(passed) == 2
    assert [(e.meta.task_id, e.reply) for e in examples] == \
        [("tr1", r) for r in GOOD_RENAME] + [("tr2", r) for r in GOOD_PUBLISH]
    assert result.counts.by_source == {"best-of-k": 6}
    assert read_json(art / "evals" / result.harvest_id / HARVEST_MARKER)["source"] == \
        "best-of-k"

    # the runs stay green runs of the trace store: mining finds them, with their source
    spec = registry.get(AGENT)
    mined, again = await mine(art, spec)
    assert [e.model_dump() for e in again] == [e.model_dump() for e in examples]
    assert mined.counts.by_source == {"best-of-k": 6}


def test_harvest_command_then_mine_with_include(suite_dir: Path, tmp_path: Path) -> None:
    from pantheon_engine.cli.main import app

    art = tmp_path / "art"
    runner = CliRunner()
    result = runner.invoke(app, ["harvest", AGENT, "--suite", str(suite_dir), "--mode",
                                 "demos", "--artifacts", str(art)])
    assert result.exit_code == 0, result.output
    assert "2 train task(s), 2 green" in result.output
    assert "examples: 6 (by kind: tool 4, final 2; by source: demo (scripted, upper bound) 6)" \
        in result.output
    harvest_file = next((art / "specialize" / AGENT).glob("harvest-*.jsonl"))
    only = runner.invoke(app, ["traces", "mine", AGENT, "--out", str(tmp_path / "d.jsonl"),
                               "--artifacts", str(art), "--include", str(harvest_file)])
    assert only.exit_code == 0, only.output  # no run recorded traces yet: the file alone
    assert "no trace store, runs not mined" in only.output \
        and "demo (scripted, upper bound) 6" in only.output

    replies_file = tmp_path / "replies.jsonl"
    replies_file.write_text("\n".join(r.model_dump_json() for r in replies(
        [FINAL], GOOD_RENAME, BREAKS_A_KEY, GOOD_PUBLISH)) + "\n")
    result = runner.invoke(app, ["harvest", AGENT, "--suite", str(suite_dir), "--samples",
                                 "2", "--replay", str(replies_file), "--concurrency", "1",
                                 "--artifacts", str(art)])
    assert result.exit_code == 0, result.output
    assert "by source: best-of-k 6" in result.output

    out = tmp_path / "data.jsonl"
    result = runner.invoke(app, ["traces", "mine", AGENT, "--out", str(out), "--artifacts",
                                 str(art), "--suite", str(suite_dir), "--include",
                                 str(harvest_file)])
    assert result.exit_code == 0, result.output
    assert "by source: best-of-k 6, demo (scripted, upper bound) 6" in result.output
    assert len(out.read_text().splitlines()) == 12

    queued = runner.invoke(app, ["harvest", AGENT, "--suite", str(suite_dir), "--samples",
                                 "3", "--queue", "--artifacts", str(tmp_path / "q")])
    assert queued.exit_code == 0, queued.output
    assert "queued 6 job(s) (2 train task(s) × 3 samples" in queued.output
    assert "pantheon night" in queued.output

    refused = runner.invoke(app, ["harvest", AGENT, "--suite", str(suite_dir), "--split",
                                  "holdout", "--mode", "demos", "--artifacts", str(art)])
    assert refused.exit_code == 2 and "refused" in refused.output
    refused = runner.invoke(app, ["harvest", AGENT, "--suite", str(suite_dir), "--mode",
                                  "search", "--temperature", "0", "--artifacts", str(art)])
    assert refused.exit_code == 2 and "above 0" in refused.output


class RecordingReplay(ReplayEngine):
    """The replay engine, remembering the sampling options of every request."""

    def __init__(self, replies_: list) -> None:
        super().__init__(replies_)
        self.sampling: list[tuple[float, int | None]] = []

    async def complete(self, request: EngineRequest) -> Completion:
        self.sampling.append((request.temperature, request.seed))
        return await super().complete(request)


async def test_a_queued_best_of_k_harvest_is_a_night_like_any_other(
        suite_dir: Path, tmp_path: Path) -> None:
    from pantheon_engine.night.drain import Night
    from pantheon_engine.night.jobqueue import JobQueue
    from pantheon_engine.policy import Policy
    from pantheon_engine.specialize.harvest import queue_best_of_k

    registry = default_registry()
    suite = load_suite(suite_dir, registry)
    art = tmp_path / "art"
    queued = queue_best_of_k(suite, agent=AGENT, registry=registry, artifacts=art, samples=2,
                             temperature=0.6, seed=10)
    assert queued.outcomes == {"queued": 4} and queued.tasks == 2  # train tasks only
    with JobQueue.for_artifacts(art) as queue:
        jobs = sorted(queue.list(), key=lambda j: j.id)
        assert [j.input["_sampling"]["meta"]["task_id"] for j in jobs] == \
            ["tr1", "tr1", "tr2", "tr2"]
        engine = RecordingReplay(replies([FINAL], GOOD_RENAME, BREAKS_A_KEY, GOOD_PUBLISH))
        with TraceStore.for_artifacts(art) as store:
            night = Night(queue=queue, registry=registry, engine=engine,
                          policy=Policy(mode="night"), artifacts=art, concurrency=1,
                          sample_s=0.05, traces=store)
            result = await night.run()
        assert (result.done, result.failed) == (2, 2)  # the checks failed two samples
        assert (Path(result.dir) / "metrics.jsonl").is_file()
        assert (Path(result.dir) / "report.md").is_file()
    # each sample ran at the harvest's temperature with its own seed
    assert {t for t, _ in engine.sampling} == {0.6}
    assert [s for _, s in engine.sampling] == [10, 11, 11, 11, 10, 10, 10, 11, 11, 11]

    runs = [r for r in find_runs(art)]
    assert {(r.task_id, r.meta["sample"], r.source, r.split) for r in runs} == {
        ("tr1", 0, "best-of-k", "train"), ("tr1", 1, "best-of-k", "train"),
        ("tr2", 0, "best-of-k", "train"), ("tr2", 1, "best-of-k", "train")}
    spec = registry.get(AGENT)
    mined, examples = await mine(art, spec, guard=None)
    assert mined.runs_green == 2 and mined.counts.by_source == {"best-of-k": 6}
    assert [(e.meta.task_id, e.reply) for e in examples] == \
        [("tr1", r) for r in GOOD_RENAME] + [("tr2", r) for r in GOOD_PUBLISH]
    assert {e.meta.run_id for e in examples} == {
        r.run_id for r in runs if r.check.get("passed")}


async def test_a_model_engine_that_fails_stops_the_search(suite_dir: Path, tmp_path: Path) -> None:
    from pantheon_engine.errors import EngineUnavailable

    class Gone(Engine):
        name = "gone"

        async def complete(self, request: EngineRequest) -> Completion:
            raise EngineUnavailable("the engine process exited")

    suite = load_suite(suite_dir, default_registry())
    with pytest.raises(EngineUnavailable):  # not 2 "failed" trajectories and an empty file
        await harvest_trajectories(suite, agent=AGENT, registry=default_registry(),
                                   artifacts=tmp_path, mode="search", engine=Gone())
    assert not list(tmp_path.glob("specialize/*/harvest-*.jsonl"))
