"""The generated code suite: deterministic, disjoint families, fair tasks, the eval runs it.

Fairness is checked with the real pytest in the suite's workspace: every stub fails its
hidden tests and every reference passes them, task by task. One eval runs through the
real loop with a replayed model, as ``pantheon eval codegen --suite`` would.
"""

from __future__ import annotations

import ast
import json
import os
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from pantheon_engine.agents.io import Plan
from pantheon_engine.agents.registry import default_registry
from pantheon_engine.engines.replay import RecordedReply, ReplayEngine
from pantheon_engine.errors import ConfigError
from pantheon_engine.evals.codesuite.make import (
    HOLDOUT_FAMILIES,
    MAX_TASKS,
    MIN_TASKS,
    TRAIN_FAMILIES,
    CodeTask,
    draw_tasks,
    make_code_suite,
)
from pantheon_engine.evals.codesuite.task import Draft, hidden_tests_text, stub_text
from pantheon_engine.evals.codesuite.verify import TaskDefect, check_task, run_reference
from pantheon_engine.evals.runner import run_eval
from pantheon_engine.evals.suite import load_suite

PANTHEON = [sys.executable, "-m", "pantheon_engine"]
TASKS, SEED = 40, 3
runner = CliRunner()


@pytest.fixture(scope="module")
def suite_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("code") / "suite"
    make_code_suite(folder, TASKS, SEED)
    return folder


@pytest.fixture(scope="module")
def drawn() -> list[CodeTask]:
    return draw_tasks(TASKS, SEED)


def head(folder: Path) -> str:
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder / "workspace",
                          capture_output=True, text=True, check=True).stdout.strip()


# --- the suite --------------------------------------------------------------------------------


def test_the_suite_has_the_humaneval_layout_and_loads(suite_dir: Path) -> None:
    suite = load_suite(suite_dir)
    assert len(suite.tasks) == TASKS and suite.measurement_only is False
    assert (len(suite.split("train")), len(suite.split("holdout"))) == (24, 16)
    for task in suite.tasks:
        assert task.flow == "codegen.yaml" and task.meta["source"] == "code"
        plan = Plan.model_validate(task.input)  # what the codegen agent takes
        path = plan.files[0]
        assert path.startswith(f"funcs/{task.split}/") and plan.tests == f"checks/{task.id}"
        stub = (suite.workspace / path).read_text(encoding="utf-8")
        assert stub == plan.existing[path]
        assert stub.startswith(f"def {task.meta['entry_point']}(") and ">>> " in stub
        ast.parse(stub)  # a module that imports
        tests = list((suite.workspace / plan.tests).glob("test_*.py"))
        assert len(tests) == 1 and (suite.workspace / plan.tests).is_dir()
        text = tests[0].read_text(encoding="utf-8")
        assert "def test_edge_cases" in text and task.meta["asserts"] >= 6
        assert text.count("assert ") >= task.meta["asserts"]
    status = subprocess.run(["git", "status", "--porcelain"], cwd=suite.workspace,
                            capture_output=True, text=True, check=True)
    assert status.stdout == ""  # everything committed
    config = json.loads((suite_dir / "suite.json").read_text())
    assert config["generator"]["name"] == "code" and config["generator"]["seed"] == SEED


def test_the_same_seed_writes_the_same_suite_in_any_process(suite_dir: Path,
                                                            tmp_path: Path) -> None:
    """A second process with another hash seed: no draw depends on set or dict order."""
    again = tmp_path / "again"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    proc = subprocess.run([*PANTHEON, "suite", "make", "code", "--tasks", str(TASKS),
                           "--seed", str(SEED), "--out", str(again)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert f"{TASKS} tasks · train 24 · holdout 16" in proc.stdout
    assert "holdout families (tasks):" in proc.stdout
    assert (again / "tasks.jsonl").read_bytes() == (suite_dir / "tasks.jsonl").read_bytes()
    assert head(again) == head(suite_dir)
    other = tmp_path / "other"
    make_code_suite(other, TASKS, SEED + 1)
    assert (other / "tasks.jsonl").read_bytes() != (suite_dir / "tasks.jsonl").read_bytes()


def test_train_and_holdout_come_from_disjoint_families(drawn: list[CodeTask]) -> None:
    train = {f.name for f in TRAIN_FAMILIES}
    holdout = {f.name for f in HOLDOUT_FAMILIES}
    assert train and holdout and not train & holdout
    assert {t.draft.family for t in drawn if t.split == "train"} <= train
    assert {t.draft.family for t in drawn if t.split == "holdout"} <= holdout
    # the stubs of the two splits share no function: names differ family by family
    names = {s: {t.draft.name for t in drawn if t.split == s} for s in ("train", "holdout")}
    assert not names["train"] & names["holdout"]


def test_500_tasks_give_300_train_and_200_holdout_spread_over_every_family() -> None:
    tasks = draw_tasks(500, 7)
    by_split = {s: [t for t in tasks if t.split == s] for s in ("train", "holdout")}
    assert (len(by_split["train"]), len(by_split["holdout"])) == (300, 200)
    for split, families in (("train", TRAIN_FAMILIES), ("holdout", HOLDOUT_FAMILIES)):
        counts = [sum(t.draft.family == f.name for t in by_split[split]) for f in families]
        assert max(counts) - min(counts) <= 1, (split, counts)  # the families take turns
    # tasks within a family differ: no two drafts of a family share their key
    keys = [(t.draft.family, *t.draft.key) for t in tasks]
    assert len(set(keys)) == len(keys)
    stubs = [t.stub for t in tasks]
    assert len(set(stubs)) == len(stubs)


# --- fair tasks, graded by the real pytest ----------------------------------------------------


def _failing_tasks(workspace: Path) -> set[str]:
    """The task ids whose check folder has a failing test (one pytest run over all)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTEST_CURRENT_TEST", "PYTHONSAFEPATH", "PYTEST_ADDOPTS")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rf", "checks"],
                          cwd=workspace, env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    assert "error" not in proc.stdout.splitlines()[-1], proc.stdout[-2000:]
    return set(re.findall(r"^FAILED checks/([^/]+)/", proc.stdout, re.M))


def test_every_stub_fails_and_every_reference_passes_its_hidden_tests(
        suite_dir: Path, drawn: list[CodeTask], tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    shutil.copytree(suite_dir / "workspace", workspace)
    every = {t.id for t in drawn}
    assert _failing_tasks(workspace) == every
    for task in drawn:
        assert (workspace / task.path).read_text() == task.stub
        (workspace / task.path).write_text(task.reference)
    assert _failing_tasks(workspace) == set()
    # a solution that returns its input unchanged fails too
    for task in drawn:
        first = task.draft.params[0][0]
        (workspace / task.path).write_text(f"{task.draft.signature}\n    return {first}\n")
    assert _failing_tasks(workspace) == every


async def test_pantheon_eval_runs_the_suite_through_the_loop(suite_dir: Path,
                                                             drawn: list[CodeTask],
                                                             tmp_path: Path) -> None:
    """A replayed model writes the reference of the first holdout task and a wrong body
    for the second: the check passes the first only."""
    registry = default_registry([suite_dir])
    suite = load_suite(suite_dir, registry)
    first, second = [t for t in drawn if t.split == "holdout"][:2]
    wrong = second.stub + "    return None\n"

    def write(path: str, content: str) -> RecordedReply:
        return RecordedReply(key="codegen", text=json.dumps({
            "type": "tool", "name": "write_file", "args": {"path": path, "content": content}}))

    final = RecordedReply(key="codegen", text=json.dumps(
        {"type": "final", "output": {"summary": "implemented"}}))
    engine = ReplayEngine([write(first.path, first.reference), final,
                           write(second.path, wrong), final])
    result = await run_eval(suite, agent="codegen", split="holdout", engine=engine,
                            registry=registry, artifacts=tmp_path / "art", concurrency=1,
                            limit=2)
    assert result.measurement_only is False
    assert [(t.id, t.passed) for t in result.tasks] == [(first.id, 1), (second.id, 0)]


# --- what is refused -------------------------------------------------------------------------


def test_bad_arguments_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    out = tmp_path / "x"
    for tasks, share, match in ((MIN_TASKS - 1, 0.4, "--tasks must be between"),
                                (MAX_TASKS + 1, 0.4, "--tasks must be between"),
                                (40, 0.0, "leaves a split of 40 tasks empty"),
                                (40, 1.0, "leaves a split of 40 tasks empty")):
        with pytest.raises(ConfigError, match=match):
            make_code_suite(out, tasks, 1, share)
        assert not out.exists()
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    with pytest.raises(ConfigError, match="is a file, not a folder"):
        make_code_suite(a_file, MIN_TASKS, 1)


def test_an_existing_suite_is_refused_unless_forced(suite_dir: Path, tmp_path: Path) -> None:
    from pantheon_engine.cli.main import app

    out = tmp_path / "s"
    shutil.copytree(suite_dir, out, symlinks=True)
    before = (out / "tasks.jsonl").read_bytes()
    result = runner.invoke(app, ["suite", "make", "code", "--tasks", "20", "--out", str(out)])
    assert result.exit_code == 2 and "exists and is not empty" in result.output
    assert "--force" in result.output and (out / "tasks.jsonl").read_bytes() == before
    (out / "notes.txt").write_text("mine")
    forced = runner.invoke(app, ["suite", "make", "code", "--tasks", "20", "--out", str(out),
                                 "--force"])
    assert forced.exit_code == 0, forced.output
    assert "20 tasks · train 12 · holdout 8" in forced.output
    assert (out / "notes.txt").read_text() == "mine"  # only the suite's own files replaced
    few = runner.invoke(app, ["suite", "make", "code", "--tasks", "3",
                              "--out", str(tmp_path / "few")])
    assert few.exit_code == 2 and "--tasks must be between 20" in few.output
    scoped = runner.invoke(app, ["suite", "make", "code", "--scope", "rule",
                                 "--out", str(tmp_path / "scoped")])
    assert scoped.exit_code == 2 and "--scope is a docops option" in scoped.output
    assert not (tmp_path / "few").exists() and not (tmp_path / "scoped").exists()


# --- the generation-time checks catch an unfair task -------------------------------------------


def _draft(body: str, **changes: Any) -> Draft:
    fields: dict[str, Any] = dict(
        family="probe", name="double", params=(("n", "int"),), returns="int",
        doc=("Return twice n.",), body=body, examples=((2,),), edges=((0,),),
        cases=((5,), (-3,)))
    fields.update(changes)
    return Draft(**fields)


def _check(draft: Draft, tmp_path: Path, reference: str | None = None) -> None:
    groups = run_reference(draft)
    stub = stub_text(draft, groups["examples"])
    text = reference if reference is not None else stub + "    " + draft.body
    check_task(tmp_path, "funcs/probe.py", "checks/probe/test_probe.py", draft,
               reference=text, stub=stub,
               tests=hidden_tests_text("probe", draft, "funcs/probe.py", groups))


def test_a_fair_task_passes_the_checks_and_an_unfair_one_is_a_defect(tmp_path: Path) -> None:
    fair = _draft("return 2 * n\n")
    _check(fair, tmp_path)
    with pytest.raises(TaskDefect, match="fails its own"):  # a reference the tests refute
        _check(fair, tmp_path, reference=stub_text(fair, run_reference(fair)["examples"])
               + "    return 2 * n + (n == 5)\n")
    with pytest.raises(TaskDefect, match="the stub of double passes every test"):
        _check(_draft("return None\n", returns="None"), tmp_path)
    with pytest.raises(TaskDefect, match="the echo of double passes every test"):
        _check(_draft("return n\n"), tmp_path)
    with pytest.raises(TaskDefect, match="raised KeyError"):  # only ValueError is a rule
        run_reference(_draft("return {}[n]\n"))
    with pytest.raises(TaskDefect, match="cannot hold as a literal"):
        run_reference(_draft("return object()\n"))
    with pytest.raises(TaskDefect, match="no example of double returns"):
        run_reference(_draft("raise ValueError(n)\n"))


def test_draws_vary_with_the_seed_within_a_family() -> None:
    for family in (*TRAIN_FAMILIES, *HOLDOUT_FAMILIES):
        rng = random.Random(11)
        drafts = [family.draw(rng) for _ in range(12)]
        assert all(d.family == family.name for d in drafts)
        assert len({d.key for d in drafts}) >= 6, family.name
        assert len({d.doc for d in drafts}) >= 4, family.name
