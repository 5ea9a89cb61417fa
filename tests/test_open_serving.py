"""open_serving: the policy, the settings, the command's checks, the plan and the engine,
opened in that order and closed in reverse."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pantheon_engine.agents.registry import default_registry
from pantheon_engine.engines.base import Completion, Engine, EngineRequest
from pantheon_engine.errors import ConfigError, PolicyError
from pantheon_engine.policy import Policy
from pantheon_engine.run.serving import (
    EngineOptions,
    Served,
    Serving,
    ServingScope,
    open_serving,
)


class Recorder(Engine):
    """An engine that only records when it is started and closed."""

    name = "recorder"

    def __init__(self, log: list[str], *, fail_start: bool = False) -> None:
        self.log = log
        self.fail_start = fail_start

    async def start(self) -> None:
        self.log.append("start")
        if self.fail_start:
            raise RuntimeError("the model did not load")

    async def complete(self, request: EngineRequest) -> Completion:
        raise AssertionError("nothing is asked of the recorder")

    async def close(self) -> None:
        self.log.append("close")


@pytest.fixture
def log(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every plan's engine is a Recorder writing to the returned log."""
    entries: list[str] = []

    def make(self: Serving, policy: Policy) -> Engine:
        entries.append(f"make {self.settings.name}")
        return Recorder(entries, fail_start="fail" in (self.settings.model or ""))

    monkeypatch.setattr(Serving, "make_engine", make)
    return entries


def scope_of(log: list[str], *, engine: bool = True,
             record_only: bool = False) -> ServingScope[str]:
    log.append("scope")
    return ServingScope(default_registry(), agents=set(), prepared="found", engine=engine,
                        record_only=record_only)


def test_opens_in_order_and_closes_the_engine_after_the_body(log: list[str],
                                                             tmp_path: Path) -> None:
    async def main() -> None:
        async with open_serving(
                "day", EngineOptions(name="openvino"), artifacts=tmp_path,
                scope=lambda: scope_of(log), planned=lambda plan: log.append("planned"),
                ready=lambda served: log.append(f"ready {served.prepared}")) as served:
            assert served.engine is not None and served.policy.mode == "day"
            assert served.registry is served.plan.registry
            log.append("body")

    asyncio.run(main())
    assert log == ["scope", "planned", "make openvino", "ready found", "start", "body", "close"]


def test_the_engine_is_closed_when_the_body_fails(log: list[str], tmp_path: Path) -> None:
    async def main() -> None:
        async with open_serving("day", EngineOptions(), artifacts=tmp_path,
                                scope=lambda: scope_of(log)):
            raise ConfigError("the run failed")

    with pytest.raises(ConfigError, match="the run failed"):
        asyncio.run(main())
    assert log[-2:] == ["start", "close"]


def test_an_engine_that_failed_to_start_is_not_closed(log: list[str], tmp_path: Path) -> None:
    async def main() -> None:
        async with open_serving("day", EngineOptions(model="fail"), artifacts=tmp_path,
                                scope=lambda: scope_of(log)):
            log.append("body")

    with pytest.raises(RuntimeError, match="did not load"):
        asyncio.run(main())
    assert log == ["scope", "make openvino", "start"]


def test_no_engine_when_nothing_calls_a_model(log: list[str], tmp_path: Path) -> None:
    seen: list[Served[str]] = []

    async def main() -> None:
        async with open_serving("day", EngineOptions(), artifacts=tmp_path,
                                scope=lambda: scope_of(log, engine=False,
                                                       record_only=True)) as served:
            seen.append(served)

    asyncio.run(main())
    assert log == ["scope"]
    assert seen[0].engine is None and seen[0].settings.name == "replay"


def test_the_night_policy_refuses_before_the_command_checks_anything(
        log: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")

    async def main() -> None:
        async with open_serving("night", EngineOptions(), artifacts=tmp_path,
                                scope=lambda: scope_of(log)):
            log.append("body")

    with pytest.raises(PolicyError):
        asyncio.run(main())
    assert log == []


def test_bad_settings_fail_before_the_command_checks(log: list[str], tmp_path: Path) -> None:
    async def main() -> None:
        async with open_serving("day", EngineOptions(name="bogus"), artifacts=tmp_path,
                                scope=lambda: scope_of(log)):
            log.append("body")

    with pytest.raises(ConfigError, match="--name"):
        asyncio.run(main())
    assert log == []
