"""Typed tools: a pydantic args model, a pydantic result model, a timeout, and a function.

Tools never see the policy directly: the :class:`ToolContext` carries the workspace, the
environment that subprocesses get and the command prefix that sandboxes them (an empty
network namespace at night, where the kernel allows it).
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from pantheon_engine.errors import ToolArgsError, ToolFailure, ToolTimeout

A = TypeVar("A", bound=BaseModel)
R = TypeVar("R", bound=BaseModel)


@dataclass
class ToolContext:
    """What a tool may touch: one workspace, a scrubbed environment, a sandbox prefix."""

    workspace: Path
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    command_prefix: list[str] = field(default_factory=list)
    output_cap: int = 64_000
    timeout_scale: float = 1.0


ToolFn = Callable[[ToolContext, Any], "R | Awaitable[R]"]


@dataclass
class Tool(Generic[A, R]):
    name: str
    description: str
    args_model: type[A]
    result_model: type[R]
    fn: Callable[[ToolContext, A], R | Awaitable[R]]
    timeout_s: float = 30.0
    #: run on the caller's event loop instead of a worker thread: for quick local file
    #: work, where the thread hop costs more than the call (the timeout is not enforced)
    inline: bool = False
    #: the one long text argument a model writes as a fenced block after the call's JSON
    #: (code as code; see :mod:`pantheon_engine.loop.envelope`), or None
    block_arg: str | None = None

    def args_schema(self) -> dict[str, Any]:
        """The JSON schema of the arguments (built once: pydantic makes it slowly)."""
        cached = self.__dict__.get("_args_schema")
        if cached is None:
            cached = self.args_model.model_json_schema()
            self.__dict__["_args_schema"] = cached
        return copy.deepcopy(cached)

    def parse_args(self, raw: Any) -> A:
        try:
            return self.args_model.model_validate(raw)
        except ValidationError as exc:
            raise ToolArgsError(f"{self.name}: invalid arguments: {_brief(exc)}") from exc

    async def invoke(self, ctx: ToolContext, raw_args: Any, timeout_s: float | None = None) -> R:
        """Validate ``raw_args``, run the tool under its timeout, validate the result.

        Raises ``ToolArgsError`` (bad args), ``ToolTimeout`` or ``ToolFailure``;
        ``WorkspaceError`` propagates unchanged (a refused path is the caller's error).
        """
        args = self.parse_args(raw_args)
        limit = (timeout_s if timeout_s is not None else self.timeout_s) * ctx.timeout_scale
        try:
            if inspect.iscoroutinefunction(self.fn):
                result = await asyncio.wait_for(self.fn(ctx, args), limit)
            elif self.inline:
                result = self.fn(ctx, args)
            else:
                result = await asyncio.wait_for(asyncio.to_thread(self.fn, ctx, args), limit)
        except TimeoutError as exc:
            raise ToolTimeout(f"{self.name}: timed out after {limit:.1f}s") from exc
        if isinstance(result, BaseModel) and not isinstance(result, self.result_model):
            result = self.result_model.model_validate(result.model_dump())
        if not isinstance(result, self.result_model):
            try:
                result = self.result_model.model_validate(result)
            except ValidationError as exc:
                raise ToolFailure(
                    f"{self.name}: returned an invalid result: {_brief(exc)}"
                ) from exc
        return result


def _brief(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ())) or "(root)"
        parts.append(f"{loc}: {err.get('msg')}")
    return "; ".join(parts)
