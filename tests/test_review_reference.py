"""review.reference: a reviewer's own version of a function, run beside the change."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pantheon_engine.agents.registry import default_registry
from pantheon_engine.agents.review_reference import changed_functions
from pantheon_engine.engines.replay import RecordedReply, ReplayEngine
from pantheon_engine.errors import ToolFailure
from pantheon_engine.policy import Policy
from pantheon_engine.run.flows import load_flow_checked
from pantheon_engine.run.orchestrator import Orchestrator
from pantheon_engine.tools.base import ToolContext
from pantheon_engine.tools.reference import compare_reference

from conftest import EXAMPLES, FLOWS, git_repo

SHOUT_GOOD = 'def shout(text: str) -> str:\n    return text.upper() + "!"\n'
SHOUT_STRIPS = 'def shout(text: str) -> str:\n    return text.strip().upper() + "!"\n'
REFERENCE = ('def expected(text):\n    return text.upper() + "!"\n\n'
             'INPUTS = ["hello", " a b ", ""]\n')


def _repo(tmp_path: Path, extra: str = "") -> Path:
    repo = tmp_path / "code-repo"
    shutil.copytree(EXAMPLES / "spec2code" / "workspace", repo)
    git_repo(repo)
    words = repo / "textkit" / "words.py"
    if extra:
        words.write_text(words.read_text() + "\n\n" + extra)
    return repo


async def _compare(repo: Path, reference: str, function: str = "shout") -> object:
    return await compare_reference.invoke(
        ToolContext(workspace=repo), {"function": function, "reference": reference,
                                      "targets": {function: "textkit.words"}})


async def test_an_agreeing_function_has_no_mismatch(tmp_path: Path) -> None:
    result = await _compare(_repo(tmp_path, SHOUT_GOOD), REFERENCE)
    assert result.compared == 3 and result.mismatches == []


async def test_a_function_that_differs_is_shown_where(tmp_path: Path) -> None:
    result = await _compare(_repo(tmp_path, SHOUT_STRIPS), REFERENCE)
    assert [(m.input, m.expected, m.got) for m in result.mismatches] == [
        ("' a b '", "' A B !'", "'A B!'")]


async def test_a_raising_function_differs_and_a_raising_reference_gives_no_value(
        tmp_path: Path) -> None:
    repo = _repo(tmp_path, 'def first(text: str) -> str:\n    return text.split()[0]\n')
    reference = ('def expected(text):\n    if not text.strip():\n        raise ValueError\n'
                 '    return text.split()[0]\n\nINPUTS = ["a b", "c", "d e f", "", "  "]\n')
    result = await _compare(repo, reference, "first")
    assert (result.compared, result.skipped, result.mismatches) == (3, 2, [])
    reference = 'def expected(text):\n    return ""\n\nINPUTS = ["a", "b", ""]\n'
    result = await _compare(repo, reference, "first")
    assert [m.got for m in result.mismatches] == ["'a'", "'b'", "raised IndexError"]


async def test_several_parameters_take_a_tuple_per_input(tmp_path: Path) -> None:
    repo = _repo(tmp_path, "def add(a: int, b: int) -> int:\n    return a + b\n")
    reference = "def expected(a, b):\n    return a + b\n\nINPUTS = [(1, 2), (0, 0), (-1, 5)]\n"
    result = await _compare(repo, reference, "add")
    assert result.compared == 3 and result.mismatches == []


@pytest.mark.parametrize(("reference", "message"), [
    ("from textkit.words import shout\ndef expected(t):\n    return shout(t)\nINPUTS=[1,2,3]\n",
     "imports textkit"),
    ("def expected(t):\n    return shout(t)\nINPUTS = ['a', 'b', 'c']\n", "names shout"),
    ("def expected(t)\n    return t\n", "not valid Python: line 1"),
    ("def expected(t):\n    return t.upper() + '!'\nINPUTS = ['a']\n",
     r"only 1 input\(s\) could be compared"),
    ("INPUTS = ['a', 'b', 'c']\n", "defines no function named expected"),
    ("def expected(t):\n    return t\n", "defines no list named INPUTS"),
    ("raise SystemExit(3)\n", "the reference does not run: SystemExit"),
])
async def test_a_reference_that_cannot_judge_is_refused_with_the_reason(
        tmp_path: Path, reference: str, message: str) -> None:
    with pytest.raises(ToolFailure, match=message):
        await _compare(_repo(tmp_path, SHOUT_GOOD), reference)


async def test_only_a_function_under_review_can_be_compared(tmp_path: Path) -> None:
    with pytest.raises(ToolFailure, match="'count_words' is not a function under review"):
        await compare_reference.invoke(
            ToolContext(workspace=_repo(tmp_path, SHOUT_GOOD)),
            {"function": "count_words", "reference": REFERENCE,
             "targets": {"shout": "textkit.words"}})


def test_changed_functions_are_the_new_and_the_altered_public_ones(tmp_path: Path) -> None:
    repo = _repo(tmp_path, SHOUT_GOOD + "\n\ndef _helper() -> None:\n    pass\n")
    assert [(f.name, f.new) for f in changed_functions(repo, ["textkit/words.py"])] == [
        ("shout", True)]
    words = repo / "textkit" / "words.py"
    words.write_text(words.read_text().replace("len(text.split())", "len(text.split(' '))"))
    found = changed_functions(repo, ["textkit/words.py"])
    assert [(f.name, f.new, f.module) for f in found] == [
        ("count_words", False, "textkit.words"), ("shout", True, "textkit.words")]
    assert found[1].signature == "def shout(text: str) -> str"


def _tool(name: str, **args: object) -> str:
    return json.dumps({"type": "tool", "name": name, "args": args})


def _final(**output: object) -> str:
    return json.dumps({"type": "final", "output": output})


def _spec() -> dict:
    data = json.loads((EXAMPLES / "spec2code" / "input.json").read_text())
    data.pop("workspace")
    return data


def _words(function: str) -> str:
    base = (EXAMPLES / "spec2code" / "workspace" / "textkit" / "words.py").read_text()
    return base + "\n\n" + function


async def _run(tmp_path: Path, function: str, review_a: list[str], review_b: list[str]):
    repo = _repo(tmp_path)
    engine = ReplayEngine([RecordedReply(key=node, text=text) for node, texts in (
        ("codegen", [_tool("write_file", path="textkit/words.py", content=_words(function)),
                     _final(summary="added shout")]),
        ("reviewA", review_a), ("reviewB", review_b)) for text in texts])
    orchestrator = Orchestrator(registry=default_registry(), engine=engine,
                                policy=Policy(mode="night"), artifacts_root=tmp_path / "art")
    flow = load_flow_checked(FLOWS / "spec2code.yaml")
    return await orchestrator.run(flow, _spec(), repo)


def _compares(reference: str = REFERENCE) -> list[str]:
    return [_tool("compare_reference", function="shout", reference=reference),
            _final(summary="compared shout")]


async def test_spec2code_merges_when_both_references_agree(tmp_path: Path) -> None:
    result = await _run(tmp_path, SHOUT_GOOD, _compares(), _compares())
    assert result.status == "ok", result.error
    review = json.loads((Path(result.dir) / "reviewA" / "review.json").read_text())
    assert review == {"verdict": "pass", "reviewer": "reviewA",
                      "rationale": "agrees with the reference on shout (3 inputs)"}
    prompt = (Path(result.dir) / "reviewA" / "prompt.txt").read_text()
    assert "def shout(text: str) -> str  (in textkit.words, new)" in prompt
    assert "upper()" not in prompt  # the reviewer never sees the code under review


async def test_a_difference_fails_the_review_and_blocks_the_merge(tmp_path: Path) -> None:
    result = await _run(tmp_path, SHOUT_STRIPS, _compares(), _compares())
    assert result.status == "failed" and result.failed_node == "merge"
    review = json.loads((Path(result.dir) / "reviewB" / "review.json").read_text())
    assert review["verdict"] == "fail"
    assert review["rationale"] == "shout: 1/3 differ, e.g. (' a b ') gave 'A B!', expected ' A B !'"


async def test_the_first_comparison_stands(tmp_path: Path) -> None:
    """A reviewer that sees the code's answers cannot bend its reference to them."""
    bent = REFERENCE.replace("text.upper()", "text.strip().upper()")
    review = [_tool("compare_reference", function="shout", reference=REFERENCE),
              _tool("compare_reference", function="shout", reference=bent),
              _final(summary="compared shout again")]
    result = await _run(tmp_path, SHOUT_STRIPS, review, _compares(bent))
    verdicts = {node: json.loads((Path(result.dir) / node / "review.json").read_text())
                ["verdict"] for node in ("reviewA", "reviewB")}
    assert verdicts == {"reviewA": "fail", "reviewB": "pass"}
    assert result.status == "failed"


async def test_the_check_refuses_a_change_that_writes_outside_the_spec(tmp_path: Path) -> None:
    """The grammar keeps codegen's writes to the spec's files; an engine without one (or a
    replayed run) may write elsewhere, and the test node refuses that before any review."""
    repo = _repo(tmp_path)
    engine = ReplayEngine([RecordedReply(key="codegen", text=text) for text in (
        _tool("write_file", path="textkit/words.py", content=_words(SHOUT_GOOD)),
        _tool("write_file", path="tests/test_words.py", content="def test_x():\n    pass\n"),
        _final(summary="added shout"))])
    orchestrator = Orchestrator(registry=default_registry(), engine=engine,
                                policy=Policy(mode="night"), artifacts_root=tmp_path / "art")
    result = await orchestrator.run(load_flow_checked(FLOWS / "spec2code.yaml"), _spec(), repo)
    assert (result.status, result.failed_node, result.error_kind) == (
        "failed", "test", "out_of_scope")
    assert result.error == ("the change writes tests/test_words.py, outside the spec's files "
                            "(textkit/words.py)")
    report = json.loads((Path(result.dir) / "test" / "report.json").read_text())
    assert report == {"out_of_scope": ["tests/test_words.py"]}
