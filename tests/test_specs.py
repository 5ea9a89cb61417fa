"""Spec files and the road from a spec to a queued job (``pantheon_engine.night.specs``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pantheon_engine.errors import SpecError
from pantheon_engine.night.jobqueue import JobQueue
from pantheon_engine.night.specs import (
    FieldProblem,
    FlowInput,
    enqueue,
    list_flows,
    list_specs,
    load_input,
    pick_flow,
    read_inputs,
    save_spec,
    spec_filename,
)

from conftest import FLOWS


def good_spec(title: str = "Add shout()", **extra: Any) -> dict[str, Any]:
    return {"title": title, "scope": "Make text loud.", "acceptance": ["it shouts"],
            "files": ["textkit/words.py"], **extra}


@pytest.fixture(scope="module")
def spec2code() -> FlowInput:
    return FlowInput(FLOWS / "spec2code.yaml")


# --------------------------------------------------------------------------- checking


def test_a_good_spec_fits(spec2code: FlowInput) -> None:
    assert spec2code.name == "spec2code"
    assert spec2code.input_model.__name__ == "Spec"
    assert spec2code.problems(good_spec()) == []
    spec2code.check(good_spec())  # no error


def test_problems_name_every_field(spec2code: FlowInput) -> None:
    found = spec2code.problems({"title": "ab", "acceptance": [], "files": ["x.py"]})
    fields = [p.field for p in found]
    assert fields == ["title", "scope", "acceptance"]
    assert str(found[1]) == "scope: Field required"
    assert spec2code.problems(["not", "an", "object"]) == [
        FieldProblem("(root)", "the input must be a JSON object")]


def test_check_raises_naming_the_fields(spec2code: FlowInput) -> None:
    with pytest.raises(SpecError) as err:
        spec2code.check({"title": "Add shout()"}, source="x.json")
    assert "x.json" in err.value.message and "scope" in err.value.message
    assert err.value.hint and "plan.validate" in err.value.hint


def test_docops_checks_its_own_model() -> None:
    docops = FlowInput(FLOWS / "docops.yaml")
    assert [p.field for p in docops.problems(good_spec())] == ["path", "rules"]
    assert docops.problems({"path": "README.md", "rules": [{"kind": "lowercase_keys"}]}) == []


def test_a_flow_is_found_by_its_builtin_name(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert FlowInput("docops").flow_file == FLOWS / "docops.yaml"
    assert FlowInput("spec2code.yaml").entry == "plan.validate"
    (tmp_path / "docops").write_text((FLOWS / "spec2code.yaml").read_text())
    assert FlowInput("docops").name == "spec2code"  # a file that exists wins over the name
    with pytest.raises(SpecError, match="docpos") as err:
        FlowInput("docpos")
    assert err.value.hint is not None and "docops, spec2code" in err.value.hint


# --------------------------------------------------------------------------- queueing


def code_workspace(folder: Path) -> Path:
    """A workspace that the good spec's paths suit: its file and its tests folder."""
    (folder / "textkit").mkdir(parents=True)
    (folder / "textkit" / "words.py").write_text("")
    (folder / "tests").mkdir()
    return folder


def test_enqueue_resolves_a_relative_workspace(tmp_path: Path, spec2code: FlowInput) -> None:
    code_workspace(tmp_path / "code")
    source = tmp_path / "specs" / "a.json"
    jobs = enqueue(tmp_path / "artifacts", spec2code,
                   [(source, good_spec(workspace="../code")), (None, good_spec("Other"))],
                   priority=3, workspace=tmp_path / "code")
    assert [j.input["title"] for j in jobs] == ["Add shout()", "Other"]
    assert jobs[0].input["workspace"] == str((tmp_path / "code").resolve())
    assert jobs[1].input["workspace"] == str((tmp_path / "code").resolve())  # the default
    assert jobs[0].flow_name == "spec2code" and jobs[0].priority == 3
    assert jobs[0].group_key == "plan.validate"


def test_an_input_without_a_workspace_needs_a_default(tmp_path: Path,
                                                      spec2code: FlowInput) -> None:
    with pytest.raises(SpecError, match="names no workspace"):
        enqueue(tmp_path, spec2code, [(tmp_path / "a.json", good_spec())])
    with pytest.raises(SpecError, match=r"workspace '\.\./nowhere' is not a folder"):
        enqueue(tmp_path, spec2code, [(tmp_path / "a.json", good_spec(workspace="../nowhere"))])
    assert not (tmp_path / "queue.sqlite").exists()


def test_enqueue_is_all_or_nothing(tmp_path: Path, spec2code: FlowInput) -> None:
    ws = code_workspace(tmp_path / "code")
    with pytest.raises(SpecError, match="acceptance"):
        enqueue(tmp_path, spec2code, [(None, good_spec()),
                                      (None, good_spec(acceptance=[]))], workspace=ws)
    with pytest.raises(SpecError, match="nothing to queue"):
        enqueue(tmp_path, spec2code, [])
    with JobQueue.for_artifacts(tmp_path) as queue:
        assert queue.list() == []


@pytest.mark.parametrize(("path", "refusal"), [
    ("../../etc/passwd.md", "'..' leads outside the workspace"),
    ("/etc/passwd.md", "absolute paths outside the workspace are not allowed"),
    ("docs/nope.md", "does not exist in the workspace"),
    ("docs", "is not a file in the workspace"),
    ("docs/notes.txt", "is not a Markdown document"),
])
def test_a_docops_path_must_be_a_markdown_file_in_the_workspace(
        tmp_path: Path, path: str, refusal: str) -> None:
    ws = tmp_path / "ws"
    (ws / "docs").mkdir(parents=True)
    (ws / "docs" / "guide.md").write_text("---\ntitle: Guide\n---\n")
    (ws / "docs" / "notes.txt").write_text("notes\n")
    docops = FlowInput(FLOWS / "docops.yaml")
    rules = [{"kind": "lowercase_keys"}]
    source = tmp_path / "task.json"
    with pytest.raises(SpecError) as err:
        enqueue(tmp_path / "art", docops, [(source, {"workspace": "ws", "rules": rules,
                                                      "path": "docs/guide.md"}),
                                           (source, {"workspace": "ws", "rules": rules,
                                                     "path": path})])
    message = err.value.message
    assert refusal in message
    assert message.startswith(f"{source}: path: {path!r}")  # the user's file and path
    assert str(ws.resolve()) in message  # the user's workspace, never a run's worktree
    assert not (tmp_path / "art").exists()  # nothing queued, not even the good one


def test_spec_paths_are_checked_in_the_workspace(tmp_path: Path, spec2code: FlowInput) -> None:
    ws = code_workspace(tmp_path / "code")
    (ws / "textkit" / "sub").mkdir()
    spec2code.check_paths(good_spec(files=["textkit/words.py", "textkit/new.py"]), ws)
    with pytest.raises(SpecError) as err:
        spec2code.check_paths(good_spec(files=["../out.py", "textkit/sub"], tests="nope"),
                              ws, "s.json")
    message = err.value.message
    assert message.startswith("s.json: files.0: '../out.py' is refused")
    assert "files.1: 'textkit/sub' is not a file" in message
    assert f"tests: 'nope' does not exist in the workspace {ws.resolve()}" in message


# --------------------------------------------------------------------------- files


def test_load_input_says_where_it_broke(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"title": "half",')
    with pytest.raises(SpecError, match=r"broken.json:1:\d+: not valid JSON"):
        load_input(broken)
    listed = tmp_path / "list.json"
    listed.write_text("[1, 2]")
    with pytest.raises(SpecError, match="must be a JSON object"):
        load_input(listed)
    with pytest.raises(SpecError, match="not found"):
        load_input(tmp_path / "missing.json")


def test_read_inputs_from_a_folder_and_jsonl(tmp_path: Path) -> None:
    (tmp_path / "b.json").write_text(json.dumps(good_spec("B")))
    (tmp_path / "a.json").write_text(json.dumps(good_spec("A")))
    assert [d["title"] for _, d in read_inputs(tmp_path)] == ["A", "B"]
    lines = tmp_path / "many.jsonl"
    lines.write_text(json.dumps(good_spec("1")) + "\n\n" + json.dumps(good_spec("2")) + "\n")
    assert [d["title"] for _, d in read_inputs(lines)] == ["1", "2"]
    lines.write_text('{"title": "1"}\n[]\n')
    with pytest.raises(SpecError, match=r"many.jsonl:2"):
        read_inputs(lines)
    (tmp_path / "empty").mkdir()
    with pytest.raises(SpecError, match=r"no \*\.json"):
        read_inputs(tmp_path / "empty")


def test_list_specs_keeps_the_broken_ones(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps(good_spec("Alpha")))
    (tmp_path / "b.json").write_text("{")
    (tmp_path / "c.json").write_text(json.dumps({"title": 7}))
    (tmp_path / "notes.txt").write_text("not a spec")
    entries = list_specs(tmp_path)
    assert [e.name for e in entries] == ["a.json", "b.json", "c.json"]
    assert entries[0].title == "Alpha" and entries[0].error is None
    assert entries[1].title is None and entries[1].error and "not valid JSON" in entries[1].error
    assert entries[2].title is None and entries[2].error is None
    assert list_specs(tmp_path / "missing") == []


def test_spec_filename_is_a_free_slug(tmp_path: Path) -> None:
    assert spec_filename(tmp_path, "Add shout()!").name == "add-shout.json"
    (tmp_path / "add-shout.json").write_text("{}")
    (tmp_path / "add-shout-2.json").write_text("{}")
    assert spec_filename(tmp_path, "Add shout()").name == "add-shout-3.json"
    assert spec_filename(tmp_path, "  ").name == "spec.json"
    assert len(spec_filename(tmp_path, "x" * 200).stem) == 48


def test_save_spec_writes_json_and_refuses_other_names(tmp_path: Path) -> None:
    target = save_spec(tmp_path / "new" / "a.json", good_spec())
    assert json.loads(target.read_text()) == good_spec()
    save_spec(target, good_spec("Changed"))
    assert json.loads(target.read_text())["title"] == "Changed"
    assert [p.name for p in target.parent.iterdir()] == ["a.json"]  # no temporary left
    with pytest.raises(SpecError, match=r"must end in \.json"):
        save_spec(tmp_path / "a.yaml", good_spec())


def test_list_and_pick_flows(tmp_path: Path) -> None:
    assert list_flows(tmp_path / "missing", builtins=False) == []
    assert pick_flow(tmp_path, builtins=False) is None
    (tmp_path / "b.yml").write_text("")
    (tmp_path / "a.yaml").write_text("")
    assert [p.name for p in list_flows(tmp_path, builtins=False)] == ["a.yaml", "b.yml"]
    assert pick_flow(tmp_path, builtins=False) == tmp_path / "a.yaml"
    (tmp_path / "spec2code.yaml").write_text("")
    assert pick_flow(tmp_path) == tmp_path / "spec2code.yaml"
    assert pick_flow(tmp_path, tmp_path / "b.yml") == tmp_path / "b.yml"
    assert pick_flow(tmp_path, tmp_path / "gone.yaml") == tmp_path / "spec2code.yaml"


def test_any_folder_lists_the_builtin_flows_its_own_files_do_not_shadow(tmp_path: Path) -> None:
    assert list_flows(tmp_path / "missing") == [FLOWS / "docops.yaml", FLOWS / "spec2code.yaml"]
    assert pick_flow(tmp_path / "missing") == FLOWS / "spec2code.yaml"
    (tmp_path / "docops.yaml").write_text("")
    (tmp_path / "mine.yaml").write_text("")
    assert list_flows(tmp_path) == [tmp_path / "docops.yaml", tmp_path / "mine.yaml",
                                    FLOWS / "spec2code.yaml"]
