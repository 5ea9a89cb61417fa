"""Control-room load benchmark: a long night and a big artifacts folder, without freezing.

Writes a synthetic artifacts folder (``--metrics`` lines of metrics.jsonl, ``--runs`` run
bundles of which every tenth failed, ``--jobs`` queue rows), opens the control room
headless on it and prints, as JSON, per screen:

  load_s        from opening the screen until its data is on screen
  max_stall_ms  the longest the UI's event loop went without running a 10 ms ticker while
                the screen loaded (what a user feels as a freeze)
  rows          what the screen shows once loaded (samples, table rows)

Run:  python bench/tui_load.py [--metrics 50000 --runs 10000 --jobs 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pantheon_engine.atomic import atomic_write_json
from pantheon_engine.flows_builtin import BUILTIN_DIR
from pantheon_engine.night.jobqueue import JobQueue, NewJob

NIGHT_ID = "bench-night"
NODES = ("plan", "codegen", "test", "reviewA", "reviewB", "merge")


def metrics_line(i: int, start: float) -> str:
    wave = (i % 16) / 16
    record = {
        "t": start + 5 * i, "night_id": NIGHT_ID, "batch_size": 20 + 10 * wave,
        "avg_batch_size": 24.0, "tokens_per_s": 450 + 100 * wave, "queue_depth": 5000 - i // 10,
        "running": 32, "done": i // 4, "failed": i // 40, "c": 32, "lambda_per_h": 900.0,
        "mu_per_h": 40.0, "rho": 0.6 + 0.3 * wave, "p_wait": 0.3, "erlang_mean_wait_s": 12.0,
        "observed_mean_wait_s": 10.0 + wave, "observed_p95_wait_s": 30.0,
        "schema_error_rate": 0.01, "kappa": 0.55 + 0.2 * wave, "review_pairs": i // 5,
    }
    return json.dumps(record) + "\n"


def write_folder(root: Path, *, metrics: int, runs: int, jobs: int) -> Path:
    """A synthetic artifacts folder under ``root``; returns the artifacts path."""
    artifacts = root / "artifacts"
    night = artifacts / "nights" / NIGHT_ID
    night.mkdir(parents=True)
    start = time.time() - 5 * metrics
    with (night / "metrics.jsonl").open("w") as handle:
        handle.writelines(metrics_line(i, start) for i in range(metrics))
    for i in range(runs):
        run_id = f"run-{i:05d}"
        failed = i % 10 == 3
        nodes = dict.fromkeys(NODES, "ok")
        meta: dict[str, Any] = {
            "run_id": run_id, "flow": "spec2code", "status": "failed" if failed else "ok",
            "started_at": datetime.fromtimestamp(start + 3 * i, tz=UTC).isoformat(),
            "night_id": NIGHT_ID, "agents": {n: f"{n}@1" for n in NODES}, "nodes": nodes,
        }
        if failed:
            nodes.update(codegen="failed", test="not_run", reviewA="not_run",
                         reviewB="not_run", merge="not_run")
            meta.update(failed_node="codegen", error_kind="max_steps")
            atomic_write_json(artifacts / "runs" / run_id / "codegen" / "error.json",
                              {"node": "codegen", "error_kind": "max_steps",
                               "error": "max_steps (6) reached"})
        (artifacts / "runs" / run_id).mkdir(parents=True, exist_ok=True)
        (artifacts / "runs" / run_id / "run.json").write_text(json.dumps(meta))
    with JobQueue.for_artifacts(artifacts) as queue:
        flow = str(BUILTIN_DIR / "spec2code.yaml")
        queue.add_many(NewJob(flow=flow, input={"title": f"task {i}"}, flow_name="spec2code")
                       for i in range(jobs))
    return artifacts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--metrics", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--jobs", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        artifacts = write_folder(Path(tmp), metrics=args.metrics, runs=args.runs,
                                 jobs=args.jobs)
        made = time.perf_counter() - t0
        result = asyncio.run(measure(artifacts))
    print(json.dumps({"metrics_lines": args.metrics, "runs": args.runs, "jobs": args.jobs,
                      "write_s": round(made, 2), **result}, indent=2))


async def measure(artifacts: Path) -> dict[str, Any]:
    """Open each screen in turn on ``artifacts`` and time its first full load."""
    from pantheon_tui.app import ControlRoom
    from pantheon_tui.context import RoomContext
    from pantheon_tui.screens.night import NightScreen
    from pantheon_tui.screens.queue import QueueScreen
    from pantheon_tui.screens.report import ReportScreen

    repo = Path(__file__).resolve().parents[1]
    ctx = RoomContext(artifacts=artifacts, specs=artifacts.parent / "specs",
                      flows=BUILTIN_DIR, themes=repo / "themes", poll_s=3600.0)
    app = ControlRoom(ctx, mode="specs")
    out: dict[str, Any] = {}
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause(0.2)
        for mode in ("night", "queue", "report"):
            stall = {"last": time.perf_counter(), "max": 0.0}

            def tick(stall: dict[str, float] = stall) -> None:
                now = time.perf_counter()
                stall["max"] = max(stall["max"], now - stall["last"])
                stall["last"] = now

            started = time.perf_counter()
            ticker = app.set_interval(0.01, tick)
            await app.switch_mode(mode)
            screen = app.screen
            while True:
                if isinstance(screen, NightScreen) and screen.samples > 0:
                    rows = screen.samples
                    break
                if isinstance(screen, QueueScreen) and screen.settled:
                    rows = len(screen.shown_ids())
                    break
                if isinstance(screen, ReportScreen) and screen.loads > 0:
                    rows = sum(len(b.failures) for b in screen.data.bins)
                    break
                await asyncio.sleep(0.01)
            load_s = time.perf_counter() - started
            await asyncio.sleep(0.1)
            ticker.stop()
            out[mode] = {"load_s": round(load_s, 2), "max_stall_ms": round(stall["max"] * 1000),
                         "rows": rows}
    return out


if __name__ == "__main__":
    main()
