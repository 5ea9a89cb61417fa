"""The agent registry: built-ins plus user agents.

User agents live in Python files of an ``agents/`` folder next to the flows you run (the
folder ``pantheon init agent`` writes to) or in importable modules named in
``PANTHEON_AGENT_MODULES`` (comma-separated). A module contributes every module-level
``AgentSpec`` it defines.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import ModuleType

from pantheon_engine.agents.builtins import BUILTIN_AGENTS
from pantheon_engine.agents.spec import AgentSpec
from pantheon_engine.errors import ConfigError, SpecError

BUILTIN = "built-in"
"""Where a built-in agent is defined, as errors name it."""


class AgentRegistry:
    """Agents by name; each name once. The registry remembers where each agent was
    defined (a file, a module, or built-in) so a clash can name both definitions."""

    def __init__(self, agents: Iterable[AgentSpec] = (), *, origin: str | None = None) -> None:
        self._agents: dict[str, AgentSpec] = {}
        self._origins: dict[str, str] = {}
        for agent in agents:
            self.add(agent, origin=origin)

    def add(self, agent: AgentSpec, *, origin: str | None = None) -> None:
        """Register ``agent``; ``origin`` says where it was defined (default: built-in for
        a built-in agent, else its module)."""
        where = origin or _origin_of(agent)
        existing = self._agents.get(agent.name)
        if existing is not None and existing is not agent:
            first = self._origins[agent.name]
            raise SpecError(
                f"two agents are named {agent.name!r}: {first} and {where}",
                hint=_clash_hint(first, where))
        self._agents[agent.name] = agent
        # a module that imports an agent (the same object) does not become its origin
        self._origins.setdefault(agent.name, where)

    def __contains__(self, name: object) -> bool:
        return name in self._agents

    def __iter__(self) -> Iterator[AgentSpec]:
        return iter(sorted(self._agents.values(), key=lambda a: a.name))

    def get(self, name: str) -> AgentSpec:
        try:
            return self._agents[name]
        except KeyError:
            raise SpecError(f"unknown agent {name!r}", hint=self.hint(name)) from None

    def hint(self, name: str) -> str:
        close = difflib.get_close_matches(name, list(self._agents), n=3)
        if close:
            return f"did you mean {', '.join(close)}? (or: pantheon init agent {name})"
        return f"known agents: {', '.join(sorted(self._agents))}; or: pantheon init agent {name}"

    def load_module(self, module: ModuleType) -> int:
        origin = getattr(module, "__file__", None) or f"module {module.__name__}"
        count = 0
        for value in vars(module).values():
            if isinstance(value, AgentSpec):
                self.add(value, origin=origin)
                count += 1
        return count

    def load_folder(self, folder: Path) -> int:
        count = 0
        for path in sorted(Path(folder).glob("*.py")):
            if path.name.startswith("_"):
                continue
            name = f"pantheon_user_agents.{path.stem}"
            spec = importlib.util.spec_from_file_location(name, path)
            if spec is None or spec.loader is None:
                continue
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            try:
                spec.loader.exec_module(module)
            except Exception as exc:
                raise ConfigError(f"{path}: cannot load agent module: {exc}") from exc
            count += self.load_module(module)
        return count


def _origin_of(agent: AgentSpec) -> str:
    if any(agent is builtin for builtin in BUILTIN_AGENTS):
        return BUILTIN
    return f"module {agent.input_model.__module__}"


def _clash_hint(first: str, second: str) -> str:
    if BUILTIN in (first, second):
        other = second if first == BUILTIN else first
        return (f"built-in names are taken: give the agent in {other} a name of its own "
                "(its name=..., and the flows that use it)")
    return "agent names are unique: rename one of them (its name=..., and the flows that use it)"


def default_registry(search: Iterable[Path] = ()) -> AgentRegistry:
    """Built-ins, then ``agents/`` folders (cwd and ``search``), then PANTHEON_AGENT_MODULES."""
    registry = AgentRegistry(BUILTIN_AGENTS)
    seen: set[Path] = set()
    for base in [Path.cwd(), *search]:
        folder = (Path(base) / "agents").resolve()
        if folder.is_dir() and folder not in seen:
            seen.add(folder)
            registry.load_folder(folder)
    for name in filter(None, os.environ.get("PANTHEON_AGENT_MODULES", "").split(",")):
        try:
            registry.load_module(importlib.import_module(name.strip()))
        except ImportError as exc:
            raise ConfigError(f"PANTHEON_AGENT_MODULES: cannot import {name!r}: {exc}") from exc
    return registry
