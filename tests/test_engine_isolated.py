"""The embedded engine in a child process: same answers, errors carried across, no hangs."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pantheon_engine.engines.base import EngineRequest, Message, OutputConstraint
from pantheon_engine.engines.catalogue import resolve_model
from pantheon_engine.engines.isolated import IsolatedEngine
from pantheon_engine.engines.openvino import OpenVINOEngine
from pantheon_engine.errors import EngineUnavailable


def isolated(path: Path, **kwargs: object) -> IsolatedEngine:
    return IsolatedEngine(OpenVINOEngine, name="openvino", model="smollm2-135m",
                          supports_constraints=True, model_path=str(path), **kwargs)


async def test_a_missing_model_is_reported_from_the_child(tmp_path: Path) -> None:
    engine = isolated(tmp_path / "nope.gguf")
    with pytest.raises(EngineUnavailable, match=r"nope\.gguf"):
        await engine.start()
    await engine.close()


@pytest.mark.model
async def test_isolated_engine_serves_concurrent_constrained_requests() -> None:
    path = await asyncio.to_thread(resolve_model, "smollm2-135m", allow_download=True)
    engine = isolated(path, max_num_seqs=8)
    await engine.start()
    try:
        regex = r'\{"answer":"(yes|no)"\}'
        requests = [
            EngineRequest(messages=[Message(role="user", content=f"Is {i} even? JSON please.")],
                          constraint=OutputConstraint(regex=regex), max_tokens=16)
            for i in range(6)
        ]
        completions = await asyncio.gather(*(engine.complete(r) for r in requests))
        assert all(c.text in {'{"answer":"yes"}', '{"answer":"no"}'} for c in completions)
        assert all(c.completion_tokens > 0 and c.engine == "openvino" for c in completions)
        await asyncio.sleep(0.6)  # the child reports its numbers a few times a second
        stats = engine.stats()
        assert stats.completed >= 6 and stats.avg_batch_size > 1
        # a cancelled caller does not disturb the others
        slow = asyncio.ensure_future(engine.complete(EngineRequest(
            messages=[Message(role="user", content="Tell a long story.")], max_tokens=200)))
        await asyncio.sleep(0.2)
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        again = await engine.complete(requests[0])
        assert again.text == completions[0].text
    finally:
        await engine.close()
    with pytest.raises(EngineUnavailable):
        await engine.complete(requests[0])
