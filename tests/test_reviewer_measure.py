"""Reviewers measured on labelled items: the numbers of a scripted reviewer, the command
line on the replay engine, the promotion rule, and bad input refused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from safetensors import numpy as safetensors_numpy
from typer.testing import CliRunner

from pantheon_engine.cli.main import app
from pantheon_engine.docops.generate import make_docops_suite
from pantheon_engine.evals.promote import PromotionRefused
from pantheon_engine.loop.envelope import FinalAnswer, envelope_text
from pantheon_engine.night.reviewing.canary import Canary
from pantheon_engine.run.versions import VersionStore
from pantheon_engine.specialize.review_item import ReviewItem
from pantheon_engine.specialize.reviewer_items import build_items, item_examples
from pantheon_engine.specialize.reviewer_measure import (
    ReviewerMeasurement,
    compare_measurements,
    promote_reviewer,
    summarise,
)

runner = CliRunner()


def item(number: int, expected: str) -> ReviewItem:
    canary = Canary(id=f"i{number}", path="docs/a.md", rules=[], before="", after="",
                    diff="", summary="done", expected=expected,  # type: ignore[arg-type]
                    defect=None if expected == "pass" else "missing_edit: x")
    return ReviewItem(id=f"i{number}", task_id=f"t{number}", split="holdout", kind="docs",
                      canary=canary, rationale="")


def scripted(expected: list[str], verdicts: dict[str, list[str | None]], agent: str
             ) -> ReviewerMeasurement:
    items = [item(n, e) for n, e in enumerate(expected)]
    per_item = [{node: got[n] for node, got in verdicts.items()} for n in range(len(items))]
    return summarise(items, per_item, [{} for _ in items], list(verdicts), agent=agent,
                     suite="s", split="holdout", kind="docs", flow="docops", seconds=1.0)


def test_the_numbers_of_a_scripted_reviewer_pair() -> None:
    m = scripted(["pass", "fail", "pass", "fail", "pass", "fail"],
                 {"reviewA": ["pass", "pass", "pass", "fail", "fail", "fail"],
                  "reviewB": ["pass", "fail", None, "fail", "pass", "pass"]}, "review.peer@1")
    a, b = m.nodes["reviewA"], m.nodes["reviewB"]
    assert (a.scored, a.errors, a.correct) == (6, 0, 4)
    assert (a.false_passes, a.bad_seen, a.false_fails, a.good_seen) == (1, 3, 1, 3)
    assert a.false_pass_rate == pytest.approx(1 / 3) and a.accuracy == pytest.approx(4 / 6)
    # B gave no verdict on item 2: not scored, counted as an error
    assert (b.scored, b.errors, b.correct) == (5, 1, 4)
    assert (b.false_passes, b.bad_seen, b.false_fails, b.good_seen) == (1, 3, 0, 2)
    assert (m.pooled.scored, m.pooled.correct, m.pooled.false_passes) == (11, 8, 2)
    # κ over the 5 items both judged: agree on 2 of 5, chance 0.4·0.6 + 0.6·0.4 = 0.48
    assert m.pairs == 5 and m.kappa == pytest.approx((0.4 - 0.48) / (1 - 0.48))
    # the gate fails an item any node fails; item 2 (pass and no verdict) is unjudged
    assert [r.gate for r in m.results] == ["pass", "fail", None, "fail", "fail", "fail"]
    assert (m.gate.scored, m.gate.correct, m.gate.false_passes, m.gate.false_fails) == (
        5, 4, 0, 1)
    assert m.baselines["always pass"].false_pass_rate == 1.0
    assert m.baselines["always pass"].accuracy == 0.5
    assert m.baselines["always fail"].false_fail_rate == 1.0
    assert not m.target_met and len(m.target_problems) == 3
    assert m.beats_baselines  # 4 of 5 judged items right, a constant verdict gets half
    text = m.render_text()
    assert "reviewA: accuracy 0.67, false-pass 0.33, false-fail 0.33 (6 scored, 0 errors)" \
        in text
    assert "κ -0.15 over 5 pairs" in text and "target" in text


def test_a_pair_that_meets_the_target() -> None:
    expected = ["pass", "fail"] * 5
    m = scripted(expected, {"reviewA": list(expected), "reviewB": list(expected)},
                 "review.peer@1")
    assert m.target_met and m.kappa == 1.0 and m.gate.accuracy == 1.0
    assert m.beats_baselines


def test_a_pair_that_fails_nearly_everything_meets_the_target_and_shows_no_judgement(
        ) -> None:
    expected = ["pass"] * 10 + ["fail"] * 10
    nearly = ["fail"] * 9 + ["pass"] + ["pass"] + ["fail"] * 9  # one good and one bad passed
    m = scripted(expected, {"reviewA": nearly, "reviewB": nearly}, "review.peer@1")
    assert m.target_met  # false-pass 0.10, κ 1.00
    assert not m.beats_baselines and m.gate.accuracy == 0.5
    assert "judgement: gate accuracy 0.50 against 0.50 for the better constant verdict: " \
        "no better" in m.render_text()


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("suite") / "docops"
    make_docops_suite(folder, 30, 4, 0.4)
    return folder


def verdict(value: str) -> str:
    return envelope_text(FinalAnswer(output={"verdict": value, "rationale": "scripted"}))


def test_measure_on_the_replay_engine_from_the_command_line(suite: Path,
                                                            tmp_path: Path) -> None:
    items = build_items(suite, "holdout", limit=6)
    labels = [i.expected for i in items]
    a = ["fail" if labels[0] == "pass" else "pass", *labels[1:]]  # wrong on the first
    b = ["fail"] * len(items)
    replies = tmp_path / "replies.jsonl"
    replies.write_text("".join(json.dumps({"key": node, "text": verdict(v)}) + "\n"
                               for node, script in (("reviewA", a), ("reviewB", b))
                               for v in script))
    art = tmp_path / "art"
    result = runner.invoke(app, ["reviewers", "measure", "--suite", str(suite), "--limit", "6",
                                 "--engine", "replay", "--replay", str(replies),
                                 "--concurrency", "1", "--day", "--artifacts", str(art),
                                 "--json"])
    assert result.exit_code == 0, result.output
    m = ReviewerMeasurement.model_validate(json.loads(result.stdout)["measurement"])
    assert m.agent == "review.peer@1" and m.items == 6 and m.bad == labels.count("fail")
    assert [r.verdicts for r in m.results] == [{"reviewA": x, "reviewB": y}
                                               for x, y in zip(a, b, strict=True)]
    assert m.nodes["reviewA"].accuracy == pytest.approx(5 / 6)
    assert m.nodes["reviewB"].false_fail_rate == 1.0 and m.nodes["reviewB"].accuracy == 0.5
    assert m.kappa == 0.0  # B never passes: agreement is what chance gives
    saved = Path(m.dir or "") / "reviewers.json"
    assert ReviewerMeasurement.model_validate_json(saved.read_text()).id == m.id
    # the reviewers saw the very prompt the training examples hold
    examples, _ = _run(item_examples(items[:1], suite=str(suite)))
    prompt = (Path(m.dir or "") / "items" / f"0000-{items[0].id}" / "reviewA" /
              "prompt.txt").read_text()
    user = prompt.split("## user\n", 1)[1]
    example = next(e for e in examples if e["meta"]["node"] == "reviewA")
    assert user.rstrip("\n") == example["messages"][1]["content"].rstrip("\n")


def _run(coro):  # type: ignore[no-untyped-def]
    import asyncio

    return asyncio.run(coro)


def _register_version(art: Path, tmp_path: Path) -> None:
    """review.peer@2: a small adapter merged onto the small model."""
    folder = tmp_path / "adapter"
    folder.mkdir()
    rng = np.random.default_rng(0)
    key = "base_model.model.model.layers.0.self_attn.v_proj"
    safetensors_numpy.save_file({
        f"{key}.lora_A.weight": rng.standard_normal((8, 576)).astype(np.float32) * .05,
        f"{key}.lora_B.weight": rng.standard_normal((192, 8)).astype(np.float32) * .05,
    }, str(folder / "adapter_model.safetensors"))
    (folder / "adapter_config.json").write_text(json.dumps(
        {"peft_type": "LORA", "r": 8, "lora_alpha": 16, "target_modules": ["v_proj"]}))
    VersionStore(art).register_version("review.peer", adapter_dir=folder,
                                       base_model="smollm2-135m")


def test_a_reviewer_is_promoted_on_a_paired_win_that_lets_no_more_bad_work_through(
        tmp_path: Path) -> None:
    art = tmp_path / "art"
    _register_version(art, tmp_path)
    store = VersionStore(art)
    expected = ["pass"] * 10 + ["fail"] * 10
    old = scripted(expected, {"reviewA": ["fail"] * 20, "reviewB": ["fail"] * 20},
                   "review.peer@1")
    # right on every good item, one bad item passed: wins 10, loses 1 (McNemar p = 0.012)
    leaky = ["pass"] * 10 + ["pass"] + ["fail"] * 9
    new = scripted(expected, {"reviewA": leaky, "reviewB": leaky}, "review.peer@2")
    record, _ = compare_measurements(art, new, old)
    assert (record.wins, record.losses) == (10, 1) and record.paired.p_value < 0.05
    with pytest.raises(PromotionRefused, match="let more bad items through"):
        promote_reviewer(art, new, old)
    assert store.current("review.peer").number == 1
    # the same win without the leak is promoted, with the evidence in the history
    better = scripted(expected, {"reviewA": expected, "reviewB": expected}, "review.peer@2")
    compare_measurements(art, better, old)
    change, reason = promote_reviewer(art, better, old)
    assert store.current("review.peer").number == 2 and change.to_version == 2
    assert "significantly better" in reason
    assert store.get("review.peer", 2).eval is not None  # kept as its latest holdout eval


@pytest.mark.parametrize(("args", "message"), [
    (["--split", "dev"], "expected train or holdout"),
    (["--limit", "1"], "--limit must be at least 2"),
    (["--version", "doc.frontmatter@1"], "doc.frontmatter is not a reviewer of the docops"),
    (["--promote"], "--promote needs --against"),
    (["--version", "review.peer", "--against", "review.peer@1"], "two numbered versions"),
    (["--version", "review.peer@2", "--against", "doc.frontmatter@1"],
     "compare two versions of review.peer"),
    (["--version", "review.peer@7"], "review.peer@7 is not a registered version"),
    (["--alpha", "1.5"], "--alpha must be between 0 and 1"),
    (["--concurrency", "0"], "--concurrency must be at least 1"),
])
def test_measure_refuses_bad_input(suite: Path, tmp_path: Path, args: list[str],
                                   message: str) -> None:
    result = runner.invoke(app, ["reviewers", "measure", "--suite", str(suite), "--engine",
                                 "replay", "--replay", str(tmp_path / "none.jsonl"), "--day",
                                 "--artifacts", str(tmp_path / "art"), *args])
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())


def test_items_from_the_command_line_and_its_refusals(suite: Path, tmp_path: Path) -> None:
    out = tmp_path / "items.jsonl"
    args = ["reviewers", "items", "--suite", str(suite), "--split", "train", "--limit", "4",
            "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "4 review items from 2 train tasks" in result.stdout
    assert len(out.read_text().splitlines()) == 8  # two review nodes per item
    again = runner.invoke(app, args)
    assert again.exit_code == 2 and "already exists" in again.output
    missing = runner.invoke(app, ["reviewers", "items", "--suite", str(tmp_path / "nowhere"),
                                  "--out", str(tmp_path / "x.jsonl")])
    assert missing.exit_code == 2 and "nowhere" in missing.output
