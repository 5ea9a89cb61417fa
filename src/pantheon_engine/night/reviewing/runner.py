"""Runs canaries through a flow's reviewers, the way the orchestrator runs a review node.

Each review node of the flow (every node whose agent outputs a :class:`Review`) reviews the
canary with its own agent, params (persona) and the night's engine, through
:func:`pantheon_engine.agents.context.run_agent`: the prompt is built by the same code as for
a real review. A flow that writes code from a spec (a node reads a :class:`Spec`) gets code
canaries, any other flow document canaries, and the ledger keeps the two kinds apart: a
reviewer is trusted on code by its record on code. Artifacts go to
``nights/<night_id>/canaries/<canary_id>/<node>/``; the verdicts go to the ledger. Canary
calls are not sent to the trace store: they are measurements, not work to learn from.

Canaries are interleaved with real work: a flow's calibration batch starts with the flow's
first run and is reviewed while that run's agents work (the merge gate waits for it, not the
run), and after each real review one more canary follows with probability ``share``.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pantheon_engine.agents.context import AgentContext, run_agent
from pantheon_engine.agents.io import Review, Spec
from pantheon_engine.agents.registry import AgentRegistry
from pantheon_engine.artifacts import NodeArtifacts
from pantheon_engine.atomic import atomic_write_json
from pantheon_engine.engines.base import Engine
from pantheon_engine.errors import ConfigError, RunFailure
from pantheon_engine.night.reviewing.canary import Canary
from pantheon_engine.night.reviewing.code_canary import CodeCanary, code_canaries
from pantheon_engine.night.reviewing.ledger import ReviewerLedger
from pantheon_engine.policy import Policy
from pantheon_engine.run.flows import Flow, FlowNode
from pantheon_engine.run.orchestrator import RunResult

__all__ = ["CanaryRunner", "flow_kind", "review_nodes"]

AnyCanary = Canary | CodeCanary


def review_nodes(flow: Flow, registry: AgentRegistry) -> list[FlowNode]:
    """The flow's review nodes, in file order."""
    return [n for n in flow.nodes if issubclass(registry.get(n.agent).output_model, Review)]


def flow_kind(flow: Flow, registry: AgentRegistry) -> str:
    """What the flow's reviewers review: ``code`` (a node works from a spec) or ``docs``."""
    from_spec = any(issubclass(registry.get(n.agent).input_model, Spec) for n in flow.nodes)
    return "code" if from_spec else "docs"


@dataclass
class CanaryRunner:
    registry: AgentRegistry
    engine: Engine | None
    policy: Policy
    ledger: ReviewerLedger
    pool: list[Canary]
    folder: Path  # nights/<night_id>/canaries
    night_id: str
    share: float = 0.2
    calibration: int = 10
    seed: int = 0
    on_event: Callable[[str, dict[str, Any]], None] | None = None
    #: the canaries of flows that write code (None: the built-in cases on the demo's specs)
    code_pool: list[CodeCanary] | None = None
    _calibrations: dict[str, asyncio.Task[None]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        if self.code_pool is None:
            self.code_pool = code_canaries(self.seed)
        if not self.pool and not self.code_pool:
            raise ConfigError("the canary pool is empty")
        if not 0.0 <= self.share <= 1.0:
            raise ConfigError(f"canary share must be between 0 and 1, got {self.share}")
        if self.calibration < 0:
            raise ConfigError(f"canary calibration must be >= 0, got {self.calibration}")
        self._rng = random.Random(self.seed)
        self._pools: dict[str, list[AnyCanary]] = {"docs": list(self.pool),
                                                   "code": list(self.code_pool)}
        self._drawn_by_kind: dict[str, int] = {}
        self._drawn = 0

    def reviewer_refs(self, flow: Flow) -> dict[str, str]:
        """Each review node of ``flow`` and its agent@version (what the merge gate checks)."""
        return {n.id: self.registry.get(n.agent).ref for n in review_nodes(flow, self.registry)}

    def kind(self, flow: Flow) -> str:
        return flow_kind(flow, self.registry)

    def start_calibration(self, flow: Flow) -> asyncio.Task[None]:
        """The flow's calibration batch, started once (at the flow's first run) and reviewed
        alongside the real work; the merge gate awaits the task before it reads the ledger."""
        key = flow.source or flow.name
        task = self._calibrations.get(key)
        if task is None:
            task = self._calibrations[key] = asyncio.ensure_future(self._calibrate(flow))
        return task

    async def _calibrate(self, flow: Flow) -> None:
        if review_nodes(flow, self.registry) and self.calibration:
            await self.run_batch(flow, self.calibration)
            self._emit("canaries_calibrated", {"flow": flow.name, "kind": self.kind(flow),
                                               "canaries": self.calibration})

    async def after_run(self, flow: Flow, result: RunResult) -> None:
        """After a real run that reached its reviews: one more canary, with probability share."""
        reviews = {n.id for n in review_nodes(flow, self.registry)}
        reached = any(n.id in reviews and n.status in ("ok", "failed") for n in result.nodes)
        if reached and self._rng.random() < self.share:
            await self.run_batch(flow, 1)

    async def run_batch(self, flow: Flow, count: int) -> None:
        """``count`` canaries from the pool, reviewed concurrently."""
        kind = self.kind(flow)
        draws = [self._draw(kind) for _ in range(count)]
        await asyncio.gather(*(self.run_canary(flow, canary, canary_id)
                               for canary_id, canary in draws))

    def _draw(self, kind: str) -> tuple[str, AnyCanary]:
        pool = self._pools[kind]
        if not pool:
            raise ConfigError(f"no {kind} canaries to review: the pool of that kind is empty")
        index = self._drawn_by_kind.get(kind, 0)
        self._drawn_by_kind[kind] = index + 1
        canary = pool[index % len(pool)]
        self._drawn += 1
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", canary.id).strip("-.") or "canary"
        return f"k{self._drawn:04d}-{safe}", canary

    async def run_canary(self, flow: Flow, canary: AnyCanary,
                         canary_id: str) -> dict[str, str | None]:
        """Every review node of ``flow`` reviews ``canary``; results go to the ledger."""
        nodes = review_nodes(flow, self.registry)
        kind = self.kind(flow)
        folder = self.folder / canary_id
        atomic_write_json(folder / "canary.json", {
            **canary.answer(), "canary_id": canary_id, "flow": flow.name, "kind": kind,
            "nodes": [n.id for n in nodes]})
        workspace, outputs, failure = await self._review_material(canary, folder)
        if failure is not None:  # the item could not be set up: no reviewer is scored on it
            outcomes: list[tuple[str | None, str | None]] = [(None, failure)] * len(nodes)
        else:
            outcomes = list(await asyncio.gather(*(
                self._review(flow, node, canary, folder, workspace, outputs)
                for node in nodes)))
        verdicts: dict[str, str | None] = {}
        for node, (verdict, error) in zip(nodes, outcomes, strict=True):
            verdicts[node.id] = verdict
            self.ledger.record(node=node.id, agent=self.registry.get(node.agent).ref,
                               canary=canary_id, item=canary.id, expected=canary.expected,
                               got=verdict, error=error, flow=flow.name, kind=kind)
        if len(nodes) >= 2:  # the first two reviewers' pair, as the merge gate pairs them
            first, second = verdicts[nodes[0].id], verdicts[nodes[1].id]
            if first is not None and second is not None:
                self.ledger.add_pair(first, second, kind=kind)
        self._emit("canary_reviewed", {"canary": canary_id, "expected": canary.expected,
                                       "kind": kind, "verdicts": verdicts})
        return verdicts

    async def _review_material(self, canary: AnyCanary, folder: Path
                               ) -> tuple[Path, dict[str, dict[str, Any]], str | None]:
        """The workspace the reviewers run in and what the upstream nodes hand them, by
        role (``agent``: the change, ``check``: the check's report); or an error kind."""
        if isinstance(canary, CodeCanary):
            workspace = folder / "workspace"
            try:
                patch, report = await canary.review_inputs(
                    workspace, self.policy.tool_context(workspace))
            except RunFailure as exc:
                NodeArtifacts(folder).write_json("error.json", {"error_kind": exc.kind,
                                                                "error": exc.message})
                return workspace, {}, exc.kind
            return workspace, {"agent": patch, "check": report}, None
        change = {"diff": canary.diff, "summary": canary.summary}
        return folder, {"agent": change, "check": change}, None

    async def _review(self, flow: Flow, node: FlowNode, canary: AnyCanary, folder: Path,
                      workspace: Path, outputs: dict[str, dict[str, Any]]
                      ) -> tuple[str | None, str | None]:
        """One review node on one canary: (verdict, None) or (None, error kind)."""
        agent = self.registry.get(node.agent)
        files = NodeArtifacts(folder / node.id)
        upstream = {dep: dict(outputs[self.registry.get(flow.node(dep).agent).role])
                    for dep in flow.deps(node.id)}
        run_input = canary.run_input
        data_raw = agent.gather(upstream, run_input) if upstream else dict(run_input)
        try:
            data = agent.input_model.model_validate(data_raw)
        except ValidationError as exc:
            files.write_json("error.json", {"error_kind": "invalid_input",
                                            "error": exc.errors()[0]["msg"]})
            return None, "invalid_input"
        files.write_json("input.json", data)
        ctx = AgentContext(
            run_id=f"canary-{folder.name}", node_id=node.id, agent=agent, workspace=workspace,
            tool_ctx=self.policy.tool_context(workspace), artifacts=files, engine=self.engine,
            run_input=run_input, params=dict(node.params), upstream=upstream,
            extra={"night_id": self.night_id},
        )
        timeout = node.timeout_s or agent.limits.node_timeout_s
        try:
            output, _ = await asyncio.wait_for(run_agent(ctx, data), timeout)
        except TimeoutError:
            kind, message = "node_timeout", f"node timed out after {timeout:.0f}s"
        except RunFailure as exc:
            kind, message = getattr(exc, "kind", "run_failure"), exc.message
        else:
            files.write_json("output.json", output)
            verdict = getattr(output, "verdict", None)
            return (str(verdict), None) if verdict is not None else (None, "no_verdict")
        files.write_json("error.json", {"error_kind": kind, "error": message})
        return None, kind

    def _emit(self, event: str, data: dict[str, Any]) -> None:
        if self.on_event is not None:
            self.on_event(event, data)
