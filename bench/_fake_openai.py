"""Fake OpenAI-compatible model servers for the benches: each its own process, answering
at once.

A bare asyncio HTTP/1.1 server (keep-alive, ``Content-Length`` bodies) that serves one
model, ``m``:

* ``GET /v1/models`` lists it;
* ``POST /v1/chat/completions`` answers with a chat completion envelope. ``--answer ok``
  (the default) replies the canned text ``ok``; ``--answer docops`` plays the model of
  the docops flow, so a real night runs its jobs to the check and the merge: the editor
  (``doc.frontmatter``) reads the house rules and the front matter its prompt shows and
  makes the next edit they require (the phrasing parser of
  ``pantheon_engine.evals.docops_baselines``, learned from the texts of the ``pantheon
  demo`` rules, and the scripted solver), then replies final; a reviewer passes; anything
  else gets a final summary;
* ``GET /stats`` says how many chat requests it answered and the seconds it spent on
  them (from the request's last byte read to its reply written): the server's side of a
  request, to set against the time the client measured.

:func:`start_fakes` starts ``count`` of them (``python bench/_fake_openai.py PORT_FILE``)
and returns their processes and base URLs; :func:`stop` ends them; :func:`server_stats`
reads ``/stats``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

SRC = Path(__file__).resolve().parents[1] / "src"
MODEL = "m"
MODELS = json.dumps({"object": "list", "data": [{"id": MODEL, "object": "model"}]}).encode()

#: a reply from the request body's messages
Answer = Callable[[list[dict[str, Any]]], str]


def envelope(text: str, prompt_tokens: int = 12, completion_tokens: int = 2) -> bytes:
    return json.dumps({
        "object": "chat.completion", "model": MODEL,
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }).encode()


REPLY = envelope("ok")


def docops_answer() -> Answer:
    """The docops flow's model: the editor makes the edits the house rules need, one call
    a reply, then final; reviewers pass."""
    import yaml

    from pantheon_engine.docops.rules import parse_rules
    from pantheon_engine.engines.base import Message
    from pantheon_engine.evals.docops_baselines import PhrasingParser, final_reply
    from pantheon_engine.night.demo import RULES_YAML

    rules = parse_rules(yaml.safe_load(RULES_YAML))
    # the phrasings of the demo's rules (each its kind's template), read back from prompts
    examples = [(rule.text(), rule) for rule in rules]
    editor = PhrasingParser.learn(examples).strategy()
    verdict = json.dumps({"type": "final", "output": {"verdict": "pass", "rationale": "ok"}})

    def answer(messages: list[dict[str, Any]]) -> str:
        system = str(messages[0].get("content", "")) if messages else ""
        if system.startswith("You are review."):
            return verdict
        if system.startswith("You are doc.frontmatter,"):
            return editor([Message(role=m["role"] if m.get("role") in (
                "system", "user", "assistant") else "user", content=str(m.get("content", "")))
                for m in messages])
        return final_reply("done")

    return answer


async def serve(port_file: Path, answer: Answer | None) -> None:
    chats = 0
    busy_s = 0.0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal chats, busy_s
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                length = 0
                for line in lines[1:]:
                    if line.lower().startswith("content-length:"):
                        length = int(line.split(":", 1)[1])
                raw = await reader.readexactly(length) if length else b""
                started = time.perf_counter()
                chat = lines[0].startswith("POST ")
                if lines[0].startswith("GET /v1/models"):
                    body = MODELS
                elif lines[0].startswith("GET /stats"):
                    body = json.dumps({"chats": chats, "busy_s": busy_s}).encode()
                elif answer is None:
                    body = REPLY
                else:
                    messages = json.loads(raw).get("messages") or []
                    body = envelope(answer(messages), prompt_tokens=sum(
                        len(str(m.get("content", ""))) // 4 for m in messages),
                        completion_tokens=16)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
                             + body)
                await writer.drain()
                if chat:
                    chats += 1
                    busy_s += time.perf_counter() - started
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=512)
    port_file.write_text(str(server.sockets[0].getsockname()[1]))
    async with server:
        await server.serve_forever()


def start_fakes(count: int, folder: Path, answer: str = "ok"
                ) -> tuple[list[subprocess.Popen[bytes]], list[str]]:
    """``count`` fake servers, each its own process; their processes and base URLs."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(SRC), os.environ.get("PYTHONPATH", "")) if p)}
    procs, urls = [], []
    for i in range(count):
        port_file = folder / f"fake{i}.port"
        procs.append(subprocess.Popen([sys.executable, __file__, str(port_file),
                                       "--answer", answer], env=env))
        deadline = time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text():
            if time.monotonic() > deadline or procs[-1].poll() is not None:
                stop(procs)
                raise RuntimeError("a fake server did not start")
            time.sleep(0.05)
        urls.append(f"http://127.0.0.1:{port_file.read_text()}/v1")
    return procs, urls


def server_stats(url: str) -> dict[str, Any]:
    """``{"chats": n, "busy_s": s}`` of the fake server at base URL ``url``."""
    stats: dict[str, Any] = httpx.get(url.removesuffix("/v1") + "/stats",
                                      trust_env=False, timeout=10).json()
    return stats


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.wait(10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("port_file", type=Path, help="where to write the port it listens on")
    parser.add_argument("--answer", choices=["ok", "docops"], default="ok")
    args = parser.parse_args()
    asyncio.run(serve(args.port_file, docops_answer() if args.answer == "docops" else None))
