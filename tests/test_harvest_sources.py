"""Green work from every source a user has: feedback, a teacher, partial credit, balance.

The model is played by scripted engines; what is asserted is what a user relies on: a
feedback trajectory is stored as the conversation the agent gets at pass@1 (no feedback
turn, no refused final) and replays to a pass, every example says its source, tasks that
needed no work cannot dominate a harvest, a teacher endpoint is refused at night.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import git_repo
from pantheon_engine.agents.registry import default_registry
from pantheon_engine.atomic import read_json
from pantheon_engine.docops.check import check_document
from pantheon_engine.docops.rules import parse_rules
from pantheon_engine.engines.base import Completion, Engine, EngineRequest
from pantheon_engine.evals.suite import load_suite
from pantheon_engine.policy import Policy
from pantheon_engine.specialize.balance import NO_WORK, cap_no_work
from pantheon_engine.specialize.episode import task_flows
from pantheon_engine.specialize.feedback import (
    CHECK_PREFIX,
    feedback_sample,
    pytest_failures,
    rationalise,
)
from pantheon_engine.specialize.harvest import harvest_feedback
from pantheon_engine.specialize.mine import make_example, read_examples
from pantheon_engine.specialize.search import score_report
from test_mine import AGENT, DOC, FINAL, RENAME_AND_DROP, tool

RENAME = tool("fm_rename", key="Title", new_key="title")
DROP = tool("fm_delete", key="draft")


def write_suite(folder: Path, tasks: list[tuple]) -> Path:
    """tasks: (id, split, path, rules, extra front matter, edits)."""
    workspace = folder / "workspace"
    for _, _, path, _, extra, _ in tasks:
        target = workspace / path
        target.parent.mkdir(parents=True, exist_ok=True)
        name = Path(path).stem.upper()
        target.write_text(DOC.format(name=name, extra=extra, body="Text."), encoding="utf-8")
    git_repo(workspace)
    lines = [json.dumps({"id": tid, "agent": AGENT, "split": split,
                         "input": {"path": path, "rules": rules}, "meta": {"edits": edits}})
             for tid, split, path, rules, _, edits in tasks]
    (folder / "tasks.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


class Player(Engine):
    """Plays the model from what each request shows: ``play(messages text, feedback)``."""

    name = "player"
    model = "player"

    def __init__(self, play: Callable[[str, str | None], str]) -> None:
        self.play = play
        self.requests: list[EngineRequest] = []

    async def complete(self, request: EngineRequest) -> Completion:
        self.requests.append(request)
        last = request.messages[-1].content
        told = last if last.startswith(CHECK_PREFIX) else None
        return Completion(text=self.play(request.messages[1].content, told))


def stops_early(prompt: str, told: str | None) -> str:
    """Renames, then says final with `draft` still there; once told, drops it."""
    if "\nTitle: " in prompt:
        return RENAME
    if "\ndraft: " in prompt:
        return DROP if told else FINAL
    return FINAL


@pytest.fixture
def suite_dir(tmp_path: Path) -> Path:
    return write_suite(tmp_path / "suite", [
        ("tr1", "train", "docs/train/a.md", RENAME_AND_DROP, "", 2),
        ("ho1", "holdout", "docs/holdout/c.md", RENAME_AND_DROP, "", 2)])


# --- feedback and rationalisation -------------------------------------------------------


async def test_feedback_is_removed_and_the_stored_example_replays_to_a_pass(
        suite_dir: Path, tmp_path: Path) -> None:
    registry = default_registry()
    suite = load_suite(suite_dir, registry)
    spec = registry.get(AGENT)
    flow = task_flows(suite, spec, [suite.tasks[0]], registry)[0]
    player = Player(stops_early)
    outcome, trajectory = await feedback_sample(
        flow, spec=spec, registry=registry, engine=player, policy=Policy(mode="day"),
        root=tmp_path / "h", run_id="fb1", rounds=2, seed=0, temperature=0.7)

    # the model was told which rule failed, as a new user turn after its refused final
    assert outcome.status == "passed_after_feedback" and outcome.rounds == 1
    told = player.requests[2].messages
    assert [m.role for m in told[-2:]] == ["assistant", "user"]
    assert told[-2].content == FINAL and told[-1].content.startswith(CHECK_PREFIX)
    assert "rule not met" in told[-1].content and "`draft` is still there" in told[-1].content
    assert [r.messages[-1].role for r in player.requests] == ["user", "user", "user", "user"]

    # stored: the conversation at pass@1, without the feedback turn or the refused final
    assert trajectory is not None and trajectory.status == "passed"
    assert [s.reply for s in trajectory.steps] == [RENAME, DROP, FINAL]
    assert [s.outcome for s in trajectory.steps] == ["tool", "tool", "final"]
    for step in trajectory.steps:
        texts = [m.content for m in step.request.messages]
        assert [m.role for m in step.request.messages] == ["system", "user"]
        assert not any(CHECK_PREFIX in t or "check ran" in t for t in texts)
    # each stored request is what the loop sent in the feedback run in the same state,
    # less the added turns: the refused final changed nothing the prompt shows
    sent = [r.messages for r in player.requests]
    assert trajectory.steps[0].request.messages == sent[0]
    assert trajectory.steps[1].request.messages == sent[1] == sent[2][:2]
    assert trajectory.steps[2].request.messages == sent[3][:2]

    # and it replays to a pass: the stored replies alone, through the agent's own loop
    again = await rationalise(flow, spec=spec, registry=registry,
                              replies=[(s.reply, "stop") for s in trajectory.steps],
                              policy=Policy(mode="day"), root=tmp_path / "again",
                              run_id="again", constrained=False)
    assert again.status == "passed" and again.passed_check
    assert [s.request.messages for s in again.steps] == \
        [s.request.messages for s in trajectory.steps]
