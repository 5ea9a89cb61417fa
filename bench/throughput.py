"""Throughput benchmark: does Pantheon keep the embedded engine's batches full?

The same N docops micro-tasks (make one Markdown file's front matter follow house rules;
the model decides the edits) run

  (b) pantheon:   every task through the full tool loop (tools executed, replies
                  validated, results fed back), c tasks in flight; every request the
                  loop sends is recorded;
  (a) raw:        exactly those requests sent straight to the engine, all N tasks at
                  once, each task's requests back to back (no loop, no tools, no
                  validation in between): the engine's ceiling for the same work;
  (c) sequential: the same loop, one task at a time (what a sequential framework does).

One engine serves all three, configured as ``pantheon run`` configures it
(pipeline in a child process, max_num_seqs = concurrency, prefix caching on). (b) and (a)
run back to back for ``--repeat`` rounds and the median round by b/a is reported, with
every round's ratio: on a 2-core machine either number alone moves ±10 % run to run.

Prints one JSON object with tokens/s, tasks/minute, average batch size per mode, the
ratios b/a and b/c (tokens/s), and for (b) and (c) how many tasks the independent rules
check accepted (``checked_passed``) and the rate of checked-and-accepted tasks per hour.
Run:  python bench/throughput.py --tasks 64 --concurrency 32
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
from pantheon_engine.docops.check import check_document
from pantheon_engine.docops.rules import parse_rules
from pantheon_engine.engines.base import Engine, EngineRequest
from pantheon_engine.engines.catalogue import resolve_model
from pantheon_engine.engines.isolated import IsolatedEngine
from pantheon_engine.engines.openvino import OpenVINOEngine
from pantheon_engine.errors import NodeFailed
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


RULES = parse_rules([
    {"kind": "lowercase_keys"}, {"kind": "absent", "key": "draft"},
    {"kind": "equals", "key": "status", "value": "published"}, {"kind": "title_heading"},
])


def task(i: int) -> DocTask:
    return DocTask(path=f"docs/note_{i:03d}.md", rules=RULES)


def checked_passed(ws: Path, n: int) -> int:
    """Tasks whose file now meets its rules, by the independent check (not the agent)."""
    return sum(check_document((ws / task(i).path).read_text(), RULES,
                              DOC.format(i=i)).passed for i in range(n))


def context(engine: Engine, ws: Path, bundle: RunArtifacts, i: int) -> AgentContext:
    node = f"t{i:03d}"
    return AgentContext(
        run_id=bundle.run_id, node_id=node, agent=DOC_FRONTMATTER, workspace=ws,
        tool_ctx=Policy(mode="day").tool_context(ws), artifacts=bundle.node(node), engine=engine,
        run_input=task(i).model_dump(),
    )


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


async def mode_raw(engine: Engine, requests: list[EngineRequest], tasks: int) -> dict[str, Any]:
    chains: dict[str | None, list[EngineRequest]] = {}
    for request in requests:
        chains.setdefault(request.key, []).append(request)

    async def chain(items: list[EngineRequest]) -> int:
        return sum([(await engine.complete(r)).completion_tokens for r in items])

    started = time.perf_counter()
    with BatchProbe(engine) as probe:
        tokens = sum(await asyncio.gather(*(chain(c) for c in chains.values())))
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "completion_tokens": tokens, "tokens_per_s": tokens / seconds,
            "tasks_per_min": tasks / seconds * 60, "avg_batch": probe.mean,
            "requests": len(requests), "in_flight": len(chains)}


async def mode_loop(engine: Engine, ws: Path, bundle: RunArtifacts, n: int,
                    concurrency: int, record: list[EngineRequest] | None = None
                    ) -> dict[str, Any]:
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

    complete = engine.complete
    if record is not None:
        async def recording(request: EngineRequest) -> Any:
            record.append(request)
            return await complete(request)

        engine.complete = recording  # type: ignore[method-assign]
    started = time.perf_counter()
    try:
        with BatchProbe(engine) as probe:
            await asyncio.gather(*(one(i) for i in range(n)))
    finally:
        engine.complete = complete  # type: ignore[method-assign]
    seconds = time.perf_counter() - started
    accepted = checked_passed(ws, n)
    return {"seconds": seconds, "completion_tokens": tokens, "tokens_per_s": tokens / seconds,
            "tasks_per_min": n / seconds * 60, "avg_batch": probe.mean, "concurrency": concurrency,
            "loop_ok": ok, "loop_failed": failed, "model_calls": steps,
            "checked_passed": accepted, "checked_accepted_per_hour": accepted / seconds * 3600}


async def main(args: argparse.Namespace) -> dict[str, Any]:
    model = resolve_model(args.model, allow_download=True, night=False)
    if args.in_process:
        engine: Engine = OpenVINOEngine(model, max_num_seqs=args.concurrency)
    else:  # as `pantheon run` builds it: the pipeline in a child process
        engine = IsolatedEngine(OpenVINOEngine, name="openvino", model=args.model,
                                supports_constraints=True, model_path=str(model),
                                max_num_seqs=args.concurrency)
    await engine.start()
    tmp = Path(tempfile.mkdtemp(prefix="pantheon-bench-"))
    try:
        out: dict[str, Any] = {"tasks": args.tasks, "concurrency": args.concurrency,
                               "engine": "in-process" if args.in_process else "isolated",
                               "engine_max_num_seqs": args.concurrency, "repeat": args.repeat,
                               "model": str(model)}
        warm = make_workspace(tmp / "warm", 1)
        bundle = RunArtifacts(tmp / "art", "warm")
        await mode_loop(engine, warm, bundle, 1, 1)  # load, compile the grammars once
        rounds: list[dict[str, dict[str, Any]]] = []
        for round_ in range(1, args.repeat + 1):
            recorded: list[EngineRequest] = []
            log(f"[{round_}/{args.repeat}] (b) pantheon: {args.tasks} tasks through the loop, "
                f"concurrency {args.concurrency}")
            b = await mode_loop(engine, make_workspace(tmp / f"b{round_}", args.tasks),
                                RunArtifacts(tmp / "art", f"bench-b{round_}"), args.tasks,
                                args.concurrency, record=recorded)
            log(f"    {b['tokens_per_s']:.0f} tokens/s")
            log(f"[{round_}/{args.repeat}] (a) raw: the same {len(recorded)} requests, "
                f"all {args.tasks} tasks at once")
            a = await mode_raw(engine, recorded, args.tasks)
            log(f"    {a['tokens_per_s']:.0f} tokens/s")
            rounds.append({"a_raw": a, "b_pantheon": b})
        # the median round (by its own b/a): a and b measured back to back share the
        # machine's mood, so their ratio is steadier than either number alone
        rounds.sort(key=lambda r: r["b_pantheon"]["tokens_per_s"] / r["a_raw"]["tokens_per_s"])
        out.update(rounds[len(rounds) // 2])
        out["rounds_b_over_a"] = [
            round(r["b_pantheon"]["tokens_per_s"] / r["a_raw"]["tokens_per_s"], 3)
            for r in rounds
        ]
        n_seq = args.sequential_tasks
        log(f"(c) sequential: {n_seq} tasks, concurrency 1")
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


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=64)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--sequential-tasks", type=int, default=16,
                        help="tasks for mode (c) (its tokens/s do not depend on the count)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="rounds of (b) then (a); the median round by b/a is reported")
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--in-process", action="store_true",
                        help="run the pipeline in this process (steps then hold our GIL)")
    args = parser.parse_args()
    result = asyncio.run(main(args))
    json.dump(result, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    cli()
