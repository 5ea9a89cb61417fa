"""Task suites: loading generated and hand-written suites, and refusing bad ones."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pantheon_engine.docops.generate import make_docops_suite
from pantheon_engine.errors import SuiteError
from pantheon_engine.evals.suite import load_suite, resolve_flow

from conftest import git_repo

PANTHEON = [sys.executable, "-m", "pantheon_engine"]

DOC = "---\nTitle: Getting started\ndraft: true\n---\n# Getting started\n\nHello.\n"
RULES = [{"kind": "absent", "key": "draft"}, {"kind": "title_heading"}]


def task(id: str = "t1", **changes: Any) -> dict[str, Any]:
    line: dict[str, Any] = {"id": id, "agent": "doc.frontmatter",
                            "input": {"path": "docs/a.md", "rules": RULES}, "split": "train"}
    line.update(changes)
    return {k: v for k, v in line.items() if v is not None}


def make_repo(folder: Path) -> Path:
    (folder / "docs").mkdir(parents=True)
    (folder / "docs" / "a.md").write_text(DOC)
    (folder / "docs" / "b.md").write_text(DOC.replace("Getting started", "Second page"))
    return git_repo(folder)


def write_suite(folder: Path, lines: list[dict[str, Any] | str], *,
                workspace: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if workspace:
        make_repo(folder / "workspace")
    text = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n"
                   for line in lines)
    (folder / "tasks.jsonl").write_text(text)
    return folder


def refusal(folder: Path) -> str:
    with pytest.raises(SuiteError) as caught:
        load_suite(folder)
    return str(caught.value)


def check_cli(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PANTHEON, "suite", "check", str(folder)], capture_output=True,
                          text=True, timeout=120)


# --- good suites ---------------------------------------------------------------------------


def test_a_generated_suite_loads_with_disjoint_splits(tmp_path: Path) -> None:
    out = tmp_path / "docops-5"
    make_docops_suite(out, 30, seed=5, holdout_share=0.4)
    suite = load_suite(out)
    assert suite.workspace == (out / "workspace").resolve()
    assert [t.line for t in suite.tasks] == list(range(1, 31))
    train, holdout = suite.split("train"), suite.split("holdout")
    assert (len(train), len(holdout)) == (18, 12)
    assert suite.split(None) == suite.split("all") == suite.tasks
    train_docs = {t.input["path"] for t in train}
    assert train_docs.isdisjoint(t.input["path"] for t in holdout)
    assert all(t.agent == "doc.frontmatter" and t.flow is None for t in suite.tasks)
    assert "seed 5" in suite.description
    with pytest.raises(SuiteError, match="unknown split"):
        suite.split("test")


def test_a_hand_written_suite_can_point_at_an_existing_repository(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "my-docs")
    suite_dir = tmp_path / "suites" / "mine"
    suite_dir.mkdir(parents=True)
    (suite_dir / "suite.json").write_text(json.dumps({"workspace": "../../my-docs"}))
    (suite_dir / "tasks.jsonl").write_text("\n".join(json.dumps(line) for line in [
        task("a"),
        task("b", agent=None, flow="docops", split="holdout",
             input={"path": "docs/b.md", "rules": RULES}, meta={"note": "whole flow"}),
    ]) + "\n\n")
    suite = load_suite(suite_dir)
    assert suite.workspace == repo.resolve()
    assert [t.id for t in suite.split("train")] == ["a"]
    flow_task = suite.split("holdout")[0]
    assert flow_task.flow == "docops" and flow_task.meta == {"note": "whole flow"}
    assert suite.flow_file(flow_task) == resolve_flow("docops", suite_dir)
    assert suite.flow_file(flow_task).name == "docops.yaml"
    assert suite.flow_file(suite.tasks[0]) is None
    (suite_dir / "suite.json").write_text(json.dumps({"workspace": str(repo)}))
    assert load_suite(suite_dir).workspace == repo.resolve()
    proc = check_cli(suite_dir)
    assert proc.returncode == 0, proc.stderr
    assert "2 tasks" in proc.stdout and "train 1" in proc.stdout and "holdout 1" in proc.stdout


def test_a_flow_file_relative_to_the_suite_folder(tmp_path: Path) -> None:
    folder = write_suite(tmp_path / "s", [task(agent=None, flow="flows/mine.yaml")])
    (folder / "flows").mkdir()
    (folder / "flows" / "mine.yaml").write_text(
        "name: mine\nnodes:\n  - id: edit\n    agent: doc.frontmatter\n    inputs: [input]\n")
    suite = load_suite(folder)
    assert suite.flow_file(suite.tasks[0]) == (folder / "flows" / "mine.yaml").resolve()


# --- bad suites ------------------------------------------------------------------------------


@pytest.mark.parametrize(("bad", "says"), [
    ('{"id": "t2", "agent": "doc.frontmatter", ', ["not valid JSON"]),
    ('["t2", "doc.frontmatter"]', ["JSON object"]),
    (task("t2", agent="doc.frontmater"), ["unknown agent 'doc.frontmater'",
                                          "did you mean doc.frontmatter"]),
    (task("t2", input={"path": "docs/a.md"}), ["input does not fit doc.frontmatter",
                                               "rules", "pantheon agents show"]),
    (task("t2", input={"path": "docs/a.md", "rules": [{"kind": "uppercase"}]}),
     ["input does not fit doc.frontmatter"]),
    (task("t2", split="test"), ["bad split 'test'", '"train" or "holdout"']),
    (task("t2", split=None), ["split: Field required"]),
    (task("t2", flow="docops"), ["exactly one of agent or flow, not both"]),
    (task("t2", agent=None), ["exactly one of agent or flow"]),
    (task("t2", agent=None, flow="nope"), ["unknown flow 'nope'", "built-in flows: docops"]),
    (task("t2", agent=None, flow="docops", input={"title": "x"}),
     ["input does not fit doc.frontmatter", "node 'frontmatter'"]),
    (task("t2", input={"path": "docs/missing.md", "rules": RULES}),
     ["docs/missing.md", "not a file in the workspace"]),
    (task("t2", input={"path": "../outside.md", "rules": RULES}), ["../outside.md"]),
    (task("t2 with spaces"), ["id:", "letters, digits"]),
    (task("t2", extra=1), ["unknown field 'extra'"]),
])
def test_a_bad_line_is_refused_naming_file_line_and_a_hint(
        tmp_path: Path, bad: dict[str, Any] | str, says: list[str]) -> None:
    folder = write_suite(tmp_path / "s", [task("t1"), bad, task("t3")])
    message = refusal(folder)
    assert f"{folder / 'tasks.jsonl'}:2:" in message
    assert "hint:" in message
    for words in says:
        assert words in message


def test_a_duplicate_id_names_both_lines(tmp_path: Path) -> None:
    folder = write_suite(tmp_path / "s", [task("t1"), task("t2"), task("t1")])
    message = refusal(folder)
    assert f"{folder / 'tasks.jsonl'}:3: duplicate id 't1'" in message
    assert "line 1 has it already" in message


def test_every_problem_is_listed_in_one_error(tmp_path: Path) -> None:
    folder = write_suite(tmp_path / "s", [task("t1"), "{nope", task("t3", split="dev"),
                                          task("t1", agent="nobody")])
    message = refusal(folder)
    assert "has 4 problems" in message
    for line in (2, 3, 4):
        assert f"tasks.jsonl:{line}:" in message
    assert "duplicate id 't1'" in message and "unknown agent 'nobody'" in message


def test_a_suite_without_a_workspace_is_refused(tmp_path: Path) -> None:
    folder = write_suite(tmp_path / "s", [task("t1")], workspace=False)
    message = refusal(folder)
    assert "no workspace" in message and str(folder / "workspace") in message
    assert "suite.json" in message  # the hint says how to point at a repository
    (folder / "workspace").write_text("not a folder")
    assert "is not a folder" in refusal(folder)


def test_suite_json_naming_a_missing_repository_is_refused(tmp_path: Path) -> None:
    folder = write_suite(tmp_path / "s", [task("t1")], workspace=False)
    (folder / "suite.json").write_text(json.dumps({"workspace": "../gone"}))
    message = refusal(folder)
    assert str(folder / "suite.json") in message and "gone" in message
    (folder / "suite.json").write_text('{"workspace": ')
    assert f"{folder / 'suite.json'}:1: not valid JSON" in refusal(folder)
    (folder / "suite.json").write_text(json.dumps({"worksapce": "../gone"}))
    assert "worksapce" in refusal(folder)


def test_missing_or_empty_tasks_file_is_refused(tmp_path: Path) -> None:
    folder = write_suite(tmp_path / "s", [])
    assert "tasks.jsonl is empty" in refusal(folder)
    (folder / "tasks.jsonl").unlink()
    message = refusal(folder)
    assert "no tasks.jsonl" in message and str(folder / "tasks.jsonl") in message
    assert "not a suite folder" in refusal(tmp_path / "nowhere")


def test_cli_check_exits_2_with_the_problem(tmp_path: Path) -> None:
    folder = write_suite(tmp_path / "s", [task("t1"), task("t2", agent="doc.frontmater")])
    proc = check_cli(folder)
    assert proc.returncode == 2
    assert "tasks.jsonl:2" in proc.stderr and "unknown agent 'doc.frontmater'" in proc.stderr
    assert "did you mean doc.frontmatter" in proc.stderr


def test_cli_check_refuses_paths_the_workspace_does_not_suit(tmp_path: Path) -> None:
    """What ``queue add`` and ``run`` refuse, ``suite check`` refuses too: a docops task on
    a file that is not Markdown, a spec whose tests are missing or whose file is a folder."""
    spec = {"title": "Add shout()", "scope": "Make text loud.", "acceptance": ["it shouts"],
            "files": ["docs"], "tests": "tests"}
    folder = write_suite(tmp_path / "s", [
        task("t1"),
        task("t2", input={"path": "notes.txt", "rules": RULES}),
        task("t3", agent=None, flow="spec2code", input=spec),
    ])
    (folder / "workspace" / "notes.txt").write_text("notes\n")
    proc = check_cli(folder)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    ws = (folder / "workspace").resolve()
    assert f"tasks.jsonl:2: input.path: 'notes.txt' in the workspace {ws} is not a Markdown " \
           "document" in proc.stderr
    assert f"tasks.jsonl:3: input.files.0: 'docs' is not a file in the workspace {ws}" \
        in proc.stderr
    assert f"tasks.jsonl:3: input.tests: 'tests' does not exist in the workspace {ws}" \
        in proc.stderr
    assert check_cli(write_suite(tmp_path / "good", [task("t1")])).returncode == 0
