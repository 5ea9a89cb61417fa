"""Baselines: trivial strategies run through the same runner, tools and check as a model.

Every number here comes from real runs: the scripted baseline engine answers from the
prompt alone, the orchestrator runs the agent and its check, and the test reads the
verdicts. Suites are small git workspaces written by hand so each verdict is known.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pantheon_engine.agents.docops import state_text
from pantheon_engine.agents.registry import default_registry
from pantheon_engine.docops.rules import KeyAbsent, KeyEquals, KeyRenamed, parse_rules
from pantheon_engine.engines.base import Message
from pantheon_engine.engines.replay import RecordedReply, ReplayEngine
from pantheon_engine.evals.baselines import (
    BaselineEngine,
    baselines_for,
    current_files,
    final_output,
    run_baselines,
)
from pantheon_engine.evals.docops_baselines import (
    PhrasingParser,
    copy_rule,
    doc_state,
    house_rules,
    learn_phrasing,
)
from pantheon_engine.evals.results import EvalResult, best_baseline
from pantheon_engine.evals.runner import run_eval
from pantheon_engine.evals.suite import Suite, load_suite
from pantheon_engine.loop.traces import default_traces_path
from pantheon_engine.specialize.mine import find_runs

from conftest import git_repo

AGENT = "doc.frontmatter"
#: needs edits for most rules below: a capitalised Title, a draft flag, a messy date
MESSY = ("---\nTitle: {name}\ndraft: true\ndate: March 5, 2024\nauthor: ops\n---\n"
         "# {name}\n\nText.\n")
#: already meets every rule below (nothing to edit: the right answer is final at once)
CLEAN = ("---\ntitle: {name}\ndate: 2024-03-05\nauthor: ops\nstatus: published\n---\n"
         "# {name}\n\nText.\n")

RENAME = {"kind": "renamed", "key": "Title", "to": "title"}
DROP = {"kind": "absent", "key": "draft"}
PUBLISH = {"kind": "equals", "key": "status", "value": "published"}
DATE = {"kind": "date", "key": "date"}
HEADING = {"kind": "title_heading"}

Task = tuple[str, str, str, str, list[dict[str, str]]]  # id, split, file, template, rules


def write_suite(folder: Path, tasks: list[Task]) -> Path:
    workspace = folder / "workspace"
    (workspace / "docs").mkdir(parents=True)
    for _, _, path, template, _ in tasks:
        name = Path(path).stem.capitalize()
        (workspace / path).write_text(template.format(name=name), encoding="utf-8")
    git_repo(workspace)
    lines = [json.dumps({"id": tid, "agent": AGENT, "split": split,
                         "input": {"path": path, "rules": rules}})
             for tid, split, path, _, rules in tasks]
    (folder / "tasks.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


#: train phrases absent, renamed and date rules; the holdout adds `equals`, which no train
#: task phrases, and two documents that already comply
TASKS: list[Task] = [
    ("tr1", "train", "docs/t1.md", MESSY, [DROP]),
    ("tr2", "train", "docs/t2.md", MESSY, [RENAME, DATE]),
    ("tr3", "train", "docs/t3.md", MESSY, [{"kind": "absent", "key": "author"}]),
    ("h-drop", "holdout", "docs/a.md", MESSY, [DROP]),
    ("h-rename", "holdout", "docs/b.md", MESSY, [RENAME]),
    ("h-date", "holdout", "docs/c.md", MESSY, [DATE]),
    ("h-two", "holdout", "docs/d.md", MESSY, [RENAME, DROP, DATE]),
    ("h-publish", "holdout", "docs/e.md", MESSY, [PUBLISH]),
    ("h-clean", "holdout", "docs/f.md", CLEAN, [PUBLISH, DATE]),
    ("h-clean2", "holdout", "docs/g.md", CLEAN, [DROP]),
]


@pytest.fixture
def suite(tmp_path: Path) -> Suite:
    return load_suite(write_suite(tmp_path / "suite", TASKS), default_registry())


def passed_tasks(result_dir: str | None) -> set[str]:
    assert result_dir is not None
    return {t.id for t in EvalResult.load(result_dir).tasks if t.passed}


async def test_baselines_run_through_the_check_on_the_same_tasks(suite: Suite,
                                                                 tmp_path: Path) -> None:
    registry = default_registry()
    scores = await run_baselines(suite, agent=AGENT, split="holdout", registry=registry,
                                 artifacts=tmp_path / "art", concurrency=4)
    assert list(scores) == ["final_at_once", "copy_rule", "train_phrasing_parser"]
    assert all(s.total == 7 for s in scores.values())

    # final at once passes exactly the documents that already comply
    final = scores["final_at_once"]
    assert passed_tasks(final.dir) == {"h-clean", "h-clean2"}
    assert (final.passed, final.rate) == (2, pytest.approx(2 / 7))

    # copying the first rule's quoted strings: right for a lone absent, renamed or equals
    # rule and for a clean file (the copied call fails and changes nothing); wrong for a
    # date (it deletes the key) and for three rules (one call)
    assert passed_tasks(scores["copy_rule"].dir) == {
        "h-drop", "h-rename", "h-publish", "h-clean", "h-clean2"}

    # the parser reads the train phrasings (absent, renamed, date) but not `equals`: it
    # leaves that rule undone (h-clean already met it)
    parser = scores["train_phrasing_parser"]
    assert passed_tasks(parser.dir) == {"h-drop", "h-rename", "h-date", "h-two", "h-clean",
                                        "h-clean2"}
    assert best_baseline(scores) == ("train_phrasing_parser", parser)

    # each baseline is an eval of its own: same runner, engine "baseline", no trace store
    copied = EvalResult.load(scores["copy_rule"].dir or "")
    assert copied.engine == "baseline" and copied.model == "baseline:copy_rule"
    by_id = {t.id: t.results[0] for t in copied.tasks}
    # graded by check.rules, not by us: deleting `date` meets "if there is a key" but
    # drops a key no rule lets go
    assert by_id["h-date"].failed == ["preserve"]
    assert all(r.tool_calls <= 1 for r in by_id.values())
    assert not default_traces_path(tmp_path / "art").exists()


async def test_the_parser_is_defeated_by_a_phrasing_train_never_used(
        suite: Suite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    registry = default_registry()
    parser = PhrasingParser.from_suite(suite, "train")
    assert {p.kind for p in parser.phrasings} == {"absent", "renamed", "date"}

    async def parser_on(split: str, name: str) -> set[str]:
        engine = BaselineEngine("parser", parser.strategy(), AGENT, registry)
        result = await run_eval(suite, agent=AGENT, split=split, engine=engine,
                                registry=registry, artifacts=tmp_path / name, concurrency=4)
        return {t.id for t in result.tasks if t.passed}

    assert await parser_on("train", "train") == {"tr1", "tr2", "tr3"}  # it solves its own
    # the same holdout, the absent rule now phrased as no train task phrases it
    monkeypatch.setattr(KeyAbsent, "text", lambda self: f"Remove `{self.key}` if present.")
    assert await parser_on("holdout", "reworded") == {"h-rename", "h-date", "h-clean",
                                                      "h-clean2"}


def test_the_parser_learns_templates_from_rule_texts_only() -> None:
    examples = [(r.text(), r) for r in parse_rules([DROP, RENAME, PUBLISH, DATE, HEADING])]
    parser = PhrasingParser.learn(examples)
    assert len(parser.phrasings) == 5
    for text, rule in examples:
        assert parser.parse(text) == rule
    # new keys and values in a known phrasing are read; any other phrasing is not
    assert parser.parse("The front matter has no key `layout`.") == KeyAbsent(key="layout")
    assert parser.parse("The key `lang` has the value `en-GB`.") == \
        KeyEquals(key="lang", value="en-GB")
    assert parser.parse("A key `pubdate` is called `date` instead (same value, same "
                        "place).") == KeyRenamed(key="pubdate", to="date")
    assert parser.parse("Delete the key `layout`.") is None
    assert parser.parse("The front matter has no key `two words`.") is None  # not a key
    # a rule whose parameters are not in its text teaches nothing
    assert learn_phrasing("Drop the flag.", KeyAbsent(key="draft")) is None


def test_the_prompt_reads_back_as_the_agent_wrote_it() -> None:
    text = ("---\nTitle: Notes\ndate: 2024-03-05 10:00:00\ntags: [a, b]\nweight: 3\n---\n"
            "# Notes\n\nFirst line.\n")
    rules = parse_rules([RENAME, DATE])
    prompt = ("HOUSE RULES:\n" + "\n".join(f"{i}. {r.text()}" for i, r in enumerate(rules, 1))
              + "\n" + state_text(text, "docs/n.md", ["fm_delete {\"key\":\"x\"}"]))
    assert house_rules(prompt) == [r.text() for r in rules]
    state = doc_state(prompt)
    assert state is not None and state.edits == ['fm_delete {"key":"x"}']
    assert state.meta == {"Title": "Notes", "date": dt.datetime(2024, 3, 5, 10, 0),
                          "tags": ["a", "b"], "weight": 3}
    assert "# Notes" in state.text()
    # copy: one call of the first rule's strings, only while nothing was done
    first = [Message(role="user", content=prompt.replace('fm_delete {"key":"x"}', "none"))]
    assert json.loads(copy_rule(first)) == {
        "type": "tool", "name": "fm_rename", "args": {"key": "Title", "new_key": "title"}}
    assert json.loads(copy_rule([Message(role="user", content=prompt)]))["type"] == "final"


def test_every_builtin_agent_gets_a_final_output_it_accepts() -> None:
    registry = default_registry()
    for spec in registry:
        spec.final.model_validate(final_output(spec.final))


# --- code agents: final at once and the stub unchanged are measured, not assumed ---------

FLOW = """\
name: tiny
input: input
nodes:
  - id: codegen
    agent: codegen
    inputs: [input]
  - id: check
    agent: test.pytest
    inputs: [codegen]
output: check
"""
STUB = 'def add(a, b):\n    """Return a + b."""\n'
TEST = "from calc import add\n\n\ndef test_add():\n    assert add(2, 3) == 5\n"


def write_code_suite(folder: Path) -> Path:
    workspace = folder / "workspace"
    (workspace / "checks").mkdir(parents=True)
    (workspace / "calc.py").write_text(STUB, encoding="utf-8")
    (workspace / "checks" / "test_calc.py").write_text(TEST, encoding="utf-8")
    git_repo(workspace)
    (folder / "tiny.yaml").write_text(FLOW, encoding="utf-8")
    task = {"id": "add", "flow": "tiny.yaml", "split": "holdout", "input": {
        "title": "implement add", "scope": "write the body of add in calc.py",
        "acceptance": ["add returns the sum"], "files": ["calc.py"], "tests": "checks",
        "steps": ["edit calc.py"], "existing": {"calc.py": STUB}}}
    (folder / "tasks.jsonl").write_text(json.dumps(task) + "\n", encoding="utf-8")
    return folder


async def test_code_baselines_are_measured_zero_and_a_real_answer_passes(
        tmp_path: Path) -> None:
    registry = default_registry()
    suite = load_suite(write_code_suite(tmp_path / "suite"), registry)
    assert [b.name for b in baselines_for(registry.get("codegen"), suite)] == \
        ["final_at_once", "stub_unchanged"]
    prompt = "CURRENT CONTENT:\n--- calc.py\n" + STUB + "\nWrite the complete new content"
    assert current_files(prompt) == {"calc.py": STUB}

    scores = await run_baselines(suite, agent="codegen", split="holdout", registry=registry,
                                 artifacts=tmp_path / "art", policy=None, concurrency=1)
    assert {n: (s.passed, s.total) for n, s in scores.items()} == \
        {"final_at_once": (0, 1), "stub_unchanged": (0, 1)}
    stub = EvalResult.load(scores["stub_unchanged"].dir or "").tasks[0].results[0]
    assert stub.tool_calls >= 1 and "no file was changed" in (stub.error or "")

    # the same suite and check pass a right answer: the zeros are the strategies' own
    good = "def add(a, b):\n    return a + b\n"
    engine = ReplayEngine([
        RecordedReply(key="codegen", text=json.dumps({"type": "tool", "name": "write_file",
                      "args": {"path": "calc.py", "content": good}})),
        RecordedReply(key="codegen", text=json.dumps({"type": "final",
                                                      "output": {"summary": "add"}}))])
    result = await run_eval(suite, agent="codegen", split="holdout", engine=engine,
                            registry=registry, artifacts=tmp_path / "good", concurrency=1)
    assert result.passed_samples == 1


# --- pantheon eval -------------------------------------------------------------------------


def pantheon(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pantheon_engine", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300, env=dict(os.environ))


def test_eval_prints_and_writes_the_baselines(tmp_path: Path) -> None:
    small = [t for t in TASKS if t[0] in ("tr1", "h-drop", "h-publish", "h-clean")]
    suite_dir = write_suite(tmp_path / "suite", small)
    replies = tmp_path / "replies.jsonl"
    final = json.dumps({"type": "final", "output": {"summary": "done"}})
    drop = json.dumps({"type": "tool", "name": "fm_delete", "args": {"key": "draft"}})
    replies.write_text("\n".join(json.dumps({"key": "frontmatter", "text": t})
                                 for t in (drop, final, final, final)) + "\n")
    art = tmp_path / "art"
    common = ["eval", AGENT, "--suite", str(suite_dir), "--replay", str(replies),
              "--concurrency", "1", "--artifacts", str(art)]

    proc = pantheon(*common, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "pass@1 = 0.667 [0.208, 0.939] 2/3" in proc.stdout
    assert "baselines on the same 3 tasks, same check:" in proc.stdout
    assert "final_at_once          0.333 [0.061, 0.792] 1/3" in proc.stdout
    assert "pass@1 − best baseline (copy_rule) = -0.333" in proc.stdout
    result = EvalResult.load(next((art / "evals").glob("*/eval.json")))
    assert {n: (s.passed, s.total) for n, s in result.baselines.items()} == {
        "final_at_once": (1, 3), "copy_rule": (3, 3), "train_phrasing_parser": (2, 3)}
    # paired with the model's own tasks: the model never won where copy_rule failed
    assert (result.baselines["copy_rule"].won, result.baselines["copy_rule"].lost) == (0, 1)
    # the baselines' runs live in the eval's folder, where mining never looks for data
    assert Path(result.baselines["copy_rule"].dir or "").is_relative_to(result.dir or "")
    assert sorted(r.task_id or "" for r in find_runs(art)) == ["h-clean", "h-drop",
                                                               "h-publish"]

    proc = pantheon(*common, "--no-baselines", "--json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["baselines"] == {}

    proc = pantheon("eval", AGENT, "--suite", str(suite_dir), "--baselines-only", "--json",
                    "--artifacts", str(art), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert {n: s["rate"] for n, s in report["baselines"].items()} == pytest.approx(
        {"final_at_once": 1 / 3, "copy_rule": 1.0, "train_phrasing_parser": 2 / 3})
