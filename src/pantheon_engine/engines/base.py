"""The one async interface every model engine implements.

A caller builds an :class:`EngineRequest` (chat messages plus an optional output
constraint) and awaits :meth:`Engine.complete`. Many agents call ``complete`` at once;
an engine that can batch (OpenVINO's continuous-batching pipeline, a vLLM server) serves
them together, so callers should keep many requests in flight.
"""

from __future__ import annotations

import abc
from typing import Literal

from pydantic import BaseModel, Field, model_validator

Role = Literal["system", "user", "assistant", "tool"]
FinishReason = Literal["stop", "length", "cancelled", "error"]


class Message(BaseModel):
    role: Role
    content: str


class OutputConstraint(BaseModel):
    """Exactly one of a JSON schema, a regular expression or an EBNF grammar."""

    json_schema: dict | None = None
    regex: str | None = None
    grammar: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> OutputConstraint:
        given = [x for x in (self.json_schema, self.regex, self.grammar) if x is not None]
        if len(given) != 1:
            raise ValueError(
                "an output constraint needs exactly one of json_schema, regex, grammar"
            )
        return self


class EngineRequest(BaseModel):
    messages: list[Message]
    constraint: OutputConstraint | None = None
    max_tokens: int = Field(default=256, ge=1)
    temperature: float = Field(default=0.0, ge=0.0)
    seed: int | None = None
    key: str | None = Field(
        default=None,
        description="Who asks (run/node). Replay serves recorded replies per key; "
        "traces group by it.",
    )


class Completion(BaseModel):
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: FinishReason = "stop"
    queued_s: float = 0.0
    total_s: float = 0.0
    engine: str = ""
    model: str = ""


class EndpointStats(BaseModel):
    """One model server of an engine that spreads requests over several (``openai``)."""

    url: str
    up: bool = True
    #: the model names it serves (base model, ``agent@N`` adapters); empty: not known yet
    models: list[str] = Field(default_factory=list)
    in_flight: int = 0
    requests: int = 0  # answered
    errors: int = 0  # attempts that failed here (refused, reset, timeout, 5xx)
    downs: int = 0  # times it was marked down
    tokens_per_s: float = 0.0
    completion_tokens: int = 0
    last_error: str | None = None


class EngineStats(BaseModel):
    """Live numbers for the metrics stream and the night panel."""

    batch_size: float = 0.0
    avg_batch_size: float = 0.0
    tokens_per_s: float = 0.0
    in_flight: int = 0
    completed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    steps: int = 0
    #: per server, for an engine that spreads requests over several (empty otherwise)
    endpoints: list[EndpointStats] = Field(default_factory=list)


class Engine(abc.ABC):
    """A model engine. Subclasses set ``name`` and implement :meth:`complete`."""

    name: str = "engine"
    model: str = ""
    #: True when ``complete`` honours ``EngineRequest.constraint``.
    supports_constraints: bool = False

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Load weights / open connections. Called once before the first request."""

    @abc.abstractmethod
    async def complete(self, request: EngineRequest) -> Completion:
        """Return one completion for ``request``; raise ``EngineError`` on failure."""

    def for_agent(self, agent: str) -> Engine:
        """The engine that serves ``agent``'s requests: this one, unless the engine serves
        agent versions by name (a LoRA module per agent on a vLLM server)."""
        return self

    def stats(self) -> EngineStats:
        return EngineStats()

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release the model or connections."""

    async def __aenter__(self) -> Engine:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
