"""Runs a flow: topological order, independent nodes concurrently, retries, timeouts,
artifacts per node, stop on the first failure, ``manifest.json`` last."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from pantheon_engine.agents.context import AgentContext, run_agent
from pantheon_engine.agents.registry import AgentRegistry
from pantheon_engine.artifacts import NodeArtifacts, RunArtifacts, new_run_id, utc_now
from pantheon_engine.atomic import read_json
from pantheon_engine.engines.base import Engine
from pantheon_engine.errors import NodeFailed, PantheonError, RunFailure, SpecError, UserError
from pantheon_engine.gitops import (
    RunWorkspace,
    open_run_workspace,
    restore_worktree,
    snapshot_worktree,
)
from pantheon_engine.loop.tool_loop import LoopResult, ModelCallRecord
from pantheon_engine.policy import Policy
from pantheon_engine.run.expr import ExprError
from pantheon_engine.run.flows import Flow, FlowNode, should_run
from pantheon_engine.run.search import (
    CANDIDATE_FILE,
    CANDIDATES_DIR,
    Candidate,
    NodeSearch,
    SearchRecord,
    candidate_sampling,
    check_search,
    keep_candidate,
    searched_check,
)

NodeStatus = Literal["ok", "failed", "skipped", "not_run"]


class NodeResult(BaseModel):
    id: str
    agent: str
    status: NodeStatus
    attempts: int = 0
    steps: int = 0
    tool_calls: int = 0
    failures: dict[str, int] = {}
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    error: str | None = None
    error_kind: str | None = None


class RunResult(BaseModel):
    run_id: str
    flow: str
    status: Literal["ok", "failed"]
    dir: str
    seconds: float
    nodes: list[NodeResult]
    failed_node: str | None = None
    error_kind: str | None = None
    error: str | None = None
    output: Any = None
    branch: str | None = None
    #: the acceptance checks' verdict (see ``Orchestrator._check_summary``)
    check: dict[str, Any] | None = None
    #: ``--search K`` with K > 1: what was tried and kept (``SearchRecord.summary``)
    search: dict[str, Any] | None = None

    @property
    def schema_errors(self) -> int:
        return sum(n.failures.get("schema", 0) + n.failures.get("parse", 0) for n in self.nodes)


#: told what a run does as it goes: ``run_started``, ``node_started``, ``model_call`` (each
#: model call as it ends), ``node_attempt_failed``, ``node_finished``, ``run_finished``
Event = Callable[[str, dict[str, Any]], None]


@dataclass
class Orchestrator:
    registry: AgentRegistry
    engine: Engine | None
    policy: Policy
    artifacts_root: Path
    on_event: Event | None = None
    seed: int | None = None
    run_meta: dict[str, Any] = field(default_factory=dict)
    #: a TraceStore that receives every model call and tool call (None: artifacts only)
    traces: Any = None
    #: objects shared by every run of a night (e.g. the reviewer-agreement window)
    shared: dict[str, Any] = field(default_factory=dict)
    #: sampling temperature for every model agent of the run (None: each agent's own)
    temperature: float | None = None
    #: candidates per model node that feeds a check (1: run each node once; see run/search)
    search: int = 1

    def __post_init__(self) -> None:
        check_search(self.search)

    def validate_input(self, flow: Flow, run_input: dict[str, Any]) -> None:
        """Check the run input against every entry node's agent before anything runs."""
        for node in flow.nodes:
            if any(i in flow.entry_names for i in node.inputs):
                agent = self.registry.get(node.agent)
                try:
                    agent.input_model.model_validate(run_input)
                except ValidationError as exc:
                    lines = [f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}"
                             for e in exc.errors()]
                    raise SpecError(
                        f"input does not fit {agent.ref} (node {node.id!r}): "
                        + "; ".join(lines),
                        hint=f"see the input model of {agent.name} (pantheon agents show "
                        f"{agent.name})",
                    ) from exc

    async def run(self, flow: Flow, run_input: dict[str, Any], workspace: Path,
                  run_id: str | None = None) -> RunResult:
        self.policy.preflight()
        for node in flow.nodes:
            agent = self.registry.get(node.agent)
            self.policy.check_runtime(agent.ref, agent.runtime.origin)
        self.validate_input(flow, run_input)

        resume = run_id is not None and self.resumable(run_id)
        run_id = run_id or new_run_id(flow.name)
        bundle = RunArtifacts(self.artifacts_root, run_id)
        started = time.perf_counter()
        results: dict[str, NodeResult] = {}
        outputs: dict[str, dict[str, Any]] = {}
        searched = SearchRecord(k=self.search) if self.search > 1 else None
        ws: RunWorkspace | None = None
        if resume:
            meta = read_json(bundle.dir / "run.json")
            ws = RunWorkspace(source=Path(meta["workspace"]), repo=Path(meta["repo"]),
                              root=Path(meta["worktree"]), base=meta["base"],
                              imported=False, artifacts_root=Path(self.artifacts_root))
            reused = self._reuse_nodes(flow, bundle, results, outputs)
            meta.update(status="running", resumed=reused,
                        resumes=int(meta.get("resumes", 0)) + 1)
        else:
            meta = {
                "run_id": run_id, "flow": flow.name, "flow_file": flow.source,
                "input": run_input, "mode": self.policy.mode,
                **({"allowed_hosts": list(self.policy.allowed_hosts)}
                   if self.policy.allowed_hosts else {}),
                "engine": self.engine.name if self.engine else None,
                "model": self.engine.model if self.engine else None,
                "agents": {n.id: self.registry.get(n.agent).ref for n in flow.nodes},
                "workspace": str(workspace), "status": "running", "started_at": utc_now(),
                **self.run_meta,
            }
        bundle.write_run(meta)
        self._emit("run_started", {"run_id": run_id, "flow": flow.name, "resumed": resume})
        try:
            if ws is None:
                try:
                    ws = open_run_workspace(workspace, run_id, self.artifacts_root)
                except PantheonError as exc:
                    raise UserError(str(exc)) from exc
                meta.update(worktree=str(ws.root), repo=str(ws.repo), base=ws.base)
                bundle.write_run(meta)
            with self.policy.egress_guard():
                await self._schedule(flow, run_input, ws, run_id, bundle, results, outputs,
                                     searched)
        finally:
            if ws is not None:
                ws.close()
        failed = next((r for r in results.values() if r.status == "failed"), None)
        status: Literal["ok", "failed"] = "failed" if failed else "ok"
        output = outputs.get(flow.output) if flow.output else None
        result = RunResult(
            run_id=run_id, flow=flow.name, status=status, dir=str(bundle.dir),
            seconds=time.perf_counter() - started,
            nodes=[results.get(n.id) or NodeResult(id=n.id, agent=n.agent, status="not_run")
                   for n in flow.nodes],
            failed_node=failed.id if failed else None,
            error_kind=failed.error_kind if failed else None,
            error=failed.error if failed else None, output=output,
            branch=(output or {}).get("branch") if isinstance(output, dict) else None,
        )
        if failed:
            bundle.write_failed({
                "run_id": run_id, "node": failed.id, "agent": failed.agent,
                "error_kind": failed.error_kind, "error": failed.error,
                "artifact": f"{failed.id}/error.json",
            })
        result.check = self._check_summary(flow, results)
        result.search = searched.summary() if searched is not None else None
        meta.update(status=status, finished_at=utc_now(), seconds=result.seconds,
                    check=result.check, search=result.search,
                    nodes={r.id: r.status for r in result.nodes},
                    failed_node=result.failed_node, error_kind=result.error_kind,
                    branch=result.branch)
        bundle.write_run(meta)
        bundle.write_manifest()
        self._emit("run_finished", {"run_id": run_id, "status": status})
        return result

    def _check_summary(self, flow: Flow, results: dict[str, NodeResult]
                       ) -> dict[str, Any] | None:
        """Whether the run's work passed its acceptance checks, and whose work it was.

        ``passed`` is True when every check node passed, False when one failed, None when
        no check got to run (the work failed before it could be graded). ``graded`` names
        the model agents upstream of the checks: their pass rate is this verdict.
        """
        checks = [n for n in flow.nodes if self.registry.get(n.agent).role == "check"]
        if not checks:
            return None
        graded: dict[str, None] = {}
        seen: set[str] = set()
        todo = [d for n in checks for d in flow.deps(n.id)]
        while todo:
            node_id = todo.pop()
            if node_id in seen:
                continue
            seen.add(node_id)
            agent = self.registry.get(flow.node(node_id).agent)
            if agent.uses_model:
                graded[agent.ref] = None
            todo += flow.deps(node_id)
        states = [results.get(n.id) for n in checks]
        if any(r is not None and r.status == "failed" for r in states):
            passed: bool | None = False
        elif all(r is not None and r.status == "ok" for r in states):
            passed = True
        else:
            passed = None
        failed = next((r for r in states if r is not None and r.status == "failed"), None)
        return {"nodes": [n.id for n in checks], "passed": passed, "graded": list(graded),
                "error": failed.error if failed else None}

    def resumable(self, run_id: str) -> bool:
        """A run that started here and never finished, whose worktree is still there."""
        path = Path(self.artifacts_root) / "runs" / run_id / "run.json"
        try:
            meta = read_json(path)
        except (OSError, ValueError):
            return False
        worktree = meta.get("worktree")
        return (meta.get("status") == "running" and bool(worktree)
                and Path(worktree).is_dir() and bool(meta.get("base")))

    def _reuse_nodes(self, flow: Flow, bundle: RunArtifacts, results: dict[str, NodeResult],
                     outputs: dict[str, dict[str, Any]]) -> list[str]:
        """Take the nodes an interrupted run completed; set aside what a crash cut short."""
        for stray in bundle.dir.rglob(".*.tmp"):  # an atomic write the crash interrupted
            stray.unlink(missing_ok=True)
        reused = []
        for node in flow.nodes:
            folder = bundle.dir / node.id
            if not folder.is_dir():
                continue
            try:
                metrics = NodeResult.model_validate(read_json(folder / "metrics.json"))
                output = read_json(folder / "output.json")
            except (OSError, ValueError):
                metrics, output = None, None
            if metrics is not None and metrics.status == "ok" and isinstance(output, dict):
                results[node.id], outputs[node.id] = metrics, output
                reused.append(node.id)
                continue
            index = 1
            while (bundle.dir / f"{node.id}.interrupted-{index}").exists():
                index += 1
            folder.rename(bundle.dir / f"{node.id}.interrupted-{index}")
        return reused

    async def _schedule(self, flow: Flow, run_input: dict[str, Any], ws: RunWorkspace,
                        run_id: str, bundle: RunArtifacts, results: dict[str, NodeResult],
                        outputs: dict[str, dict[str, Any]],
                        searched: SearchRecord | None = None) -> None:
        pending = {n.id: n for n in flow.nodes if n.id not in results}
        running: dict[asyncio.Task[list[NodeResult]], str] = {}
        stop = False
        while pending or running:
            if not stop:
                for node_id, node in list(pending.items()):
                    deps = flow.deps(node_id)
                    if any(d in pending or results.get(d) is None for d in deps):
                        continue
                    del pending[node_id]
                    if any(results[d].status != "ok" for d in deps):
                        results[node_id] = self._skipped(node, "an input was skipped")
                        continue
                    try:
                        go = should_run(flow, node_id, run_input=run_input, outputs=outputs)
                    except ExprError as exc:
                        results[node_id] = self._node_failed(
                            bundle.node(node_id), NodeResult(id=node_id, agent=node.agent,
                                                             status="failed"),
                            time.perf_counter(), NodeFailed(str(exc), kind="when_error"))
                        stop = True
                        continue
                    if not go:
                        results[node_id] = self._skipped(node, f"when: {node.when}")
                        continue
                    check_id = self._search_target(flow, node_id, pending, results, searched)
                    if searched is not None and check_id is not None:
                        del pending[check_id]
                        job = self._search(flow, node, flow.node(check_id), run_input, ws,
                                           run_id, bundle, outputs, searched)
                    else:
                        job = self._run_nodes(flow, node, run_input, ws, run_id, bundle,
                                              outputs)
                    running[asyncio.create_task(job)] = node_id
            if not running:
                for node_id, node in pending.items():
                    results[node_id] = NodeResult(id=node_id, agent=node.agent,
                                                  status="not_run")
                return
            done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                running.pop(task)
                for result in task.result():
                    results[result.id] = result
                    if result.status == "failed":
                        stop = True

    def _search_target(self, flow: Flow, node_id: str, pending: dict[str, FlowNode],
                       results: dict[str, NodeResult],
                       searched: SearchRecord | None) -> str | None:
        """The check that selects among ``node_id``'s candidates, when search applies now:
        the check is still to run and every other input of it has already passed."""
        if searched is None:
            return None
        check_id = searched_check(flow, self.registry, node_id)
        if check_id is None or check_id not in pending:
            return None
        others = [d for d in flow.deps(check_id) if d != node_id]
        if any(results.get(d) is None or results[d].status != "ok" for d in others):
            return None
        return check_id

    async def _run_nodes(self, flow: Flow, node: FlowNode, run_input: dict[str, Any],
                         ws: RunWorkspace, run_id: str, bundle: RunArtifacts,
                         outputs: dict[str, dict[str, Any]]) -> list[NodeResult]:
        return [await self._run_node(flow, node, run_input, ws, run_id, bundle, outputs)]

    async def _search(self, flow: Flow, node: FlowNode, check: FlowNode,
                      run_input: dict[str, Any], ws: RunWorkspace, run_id: str,
                      bundle: RunArtifacts, outputs: dict[str, dict[str, Any]],
                      searched: SearchRecord) -> list[NodeResult]:
        """Run ``node`` as up to K candidates, each graded by ``check``; keep the first that
        passes (else candidate 1). Each candidate starts from the workspace as it was before
        the node; the kept candidate's files, outputs and check result become the run's."""
        agent = self.registry.get(node.agent)
        own_temperature = (self.temperature if self.temperature is not None
                           else agent.limits.temperature)
        record = NodeSearch(node=node.id, check=check.id)
        searched.nodes.append(record)
        folder = bundle.dir / node.id / CANDIDATES_DIR
        before = snapshot_worktree(ws.root)
        first_state: str | None = None
        first_outputs: dict[str, dict[str, Any]] = {}
        tried: list[tuple[NodeResult, NodeResult]] = []
        for n in range(1, self.search + 1):
            if n > 1:
                restore_worktree(ws.root, before)
            outputs.pop(node.id, None)
            outputs.pop(check.id, None)
            seed, temperature = candidate_sampling(n, self.seed, own_temperature)
            files = NodeArtifacts(folder / str(n))
            self._emit("search_candidate", {"run_id": run_id, "node": node.id, "candidate": n,
                                            "of": self.search})
            done = await self._run_node(flow, node, run_input, ws, run_id, bundle, outputs,
                                        files=files, seed=seed,
                                        temperature=temperature if n > 1 else None)
            verdict = NodeResult(id=check.id, agent=self.registry.get(check.agent).ref,
                                 status="not_run")
            if done.status == "ok":
                if n == 1:
                    first_state = snapshot_worktree(ws.root)
                verdict = await self._run_node(flow, check, run_input, ws, run_id, bundle,
                                               outputs, files=NodeArtifacts(files.dir / check.id))
            if n == 1:
                first_outputs = {k: outputs[k] for k in (node.id, check.id) if k in outputs}
            candidate = Candidate(
                n=n, seed=seed, temperature=temperature, status=done.status,
                check="passed" if verdict.status == "ok"
                else "failed" if verdict.status == "failed" else "not_run",
                error_kind=verdict.error_kind or done.error_kind,
                error=verdict.error or done.error, steps=done.steps,
                prompt_tokens=done.prompt_tokens, completion_tokens=done.completion_tokens)
            record.candidates.append(candidate)
            files.write_json(CANDIDATE_FILE, candidate)
            tried.append((done, verdict))
            if candidate.check == "passed":
                record.accepted = n
                break
        if record.accepted is None:  # none passed: the run goes on as candidate 1 alone
            restore_worktree(ws.root, first_state or before)
            outputs.pop(node.id, None)
            outputs.pop(check.id, None)
            outputs.update(first_outputs)
        kept = record.kept
        keep_candidate(bundle.dir / node.id, bundle.dir / check.id, kept, check.id)
        return list(tried[kept - 1])

    def _skipped(self, node: FlowNode, why: str) -> NodeResult:
        return NodeResult(id=node.id, agent=node.agent, status="skipped", error=why)

    async def _run_node(self, flow: Flow, node: FlowNode, run_input: dict[str, Any],
                        ws: RunWorkspace, run_id: str, bundle: RunArtifacts,
                        outputs: dict[str, dict[str, Any]], *,
                        files: NodeArtifacts | None = None, seed: int | None = None,
                        temperature: float | None = None) -> NodeResult:
        """Run one node into ``files`` (default: its own folder); ``seed`` and
        ``temperature`` override the run's (a search candidate's sampling)."""
        agent = self.registry.get(node.agent)
        temperature = temperature if temperature is not None else self.temperature
        if temperature is not None and agent.uses_model:
            agent = replace(agent, limits=agent.limits.model_copy(
                update={"temperature": temperature}))
        seed = seed if seed is not None else self.seed
        files = files if files is not None else bundle.node(node.id)
        upstream = {d: outputs[d] for d in flow.deps(node.id)}
        data_raw = agent.gather(upstream, run_input) if upstream else dict(run_input)
        result = NodeResult(id=node.id, agent=agent.ref, status="failed")
        started = time.perf_counter()
        self._emit("node_started", {"run_id": run_id, "node": node.id, "agent": agent.ref,
                                    "max_steps": agent.limits.max_steps
                                    if agent.uses_model else None})
        try:
            data = agent.input_model.model_validate(data_raw)
        except ValidationError as exc:
            files.write_json("input.json", data_raw)
            return self._node_failed(files, result, started, NodeFailed(
                f"input for {agent.ref} does not validate: {exc.errors()[0]['msg']}",
                kind="invalid_input"))
        files.write_json("input.json", data)
        timeout = node.timeout_s or agent.limits.node_timeout_s
        last: RunFailure | None = None
        for attempt in range(1, node.retries + 2):
            result.attempts = attempt
            ctx = AgentContext(
                run_id=run_id, node_id=node.id, agent=agent, workspace=ws.root,
                tool_ctx=self.policy.tool_context(ws.root), artifacts=files,
                engine=self.engine, run_input=run_input, params=dict(node.params),
                upstream=upstream, attempt=attempt, seed=seed,
                extra={**self.shared, "traces": self.traces,
                       "night_id": self.run_meta.get("night_id")},
                on_model_call=self._model_call_event(run_id, node.id)
                if self.on_event is not None else None,
            )
            try:
                output, loop = await asyncio.wait_for(run_agent(ctx, data), timeout)
            except TimeoutError:
                last = NodeFailed(f"node timed out after {timeout:.0f}s", kind="node_timeout")
            except NodeFailed as exc:
                last = exc
                self._add_loop(result, getattr(exc, "loop_result", None))
            except RunFailure as exc:
                last = exc
            else:
                self._add_loop(result, loop)
                outputs[node.id] = output.model_dump(mode="json")
                files.write_json("output.json", output)
                result.status = "ok"
                result.seconds = time.perf_counter() - started
                files.write_json("metrics.json", result)
                self._emit("node_finished", {"run_id": run_id, "node": node.id,
                                             "status": "ok"})
                return result
            self._emit("node_attempt_failed", {"run_id": run_id, "node": node.id,
                                               "attempt": attempt, "kind": last.kind})
        assert last is not None
        return self._node_failed(files, result, started, last)

    def _node_failed(self, files: Any, result: NodeResult, started: float,
                     exc: RunFailure) -> NodeResult:
        result.status = "failed"
        result.error = exc.message
        result.error_kind = getattr(exc, "kind", "run_failure")
        result.seconds = time.perf_counter() - started
        files.write_json("error.json", {
            "node": result.id, "agent": result.agent, "error_kind": result.error_kind,
            "error": result.error, "attempts": result.attempts, "hint": exc.hint,
        })
        files.write_json("metrics.json", result)
        self._emit("node_finished", {"node": result.id, "status": "failed",
                                     "kind": result.error_kind})
        return result

    @staticmethod
    def _add_loop(result: NodeResult, loop: LoopResult | None) -> None:
        if loop is None:
            return
        result.steps += loop.steps
        result.tool_calls += loop.tool_calls
        result.prompt_tokens += loop.prompt_tokens
        result.completion_tokens += loop.completion_tokens
        for kind, count in loop.failures.items():
            result.failures[kind] = result.failures.get(kind, 0) + count

    def _model_call_event(self, run_id: str, node_id: str) -> Callable[[ModelCallRecord], None]:
        """A ``model_call`` event for each model call of one node, as it ends: its step,
        attempt and tokens (what a progress line shows while a model works)."""

        def emit(record: ModelCallRecord) -> None:
            self._emit("model_call", {
                "run_id": run_id, "node": node_id, "step": record.step,
                "attempt": record.attempt, "outcome": record.outcome,
                "prompt_tokens": record.prompt_tokens,
                "completion_tokens": record.completion_tokens, "seconds": record.seconds,
            })

        return emit

    def _emit(self, event: str, data: dict[str, Any]) -> None:
        if self.on_event is not None:
            self.on_event(event, data)


def new_orchestrator(**kwargs: Any) -> Orchestrator:
    return Orchestrator(**kwargs)


__all__ = ["NodeResult", "Orchestrator", "RunResult", "new_run_id"]
