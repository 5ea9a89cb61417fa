"""Learning benchmark: what do rounds of self-training from verified work buy?

From the base of the model (the default model unless ``--model``), with no scripted
demonstrations, runs ``pantheon specialize --rounds N`` on

* **docops**: a paraphrased suite at file scope (every rule of a document in one task; the
  holdout's phrasing families and vocabularies appear in no train task), and
* **code**: the generated code suite (holdout task families disjoint from train),

and prints, per domain, the holdout baselines (final at once, copy, a parser of the train
phrasings: the bar a learned skill must clear) and one table per round: holdout pass@1
[95 % CI] without search, accepted with check-guided search, green tasks and examples per
source, samples and tokens per accepted task, training time and peak memory, and the
paired result against the version current when the round began. The last lines read the
targets (docops pass@1 ≥ 80 % and ≥ 30 points above the best baseline; code pass@1 ≥ 15
points above the base) and say which are met. Everything is also written as JSON.

Run:  python bench/learn.py                      (or: make learn; hours on two cores)
      python bench/learn.py --domain docops --rounds 1 --train-tasks 16 --holdout 20 \\
          --model qwen2.5-coder-0.5b --max-steps 20      (a short look)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console

from pantheon_engine.config import DEFAULT_MODEL, env_model
from pantheon_engine.docops.generate import make_docops_suite
from pantheon_engine.evals.codesuite.make import make_code_suite
from pantheon_engine.evals.evaluate import evaluate_baselines
from pantheon_engine.specialize.pipeline import SpecializeOptions
from pantheon_engine.specialize.rounds import Rounds, RoundsOptions, RoundsReport

AGENTS = {"docops": "doc.frontmatter", "code": "codegen"}


def make_suite(domain: str, out: Path, tasks: int, seed: int) -> dict[str, Any]:
    if domain == "docops":
        return make_docops_suite(out, tasks, seed, scope="file", phrasing="paraphrase")
    return make_code_suite(out, tasks, seed)


def best_baseline(domain: str, suite: Path, art: Path, holdout: int | None) -> dict[str, Any]:
    report = asyncio.run(evaluate_baselines(
        AGENTS[domain], suite=suite, split="holdout", concurrency=8, mode="night",
        artifacts=art, console=Console(stderr=True), show_progress=False, limit=holdout))
    scores = {name: {"passed": s.passed, "total": s.total, "rate": s.rate}
              for name, s in report.baselines.items() if not s.upper_bound}
    best = max(scores, key=lambda n: scores[n]["rate"]) if scores else None
    return {"scores": scores, "best": best,
            "best_rate": scores[best]["rate"] if best else 0.0}


def pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def round_table(report: RoundsReport) -> list[str]:
    out = ["| round | holdout pass@1 [95 % CI] | vs current | accepted with search | "
           "samples / tokens per accepted | sources: green tasks / examples | "
           "training | peak RSS |",
           "|---|---|---|---|---|---|---|---|"]
    if report.base is not None:
        searched = report.base_searched or {}
        out.append(f"| 0 (base) | {report.base.text().split(': ', 1)[1]} | | "
                   f"{_accepted(searched)} | {_cost(searched)} | | | |")
    for r in report.rounds:
        sources = "; ".join(f"{s.source} {s.tasks_green}/{s.tasks} → {s.examples}"
                            for s in r.sources) or "none"
        searched = r.searched or {}
        if r.result is None:
            out.append(f"| {r.round} | (no adapter: {r.note}) | | | | {sources} | | |")
            continue
        p = r.result
        verdict = "promoted" if p.promoted else "kept current"
        out.append(
            f"| {r.round} | {p.new.text().split(': ', 1)[1]} | {p.lift_points:+.1f} pts, "
            f"won {p.wins} lost {p.losses}, p = {p.p_value:.2g}, {verdict} | "
            f"{_accepted(searched)} | {_cost(searched)} | {sources} | "
            f"{(r.train_seconds or 0) / 60:.1f} min, {r.steps} steps | "
            f"{(r.peak_rss_mb or 0) / 1024:.1f} GB |")
    return out


def _accepted(searched: dict[str, Any]) -> str:
    if not searched:
        return "not measured"
    return f"{searched['accepted']}/{searched['runs']} (K={searched['k']})"


def _cost(searched: dict[str, Any]) -> str:
    if not searched or not searched.get("accepted"):
        return ""
    return (f"{searched['samples'] / searched['accepted']:.1f} / "
            f"{searched['tokens'] / searched['accepted']:.0f}")


def limit_line(report: RoundsReport) -> str:
    """Which step held the rounds back, read off their numbers."""
    trained = [r for r in report.rounds if r.result is not None]
    if not trained:
        return ("limited by the harvest: no source found a verified example, so nothing was "
                "trained (more samples, search, feedback or a teacher are the levers)")
    if not any(r.result.promoted for r in trained if r.result is not None):
        best = max(trained, key=lambda r: r.result.lift_points if r.result else 0.0)
        assert best.result is not None
        data = sum(best.examples.values())
        return (f"limited by what the data teaches: no trained version won significantly "
                f"(best {best.result.lift_points:+.1f} points on {data} example(s), "
                f"round {best.round})")
    return "a version was promoted: the table shows by how much"


def targets(domain: str, report: RoundsReport, baseline: dict[str, Any]) -> list[str]:
    if report.base is None:
        return []
    promoted = [r.result for r in report.rounds if r.result is not None and r.result.promoted]
    last = promoted[-1].new.pass_at_1 if promoted else report.base.pass_at_1
    base = report.base.pass_at_1
    if domain == "docops":
        best = baseline["best_rate"]
        return [f"docops holdout pass@1 {pct(last)} (target ≥ 80 %): "
                f"{'met' if last >= 0.8 else 'missed'}",
                f"  above the best baseline ({baseline['best']} {pct(best)}) by "
                f"{100 * (last - best):+.1f} points (target ≥ +30): "
                f"{'met' if last - best >= 0.3 else 'missed'}"]
    return [f"code holdout pass@1 {pct(last)} vs base {pct(base)}: {100 * (last - base):+.1f} "
            f"points (target ≥ +15): {'met' if last - base >= 0.15 else 'missed'}"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("artifacts/bench/learn"),
                        help="folder for the suites and the artifacts (replaced)")
    parser.add_argument("--domain", choices=("docops", "code", "both"), default="both")
    parser.add_argument("--model", default=env_model() or DEFAULT_MODEL)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=500, help="suite size")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--train-tasks", type=int, default=64,
                        help="train tasks harvested per round")
    parser.add_argument("--holdout", type=int, default=50, help="holdout tasks measured")
    parser.add_argument("--source", action="append", dest="sources", default=None,
                        help="a round's source, repeatable (default best-of-k)")
    parser.add_argument("--teacher", default=None,
                        help="the teacher source's model (with --source teacher)")
    parser.add_argument("--samples", type=int, default=4,
                        help="samples per task (best-of-k) or candidates per step")
    parser.add_argument("--search", type=int, default=4,
                        help="candidates per step for 'accepted with search' (1: off)")
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args(argv)

    if args.out.exists():
        shutil.rmtree(args.out)
    domains = ["docops", "code"] if args.domain == "both" else [args.domain]
    summary: dict[str, Any] = {"model": args.model, "domains": {}}
    lines: list[str] = []
    for domain in domains:
        started = time.monotonic()
        suite, art = args.out / domain / "suite", args.out / domain / "artifacts"
        made = make_suite(domain, suite, args.tasks, args.seed)
        print(f"{domain}: suite {made.get('splits', made)}", file=sys.stderr)
        baseline = best_baseline(domain, suite, art, args.holdout)
        base = SpecializeOptions(
            agent=AGENTS[domain], suite=suite, artifacts=art, own_samples=args.samples,
            demos=False, control=False, max_steps=args.max_steps, model=args.model,
            concurrency=args.concurrency, seed=args.seed)
        rounds = Rounds(RoundsOptions(
            agent=AGENTS[domain], suite=suite, rounds=args.rounds,
            sources=args.sources or ["best-of-k"], tasks=args.train_tasks,
            holdout=args.holdout, search=args.search, teacher=args.teacher, base=base),
            say=lambda text: print(text, file=sys.stderr))
        report = rounds.run_rounds()
        seconds = time.monotonic() - started
        lines += [f"## {domain} ({AGENTS[domain]}, {args.model}, {args.holdout} holdout "
                  f"tasks, {seconds / 60:.0f} min)", "",
                  "baselines on the same holdout tasks: " + ", ".join(
                      f"{n} {pct(s['rate'])}" for n, s in baseline["scores"].items()), "",
                  *round_table(report), "", *targets(domain, report, baseline),
                  limit_line(report), ""]
        summary["domains"][domain] = {"baselines": baseline, "seconds": round(seconds, 1),
                                      "report": str(rounds.folder / "rounds.json"),
                                      "rounds": report.model_dump(mode="json")}
    print("\n".join(lines))
    (args.out / "learn.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"written: {args.out / 'learn.json'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
