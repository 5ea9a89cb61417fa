"""Evals on the replay engine: the numbers a user reads must be the ones computed by hand.

The suite below has four holdout tasks and one train task over a small git workspace. The
recorded replies make known samples pass (the right edits) and others fail in known ways
(final at once, a kept key deleted, unparseable replies), so every aggregate of the eval is
known in advance. Runs go one at a time (concurrency 1) because the replay engine serves
one queue per node id in order.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pantheon_engine.agents.registry import default_registry
from pantheon_engine.engines.replay import RecordedReply, ReplayEngine
from pantheon_engine.errors import SpecError
from pantheon_engine.evals.results import EvalResult, SampleResult, TaskResult, compare
from pantheon_engine.evals.runner import run_eval
from pantheon_engine.evals.stats import mcnemar_exact, pass_at_k, wilson_interval
from pantheon_engine.evals.suite import load_suite

from conftest import git_repo

AGENT = "doc.frontmatter"
DOC = "---\nTitle: {name}\ndraft: true\nauthor: ops\n---\n# {name}\n\nSome text.\n"
RENAME_AND_DROP = [{"kind": "renamed", "key": "Title", "to": "title"},
                   {"kind": "absent", "key": "draft"}]
DROP_AND_PUBLISH = [{"kind": "absent", "key": "draft"},
                    {"kind": "equals", "key": "status", "value": "published"}]
TASKS = [  # id, split, file, rules
    ("t1", "holdout", "docs/a.md", RENAME_AND_DROP),
    ("t2", "holdout", "docs/b.md", RENAME_AND_DROP),
    ("t3", "holdout", "docs/c.md", DROP_AND_PUBLISH),
    ("t4", "holdout", "docs/d.md", RENAME_AND_DROP),
    ("t5", "train", "docs/e.md", RENAME_AND_DROP),
]
PROMPT_TOKENS, COMPLETION_TOKENS = 10, 4


def tool(name: str, **args: str) -> str:
    return json.dumps({"type": "tool", "name": name, "args": args})


FINAL = json.dumps({"type": "final", "output": {"summary": "done"}})
#: the right edits for RENAME_AND_DROP: passes the check (3 steps, 2 tool calls)
GOOD_RENAME = [tool("fm_rename", key="Title", new_key="title"), tool("fm_delete", key="draft"),
               FINAL]
#: the right edits for DROP_AND_PUBLISH (3 steps, 2 tool calls)
GOOD_PUBLISH = [tool("fm_delete", key="draft"), tool("fm_set", key="status", value="published"),
                FINAL]
#: deletes a key no rule lets go and never sets status: equals:status and preserve fail
BREAKS_A_KEY = [tool("fm_delete", key="draft"), tool("fm_delete", key="author"), FINAL]
#: five unparseable replies spend max_failures (4) on doc.frontmatter: the check never runs
GARBAGE = ["not json"] * 5


def write_suite(folder: Path, tasks: list[tuple[str, str, str, list]] = TASKS) -> Path:
    workspace = folder / "workspace"
    (workspace / "docs").mkdir(parents=True)
    for _, _, path, _ in tasks:
        name = Path(path).stem.upper()
        (workspace / path).write_text(DOC.format(name=name), encoding="utf-8")
    git_repo(workspace)
    lines = [json.dumps({"id": tid, "agent": AGENT, "split": split,
                         "input": {"path": path, "rules": rules}})
             for tid, split, path, rules in tasks]
    (folder / "tasks.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def recorded(*samples: list[str]) -> list[RecordedReply]:
    """Replies for the agent node, sample after sample, each with known token counts."""
    return [RecordedReply(key="frontmatter", text=text, prompt_tokens=PROMPT_TOKENS,
                          completion_tokens=COMPLETION_TOKENS)
            for replies in samples for text in replies]


async def evaluate(suite_dir: Path, artifacts: Path, replies: list[RecordedReply], *,
                   split: str | None = "holdout", samples: int = 1,
                   temperature: float | None = None) -> EvalResult:
    registry = default_registry()
    suite = load_suite(suite_dir, registry)
    engine = ReplayEngine(replies)
    return await run_eval(suite, agent=AGENT, split=split, engine=engine, registry=registry,
                          artifacts=artifacts, samples=samples, temperature=temperature,
                          concurrency=1)


async def test_one_sample_per_task_gives_the_numbers_computed_by_hand(tmp_path: Path) -> None:
    suite_dir = write_suite(tmp_path / "suite")
    art = tmp_path / "art"
    result = await evaluate(suite_dir, art, recorded([FINAL], GOOD_RENAME, BREAKS_A_KEY,
                                                     GARBAGE))

    assert result.agent == "doc.frontmatter@1" and result.split == "holdout"
    assert (result.tasks_n, result.samples, result.total_samples, result.passed_samples) == \
        (4, 1, 4, 1)
    assert [t.id for t in result.tasks] == ["t1", "t2", "t3", "t4"]  # t5 is train
    assert result.pass_at_1 == pytest.approx(0.25)
    # Wilson 95 % for 1 of 4: centre (p + z²/2n)/(1 + z²/n), by hand 0.0456 .. 0.6994
    assert result.pass_at_1_interval == pytest.approx((0.0456, 0.6994), abs=1e-4)
    assert result.interval_over == "tasks" and result.pass_at_k is None
    assert result.failures_by_kind == {"check_failed": 2, "max_failures": 1}
    assert result.failures_by_rule == {"renamed:Title": 1, "absent:draft": 1,
                                       "equals:status": 1, "preserve": 1}
    assert result.steps_mean == pytest.approx((1 + 3 + 3 + 5) / 4)
    replies_used = 1 + 3 + 3 + 5
    assert result.prompt_tokens == replies_used * PROMPT_TOKENS
    assert result.completion_tokens == replies_used * COMPLETION_TOKENS
    assert result.tokens_per_s == pytest.approx(result.completion_tokens / result.seconds)

    t1, t2, t3, t4 = (t.results[0] for t in result.tasks)
    assert [t.passed for t in result.tasks] == [0, 1, 0, 0]
    assert (t1.passed, t1.error_kind, t1.failed, t1.tool_calls) == \
        (False, "check_failed", ["renamed:Title", "absent:draft"], 0)
    assert (t2.passed, t2.error_kind, t2.failed, t2.steps, t2.tool_calls) == \
        (True, None, [], 3, 2)
    assert (t3.passed, t3.error_kind, t3.failed) == \
        (False, "check_failed", ["equals:status", "preserve"])
    assert (t4.passed, t4.error_kind, t4.failed, t4.steps) == (False, "max_failures", [], 5)

    eval_dir = art / "evals" / result.eval_id
    on_disk = json.loads((eval_dir / "eval.json").read_text())
    assert EvalResult.model_validate(on_disk) == result
    run = json.loads((eval_dir / "runs" / t2.run_id / "run.json").read_text())
    assert (run["eval_id"], run["task_id"], run["sample"]) == (result.eval_id, "t2", 0)
    assert run["check"]["passed"] is True

    text = result.render_text()
    assert "pass@1 = 0.250 [0.046, 0.699] 1/4" in text
    assert "check_failed 2" in text and "max_failures 1" in text


async def test_the_agents_own_final_answer_never_counts_as_a_pass(tmp_path: Path) -> None:
    suite_dir = write_suite(tmp_path / "suite")
    result = await evaluate(suite_dir, tmp_path / "art", recorded(*[[FINAL]] * 4))
    assert result.passed_samples == 0 and result.pass_at_1 == 0.0
    assert result.pass_at_1_interval == pytest.approx((0.0, 0.4899), abs=1e-4)
    assert result.failures_by_kind == {"check_failed": 4}


async def test_several_samples_give_pass_at_k_and_a_pooled_interval(tmp_path: Path) -> None:
    suite_dir = write_suite(tmp_path / "suite")
    # sample order with concurrency 1: t1 s0, t1 s1, t2 s0, t2 s1, ...
    replies = recorded([FINAL], [FINAL],                # t1: 0 of 2
                       GOOD_RENAME, [FINAL],            # t2: 1 of 2
                       GOOD_PUBLISH, GOOD_PUBLISH,      # t3: 2 of 2
                       GARBAGE, [FINAL])                # t4: 0 of 2
    result = await evaluate(suite_dir, tmp_path / "art", replies, samples=2, temperature=0.8)

    assert [(t.id, t.samples, t.passed) for t in result.tasks] == \
        [("t1", 2, 0), ("t2", 2, 1), ("t3", 2, 2), ("t4", 2, 0)]
    assert [r.sample for r in result.tasks[1].results] == [0, 1]
    assert [r.passed for r in result.tasks[1].results] == [True, False]
    assert result.pass_at_1 == pytest.approx((0 + 1 / 2 + 1 + 0) / 4)
    # pass@2 per task = 1 - C(n-c, 2)/C(n, 2): t1 0, t2 1 (C(1,2) = 0), t3 1, t4 0
    assert result.pass_at_k == pytest.approx(0.5)
    assert result.interval_over == "samples pooled"
    assert (result.passed_samples, result.total_samples) == (3, 8)
    assert result.pass_at_1_interval == pytest.approx((0.1368, 0.6943), abs=1e-4)
    assert result.temperature == 0.8
    assert result.failures_by_kind == {"check_failed": 4, "max_failures": 1}
    assert result.failures_by_rule == {"absent:draft": 4, "renamed:Title": 4}
    assert "pass@2 = 0.500" in result.render_text()


async def test_split_all_takes_train_tasks_too(tmp_path: Path) -> None:
    suite_dir = write_suite(tmp_path / "suite")
    replies = recorded(GOOD_RENAME, GOOD_RENAME, GOOD_PUBLISH, GOOD_RENAME, GOOD_RENAME)
    result = await evaluate(suite_dir, tmp_path / "art", replies, split=None)
    assert result.split == "all" and [t.split for t in result.tasks][-1] == "train"
    assert (result.passed_samples, result.pass_at_1) == (5, 1.0)
    assert result.failures_by_kind == {} and result.failures_by_rule == {}


async def test_a_version_that_is_not_registered_is_refused(tmp_path: Path) -> None:
    suite_dir = write_suite(tmp_path / "suite")
    registry = default_registry()
    with pytest.raises(SpecError, match=r"doc\.frontmatter@9 is not registered"):
        await run_eval(load_suite(suite_dir, registry), agent="doc.frontmatter@9",
                       split="holdout", engine=ReplayEngine([]), registry=registry,
                       artifacts=tmp_path / "art")


async def test_a_flow_task_passes_by_its_check_even_when_a_reviewer_rejects(
        tmp_path: Path) -> None:
    suite_dir = write_suite(tmp_path / "suite", TASKS[:1])
    (suite_dir / "tasks.jsonl").write_text(json.dumps(
        {"id": "f1", "flow": "docops", "split": "holdout",
         "input": {"path": "docs/a.md", "rules": RENAME_AND_DROP}}) + "\n")
    verdict = '{{"type":"final","output":{{"verdict":"{}","rationale":"r"}}}}'
    replies = [*recorded(GOOD_RENAME),
               RecordedReply(key="reviewA", text=verdict.format("pass")),
               RecordedReply(key="reviewB", text=verdict.format("fail"))]
    result = await evaluate(suite_dir, tmp_path / "art", replies)
    sample = result.tasks[0].results[0]
    run = json.loads((Path(result.dir or "") / "runs" / (sample.run_id or "") / "run.json")
                     .read_text())
    assert run["status"] == "failed" and run["check"]["passed"] is True
    assert sample.passed and result.pass_at_1 == 1.0 and result.failures_by_kind == {}


def test_compare_pairs_two_evals_task_by_task() -> None:
    def eval_of(eval_id: str, passes: list[bool]) -> EvalResult:
        tasks = [TaskResult(id=f"t{i}", split="holdout", samples=1, passed=int(ok),
                            results=[SampleResult(sample=0, passed=ok)])
                 for i, ok in enumerate(passes)]
        return EvalResult.build(eval_id=eval_id, agent="a@1", engine=None, model=None,
                                suite="s", split="holdout", samples=1, temperature=None,
                                seed=0, seconds=1.0, tasks=tasks)

    old = eval_of("old", [False] * 6 + [True, True, False])
    new = eval_of("new", [True] * 6 + [True, False, False])
    result = compare(new, old)
    assert (result.tasks, result.both, result.only_a, result.only_b, result.neither) == \
        (9, 1, 6, 1, 1)
    assert result.won_by_a == [f"t{i}" for i in range(6)] and result.won_by_b == ["t7"]
    assert result.p_value == pytest.approx(2 * (1 + 7) / 2**7)


# --- the command line --------------------------------------------------------------------


def pantheon(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pantheon_engine", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300, env=dict(os.environ))


def test_eval_from_the_command_line_writes_eval_json(tmp_path: Path) -> None:
    suite_dir = write_suite(tmp_path / "suite")
    replies = tmp_path / "replies.jsonl"
    replies.write_text("\n".join(r.model_dump_json() for r in recorded(
        [FINAL], GOOD_RENAME, GOOD_PUBLISH, GARBAGE)) + "\n")
    art = tmp_path / "art"
    proc = pantheon("eval", AGENT, "--suite", str(suite_dir), "--replay", str(replies),
                    "--concurrency", "1", "--artifacts", str(art), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "pass@1 = 0.500 [0.150, 0.850] 2/4" in proc.stdout
    written = list((art / "evals").glob("*/eval.json"))
    assert len(written) == 1 and str(written[0]) in proc.stdout
    result = EvalResult.load(written[0])
    assert [t.passed for t in result.tasks] == [0, 1, 1, 0]
    assert result.engine == "replay"

    proc = pantheon("eval", AGENT, "--suite", str(suite_dir), "--replay", str(replies),
                    "--split", "train", "--concurrency", "1", "--artifacts", str(art),
                    "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr  # the eval ran: its pass rate does not matter
    data = json.loads(proc.stdout)
    assert data["split"] == "train" and [t["id"] for t in data["tasks"]] == ["t5"]
    assert data["passed_samples"] == 0  # the first recorded reply is a final answer at once


def test_eval_refuses_bad_input_with_exit_2(tmp_path: Path) -> None:
    suite_dir = write_suite(tmp_path / "suite", [t for t in TASKS if t[1] == "train"])
    replies = tmp_path / "replies.jsonl"
    replies.write_text("\n".join(r.model_dump_json() for r in recorded(GOOD_RENAME)) + "\n")
    common = ["--suite", str(suite_dir), "--replay", str(replies),
              "--artifacts", str(tmp_path / "art")]

    proc = pantheon("eval", "doc.frontmater", *common, cwd=tmp_path)
    assert proc.returncode == 2 and "unknown agent" in proc.stderr
    assert "doc.frontmatter" in proc.stderr  # the close match is suggested

    proc = pantheon("eval", AGENT, *common, "--split", "holdout", cwd=tmp_path)
    assert proc.returncode == 2 and "no task" in proc.stderr

    proc = pantheon("eval", f"{AGENT}@7", *common, "--split", "train", cwd=tmp_path)
    assert proc.returncode == 2 and "doc.frontmatter@1" in proc.stderr

    proc = pantheon("eval", AGENT, "--suite", str(tmp_path / "nowhere"), cwd=tmp_path)
    assert proc.returncode == 2 and "suite" in proc.stderr
    assert not (tmp_path / "art" / "evals").exists()  # nothing ran


# --- statistics ----------------------------------------------------------------------------


def test_wilson_interval_known_values() -> None:
    # 0 of n: [0, z²/(n + z²)]; half of n: symmetric around 0.5
    assert wilson_interval(0, 64) == pytest.approx((0.0, 3.8415 / (64 + 3.8415)), abs=1e-4)
    assert wilson_interval(32, 64) == pytest.approx((0.3810, 0.6190), abs=1e-4)
    assert wilson_interval(64, 64) == pytest.approx((1 - 3.8415 / (64 + 3.8415), 1.0),
                                                    abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError):
        wilson_interval(5, 4)


def test_pass_at_k_known_values() -> None:
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)  # pass@1 is c/n
    assert pass_at_k(5, 2, 2) == pytest.approx(1 - 3 / 10)  # 1 - C(3,2)/C(5,2)
    assert pass_at_k(2, 1, 2) == 1.0  # every draw of 2 holds the passing sample
    assert pass_at_k(8, 0, 8) == 0.0
    with pytest.raises(ValueError):
        pass_at_k(2, 1, 3)


def test_mcnemar_exact_known_values() -> None:
    assert mcnemar_exact(0, 6) == pytest.approx(0.03125)  # 2 × (1/2)^6
    assert mcnemar_exact(6, 0) == pytest.approx(0.03125)
    assert mcnemar_exact(1, 1) == 1.0
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(2, 8) == pytest.approx(2 * (1 + 10 + 45) / 1024)
