"""The embedded OpenVINO engine, with the real default model (SmolLM2-135M, GGUF)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Literal

import pytest
import pytest_asyncio
from pydantic import BaseModel, ConfigDict

from pantheon_engine.engines.base import EngineRequest, Message, OutputConstraint
from pantheon_engine.engines.catalogue import resolve_model
from pantheon_engine.engines.openvino import OpenVINOEngine, constraint_key
from pantheon_engine.errors import EngineError, EngineUnavailable

pytestmark = pytest.mark.asyncio(loop_scope="session")


def ask(text: str, **kwargs: object) -> EngineRequest:
    return EngineRequest(messages=[Message(role="user", content=text)], **kwargs)  # type: ignore[arg-type]


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def ov_engine() -> AsyncIterator[OpenVINOEngine]:
    path = await asyncio.to_thread(resolve_model, "smollm2-135m", allow_download=True)
    engine = OpenVINOEngine(path, model_name="smollm2-135m")
    await engine.start()
    try:
        yield engine
    finally:
        await engine.close()


async def _max_batch_while(engine: OpenVINOEngine, work: asyncio.Future) -> int:
    """Sample the live batch size until ``work`` is done; return the largest seen."""
    seen = 0
    while not work.done():
        seen = max(seen, int(engine.stats().batch_size))
        await asyncio.sleep(0.005)
    return seen


# --- no model needed -----------------------------------------------------------------


async def test_missing_model_path_raises_engine_unavailable(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "model.gguf"
    engine = OpenVINOEngine(missing)
    with pytest.raises(EngineUnavailable) as info:
        await engine.start()
    assert str(missing) in str(info.value)
    with pytest.raises(EngineUnavailable):
        await engine.complete(ask("hi"))


async def test_folder_without_ir_raises_engine_unavailable(tmp_path: Path) -> None:
    with pytest.raises(EngineUnavailable, match=r"openvino_model\.xml"):
        await OpenVINOEngine(tmp_path).start()


async def test_broken_gguf_raises_engine_unavailable(tmp_path: Path) -> None:
    fake = tmp_path / "broken.gguf"
    fake.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(EngineUnavailable, match="could not load"):
        await OpenVINOEngine(fake).start()


async def test_constraint_key_is_stable() -> None:
    a = OutputConstraint(json_schema={"b": 1, "a": [1, 2]})
    b = OutputConstraint(json_schema={"a": [1, 2], "b": 1})
    assert constraint_key(a) == constraint_key(b)
    assert constraint_key(OutputConstraint(regex="x")) != constraint_key(
        OutputConstraint(grammar="x")
    )
    assert constraint_key(None) is None


# --- the real model ------------------------------------------------------------------


@pytest.mark.model
async def test_real_text_comes_back(ov_engine: OpenVINOEngine) -> None:
    completion = await ov_engine.complete(ask("Say hello to the night shift.", max_tokens=24))
    assert completion.text.strip()
    assert completion.engine == "openvino"
    assert completion.model == "smollm2-135m"
    assert completion.prompt_tokens > 5
    assert 0 < completion.completion_tokens <= 24
    assert completion.finish_reason in ("stop", "length")
    assert completion.total_s > 0
    assert 0 <= completion.queued_s <= completion.total_s


@pytest.mark.model
async def test_max_tokens_gives_finish_reason_length(ov_engine: OpenVINOEngine) -> None:
    completion = await ov_engine.complete(
        ask("Write a long story about a lighthouse.", max_tokens=5)
    )
    assert completion.finish_reason == "length"
    assert completion.completion_tokens == 5


@pytest.mark.model
async def test_two_concurrent_requests_share_a_batch(ov_engine: OpenVINOEngine) -> None:
    work = asyncio.gather(
        ov_engine.complete(ask("Count to ten.", max_tokens=24)),
        ov_engine.complete(ask("Name three colours.", max_tokens=24)),
    )
    seen = await _max_batch_while(ov_engine, work)
    first, second = await work
    assert first.text and second.text
    assert seen == 2


@pytest.mark.model
async def test_eight_concurrent_requests_are_batched(ov_engine: OpenVINOEngine) -> None:
    before = ov_engine.stats()
    work = asyncio.gather(
        *(ov_engine.complete(ask(f"Tell me a fact about the number {i}.", max_tokens=32))
          for i in range(8))
    )  # fmt: skip
    seen = await _max_batch_while(ov_engine, work)
    results = await work
    after = ov_engine.stats()
    assert all(c.completion_tokens > 0 for c in results)
    assert seen >= 6  # all eight run together once their prompts are in
    assert ov_engine.max_batch_size >= 8
    assert after.completed == before.completed + 8
    assert after.steps > before.steps
    assert after.avg_batch_size > 1
    assert after.tokens_per_s > 0
    assert after.completion_tokens - before.completion_tokens == sum(
        c.completion_tokens for c in results
    )
    assert after.in_flight == 0


class YesNo(BaseModel):
    model_config = ConfigDict(extra="forbid")
    answer: Literal["yes", "no"]


@pytest.mark.model
async def test_json_schema_output_validates(ov_engine: OpenVINOEngine) -> None:
    schema = {
        "type": "object",
        "properties": {"answer": {"enum": ["yes", "no"]}},
        "required": ["answer"],
        "additionalProperties": False,
    }
    completion = await ov_engine.complete(
        ask("Is the sky blue? Answer in JSON.", max_tokens=64,
            constraint=OutputConstraint(json_schema=schema))
    )  # fmt: skip
    assert completion.finish_reason == "stop"
    YesNo.model_validate_json(completion.text)


@pytest.mark.model
async def test_regex_output_matches_in_a_batch(ov_engine: OpenVINOEngine) -> None:
    pattern = r'\{"tool":"(read|write)","path":"[a-z]{1,12}\.py"\}'
    constraint = OutputConstraint(regex=pattern)
    results = await asyncio.gather(
        *(ov_engine.complete(ask(f"Pick a tool for file {i}.", max_tokens=40,
                                 constraint=constraint))
          for i in range(6))
    )  # fmt: skip
    for completion in results:
        assert re.fullmatch(pattern, completion.text), completion.text


@pytest.mark.model
async def test_bad_constraint_fails_only_its_request(ov_engine: OpenVINOEngine) -> None:
    bad = OutputConstraint(regex="(((unclosed[")
    rebuilds = ov_engine.stats().rebuilds
    results = await asyncio.gather(
        ov_engine.complete(ask("One.", max_tokens=12)),
        ov_engine.complete(ask("Two.", max_tokens=12, constraint=bad)),
        ov_engine.complete(ask("Three.", max_tokens=12)),
        return_exceptions=True,
    )
    assert isinstance(results[1], EngineError)
    assert "constraint" in str(results[1])
    assert not isinstance(results[0], BaseException) and results[0].completion_tokens > 0
    assert not isinstance(results[2], BaseException) and results[2].completion_tokens > 0
    assert ov_engine.stats().rebuilds > rebuilds
    # The same constraint now fails fast, and the engine keeps serving.
    with pytest.raises(EngineError, match="constraint"):
        await ov_engine.complete(ask("Again.", max_tokens=8, constraint=bad))
    assert (await ov_engine.complete(ask("Still there?", max_tokens=8))).text


@pytest.mark.model
async def test_seeded_sampling_is_reproducible(ov_engine: OpenVINOEngine) -> None:
    request = ask("Invent a name for a robot.", max_tokens=16, temperature=0.9, seed=7)
    first, second = await asyncio.gather(ov_engine.complete(request), ov_engine.complete(request))
    assert first.text == second.text


@pytest.mark.model
async def test_cancelled_caller_frees_its_request(ov_engine: OpenVINOEngine) -> None:
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(
            ov_engine.complete(ask("Write a very long essay.", max_tokens=400)), timeout=0.3
        )
    for _ in range(100):
        if ov_engine.stats().in_flight == 0:
            break
        await asyncio.sleep(0.02)
    assert ov_engine.stats().in_flight == 0
    assert (await ov_engine.complete(ask("Hi.", max_tokens=4))).completion_tokens > 0


@pytest.mark.model
async def test_closed_engine_refuses_work() -> None:
    path = await asyncio.to_thread(resolve_model, "smollm2-135m", allow_download=True)
    engine = OpenVINOEngine(path)
    async with engine:
        assert (await engine.complete(ask("Hi.", max_tokens=4))).text is not None
    with pytest.raises(EngineUnavailable, match="closed"):
        await engine.complete(ask("Hi."))


@pytest.mark.model
async def test_max_num_seqs_caps_the_batch() -> None:
    """The pipeline ignores max_num_seqs; the engine enforces it and still serves everyone."""
    path = await asyncio.to_thread(resolve_model, "smollm2-135m", allow_download=True)
    engine = OpenVINOEngine(path, max_num_seqs=2)
    await engine.start()
    try:
        requests = [
            EngineRequest(messages=[Message(role="user", content=f"Say {i}")], max_tokens=8)
            for i in range(6)
        ]
        work = asyncio.ensure_future(asyncio.gather(*(engine.complete(r) for r in requests)))
        seen = await _max_batch_while(engine, work)
        completions = await work
        assert len(completions) == 6 and all(c.completion_tokens > 0 for c in completions)
        assert seen <= 2 and engine.max_batch_size <= 2
        assert max(c.queued_s for c in completions) > 0  # the later ones waited their turn
    finally:
        await engine.close()
