"""The strict tool loop: PROMPT → TOOL → … → FINAL → checks → OK | FAIL.

Every model reply is parsed into an envelope and validated. A failure of any kind
(parse, schema, unknown_tool, tool_error, timeout, truncated, check) is counted, fed back to
the model with the error text, and charged against ``max_failures``; ``max_steps`` caps the
number of model calls. Text that looks like a tool call is never accepted as a final answer.
The loop never raises for model misbehaviour: it returns a :class:`LoopResult` that says
OK or FAIL and why. Engine errors (the engine itself failing) do propagate.
"""

from __future__ import annotations

import enum
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from pantheon_engine.engines.base import Engine, EngineRequest, Message, OutputConstraint
from pantheon_engine.errors import ToolArgsError, ToolFailure, ToolTimeout, WorkspaceError
from pantheon_engine.faults import crash_point
from pantheon_engine.loop.envelope import (
    EnvelopeError,
    FinalAnswer,
    ToolCall,
    looks_like_tool_call,
    parse_envelope,
)
from pantheon_engine.loop.grammar import compact_json, envelope_regex, without_property
from pantheon_engine.loop.limits import CheckFailed, Limits
from pantheon_engine.tools.base import Tool, ToolContext

FailureKind = Literal[
    "parse", "schema", "unknown_tool", "tool_error", "timeout", "truncated", "check"
]
FAILURE_KINDS: tuple[str, ...] = (
    "parse", "schema", "unknown_tool", "tool_error", "timeout", "truncated", "check",
)
RESULT_PREVIEW = 1_500


class State(enum.StrEnum):
    PROMPT = "PROMPT"
    TOOL = "TOOL"
    FINAL = "FINAL"
    CHECKS = "CHECKS"
    OK = "OK"
    FAIL = "FAIL"


class ToolCallRecord(BaseModel):
    step: int
    name: str
    args: Any
    ok: bool
    result: Any = None
    error: str | None = None
    error_kind: str | None = None
    ms: float = 0.0


class ModelCallRecord(BaseModel):
    step: int
    key: str | None
    reply: str
    outcome: str
    finish_reason: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    error: str | None = None
    attempt: int = 1


class LoopResult(BaseModel):
    status: Literal["ok", "fail"]
    output: Any = None
    steps: int = 0
    failures: dict[str, int]
    tool_calls: int = 0
    error: str | None = None
    error_kind: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    states: list[str]


Finish = Callable[[BaseModel], Awaitable[BaseModel]]
Progress = Callable[[], Awaitable[str]]
#: Per-step schema overrides: tool name (or "final") -> args schema, or None to leave that
#: branch out of this step's grammar.
StepSchemas = Callable[[], Awaitable[dict[str, dict[str, Any] | None]]]


@dataclass
class LoopSinks:
    """Where the loop reports as it goes (artifacts, traces); every hook is optional."""

    on_model_call: Callable[[ModelCallRecord], None] | None = None
    on_tool_call: Callable[[ToolCallRecord], None] | None = None


@dataclass
class ToolLoop:
    engine: Engine
    tools: Sequence[Tool[Any, Any]]
    tool_ctx: ToolContext
    system_prompt: str
    task_prompt: str
    final_model: type[BaseModel]
    limits: Limits = field(default_factory=Limits)
    key: str | None = None
    finish: Finish | None = None
    progress: Progress | None = None
    schema_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    step_schemas: StepSchemas | None = None
    #: per tool, arguments fixed by the agent: left out of the grammar and the prompt,
    #: merged into the model's arguments before the tool runs
    bound_args: dict[str, dict[str, Any]] = field(default_factory=dict)
    sinks: LoopSinks = field(default_factory=LoopSinks)
    attempt: int = 1
    seed: int | None = None

    def __post_init__(self) -> None:
        self._tools = {tool.name: tool for tool in self.tools}
        self._history: list[tuple[str, str]] = []  # (assistant reply, feedback) pairs
        self._constraint: OutputConstraint | None = None
        self._step_cache: dict[str, OutputConstraint] = {}
        self._blocks = block_args(self.tools, self.schema_overrides, self.bound_args)
        self._last_call: str | None = None  # the last call that ran, as compact JSON
        if self.engine.supports_constraints:
            self._constraint = OutputConstraint(regex=self.grammar())

    def grammar(self, step: dict[str, dict[str, Any] | None] | None = None) -> str:
        """The whitespace-free envelope regex for this agent's tools and final output.

        ``step`` narrows it further for one step (a branch mapped to None is left out).
        """
        merged: dict[str, dict[str, Any] | None] = {
            name: self.schema_overrides.get(name, tool.args_schema())
            for name, tool in self._tools.items()
        }
        merged["final"] = self.schema_overrides.get(
            "final", self.final_model.model_json_schema())
        merged.update(step or {})
        final_schema = merged.pop("final")
        tools = {name: unbind(schema, self.bound_args.get(name, {}))
                 for name, schema in merged.items() if schema is not None}
        return envelope_regex(tools, final_schema, blocks=self._blocks,
                              max_string=self.limits.grammar_max_string)

    async def _step_constraint(self) -> OutputConstraint | None:
        if self._constraint is None or self.step_schemas is None:
            return self._constraint
        step = await self.step_schemas()
        cache_key = json.dumps(step, sort_keys=True)
        if cache_key not in self._step_cache:
            self._step_cache[cache_key] = OutputConstraint(regex=self.grammar(step))
        return self._step_cache[cache_key]

    def messages(self, state: str = "") -> list[Message]:
        """System prompt, task (with the agent's current-state text), recent exchanges."""
        kept = self._history[-self.limits.history :] if self.limits.history else []
        task = f"{self.task_prompt}\n{state}" if state else self.task_prompt
        msgs = [Message(role="system", content=self.system_prompt),
                Message(role="user", content=task)]
        for reply, feedback in kept:
            msgs.append(Message(role="assistant", content=reply))
            msgs.append(Message(role="user", content=feedback))
        return msgs

    async def run(self) -> LoopResult:
        started = time.perf_counter()
        failures: Counter[str] = Counter()
        failed_last = False
        states = [State.PROMPT.value]
        steps = tool_calls = prompt_tokens = completion_tokens = 0
        last_error: tuple[str, str] | None = None

        def fail(kind: str, message: str) -> LoopResult:
            states.append(State.FAIL.value)
            return LoopResult(
                status="fail", steps=steps, failures=dict(failures), tool_calls=tool_calls,
                error=message, error_kind=kind, prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens, seconds=time.perf_counter() - started,
                states=states,
            )

        while True:
            if steps >= self.limits.max_steps:
                why = f"max_steps ({self.limits.max_steps}) reached without a final answer"
                if last_error:
                    why += f"; last failure ({last_error[0]}): {last_error[1]}"
                return fail("max_steps", why)
            steps += 1
            temperature = self.limits.temperature
            if failed_last and self.limits.retry_temperature is not None:
                temperature = self.limits.retry_temperature
            request = EngineRequest(
                messages=self.messages(await self._progress_text()),
                constraint=await self._step_constraint(),
                max_tokens=self.limits.max_tokens, temperature=temperature,
                seed=self.seed, key=self.key,
            )
            call_started = time.perf_counter()
            completion = await self.engine.complete(request)
            crash_point("after_model_reply")
            prompt_tokens += completion.prompt_tokens
            completion_tokens += completion.completion_tokens
            reply = completion.text
            record = ModelCallRecord(
                step=steps, key=self.key, reply=reply, outcome="", attempt=self.attempt,
                finish_reason=completion.finish_reason, prompt_tokens=completion.prompt_tokens,
                completion_tokens=completion.completion_tokens,
                seconds=time.perf_counter() - call_started,
            )

            outcome = await self._handle_reply(reply, completion.finish_reason, steps, states)
            record.outcome = outcome.kind
            record.error = outcome.error
            if self.sinks.on_model_call:
                self.sinks.on_model_call(record)
            if outcome.tool_record is not None:
                tool_calls += 1
                if self.sinks.on_tool_call:
                    self.sinks.on_tool_call(outcome.tool_record)

            if outcome.kind == "final":
                states.append(State.OK.value)
                return LoopResult(
                    status="ok", output=outcome.output, steps=steps, failures=dict(failures),
                    tool_calls=tool_calls, prompt_tokens=prompt_tokens,
                    completion_tokens=completion_tokens,
                    seconds=time.perf_counter() - started, states=states,
                )
            failed_last = outcome.kind in FAILURE_KINDS
            if failed_last:
                failures[outcome.kind] += 1
                last_error = (outcome.kind, outcome.error or "")
                if sum(failures.values()) > self.limits.max_failures:
                    return fail(
                        "max_failures",
                        f"{sum(failures.values())} failures exceed max_failures "
                        f"({self.limits.max_failures}); last ({outcome.kind}): {outcome.error}",
                    )
            self._history.append((_compact_reply(reply), outcome.feedback))
            states.append(State.PROMPT.value)

    async def _handle_reply(
        self, reply: str, finish_reason: str, step: int, states: list[str]
    ) -> _Outcome:
        if finish_reason == "length":
            # A reply cut by the token limit is never trusted, even if it happens to parse.
            return _Outcome.failure(
                "truncated",
                f"your reply was cut off at the token limit ({self.limits.max_tokens}); "
                "reply with one short JSON object",
                self._expected(),
            )
        try:
            envelope = parse_envelope(reply, self._blocks)
        except EnvelopeError as exc:
            return _Outcome.failure(exc.kind, exc.message, self._expected())

        if isinstance(envelope, ToolCall):
            states.append(State.TOOL.value)
            return await self._call_tool(envelope, step)

        assert isinstance(envelope, FinalAnswer)
        states.append(State.FINAL.value)
        if looks_like_tool_call(envelope.output):
            return _Outcome.failure(
                "schema",
                'the final output looks like a tool call; to call a tool reply '
                '{"type":"tool","name":...,"args":{...}}',
                self._expected(),
            )
        try:
            final = self.final_model.model_validate(envelope.output)
        except ValidationError as exc:
            return _Outcome.failure("schema", f"final output invalid: {_brief(exc)}",
                                    self._expected())
        states.append(State.CHECKS.value)
        if self.finish is not None:
            try:
                final = await self.finish(final)
            except CheckFailed as exc:
                return _Outcome.failure("check", str(exc), "")
        return _Outcome(kind="final", output=final.model_dump(mode="json"))

    async def _call_tool(self, call: ToolCall, step: int) -> _Outcome:
        tool = self._tools.get(call.name)
        if tool is None:
            return _Outcome.failure(
                "unknown_tool",
                f"unknown tool {call.name!r}; available: {', '.join(self._tools) or 'none'}",
                self._expected(),
            )
        started = time.perf_counter()
        kind: str | None = None
        bound = self.bound_args.get(call.name, {})
        clash = sorted(k for k in set(bound) & set(call.args) if call.args[k] != bound[k])
        if clash:
            return _Outcome.failure(
                "schema", f"{call.name}: argument(s) {', '.join(clash)} are fixed for this task "
                f"({', '.join(f'{k}={bound[k]!r}' for k in clash)}); leave them out",
                self._expected())
        call = ToolCall(name=call.name, args={**call.args, **bound})
        text_of_call = compact_json(call.model_dump(mode="json"))
        if text_of_call == self._last_call:
            # At T = 0 a model that repeats a call tends to repeat it until the budget ends;
            # saying so (a fact about the call, not a hint at the answer) breaks the cycle.
            return _Outcome.failure(
                "tool_error", f"{call.name}: this call repeats your previous call exactly "
                "and would change nothing; take another step", "")
        try:
            result = await tool.invoke(self.tool_ctx, call.args, self.limits.tool_timeout_s)
        except ToolArgsError as exc:
            kind, message = "schema", str(exc)
        except ToolTimeout as exc:
            kind, message = "timeout", str(exc)
        except (ToolFailure, WorkspaceError, OSError) as exc:
            kind, message = "tool_error", f"{call.name}: {exc}"
        ms = (time.perf_counter() - started) * 1000
        if kind is not None:
            record = ToolCallRecord(step=step, name=call.name, args=call.args, ok=False,
                                    error=message, error_kind=kind, ms=ms)
            outcome = _Outcome.failure(kind, message, "")
            outcome.tool_record = record
            return outcome
        crash_point("after_tool")
        self._last_call = text_of_call
        payload = result.model_dump(mode="json")
        record = ToolCallRecord(step=step, name=call.name, args=call.args, ok=True,
                                result=payload, ms=ms)
        text = compact_json(payload)
        if len(text) > RESULT_PREVIEW:
            text = text[:RESULT_PREVIEW] + f"… [{len(text) - RESULT_PREVIEW} chars cut]"
        feedback = f"RESULT {call.name}: {text}"
        return _Outcome(kind="tool", feedback=feedback, tool_record=record)

    async def _progress_text(self) -> str:
        if self.progress is None:
            return ""
        return await self.progress()

    def _expected(self) -> str:
        return 'Reply with ONE JSON object: {"type":"tool","name":...,"args":{...}} or ' \
               '{"type":"final","output":{...}}.'


@dataclass
class _Outcome:
    kind: str
    feedback: str = ""
    output: Any = None
    error: str | None = None
    tool_record: ToolCallRecord | None = None

    @classmethod
    def failure(cls, kind: str, message: str, advice: str) -> _Outcome:
        feedback = f"ERROR ({kind}): {message}"
        if advice:
            feedback += f"\n{advice}"
        return cls(kind=kind, feedback=feedback, error=message)


def _compact_reply(reply: str, limit: int = 2_000) -> str:
    text = reply.strip()
    return text if len(text) <= limit else text[:limit] + "…"


def _brief(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:4]:
        loc = ".".join(str(p) for p in err.get("loc", ())) or "(root)"
        parts.append(f"{loc}: {err.get('msg')}")
    return "; ".join(parts)


def unbind(schema: dict[str, Any], bound: dict[str, Any]) -> dict[str, Any]:
    """``schema`` without the properties in ``bound`` (the agent supplies those)."""
    if not bound or "properties" not in schema:
        return schema
    return {
        **schema,
        "properties": {k: v for k, v in schema["properties"].items() if k not in bound},
        "required": [k for k in schema.get("required", []) if k not in bound],
    }


def block_args(tools: Sequence[Tool[Any, Any]],
               overrides: dict[str, dict[str, Any]] | None = None,
               bound_args: dict[str, dict[str, Any]] | None = None) -> dict[str, str]:
    """Tool name -> the argument the model writes as a fenced block after the call, for
    the tools that take one (and where the agent neither fixed nor removed it)."""
    out: dict[str, str] = {}
    for tool in tools:
        arg = tool.block_arg
        schema = (overrides or {}).get(tool.name, tool.args_schema())
        if arg and arg in schema.get("properties", {}) \
                and arg not in (bound_args or {}).get(tool.name, {}):
            out[tool.name] = arg
    return out


def describe_tools(tools: Sequence[Tool[Any, Any]],
                   overrides: dict[str, dict[str, Any]] | None = None,
                   bound_args: dict[str, dict[str, Any]] | None = None) -> str:
    """One line per tool: name, compact argument shape, description (for the system prompt).

    A block argument is left out of the shape and described after it."""
    blocks = block_args(tools, overrides, bound_args)
    lines = []
    for tool in tools:
        schema = unbind((overrides or {}).get(tool.name, tool.args_schema()),
                        (bound_args or {}).get(tool.name, {}))
        block = blocks.get(tool.name)
        if block is not None:
            schema = without_property(schema, block)
        line = f"- {tool.name} {json.dumps(schema_shape(schema), separators=(',', ':'))}"
        if block is not None:
            line += f", then the {block} in a ``` fenced block on the next lines"
        lines.append(f"{line}: {tool.description}")
    return "\n".join(lines)


def schema_shape(schema: dict[str, Any], defs: dict[str, Any] | None = None) -> Any:
    """A short example-like rendering of a JSON schema: {"path":"string","n":"integer"}."""
    defs = defs if defs is not None else schema.get("$defs", {})
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return schema_shape(defs.get(name, {}), defs)
    if "enum" in schema:
        return "|".join(str(v) for v in schema["enum"])
    if "const" in schema:
        return schema["const"]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " or ".join(str(schema_shape(s, defs)) for s in schema[key])
    kind = schema.get("type")
    if kind == "object" and "properties" in schema:
        return {k: schema_shape(v, defs) for k, v in schema["properties"].items()}
    if kind == "array":
        return [schema_shape(schema.get("items", {}), defs)]
    return kind or "any"
