"""Routing over several model servers: what it costs per request, and what it carries.

Three measurements:

  routing:  the pool's own work per request (pick the least busy server of the model,
            count it outstanding, record the answer), no I/O, with 1, 2 and 3 servers;
  fake:     requests/s through the ``openai`` engine against 1, 2 and 3 fake servers that
            answer at once (each its own process: a bare asyncio HTTP/1.1 server returning a
            canned completion, ``bench/_fake_openai.py``), c requests in flight; and the
            same requests sent with a bare httpx client, round robin over the same servers,
            without the engine (the ceiling of the client side on this machine). The
            difference per request is the engine's whole overhead (routing, body building,
            parsing, counters), not routing alone. Engine and bare client alternate for
            ``--repeat`` rounds; the medians are reported (a shared 2-core machine moves
            each number run to run);
  real:     ``pantheon serve`` of the small model (a child process), asked by the
            ``openai`` engine: requests/s and tokens/s for a short burst, and the same
            burst on the embedded engine in this process (no HTTP) for comparison.

Prints one JSON object. Run:  python bench/endpoints.py  (a minute or two on 2 cores;
``--no-real`` skips the model).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from _fake_openai import start_fakes, stop

from pantheon_engine.config import EndpointSettings
from pantheon_engine.engines.base import Engine, EngineRequest, Message
from pantheon_engine.engines.endpoints import EndpointPool
from pantheon_engine.engines.openai import OpenAIEngine

# --- measurements ------------------------------------------------------------------------


def routing_cost(servers: int, rounds: int) -> float:
    """Microseconds of pool work per request (pick, count outstanding, record answer)."""
    async def never(_: Any) -> list[str]:
        return ["m"]

    pool = EndpointPool([EndpointSettings(url=f"http://s{i}/v1", model="m")
                         for i in range(servers)], lister=never)
    started = time.perf_counter()
    for _ in range(rounds):
        endpoint = pool.pick("m")
        assert endpoint is not None
        with pool.sending(endpoint):
            pool.answered(endpoint)
        pool.add_tokens(endpoint, 2)
    return (time.perf_counter() - started) / rounds * 1e6


def request() -> EngineRequest:
    return EngineRequest(messages=[Message(role="user", content="hi")], max_tokens=8)


async def drive(engine: Engine, total: int, concurrency: int) -> dict[str, float]:
    """``total`` requests, ``concurrency`` at a time: requests/s and latency."""
    latencies: list[float] = []
    queue = iter(range(total))

    async def worker() -> None:
        for _ in queue:
            started = time.perf_counter()
            await engine.complete(request())
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    seconds = time.perf_counter() - started
    return {"requests_per_s": round(total / seconds, 1),
            "mean_latency_ms": round(statistics.fmean(latencies) * 1000, 2)}


async def drive_raw(urls: list[str], total: int, concurrency: int) -> dict[str, float]:
    """The same requests with a bare httpx client, round robin over ``urls``, no engine:
    the client-side ceiling."""
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}
    queue = iter(range(total))
    async with httpx.AsyncClient(trust_env=False, limits=httpx.Limits(
            max_connections=concurrency, max_keepalive_connections=concurrency)) as client:

        async def worker() -> None:
            for i in queue:
                response = await client.post(f"{urls[i % len(urls)]}/chat/completions",
                                             json=body)
                response.json()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    return {"requests_per_s": round(total / seconds, 1)}


async def fake_runs(folder: Path, total: int, concurrency: int,
                    repeat: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    procs, urls = start_fakes(3, folder)
    try:
        await drive_raw(urls, min(total, 300), concurrency)  # warm up
        for count in (1, 2, 3):
            raw: list[float] = []
            engine_rps: list[float] = []
            latency: list[float] = []
            spread: list[int] = []
            for _ in range(repeat):
                raw.append((await drive_raw(urls[:count], total, concurrency))[
                    "requests_per_s"])
                async with OpenAIEngine(endpoints=urls[:count],
                                        concurrency=concurrency) as engine:
                    result = await drive(engine, total, concurrency)
                    spread = [s.requests for s in engine.stats().endpoints]
                engine_rps.append(result["requests_per_s"])
                latency.append(result["mean_latency_ms"])
            raw_rps, eng_rps = statistics.median(raw), statistics.median(engine_rps)
            out[f"{count}_servers"] = {
                "engine_requests_per_s": eng_rps, "engine_rounds": engine_rps,
                "bare_httpx_requests_per_s": raw_rps, "bare_rounds": raw,
                "engine_mean_latency_ms": statistics.median(latency),
                "engine_overhead_us_per_request": round((1 / eng_rps - 1 / raw_rps) * 1e6, 1),
                "requests_per_server_last_round": spread,
            }
    finally:
        stop(procs)
    return out


async def real_run(model: str, total: int, concurrency: int, tokens: int) -> dict[str, Any]:
    """``pantheon serve`` asked over HTTP, then the embedded engine directly."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    proc = subprocess.Popen([sys.executable, "-m", "pantheon_engine", "serve", "--port", "0",
                             "--model", model, "--concurrency", str(concurrency)],
                            stdout=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)
    out: dict[str, Any] = {"model": model, "requests": total, "concurrency": concurrency,
                           "max_tokens": tokens}
    ask = EngineRequest(messages=[Message(role="user", content="Write a haiku about rain.")],
                        max_tokens=tokens)

    async def burst(engine: Engine) -> dict[str, float]:
        started = time.perf_counter()
        sem = asyncio.Semaphore(concurrency)

        async def one() -> int:
            async with sem:
                return (await engine.complete(ask)).completion_tokens

        made = await asyncio.gather(*(one() for _ in range(total)))
        seconds = time.perf_counter() - started
        return {"seconds": round(seconds, 2), "requests_per_s": round(total / seconds, 2),
                "tokens_per_s": round(sum(made) / seconds, 1)}

    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        found = re.search(r"on (http://\S+/v1)", line)
        if not found:
            raise RuntimeError(f"pantheon serve did not start: {line!r}")
        async with OpenAIEngine(found.group(1), concurrency=concurrency) as engine:
            await engine.complete(ask)  # warm up
            out["through_pantheon_serve"] = await burst(engine)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    from pantheon_engine.config import EngineSettings
    from pantheon_engine.engines.factory import make_engine
    from pantheon_engine.policy import Policy

    async with make_engine(EngineSettings(model=model, concurrency=concurrency),
                           Policy(mode="night")) as engine:
        await engine.complete(ask)
        out["embedded_in_process"] = await burst(engine)
    return out


async def main(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {"routing_us_per_request": {
        f"{n}_servers": round(routing_cost(n, args.rounds), 3) for n in (1, 2, 3)}}
    with tempfile.TemporaryDirectory() as folder:
        result["fake_servers"] = {"requests": args.requests, "concurrency": args.concurrency,
                                  **await fake_runs(Path(folder), args.requests,
                                                    args.concurrency, args.repeat)}
    if not args.no_real:
        result["real"] = await real_run(args.model, args.real_requests, args.real_concurrency,
                                        args.max_tokens)
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000, help="per fake run")
    parser.add_argument("--repeat", type=int, default=3, help="rounds per fake setting")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=200_000, help="routing rounds")
    parser.add_argument("--no-real", action="store_true", help="skip the real model")
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--real-requests", type=int, default=16)
    parser.add_argument("--real-concurrency", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=32)
    print(json.dumps(asyncio.run(main(parser.parse_args())), indent=2))
