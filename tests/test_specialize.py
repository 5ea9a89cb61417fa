"""``pantheon specialize``: scopes of a suite, controls, the curve's checkpoints, the pipeline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from pantheon_engine.cli.main import app
from pantheon_engine.cli.specialize import parse_sizes
from pantheon_engine.docops.check import check_document
from pantheon_engine.docops.generate import make_docops_suite
from pantheon_engine.docops.rules import parse_rules
from pantheon_engine.docops.solver import solve
from pantheon_engine.errors import ConfigError
from pantheon_engine.evals.suite import load_suite
from pantheon_engine.specialize.controls import CONTROL_SOURCE, shuffle_replies
from pantheon_engine.specialize.pipeline import curve_plan, curve_steps, suite_scope

runner = CliRunner()


def _tasks(folder: Path) -> list[dict[str, Any]]:
    lines = (folder / "tasks.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def test_a_rule_scope_suite_asks_one_solvable_rule_per_task(tmp_path: Path) -> None:
    made = make_docops_suite(tmp_path / "rule", 40, seed=5, scope="rule")
    assert made["scope"] == "rule" and suite_scope(tmp_path / "rule") == "rule"
    tasks = _tasks(tmp_path / "rule")
    assert len(tasks) == 40 and all(len(t["input"]["rules"]) == 1 for t in tasks)
    workspace = tmp_path / "rule" / "workspace"
    needing = 0
    for task in tasks:
        text = (workspace / task["input"]["path"]).read_text(encoding="utf-8")
        rules = parse_rules(task["input"]["rules"])
        calls = solve(text, rules)
        assert len(calls) == task["meta"]["edits"] and task["meta"]["scope"] == "rule"
        # a task that needs edits is not already done: doing nothing fails its check
        assert check_document(text, rules, text).passed == (not calls)
        needing += bool(calls)
    assert 30 <= needing < 40  # most tasks need an edit; some documents already comply
    load_suite(tmp_path / "rule")  # a valid suite


def test_the_file_scope_is_unchanged_and_still_the_default(tmp_path: Path) -> None:
    make_docops_suite(tmp_path / "a", 12, seed=9)
    make_docops_suite(tmp_path / "b", 12, seed=9, scope="file")
    assert _tasks(tmp_path / "a") == _tasks(tmp_path / "b")
    assert suite_scope(tmp_path / "a") == "file"
    assert any(len(t["input"]["rules"]) > 1 for t in _tasks(tmp_path / "a"))


def test_an_unknown_scope_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--scope 'page'"):
        make_docops_suite(tmp_path / "x", 5, seed=1, scope="page")  # type: ignore[arg-type]
    assert not (tmp_path / "x").exists()
    result = runner.invoke(app, ["suite", "make", "docops", "--tasks", "5", "--scope",
                                 "page", "--out", str(tmp_path / "y")])
    assert result.exit_code == 2 and "--scope 'page'" in result.output


def _example(i: int) -> dict[str, Any]:
    return {"messages": [{"role": "system", "content": "sys"},
                         {"role": "user", "content": f"prompt {i}"},
                         {"role": "assistant", "content": f"reply {i}"}],
            "tools": [], "meta": {"source": "demo", "agent": "a@1", "task_id": f"t{i}",
                                  "kind": "tool"}}


def test_shuffled_replies_keep_every_prompt_and_move_every_reply(tmp_path: Path) -> None:
    src = tmp_path / "data.jsonl"
    src.write_text("".join(json.dumps(_example(i)) + "\n" for i in range(7)))
    changed = shuffle_replies(src, tmp_path / "shuffled.jsonl", seed=3)
    out = [json.loads(line) for line in (tmp_path / "shuffled.jsonl").read_text().splitlines()]
    assert changed == 7 and len(out) == 7
    replies = []
    for i, example in enumerate(out):
        assert example["messages"][:2] == _example(i)["messages"][:2]
        assert example["messages"][2]["content"] != f"reply {i}"
        assert example["meta"]["source"] == CONTROL_SOURCE
        replies.append(example["messages"][2]["content"])
    assert sorted(replies) == sorted(f"reply {i}" for i in range(7))  # a permutation


def test_a_control_needs_replies_to_shuffle(tmp_path: Path) -> None:
    src = tmp_path / "one.jsonl"
    src.write_text(json.dumps(_example(0)) + "\n")
    with pytest.raises(ConfigError, match="at least 2"):
        shuffle_replies(src, tmp_path / "out.jsonl")
    bad = _example(1)
    bad["messages"] = bad["messages"][:2]
    src.write_text(json.dumps(_example(0)) + "\n" + json.dumps(bad) + "\n")
    with pytest.raises(ConfigError, match="line 2"):
        shuffle_replies(src, tmp_path / "out.jsonl")


def test_every_curve_point_is_one_pass_over_its_examples() -> None:
    """Checkpoints inside the first epoch, N the distinct examples seen by then (whole
    batches); the end of the first epoch is the last point, never a later epoch's adapter."""
    assert curve_steps([50, 100, 200, 400], batch=8, train_examples=300) == {
        7: 56, 13: 104, 25: 200, 38: 300}
    assert curve_steps([0, 300], batch=8, train_examples=300) == {38: 300}
    assert curve_steps([50, 51], batch=8, train_examples=300) == {7: 56, 38: 300}
    # a run cut short of one epoch by max_steps: its end is the last point
    assert curve_steps([50, 100, 200], batch=8, train_examples=300, total_steps=20) == {
        7: 56, 13: 104, 20: 160}
    # a run of several epochs: still the first epoch's end
    assert curve_steps([400], batch=8, train_examples=300, total_steps=76) == {38: 300}
    assert curve_steps([50], batch=8, train_examples=0) == {}


def test_an_adapter_of_more_epochs_is_not_a_point_of_the_curve() -> None:
    points = curve_steps([4], batch=4, train_examples=7)
    assert points == {1: 4, 2: 7}
    # two epochs (4 steps): both points are checkpoints, the final adapter is not on the curve
    assert curve_plan(points, 4, {"1", "2"}) == [(1, 4, False), (2, 7, False)]
    # one epoch (2 steps): the final adapter is the last point, with no checkpoint of its own
    assert curve_plan(points, 2, {"1"}) == [(1, 4, False), (2, 7, True)]
    # a checkpoint the trainer did not save is not measured
    assert curve_plan(points, 4, {"2"}) == [(2, 7, False)]
    assert parse_sizes("200, 50,100") == [50, 100, 200]
    for bad in ("50,x", "0,10"):
        with pytest.raises(ConfigError, match="--curve"):
            parse_sizes(bad)


def test_specialize_refuses_a_folder_without_tasks(tmp_path: Path) -> None:
    result = runner.invoke(app, ["specialize", "doc.frontmatter", "--suite",
                                 str(tmp_path), "--artifacts", str(tmp_path / "art")])
    assert result.exit_code == 2 and "no tasks.jsonl" in result.output
    (tmp_path / "tasks.jsonl").write_text("")
    result = runner.invoke(app, ["specialize", "doc.frontmatter", "--suite", str(tmp_path),
                                 "--own", "magic"])
    assert result.exit_code == 2 and "--own 'magic'" in result.output


@pytest.mark.model
def test_specialize_runs_every_phase_on_the_embedded_model(tmp_path: Path) -> None:
    """Harvest to promotion on a tiny suite: versions, the curve, the refused control."""
    pytest.importorskip("torch")
    pytest.importorskip("peft")
    from pantheon_engine.evals.curve import read_curves
    from pantheon_engine.run.versions import VersionStore
    from pantheon_engine.specialize.pipeline import SpecializeOptions, Specializer

    make_docops_suite(tmp_path / "suite", 8, seed=3, scope="rule")
    art = tmp_path / "art"
    options = SpecializeOptions(
        agent="doc.frontmatter", suite=tmp_path / "suite", artifacts=art, own_mode="none",
        max_steps=2, batch=4, micro_batch=4, curve=[4], control_steps=1, concurrency=8)
    said: list[str] = []
    specializer = Specializer(options, say=said.append)
    report = specializer.run()

    assert [line.split("]")[0] for line in said] == [f"[{i}/9" for i in range(1, 10)]
    assert set(report.phases) == {"own", "demos", "mine", "train", "curve", "eval",
                                  "promote", "own-only", "control"}
    assert report.examples == {"demo": report.training.examples}  # type: ignore[union-attr]
    store = VersionStore(art)
    notes = {v.number: v.note for v in store.versions("doc.frontmatter")}
    assert sorted(notes) == [1, 2, 3, 4]  # base, trained, curve checkpoint, control
    assert "learning curve" in notes[3] and "shuffled" in notes[4]
    assert store.get("doc.frontmatter", 3).metrics["examples_seen"] == 4
    # every point measured on the same holdout tasks; N=0 is the version that was current
    curves = read_curves(art).curves
    assert [c.scope for c in curves] == ["rule"]
    sizes = [p.examples for p in curves[0].points]
    trained = store.get("doc.frontmatter", 2).metrics["train_examples"]
    # the final adapter, 2 steps of 4 that end inside (or at) the first epoch
    assert sizes == [0, 4, min(trained, 2 * 4)]
    assert {p.total for p in curves[0].points} == {report.result.new.total}  # type: ignore
    assert curves[0].points[0].version == "doc.frontmatter@1"
    assert "one pass over its N examples" in (report.curve_note or "")
    # the control is measured against the new version and the base; the promotion tried
    # against the current one is refused with the numbers, the other comparison judged
    assert report.control is not None and report.control_base is not None
    assert report.control.against.version == "doc.frontmatter@2"
    assert report.control_base.against.version == "doc.frontmatter@1"
    assert report.result is not None
    tried, judged = (report.control, report.control_base) if report.result.promoted \
        else (report.control_base, report.control)
    assert tried.promoted is False and judged.promoted is None and judged.accepted is False
    assert "refused" in (tried.decision or "") and "McNemar" in (tried.decision or "")
    assert tried.strata is not None and "needs work: " in (tried.decision or "")
    assert report.own_only is None and "--own none" in (report.own_only_note or "")
    saved = json.loads((specializer.folder / "report.json").read_text())
    assert saved["result"]["new"]["version"] == "doc.frontmatter@2"
    assert (specializer.folder / "report.txt").read_text().startswith("specialize ")


def _eval_json(folder: Path, agent: str, passed: int, total: int, *, suite: str = "/s",
               split: str = "holdout") -> Path:
    from pantheon_engine.evals.results import EvalResult, SampleResult, TaskResult

    tasks = [TaskResult(id=f"h{i}", split=split, samples=1, passed=int(i < passed),
                        results=[SampleResult(sample=0, passed=i < passed)])
             for i in range(total)]
    result = EvalResult.build(eval_id=f"e-{agent}-{passed}", agent=agent, engine="openvino",
                              model="m", suite=suite, split=split, samples=1,
                              temperature=None, seed=0, seconds=1.0, tasks=tasks)
    path = folder / f"{agent}-{passed}-{split}.json"
    path.write_text(result.model_dump_json())
    return path


def test_curve_points_come_from_holdout_evals_of_one_suite(tmp_path: Path) -> None:
    art = tmp_path / "art"
    for n, passed in ((0, 0), (100, 20), (200, 30), (400, 36)):
        result = runner.invoke(app, [
            "curve", "add", "doc.frontmatter", "--scope", "rule", "--examples", str(n),
            "--eval", str(_eval_json(tmp_path, f"doc.frontmatter@{n + 1}", passed, 100)),
            "--target", "0.3", "--artifacts", str(art)])
        assert result.exit_code == 0, result.output
    assert "target 30 %" in result.output and "fit:" in result.output
    curve = json.loads((art / "agents/doc.frontmatter/curves/rule.json").read_text())
    assert [p["examples"] for p in curve["points"]] == [0, 100, 200, 400]
    assert [p["passed"] for p in curve["points"]] == [0, 20, 30, 36]
    assert curve["fit"] is not None and 150 < curve["n_for_target"] < 250
    shown = runner.invoke(app, ["curve", "show", "--artifacts", str(art)])
    assert shown.exit_code == 0 and "scope rule" in shown.output
    for bad, why in ((_eval_json(tmp_path, "codegen@2", 1, 10), "not doc.frontmatter"),
                     (_eval_json(tmp_path, "doc.frontmatter@9", 1, 10, split="train"),
                      "train split"),
                     (_eval_json(tmp_path, "doc.frontmatter@9", 2, 10, suite="/other"),
                      "measured on /s")):
        result = runner.invoke(app, ["curve", "add", "doc.frontmatter", "--scope", "rule",
                                     "--examples", "50", "--eval", str(bad),
                                     "--artifacts", str(art)])
        assert result.exit_code == 2 and why in result.output, result.output
    assert len(json.loads((art / "agents/doc.frontmatter/curves/rule.json").read_text())
               ["points"]) == 4  # nothing was added by a refused point
