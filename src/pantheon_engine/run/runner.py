"""One run end to end: policy first, then the flow, the input, the engine, the orchestrator.

The caller hears how it goes through two hooks: ``progress`` (a console) gets the engine
and model the run is served by, once they are open; ``on_event`` gets the orchestrator's
events as they happen (a node starts, each model call ends with its step and tokens, a node
ends), which is what ``pantheon run`` draws its live line from.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from rich.console import Console
from rich.markup import escape

from pantheon_engine.agents.registry import default_registry
from pantheon_engine.flows_builtin import agent_roots
from pantheon_engine.policy import Policy
from pantheon_engine.run.flows import Flow, load_flow_checked
from pantheon_engine.run.orchestrator import Event, Orchestrator, RunResult
from pantheon_engine.run.serving import (
    EngineOptions,
    Served,
    ServingScope,
    model_agents,
    open_serving,
)


async def run_once(
    flow_file: Path, run_input: dict[str, Any], *, mode: Literal["day", "night"],
    workspace: Path, artifacts: Path, engine: str | None = None, model: str | None = None,
    base_url: str | Sequence[str] | None = None, replay: str | None = None,
    seed: int | None = None,
    search: int = 1,
    config: Path | None = None, progress: Console | None = None,
    on_event: Event | None = None,
) -> RunResult:
    def scope() -> ServingScope[Flow]:
        registry = default_registry(agent_roots(flow_file))
        flow = load_flow_checked(flow_file, registry)
        Orchestrator(registry=registry, engine=None, policy=Policy(mode=mode),
                     artifacts_root=Path(artifacts)).validate_input(flow, run_input)
        # each model agent's current version, with its own weights where the engine allows;
        # one engine, or one per distinct weights file when the agents' versions need it
        return ServingScope(registry, agents=model_agents([flow], registry), prepared=flow,
                            engine=any(registry.get(n.agent).uses_model for n in flow.nodes))

    def announce(served: Served[Flow]) -> None:
        assert progress is not None
        flow, engine_obj = served.prepared, served.engine
        progress.print(f"[dim]{flow.name}: {len(flow.nodes)} nodes · {mode} · engine "
                       f"{engine_obj.name if engine_obj else 'none'} "
                       f"{escape(engine_obj.model) if engine_obj else ''}[/]",
                       highlight=False, soft_wrap=True)
        for note in served.plan.notes:
            progress.print(f"[yellow]note:[/] {escape(note)}", highlight=False,
                           soft_wrap=True)

    options = EngineOptions(name=engine, model=model, base_url=base_url, replay=replay,
                            config=config)
    async with open_serving(mode, options, artifacts=artifacts, scope=scope,
                            ready=announce if progress is not None else None) as served:
        orchestrator = Orchestrator(registry=served.registry, engine=served.engine,
                                    policy=served.policy, artifacts_root=Path(artifacts),
                                    seed=seed, on_event=on_event, search=search)
        return await orchestrator.run(served.prepared, run_input, workspace)
