"""Harvest benchmark: what feedback adds to plain best-of-k on the same tasks, k and seeds.

Makes a paraphrased docops suite (or reads ``--suite``), then harvests its first ``--tasks``
train tasks twice with the same model, ``k`` samples per task, temperature and seeds:

  best-of-k   the samples as they are; a sample is green when its check passes
  feedback    the same samples; a failed check is fed back up to ``--rounds`` times, and
              what then passes is kept without the feedback (source ``feedback``); a sample
              that passed with no feedback is a best-of-k green run (source ``best-of-k``)

and prints, for each, the seconds, how the samples ended, green tasks and samples per
source, examples per source and stratum, as JSON lines and a short table.

Run:  python bench/harvest_sources.py --model qwen2.5-coder-1.5b --tasks 10 --samples 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from pantheon_engine.docops.generate import make_docops_suite
from pantheon_engine.run.serving import EngineOptions
from pantheon_engine.specialize.harvest_service import harvest

AGENT = "doc.frontmatter"


async def one(mode: str, args: argparse.Namespace, suite: Path, artifacts: Path,
              console: Console) -> dict[str, Any]:
    started = time.perf_counter()
    result = await harvest(
        AGENT, suite=suite, split="train", mode=mode, samples=args.samples,
        temperature=args.temperature, demos=None, rounds=2, keep_unfinished=False,
        queue=False, concurrency=None, seed=args.seed, policy_mode="night",
        engine=EngineOptions(model=args.model), artifacts=artifacts, console=console,
        show_progress=False, limit=args.tasks, feedback_rounds=args.rounds,
        max_no_work_share=args.max_no_work_share)
    return {"mode": mode, "model": result.model, "tasks": result.tasks,
            "samples": result.samples, "seconds": round(time.perf_counter() - started, 1),
            "outcomes": result.outcomes, "tasks_green": result.tasks_green,
            "green_by_source": {k: {"tasks": v.tasks_green, "samples": v.trajectories,
                                    "examples": v.examples}
                                for k, v in result.sources.items()},
            "strata": {k: v.model_dump() for k, v in result.strata.items()},
            "examples": result.counts.examples, "dropped": result.counts.dropped,
            "harvest": result.out}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", type=Path, help="an existing suite (default: make one)")
    parser.add_argument("--suite-tasks", type=int, default=60,
                        help="tasks of the suite made (train and holdout)")
    parser.add_argument("--suite-seed", type=int, default=7)
    parser.add_argument("--scope", choices=("file", "rule"), default="file")
    parser.add_argument("--tasks", type=int, default=10, help="train tasks harvested")
    parser.add_argument("--samples", type=int, default=2, help="k: samples per task")
    parser.add_argument("--rounds", type=int, default=2, help="feedback rounds per sample")
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default="qwen2.5-coder-1.5b")
    parser.add_argument("--max-no-work-share", type=float, default=0.25)
    parser.add_argument("--artifacts", type=Path, help="default: a temporary folder")
    parser.add_argument("--modes", nargs="+", choices=("best-of-k", "feedback"),
                        default=["best-of-k", "feedback"])
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="pantheon-bench-harvest-"))
    suite = args.suite
    if suite is None:
        suite = root / "suite"
        make_docops_suite(suite, args.suite_tasks, seed=args.suite_seed, scope=args.scope,
                          phrasing="paraphrase")
    artifacts = args.artifacts or root / "artifacts"
    console = Console(stderr=True)
    rows = []
    for mode in args.modes:  # each row as soon as it is measured
        rows.append(asyncio.run(one(mode, args, suite, artifacts, console)))
        print(json.dumps(rows[-1]), flush=True)
    print(f"\nsuite {suite} ({args.scope} scope, paraphrased), first {args.tasks} train tasks, "
          f"k = {args.samples}, T = {args.temperature}, model {args.model}")
    for row in rows:
        green = ", ".join(f"{k} {v['tasks']} task(s) / {v['samples']} sample(s) / "
                          f"{v['examples']} ex." for k, v in row["green_by_source"].items())
        print(f"{row['mode']:<10} {row['seconds']:>7.1f} s  green tasks {row['tasks_green']:>2}"
              f"  {green or 'none'}  outcomes {row['outcomes']}")


if __name__ == "__main__":
    main()
