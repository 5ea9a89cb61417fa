"""Replay engine: answers with model replies recorded earlier, in order.

Sources (see docs/replay.md):

* a run folder (``artifacts/runs/<run_id>``): every node's ``model_calls.jsonl`` is read and
  its replies are served to requests whose ``key`` is that node id;
* a JSONL file of replies, one object per line::

      {"text": "<the model's reply>"}                       # served to any caller, in order
      {"key": "codegen", "text": "...", "finish_reason": "stop",
       "prompt_tokens": 120, "completion_tokens": 31}       # served only to key "codegen"

Requests whose key has its own queue take from it; others take from the shared queue
(lines without a key). When the queue a request draws from is empty the engine raises
``ReplayExhausted``: a replay never invents a reply.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from pantheon_engine.atomic import iter_jsonl
from pantheon_engine.engines.base import (
    Completion,
    Engine,
    EngineRequest,
    EngineStats,
    FinishReason,
)
from pantheon_engine.errors import ConfigError, ReplayExhausted

SHARED = "*"


class RecordedReply(BaseModel):
    key: str | None = None
    text: str
    finish_reason: FinishReason = "stop"
    prompt_tokens: int = 0
    completion_tokens: int = 0


class ReplayEngine(Engine):
    name = "replay"
    supports_constraints = False

    def __init__(self, replies: Iterable[RecordedReply], *, source: str = "memory",
                 delay_s: float = 0.0) -> None:
        self.model = f"replay:{source}"
        self._queues: dict[str, deque[RecordedReply]] = {}
        for reply in replies:
            self._queues.setdefault(reply.key or SHARED, deque()).append(reply)
        self._delay_s = delay_s
        self._completed = 0
        self._tokens = 0
        self._in_flight = 0

    @classmethod
    def from_path(cls, path: Path | str, **kwargs: Any) -> ReplayEngine:
        """Load a run folder or a JSONL file of replies; a clear error for anything else."""
        source = Path(path)
        if source.is_dir():
            files = sorted(source.glob("*/model_calls.jsonl"))
            if not files:
                raise ConfigError(
                    f"{source}: no */model_calls.jsonl here; is this a run folder?",
                    hint="pass artifacts/runs/<run_id> or a JSONL file of replies",
                )
            replies = []
            for file in files:
                for record in iter_jsonl(file):
                    replies.append(_reply(file, {**record, "key": file.parent.name}))
            return cls(replies, source=str(source), **kwargs)
        if not source.is_file():
            raise ConfigError(f"{source}: replay source not found")
        replies = []
        for number, line in enumerate(source.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{source}:{number}: not JSON: {exc.msg}") from exc
            replies.append(_reply(source, record, number))
        return cls(replies, source=str(source), **kwargs)

    def remaining(self, key: str | None = None) -> int:
        return len(self._queues.get(key or SHARED, ()))

    async def complete(self, request: EngineRequest) -> Completion:
        started = time.perf_counter()
        queue = self._queues.get(request.key or SHARED)
        if not queue:
            queue = self._queues.get(SHARED)
        if not queue:
            raise ReplayExhausted(
                f"replay has no recorded reply left for {request.key or 'this request'!s}"
            )
        reply = queue.popleft()
        self._in_flight += 1
        try:
            if self._delay_s:
                await asyncio.sleep(self._delay_s)
            else:
                await asyncio.sleep(0)
        finally:
            self._in_flight -= 1
        self._completed += 1
        self._tokens += reply.completion_tokens
        return Completion(
            text=reply.text,
            prompt_tokens=reply.prompt_tokens,
            completion_tokens=reply.completion_tokens,
            finish_reason=reply.finish_reason,
            total_s=time.perf_counter() - started,
            engine=self.name,
            model=self.model,
        )

    def stats(self) -> EngineStats:
        return EngineStats(
            in_flight=self._in_flight, completed=self._completed,
            completion_tokens=self._tokens,
        )


def _reply(source: Path, record: dict[str, Any], line: int | None = None) -> RecordedReply:
    # model_calls.jsonl stores the reply under "reply"; reply files use "text".
    if "text" not in record and "reply" in record:
        record = {**record, "text": record["reply"]}
    try:
        return RecordedReply.model_validate(record)
    except ValidationError as exc:
        where = f"{source}:{line}" if line else str(source)
        raise ConfigError(f"{where}: not a recorded reply: {exc.errors()[0]['msg']}") from exc
