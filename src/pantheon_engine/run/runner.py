"""One run end to end: policy first, then the flow, the input, the engine, the orchestrator."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pantheon_engine.agents.registry import AgentRegistry, default_registry
from pantheon_engine.config import load_settings, merge_engine
from pantheon_engine.flows_builtin import agent_roots
from pantheon_engine.policy import Policy
from pantheon_engine.run.flows import Flow, load_flow
from pantheon_engine.run.orchestrator import Orchestrator, RunResult
from pantheon_engine.run.serving import model_agents, plan_serving
from pantheon_engine.run.versions import VersionStore


def load_flow_checked(path: Path, registry: AgentRegistry | None = None) -> Flow:
    """Load and validate a flow against the registry (unknown agents get a fix hint)."""
    registry = registry or default_registry(agent_roots(path))
    return load_flow(path, known_agents=lambda name: name in registry,
                     agent_hint=registry.hint)


async def run_once(
    flow_file: Path, run_input: dict[str, Any], *, mode: Literal["day", "night"],
    workspace: Path, artifacts: Path, engine: str | None = None, model: str | None = None,
    base_url: str | None = None, replay: str | None = None, seed: int | None = None,
    config: Path | None = None, progress: Any = None,
) -> RunResult:
    policy = Policy(mode=mode)
    policy.preflight()  # before anything else: a credential at night stops us here
    registry = default_registry(agent_roots(flow_file))
    flow = load_flow_checked(flow_file, registry)
    orchestrator = Orchestrator(registry=registry, engine=None, policy=policy,
                                artifacts_root=Path(artifacts), seed=seed)
    orchestrator.validate_input(flow, run_input)
    settings = merge_engine(load_settings(config), name=engine, model=model,
                            base_url=base_url, replay=replay)
    # each model agent's current version, with its own weights where the engine allows it
    serving = plan_serving(registry, settings, VersionStore(artifacts),
                           agents=model_agents([flow], registry))
    orchestrator.registry, settings = serving.registry, serving.settings
    needs_model = any(registry.get(n.agent).uses_model for n in flow.nodes)
    # one engine, or one per distinct weights file when the agents' versions need it
    engine_obj = serving.make_engine(policy) if needs_model else None
    if progress is not None:
        progress.print(f"[dim]{flow.name}: {len(flow.nodes)} nodes · {mode} · engine "
                       f"{engine_obj.name if engine_obj else 'none'} "
                       f"{engine_obj.model if engine_obj else ''}[/]", highlight=False)
        for note in serving.notes:
            progress.print(f"[yellow]note:[/] {note}", highlight=False)

        def on_event(event: str, data: dict[str, Any]) -> None:
            if event == "node_finished":
                mark = "[green]✓[/]" if data.get("status") == "ok" else "[red]✗[/]"
                progress.print(f"  {mark} {data.get('node')}"
                               + (f" ({data['kind']})" if data.get("kind") else ""),
                               highlight=False)

        orchestrator.on_event = on_event
    orchestrator.engine = engine_obj
    if engine_obj is not None:
        await engine_obj.start()
    try:
        return await orchestrator.run(flow, run_input, workspace)
    finally:
        if engine_obj is not None:
            await engine_obj.close()
