"""``pantheon specialize --rounds N``: rounds of self-training from verified work only."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from pantheon_engine.cli.main import app
from pantheon_engine.docops.generate import make_docops_suite
from pantheon_engine.errors import ConfigError
from pantheon_engine.specialize import HARVEST_MODES
from pantheon_engine.specialize.rounds import check_sources

runner = CliRunner()


def test_a_round_learns_only_from_verified_model_work() -> None:
    assert check_sources(["best-of-k", "search", "best-of-k"], HARVEST_MODES) == \
        ["best-of-k", "search"]
    with pytest.raises(ConfigError, match="demos cannot be a round's source"):
        check_sources(["best-of-k", "demos"], HARVEST_MODES)
    with pytest.raises(ConfigError, match="unknown source"):
        check_sources(["guess"], HARVEST_MODES)
    with pytest.raises(ConfigError, match="at least one source"):
        check_sources([], HARVEST_MODES)
    with pytest.raises(ConfigError, match="teacher source needs a teacher model"):
        check_sources(["teacher"], HARVEST_MODES)
    assert check_sources(["feedback", "teacher"], HARVEST_MODES, "qwen2.5-coder-1.5b") == \
        ["feedback", "teacher"]


def test_rounds_refuse_a_scripted_source_before_any_model_loads(tmp_path: Path) -> None:
    make_docops_suite(tmp_path / "suite", 4, seed=3, scope="rule")
    result = runner.invoke(app, ["specialize", "doc.frontmatter", "--suite",
                                 str(tmp_path / "suite"), "--rounds", "2", "--source",
                                 "demos", "--artifacts", str(tmp_path / "art")])
    assert result.exit_code == 2
    assert "demos cannot be a round's source" in result.output
    assert not (tmp_path / "art" / "versions").exists()


def _scripted_examples(suite: Path, art: Path) -> Path:
    """Verified examples a user hands over (here the scripted solver's, through the loop)."""
    from pantheon_engine.run.serving import EngineOptions
    from pantheon_engine.specialize.harvest_service import harvest

    found = asyncio.run(harvest(
        "doc.frontmatter", suite=suite, split="train", mode="demos", samples=1,
        temperature=0.8, demos=None, rounds=1, keep_unfinished=False, queue=False,
        concurrency=None, seed=0, policy_mode="night", engine=EngineOptions(),
        artifacts=art, console=Console(file=None, quiet=True), show_progress=False))
    assert found.out is not None and found.counts.examples > 0
    return Path(found.out)


@pytest.mark.model
def test_rounds_harvest_train_from_the_base_and_promote_only_a_winner(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("peft")
    from pantheon_engine.run.versions import VersionStore
    from pantheon_engine.specialize.pipeline import SpecializeOptions
    from pantheon_engine.specialize.rounds import Rounds, RoundsOptions

    suite, art = tmp_path / "suite", tmp_path / "art"
    make_docops_suite(suite, 8, seed=3, scope="rule")
    extra = _scripted_examples(suite, tmp_path / "scripted")
    base = SpecializeOptions(agent="doc.frontmatter", suite=suite, artifacts=art,
                             own_samples=1, max_steps=1, batch=4, micro_batch=4,
                             concurrency=8)
    said: list[str] = []
    rounds = Rounds(RoundsOptions(agent="doc.frontmatter", suite=suite, rounds=2, tasks=2,
                                  holdout=3, extra=[extra], base=base), say=said.append)
    report = rounds.run_rounds()

    assert report.base is not None and report.base.version == "doc.frontmatter@1"
    assert report.base.total == 3
    assert [r.round for r in report.rounds] == [1, 2]
    first, second = report.rounds
    assert [s.source for s in first.sources] == ["best-of-k"]
    assert first.sources[0].tasks == 2
    # the data of every round holds everything verified so far, labelled by source
    assert first.examples.get("demo", 0) > 0
    assert set(first.examples) <= set(second.examples)
    store = VersionStore(art)
    assert first.version == "doc.frontmatter@2" and second.version == "doc.frontmatter@3"
    assert "round 1" in store.get("doc.frontmatter", 2).note
    # each round is compared with the version current when it began, on the same tasks
    assert first.result is not None and second.result is not None
    assert first.result.against.version == "doc.frontmatter@1"
    assert first.result.new.total == first.result.against.total == 3
    expected = "doc.frontmatter@2" if first.result.promoted else "doc.frontmatter@1"
    assert second.harvested_with == expected == second.result.against.version
    saved = json.loads((rounds.folder / "rounds.json").read_text())
    assert [r["round"] for r in saved["rounds"]] == [1, 2]
    text = (rounds.folder / "rounds.txt").read_text()
    assert "round 1 (harvested with doc.frontmatter@1)" in text
    assert any(line.startswith("[round 2] harvest: best-of-k") for line in said)


def test_night_learn_refuses_a_suite_without_tasks_before_the_night(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    config = tmp_path / "pantheon.toml"
    config.write_text(f'[learn]\nsuites = {{ "doc.frontmatter" = "{tmp_path / "empty"}" }}\n')
    result = runner.invoke(app, ["night", "--learn", "--config", str(config),
                                 "--artifacts", str(tmp_path / "art")])
    assert result.exit_code == 2
    assert "[learn] suites: no tasks.jsonl in doc.frontmatter" in result.output
    assert not (tmp_path / "art" / "nights").exists()


def test_night_learn_without_suites_says_no_agent_learns(tmp_path: Path) -> None:
    config = tmp_path / "pantheon.toml"
    config.write_text('[engine]\nname = "replay"\nreplay = "none.jsonl"\n')
    result = runner.invoke(app, ["night", "--learn", "--config", str(config),
                                 "--artifacts", str(tmp_path / "art")])
    assert "no [learn] suites, so no agent learns tonight" in result.output
    assert "the queue is empty" in result.output


def test_a_learn_table_with_an_unknown_key_names_it(tmp_path: Path) -> None:
    from pantheon_engine.config import load_settings

    config = tmp_path / "pantheon.toml"
    config.write_text('[learn]\nsuite = "x"\n')
    with pytest.raises(ConfigError, match="suite"):
        load_settings(config)
