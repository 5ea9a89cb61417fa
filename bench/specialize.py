"""Specialization benchmark: how much does one night of self-improvement buy on this machine?

Generates a docops suite (train and holdout from disjoint documents), then runs
``pantheon specialize`` on it: the model's own best-of-k harvest, the scripted
demonstrator's green conversations, mining, LoRA training with learning-curve checkpoints,
the curve on the holdout, the new version against the base on the holdout (exact
McNemar), promotion, an adapter on the model's own data alone, and a control adapter
trained on shuffled replies that promotion must refuse.

Prints the phase timings and one JSON object with the numbers the README states: base and
new pass@1 with 95 % intervals, the lift in points, McNemar p, the lift from the model's
own data alone, whether the control was refused, examples per source, training time,
seconds per step and peak memory, and the whole wall time (target: under 60 minutes).

Run:  python bench/specialize.py            (or: make specialize)
      python bench/specialize.py --scope rule --tasks 500 --epochs 2
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from pantheon_engine.docops.generate import SCOPES, make_docops_suite
from pantheon_engine.specialize.pipeline import SpecializeOptions, Specializer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("artifacts/bench/specialize"),
                        help="folder for the suite and the artifacts (replaced)")
    parser.add_argument("--scope", choices=SCOPES, default="rule",
                        help="one rule per task (rule) or every rule of a file (file)")
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--own-tasks", type=int, default=64)
    parser.add_argument("--own-samples", type=int, default=2)
    parser.add_argument("--own-min", type=int, default=8)
    parser.add_argument("--curve", default="50,100,200")
    parser.add_argument("--curve-tasks", type=int, default=None)
    parser.add_argument("--control-steps", type=int, default=20)
    parser.add_argument("--target", type=float, default=0.3)
    args = parser.parse_args(argv)

    started = time.monotonic()
    if args.out.exists():
        shutil.rmtree(args.out)
    suite = args.out / "suite"
    made = make_docops_suite(suite, args.tasks, args.seed, scope=args.scope)
    print(f"suite: {made['splits']} tasks ({args.scope} scope), edits {made['edits']}",
          file=sys.stderr)
    options = SpecializeOptions(
        agent="doc.frontmatter", suite=suite, artifacts=args.out / "artifacts",
        own_tasks=args.own_tasks, own_samples=args.own_samples, own_min=args.own_min,
        epochs=args.epochs,
        max_steps=args.max_steps,
        curve=[int(n) for n in args.curve.split(",") if n.strip()],
        curve_tasks=args.curve_tasks, control_steps=args.control_steps, target=args.target)
    runner = Specializer(options, say=lambda text: print(text, file=sys.stderr))
    report = runner.run()
    for line in report.lines():
        print(line, file=sys.stderr)
    result, control, own = report.result, report.control, report.own_only
    control_base = report.control_base
    training = report.training
    numbers = {
        "scope": args.scope, "tasks": made["splits"], "seed": args.seed,
        "wall_minutes": round((time.monotonic() - started) / 60, 1),
        "phases_s": report.phases,
        "examples": report.examples,
        "own_harvest": report.own,
        "base": result.against.model_dump() if result else None,
        "new": result.new.model_dump() if result else None,
        "lift_points": round(result.lift_points, 1) if result else None,
        "mcnemar_p": result.p_value if result else None,
        "promoted": result.promoted if result else None,
        "own_only_lift_points": round(own.lift_points, 1) if own else 0.0,
        "own_only_note": report.own_only_note,
        "control_lift_points": round(control.lift_points, 1) if control else None,
        "control_refused": (control.accepted is False) if control else None,
        "control_vs_base_lift_points":
            round(control_base.lift_points, 1) if control_base else None,
        "control_vs_base_refused": (control_base.accepted is False) if control_base else None,
        "control_vs_base_strata":
            control_base.strata.model_dump() if control_base and control_base.strata else None,
        "train_minutes": round(training.seconds / 60, 1) if training else None,
        "seconds_per_step": training.seconds_per_step if training else None,
        "peak_rss_gb": round(training.peak_rss_mb / 1024, 2) if training else None,
        "curve": report.curve,
        "report": str(runner.folder / "report.json"),
    }
    print(json.dumps(numbers, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
