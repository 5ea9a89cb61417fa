"""How well a flow's reviewers judge known-answer items, outside a night.

Every canary of the flow's kind is reviewed once by every review node of the flow, with
the same prompt code, params and engine a night uses (``CanaryRunner.run_canary``), all
items at once. Document canaries come from the documents of a fresh demo (as a demo night
makes them), code canaries from the built-in cases on the demo's specs.

    python bench/reviewers.py --flow spec2code --model qwen2.5-coder-1.5b
    python bench/reviewers.py --flow docops --model qwen2.5-coder-1.5b --json

Prints accuracy, false-pass and false-fail rates per review node, κ between the first two
nodes, and the false passes per defect kind, beside what two trivial reviewers get on the
same items: one that passes everything, one that fails everything.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from pantheon_engine.agents.registry import default_registry
from pantheon_engine.engines.catalogue import resolve_model
from pantheon_engine.engines.openvino import OpenVINOEngine
from pantheon_engine.night.demo import create_demo
from pantheon_engine.night.jobqueue import JobQueue
from pantheon_engine.night.reviewing.canary import queue_canaries
from pantheon_engine.night.reviewing.code_canary import code_canaries
from pantheon_engine.night.reviewing.ledger import ReviewerLedger
from pantheon_engine.night.reviewing.runner import CanaryRunner, review_nodes
from pantheon_engine.policy import Policy
from pantheon_engine.run.flows import load_flow_checked

FLOWS = Path(__file__).resolve().parents[1] / "src" / "pantheon_engine" / "flows_builtin"


async def measure(flow_name: str, model: str, seed: int,
                  out: Path | None = None) -> dict[str, Any]:
    registry = default_registry()
    flow = load_flow_checked(FLOWS / f"{flow_name}.yaml", registry)
    with tempfile.TemporaryDirectory(prefix="pantheon-reviewers-") as tmp:
        root = Path(out) if out is not None else Path(tmp)
        create_demo(root / "demo", root / "art")
        inputs = [job.input for job in JobQueue.for_artifacts(root / "art").list()
                  if job.flow_name == "docops"]
        docs = queue_canaries(inputs, seed=seed)
        code = code_canaries(seed)
        engine = OpenVINOEngine(resolve_model(model, allow_download=False, night=False),
                                max_num_seqs=32, model_name=model)
        await engine.start()
        ledger = ReviewerLedger(root / "ledger")
        runner = CanaryRunner(registry=registry, engine=engine, policy=Policy(mode="night"),
                              ledger=ledger, pool=docs, code_pool=code,
                              folder=root / "canaries", night_id="bench", seed=seed)
        pool = code if runner.kind(flow) == "code" else docs
        started = time.perf_counter()
        try:
            verdicts = await asyncio.gather(*(
                runner.run_canary(flow, canary, f"k{i:03d}") for i, canary in enumerate(pool)))
        finally:
            await engine.close()
        seconds = time.perf_counter() - started
    nodes = review_nodes(flow, registry)
    per_node: dict[str, Any] = {}
    for node in nodes:  # the ledger's own figures, as a night's reviewers.json has them
        stats = ledger.node_stats(registry.get(node.agent).ref, node.id)
        per_node[node.id] = {"scored": stats.canaries, "errors": stats.errors,
                             "accuracy": stats.accuracy,
                             "false_pass_rate": stats.false_pass_rate,
                             "false_fail_rate": stats.false_fail_rate}
    kappa = ledger.kappa_state(runner.kind(flow))
    passed_bad: Counter[str] = Counter()
    for canary, v in zip(pool, verdicts, strict=True):
        if canary.expected == "fail":
            kind = (canary.defect or "?").split(":")[0]
            passed_bad[kind] += sum(v[n.id] == "pass" for n in nodes)
    bad = sum(c.expected == "fail" for c in pool)
    return {"flow": flow_name, "model": model, "items": len(pool),
            "bad": bad, "seconds": round(seconds, 1),
            "nodes": per_node, "kappa": kappa["value"], "pairs": kappa["pairs"],
            "false_passes_by_defect": dict(passed_bad),
            "baselines": trivial_reviewers(len(pool), bad)}


def trivial_reviewers(items: int, bad: int) -> dict[str, dict[str, float | None]]:
    """Accuracy and error rates of a reviewer that always passes and one that always fails,
    on ``items`` canaries of which ``bad`` should fail (κ of either with a peer like it is
    undefined: no disagreement and no variance)."""
    good = items - bad

    def rate(part: int, whole: int) -> float | None:
        return round(part / whole, 3) if whole else None

    return {
        "always pass": {"accuracy": rate(good, items), "false_pass_rate": rate(bad, bad),
                        "false_fail_rate": rate(0, good)},
        "always fail": {"accuracy": rate(bad, items), "false_pass_rate": rate(0, bad),
                        "false_fail_rate": rate(good, good)},
    }


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--flow", default="spec2code", choices=["spec2code", "docops"])
    parser.add_argument("--model", default="qwen2.5-coder-1.5b")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--out", type=Path, help="keep the canaries' artifacts (prompts, "
                        "reviews) in this new folder")
    args = parser.parse_args()
    if args.out is not None and args.out.exists():
        parser.error(f"--out {args.out}: already exists")
    result = asyncio.run(measure(args.flow, args.model, args.seed, args.out))
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{result['flow']} reviewers on {result['model']}: {result['items']} canaries "
          f"({result['bad']} bad) in {result['seconds']} s")
    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    for node, stats in result["nodes"].items():
        print(f"  {node}: accuracy {pct(stats['accuracy'])}, false-pass "
              f"{pct(stats['false_pass_rate'])}, false-fail {pct(stats['false_fail_rate'])}"
              f" ({stats['scored']} scored, {stats['errors']} errors)")
    kappa = result["kappa"]
    print(f"  κ {'undefined' if kappa is None else f'{kappa:.2f}'} over {result['pairs']} pairs")
    print(f"  false passes by defect: {result['false_passes_by_defect']}")
    for name, stats in result["baselines"].items():
        print(f"  baseline {name}: accuracy {pct(stats['accuracy'])}, false-pass "
              f"{pct(stats['false_pass_rate'])}, false-fail {pct(stats['false_fail_rate'])}")


if __name__ == "__main__":
    sys.exit(cli())
