"""Throughput benchmark: does Pantheon keep the embedded engine's batches full?

The same N docops micro-tasks (normalise the front matter of one Markdown file) run

  (a) raw:        the first prompt of every task submitted to the engine at once;
  (b) pantheon:   every task through the full tool loop (tools executed, replies
                  validated, results fed back), c tasks in flight;
  (c) sequential: the same loop, one task at a time (what a sequential framework does).

Prints one JSON object with tokens/s, tasks/minute, average batch size per mode and the
ratios b/a and b/c (tokens/s). Run:  python bench/throughput.py --tasks 64 --concurrency 32
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pantheon_engine.agents.builtins import DOC_FRONTMATTER
from pantheon_engine.agents.context import AgentContext, run_agent
from pantheon_engine.agents.io import DocTask
from pantheon_engine.artifacts import RunArtifacts
from pantheon_engine.engines.base import Engine, EngineRequest, Message, OutputConstraint
from pantheon_engine.engines.openvino import OpenVINOEngine
from pantheon_engine.errors import NodeFailed
from pantheon_engine.loop import ToolLoop
from pantheon_engine.models import resolve_model
from pantheon_engine.policy import Policy

DOC = """---
Title: Note {i}
draft: true
owner: team-{i}
---
# Note {i}

Body of note {i}.
"""


def make_workspace(root: Path, n: int) -> Path:
    ws = root / "ws"
    (ws / "docs").mkdir(parents=True)
    for i in range(n):
        (ws / "docs" / f"note_{i:03d}.md").write_text(DOC.format(i=i))
    for args in (["init", "-q"], ["add", "-A"],
                 ["-c", "user.name=b", "-c", "user.email=b@l", "commit", "-qm", "init"]):
        subprocess.run(["git", *args], cwd=ws, check=True)
    return ws


def task(i: int) -> DocTask:
    return DocTask(path=f"docs/note_{i:03d}.md", rename={"Title": "title"}, delete=["draft"],
                   set={"status": "published"})


def context(engine: Engine, ws: Path, bundle: RunArtifacts, i: int) -> AgentContext:
    node = f"t{i:03d}"
    return AgentContext(
        run_id=bundle.run_id, node_id=node, agent=DOC_FRONTMATTER, workspace=ws,
        tool_ctx=Policy(mode="day").tool_context(ws), artifacts=bundle.node(node), engine=engine,
        run_input=task(i).model_dump(),
    )


async def first_requests(engine: Engine, ws: Path, bundle: RunArtifacts,
                         n: int) -> list[EngineRequest]:
    """The exact first request the loop would send for each task."""
    from pantheon_engine.agents.context import SYSTEM_TEMPLATE, _shape, render
    from pantheon_engine.loop import describe_tools
    from pantheon_engine.tools.registry import get_tool

    agent = DOC_FRONTMATTER
    requests = []
    for i in range(n):
        ctx = context(engine, ws, bundle, i)
        prepared = await agent.prepare(ctx, task(i))  # type: ignore[misc]
        tools = [get_tool(t) for t in agent.tools]
        system = render(SYSTEM_TEMPLATE, {
            "agent": agent.name, "description": agent.description,
            "tools": describe_tools(tools, prepared.schema_overrides),
            "final": _shape(agent.final.model_json_schema()),
        })
        user = render(agent.prompt, {**task(i).model_dump(), **prepared.variables})
        loop = ToolLoop(engine=engine, tools=tools, tool_ctx=ctx.tool_ctx, system_prompt=system,
                        task_prompt=user, final_model=agent.final,
                        schema_overrides=prepared.schema_overrides)
        requests.append(EngineRequest(
            messages=[Message(role="system", content=system), Message(role="user", content=user)],
            constraint=OutputConstraint(regex=loop.grammar()), max_tokens=agent.limits.max_tokens,
        ))
    return requests


class BatchProbe:
    """Samples the engine's live batch size while a mode runs."""

    def __init__(self, engine: Engine) -> None:
        self.engine, self.samples, self._task = engine, [], None

    async def _run(self) -> None:
        while True:
            stats = self.engine.stats()
            if stats.in_flight:
                self.samples.append(stats.batch_size)
            await asyncio.sleep(0.05)

    def __enter__(self) -> BatchProbe:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()

    @property
    def mean(self) -> float:
        return sum(self.samples) / len(self.samples) if self.samples else 0.0


async def mode_raw(engine: Engine, requests: list[EngineRequest]) -> dict[str, Any]:
    started = time.perf_counter()
    with BatchProbe(engine) as probe:
        completions = await asyncio.gather(*(engine.complete(r) for r in requests))
    seconds = time.perf_counter() - started
    tokens = sum(c.completion_tokens for c in completions)
    return {"seconds": seconds, "completion_tokens": tokens, "tokens_per_s": tokens / seconds,
            "tasks_per_min": len(requests) / seconds * 60, "avg_batch": probe.mean}


async def mode_loop(engine: Engine, ws: Path, bundle: RunArtifacts, n: int,
                    concurrency: int) -> dict[str, Any]:
    gate = asyncio.Semaphore(concurrency)
    tokens = 0
    ok = failed = steps = 0

    async def one(i: int) -> None:
        nonlocal tokens, ok, failed, steps
        async with gate:
            ctx = context(engine, ws, bundle, i)
            try:
                _, result = await run_agent(ctx, task(i))
                ok += 1
            except NodeFailed as exc:
                result = getattr(exc, "loop_result", None)
                failed += 1
            if result is not None:
                tokens += result.completion_tokens
                steps += result.steps

    started = time.perf_counter()
    with BatchProbe(engine) as probe:
        await asyncio.gather(*(one(i) for i in range(n)))
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "completion_tokens": tokens, "tokens_per_s": tokens / seconds,
            "tasks_per_min": n / seconds * 60, "avg_batch": probe.mean, "concurrency": concurrency,
            "tasks_ok": ok, "tasks_failed": failed, "model_calls": steps}


async def main(args: argparse.Namespace) -> dict[str, Any]:
    model = resolve_model(args.model, allow_download=True, night=False)
    engine = OpenVINOEngine(model, max_num_seqs=max(args.tasks, args.concurrency))
    await engine.start()
    tmp = Path(tempfile.mkdtemp(prefix="pantheon-bench-"))
    try:
        out: dict[str, Any] = {"tasks": args.tasks, "model": str(model)}
        ws = make_workspace(tmp / "a", args.tasks)
        bundle = RunArtifacts(tmp / "art", "bench-a")
        requests = await first_requests(engine, ws, bundle, args.tasks)
        await engine.complete(requests[0])  # warm-up: compile the grammar once
        out["a_raw"] = await mode_raw(engine, requests)
        out["b_pantheon"] = await mode_loop(engine, make_workspace(tmp / "b", args.tasks),
                                            RunArtifacts(tmp / "art", "bench-b"), args.tasks,
                                            args.concurrency)
        n_seq = args.sequential_tasks or args.tasks
        out["c_sequential"] = await mode_loop(engine, make_workspace(tmp / "c", n_seq),
                                              RunArtifacts(tmp / "art", "bench-c"), n_seq, 1)
        a, b, c = (out[k]["tokens_per_s"] for k in ("a_raw", "b_pantheon", "c_sequential"))
        out["ratio_b_over_a"] = round(b / a, 3) if a else None
        out["ratio_b_over_c"] = round(b / c, 3) if c else None
        out["targets"] = {"b_over_a": 0.90, "b_over_c": 4.0}
        return out
    finally:
        await engine.close()
        shutil.rmtree(tmp, ignore_errors=True)


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=64)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--sequential-tasks", type=int, default=0,
                        help="tasks for mode (c); default: --tasks (set lower to save time)")
    parser.add_argument("--model", default="smollm2-135m")
    args = parser.parse_args()
    result = asyncio.run(main(args))
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    cli()
