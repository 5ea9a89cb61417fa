"""What an agent sees while it runs one node, and how a node's agent is executed."""

from __future__ import annotations

import json
import string
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from pantheon_engine.agents.spec import AgentSpec, Prepared
from pantheon_engine.artifacts import NodeArtifacts
from pantheon_engine.engines.base import Engine
from pantheon_engine.errors import ConfigError, NodeFailed
from pantheon_engine.loop.tool_loop import (
    LoopResult,
    LoopSinks,
    ModelCallRecord,
    ToolLoop,
    block_args,
    describe_tools,
    schema_shape,
)
from pantheon_engine.tools.base import Tool, ToolContext
from pantheon_engine.tools.registry import get_tool

SYSTEM_TEMPLATE = """\
You are $agent, a narrow specialist: $description
Act ONLY through tool calls. Reply with exactly ONE JSON object and nothing else$block_note.
TOOLS:
$tools
To call a tool: {"type":"tool","name":"<tool>","args":{...}}
When the task is done: {"type":"final","output":$final}
"""


@dataclass
class AgentContext:
    run_id: str
    node_id: str
    agent: AgentSpec
    workspace: Path
    tool_ctx: ToolContext
    artifacts: NodeArtifacts
    engine: Engine | None = None
    run_input: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    upstream: dict[str, dict[str, Any]] = field(default_factory=dict)
    attempt: int = 1
    seed: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: told of each model call as it ends, after it is recorded (a caller's progress line)
    on_model_call: Callable[[ModelCallRecord], None] | None = None

    def tool(self, name: str) -> Tool[Any, Any]:
        return get_tool(name)

    async def call_tool(self, name: str, **args: Any) -> Any:
        """Run a tool directly (builtin agents) and record it in tool_calls.jsonl."""
        tool = get_tool(name)
        started = time.perf_counter()
        try:
            result = await tool.invoke(self.tool_ctx, args, self.agent.limits.tool_timeout_s)
        except Exception as exc:
            self.artifacts.append("tool_calls.jsonl", {
                "step": 0, "name": name, "args": args, "ok": False, "error": str(exc),
                "error_kind": getattr(exc, "kind", type(exc).__name__),
                "ms": (time.perf_counter() - started) * 1000,
            })
            raise
        self.artifacts.append("tool_calls.jsonl", {
            "step": 0, "name": name, "args": args, "ok": True,
            "result": result.model_dump(mode="json"),
            "ms": (time.perf_counter() - started) * 1000,
        })
        return result


def render(template: str, variables: dict[str, Any]) -> str:
    """``$name`` / ``${name}`` substitution; unknown names are a clear error for agent authors."""
    try:
        return string.Template(template).substitute(variables)
    except KeyError as exc:
        raise ConfigError(f"prompt template names an unknown variable: {exc.args[0]}") from exc
    except ValueError as exc:
        raise ConfigError(f"prompt template is malformed: {exc}") from exc


async def run_agent(ctx: AgentContext, data: BaseModel) -> tuple[BaseModel, LoopResult | None]:
    """Run ``ctx.agent`` on validated input ``data``; raise ``NodeFailed`` when it fails."""
    agent = ctx.agent
    if agent.run is not None:
        output = await agent.run(ctx, data)
        return agent.output_model.model_validate(output.model_dump()), None
    if ctx.engine is None:
        raise NodeFailed(f"{agent.ref} needs a model engine", kind="engine_error")

    prepared = await agent.prepare(ctx, data) if agent.prepare else Prepared()
    tools = [get_tool(name) for name in agent.tools]
    final_schema = prepared.schema_overrides.get("final", agent.final.model_json_schema())
    variables = {
        **data.model_dump(mode="json"),
        **{k: v for k, v in ctx.params.items() if isinstance(v, str | int | float)},
        **prepared.variables,
    }
    blocks = block_args(tools, prepared.schema_overrides, prepared.bound_args)
    system = render(SYSTEM_TEMPLATE, {
        "block_note": " (a tool that takes a fenced block: its JSON, then the block)"
        if blocks else "",
        "agent": agent.name,
        "description": agent.description,
        "tools": describe_tools(tools, prepared.schema_overrides, prepared.bound_args)
        or "(none)",
        "final": _shape(final_schema),
    })
    task = render(agent.prompt, variables)
    ctx.artifacts.write_text("prompt.txt", f"## system\n{system}\n## user\n{task}\n")

    async def finish(final: BaseModel) -> BaseModel:
        if agent.finish is None:
            return agent.output_model.model_validate(final.model_dump())
        return await agent.finish(ctx, data, final)

    async def progress() -> str:
        return await agent.progress(ctx, data) if agent.progress else ""

    async def step_schemas() -> dict[str, dict[str, Any] | None]:
        assert agent.step_schemas is not None
        return await agent.step_schemas(ctx, data)

    def on_model_call(record: ModelCallRecord) -> None:
        ctx.artifacts.append("model_calls.jsonl", record)
        if ctx.on_model_call is not None:
            ctx.on_model_call(record)

    sinks = LoopSinks(
        on_model_call=on_model_call,
        on_tool_call=lambda rec: _log_tool_call(ctx, rec),
    )
    engine: Engine = ctx.engine.for_agent(agent.name)  # a version served by name: its adapter
    store = ctx.extra.get("traces")
    if store is not None:  # every request, reply and tool call also goes to the trace store
        from pantheon_engine.loop.traces import RequestTap, TraceKey

        engine = tap = RequestTap(engine)
        key = TraceKey(night_id=ctx.extra.get("night_id"), run_id=ctx.run_id,
                       node_id=ctx.node_id, agent=agent.ref, attempt=ctx.attempt)
        sinks = store.sinks(key, tap=tap, then=sinks)
    loop = ToolLoop(
        engine=engine, tools=tools, tool_ctx=ctx.tool_ctx, system_prompt=system,
        task_prompt=task, final_model=agent.final, limits=agent.limits,
        key=ctx.node_id, finish=finish, progress=progress if agent.progress else None,
        schema_overrides=prepared.schema_overrides,
        step_schemas=step_schemas if agent.step_schemas else None,
        bound_args=prepared.bound_args,
        attempt=ctx.attempt, seed=ctx.seed, sinks=sinks,
    )
    result = await loop.run()
    if result.status != "ok":
        failure = NodeFailed(result.error or "the tool loop failed",
                             kind=result.error_kind or "loop")
        failure.loop_result = result  # type: ignore[attr-defined]
        raise failure
    return agent.output_model.model_validate(result.output), result


def _log_tool_call(ctx: AgentContext, record: Any) -> None:
    """tool_calls.jsonl, and the calls so far for the agent's progress hook."""
    ctx.artifacts.append("tool_calls.jsonl", record)
    ctx.extra.setdefault("tool_log", []).append(record)


def _shape(schema: dict[str, Any]) -> str:
    return json.dumps(schema_shape(schema), separators=(",", ":"))
