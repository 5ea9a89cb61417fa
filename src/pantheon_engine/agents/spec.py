"""AgentSpec: everything Pantheon needs to know to run one kind of node.

Two kinds of agent share this spec:

* model agents (``run`` is None) drive the strict tool loop: a prompt, the named tools,
  a final-output model the model must emit, optional hooks that narrow the grammar,
  report progress after each tool call and turn the model's final answer into the
  node's output (running checks on the way);
* builtin agents (``run`` set) are plain async Python (run the tests, gate the merge) and
  never call a model.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel

# Limits and CheckFailed belong to the loop; agent files import them from here.
from pantheon_engine.loop.limits import CheckFailed as CheckFailed
from pantheon_engine.loop.limits import Limits as Limits

if TYPE_CHECKING:
    from pantheon_engine.agents.context import AgentContext


class Runtime(BaseModel):
    """Where the agent's model runs. ``default`` means: whatever the run was started with."""

    engine: str = "default"
    model: str = "default"
    origin: Literal["local", "external"] = "local"
    base_url: str | None = None


@dataclass
class Prepared:
    """What ``prepare`` returns: prompt variables, per-input narrowed tool schemas, and
    arguments bound in advance (the model never types them; identical grammars across
    tasks then share one compiled grammar in the engine)."""

    variables: dict[str, Any] = field(default_factory=dict)
    schema_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    bound_args: dict[str, dict[str, Any]] = field(default_factory=dict)


PrepareHook = Callable[["AgentContext", BaseModel], Awaitable[Prepared]]
ProgressHook = Callable[["AgentContext", BaseModel], Awaitable[str]]
FinishHook = Callable[["AgentContext", BaseModel, BaseModel], Awaitable[BaseModel]]
StepSchemasHook = Callable[["AgentContext", BaseModel],
                           Awaitable[dict[str, dict[str, Any] | None]]]
RunHook = Callable[["AgentContext", BaseModel], Awaitable[BaseModel]]
GatherHook = Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]


def gather_default(upstream: dict[str, Any], run_input: dict[str, Any]) -> dict[str, Any]:
    """One upstream: its output. Several: their outputs merged in order. None: the run input."""
    if not upstream:
        return dict(run_input)
    if len(upstream) == 1:
        return dict(next(iter(upstream.values())))
    merged: dict[str, Any] = {}
    for value in upstream.values():
        merged.update(value)
    return merged


@dataclass
class AgentSpec:
    name: str
    version: str
    description: str
    input_model: type[BaseModel]
    output_model: type[BaseModel]
    runtime: Runtime = field(default_factory=Runtime)
    tools: list[str] = field(default_factory=list)
    prompt: str = ""
    limits: Limits = field(default_factory=Limits)
    final_model: type[BaseModel] | None = None
    prepare: PrepareHook | None = None
    progress: ProgressHook | None = None
    finish: FinishHook | None = None
    #: narrows the grammar for each step from the current state (constrained engines)
    step_schemas: StepSchemasHook | None = None
    run: RunHook | None = None
    gather: GatherHook = gather_default
    #: "check": an acceptance check; a run passes or fails by its checks, never by the
    #: model's own final answer ("agent" for everything else)
    role: Literal["agent", "check"] = "agent"
    #: the check agent that grades this agent's output on its own (evals run agent → check)
    check: str | None = None

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def uses_model(self) -> bool:
        return self.run is None

    @property
    def final(self) -> type[BaseModel]:
        return self.final_model or self.output_model

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "kind": "model" if self.uses_model else "builtin",
            "runtime": self.runtime.model_dump(),
            "tools": list(self.tools),
            "limits": self.limits.model_dump(),
            "role": self.role,
        }
