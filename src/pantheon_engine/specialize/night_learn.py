"""``pantheon night --learn``: the night ends with one round of learning per agent.

The night's verified work (the green runs it recorded, mined with the agent's suite so no
holdout task slips in) joins what the round harvests with the current version; a fresh
adapter is trained from the base on all of it, compared with the current version on the
suite's holdout, and promoted only if the guard accepts. Agents learn only when
``pantheon.toml`` names their suite (``[learn] suites``); a night without one learns nothing
and says so.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel
from rich.console import Console

from pantheon_engine.config import LearnSettings
from pantheon_engine.errors import ConfigError
from pantheon_engine.specialize.harvest_service import mine_examples
from pantheon_engine.specialize.pipeline import SpecializeOptions
from pantheon_engine.specialize.rounds import Rounds, RoundsOptions, RoundsReport


class AgentLearned(BaseModel):
    agent: str
    suite: str
    night_examples: int
    report: str | None = None
    rounds: RoundsReport | None = None


def learn_plan(settings: LearnSettings) -> list[tuple[str, Path]]:
    """Each agent with a suite, in name order; a :class:`ConfigError` for a suite folder
    without tasks (before the night starts, so a typo costs no night)."""
    plan = sorted(settings.suites.items())
    missing = [f"{agent} -> {suite}" for agent, suite in plan
               if not (suite / "tasks.jsonl").is_file()]
    if missing:
        raise ConfigError(f"[learn] suites: no tasks.jsonl in {', '.join(missing)}",
                          hint="make one: pantheon suite make docops --tasks 500")
    return plan


def learn_after_night(settings: LearnSettings, *, night_dir: Path, artifacts: Path,
                      model: str | None, config: Path | None, console: Console,
                      say: Callable[[str], None]) -> list[AgentLearned]:
    """One round for each agent ``settings`` gives a suite, on this night's green work."""
    learned: list[AgentLearned] = []
    for agent, suite in learn_plan(settings):
        mined_file = night_dir / "learn" / f"{agent}.jsonl"
        mined_file.parent.mkdir(parents=True, exist_ok=True)
        mined = asyncio.run(mine_examples(
            agent, out=mined_file, artifacts=artifacts, suite=suite, split="train",
            include=[], traces=None, console=console, quiet=True))
        say(f"learn {agent}: {mined.counts.examples} verified example(s) from the night's "
            f"traces; one round on {suite}")
        base = SpecializeOptions(agent=agent, suite=suite, artifacts=artifacts,
                                 max_steps=settings.max_steps, model=model, config=config,
                                 demos=False, control=False)
        rounds = Rounds(RoundsOptions(
            agent=agent, suite=suite, rounds=1, sources=settings.sources, tasks=settings.tasks,
            holdout=settings.holdout,
            extra=[mined_file] if mined.counts.examples else [], base=base),
            say=say, console=console)
        report = rounds.run_rounds()
        learned.append(AgentLearned(agent=agent, suite=str(suite),
                                    night_examples=mined.counts.examples,
                                    report=str(rounds.folder / "rounds.json"), rounds=report))
    return learned
