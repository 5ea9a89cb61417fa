"""Model benchmark: what each catalogue model costs on this machine before any task is run.

For every model named (default: the whole catalogue), in a fresh child process each so the
memory figure is that model's alone, through the embedded OpenVINO engine exactly as
``pantheon run`` configures it:

  load_s          seconds from engine start to ready (the pipeline reads the GGUF)
  peak_rss_mb     the child's peak resident memory after the load and all generation
  c=1             tokens/s with one request at a time (an agent framework without batching)
  c=N             tokens/s with N requests in flight, for each N of ``--concurrency``;
                  ``best`` names the N with the most tokens/s

The requests are small code tasks ("write a Python function that ...", chat template,
greedy, ``--max-tokens`` each), the same for every model. Pass rates and accepted work per
hour come from ``pantheon eval`` and a night; see docs/engines.md for the table.

Run:  python bench/models.py [--models smollm2-135m qwen2.5-coder-0.5b] [--concurrency 8 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import time
from typing import Any

from pantheon_engine.engines.base import EngineRequest, Message
from pantheon_engine.engines.catalogue import CATALOGUE, resolve_model
from pantheon_engine.engines.openvino import OpenVINOEngine

TASKS = [
    "Write a Python function `is_palindrome(s: str) -> bool` that ignores case and spaces.",
    "Write a Python function `fizzbuzz(n: int) -> list[str]` for the numbers 1 to n.",
    "Write a Python function `word_counts(text: str) -> dict[str, int]`.",
    "Write a Python function `flatten(items: list) -> list` that flattens nested lists.",
    "Write a Python function `median(values: list[float]) -> float`.",
    "Write a Python function `is_prime(n: int) -> bool`.",
    "Write a Python function `rle(s: str) -> str` that run-length encodes a string.",
    "Write a Python function `chunks(items: list, size: int) -> list[list]`.",
]


def request(i: int, max_tokens: int) -> EngineRequest:
    return EngineRequest(
        messages=[Message(role="user", content=TASKS[i % len(TASKS)])],
        max_tokens=max_tokens, temperature=0.0, key=f"bench-{i}")


async def rate(engine: OpenVINOEngine, in_flight: int, requests: int,
               max_tokens: int) -> dict[str, float]:
    """tokens/s with ``in_flight`` requests at a time, ``requests`` in all."""
    queue = list(range(requests))
    tokens = 0

    async def worker() -> None:
        nonlocal tokens
        while queue:
            i = queue.pop()
            done = await engine.complete(request(i, max_tokens))
            tokens += done.completion_tokens  # after the await: `+=` would read it before

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    seconds = time.perf_counter() - started
    return {"tokens_per_s": round(tokens / seconds, 1), "seconds": round(seconds, 1),
            "completion_tokens": tokens, "requests": requests}


async def measure(name: str, concurrency: list[int], max_tokens: int,
                  sequential: int) -> dict[str, Any]:
    """One model, in this process: load, then the rates."""
    path = resolve_model(name, allow_download=False, night=False)
    engine = OpenVINOEngine(path, max_num_seqs=max(concurrency), model_name=name)
    started = time.perf_counter()
    await engine.start()
    load_s = time.perf_counter() - started
    try:
        await rate(engine, 1, 1, 8)  # first request: grammar-free warm-up
        rates = {"c=1": await rate(engine, 1, sequential, max_tokens)}
        for n in concurrency:
            rates[f"c={n}"] = await rate(engine, n, n * 2, max_tokens)
    finally:
        await engine.close()
    best = max((k for k in rates if k != "c=1"), key=lambda k: rates[k]["tokens_per_s"],
               default="c=1")
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"model": name, "file": str(path), "file_mb": round(path.stat().st_size / 1e6),
            "load_s": round(load_s, 1), "peak_rss_mb": round(peak_kb / 1024),
            "rates": rates, "best": best,
            "speedup_best_over_c1": round(rates[best]["tokens_per_s"]
                                          / max(rates["c=1"]["tokens_per_s"], 1e-9), 2)}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cli() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(CATALOGUE))
    parser.add_argument("--concurrency", nargs="+", type=int, default=[8, 32])
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--sequential", type=int, default=4,
                        help="requests for the c=1 rate (one at a time)")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # the child: measure this model
    args = parser.parse_args()
    if args.one:
        result = asyncio.run(measure(args.one, args.concurrency, args.max_tokens,
                                     args.sequential))
        json.dump(result, sys.stdout)
        return
    results = []
    for name in args.models:
        log(f"{name}: loading and measuring in a child process")
        child = subprocess.run(
            [sys.executable, __file__, "--one", name, "--max-tokens", str(args.max_tokens),
             "--sequential", str(args.sequential),
             "--concurrency", *map(str, args.concurrency)],
            stdout=subprocess.PIPE, text=True, check=False)
        if child.returncode != 0:
            results.append({"model": name, "error": f"exit {child.returncode} "
                            "(is it pulled? pantheon models pull NAME)"})
            continue
        result = json.loads(child.stdout)
        log(f"    load {result['load_s']} s, peak {result['peak_rss_mb']} MB, "
            + ", ".join(f"{k} {v['tokens_per_s']} tok/s" for k, v in result["rates"].items()))
        results.append(result)
    json.dump(results, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    cli()
