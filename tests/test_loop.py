"""The tool loop, driven by exact model outputs through the replay engine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import BaseModel

from pantheon_engine.agents.spec import CheckFailed, Limits
from pantheon_engine.engines.replay import RecordedReply, ReplayEngine
from pantheon_engine.loop.tool_loop import FAILURE_KINDS, LoopSinks, ModelCallRecord, ToolLoop
from pantheon_engine.tools.base import ToolContext
from pantheon_engine.tools.registry import get_tool

GOOD_FINAL = '{"type":"final","output":{"summary":"x"}}'
CORPUS = Path(__file__).parent / "data" / "malformed_replies.jsonl"


class Final(BaseModel):
    summary: str


def make_loop(tmp_path: Path, replies: list[str], *, limits: Limits | None = None,
              finish=None, finish_reasons: list[str] | None = None) -> ToolLoop:
    reasons = finish_reasons or ["stop"] * len(replies)
    engine = ReplayEngine([RecordedReply(text=t, finish_reason=r)  # type: ignore[arg-type]
                           for t, r in zip(replies, reasons, strict=True)])
    (tmp_path / "notes.txt").write_text("hello\n")
    return ToolLoop(
        engine=engine, tools=[get_tool("read_file"), get_tool("list_dir")],
        tool_ctx=ToolContext(workspace=tmp_path), system_prompt="sys", task_prompt="task",
        final_model=Final, limits=limits or Limits(max_steps=6, max_failures=3),
        finish=finish,
    )


async def test_tool_then_final(tmp_path: Path) -> None:
    loop = make_loop(tmp_path, [
        '{"type":"tool","name":"read_file","args":{"path":"notes.txt"}}',
        '{"type":"final","output":{"summary":"read it"}}',
    ])
    result = await loop.run()
    assert result.status == "ok"
    assert result.output == {"summary": "read it"}
    assert result.tool_calls == 1 and result.steps == 2
    assert result.states == ["PROMPT", "TOOL", "PROMPT", "FINAL", "CHECKS", "OK"]
    # the tool result went back to the model
    assert any("RESULT read_file" in m.content and "hello" in m.content for m in loop.messages())


@pytest.mark.parametrize(
    ("reply", "kind"),
    [
        ("I will read the file now.", "parse"),
        ('{"type":"tool","name":"rm_rf","args":{}}', "unknown_tool"),
        ('{"type":"tool","name":"read_file","args":{"nope":1}}', "schema"),
        ('{"type":"tool","name":"read_file","args":{"path":"../../etc/passwd"}}', "tool_error"),
        ('{"type":"tool","name":"read_file","args":{"path":"missing.txt"}}', "tool_error"),
        ('{"type":"final","output":{"wrong":1}}', "schema"),
        ('{"type":"final","output":{"type":"tool","name":"read_file","args":{}}}', "schema"),
    ],
)
async def test_each_failure_is_counted_and_fed_back(tmp_path: Path, reply: str, kind: str) -> None:
    loop = make_loop(tmp_path, [reply, '{"type":"final","output":{"summary":"ok"}}'])
    result = await loop.run()
    assert result.status == "ok"
    assert result.failures == {kind: 1}
    feedback = loop.messages()[-1].content
    assert feedback.startswith(f"ERROR ({kind})")


async def test_truncated_reply_is_never_trusted(tmp_path: Path) -> None:
    loop = make_loop(
        tmp_path,
        ['{"type":"final","output":{"summary":"ok"}}', '{"type":"final","output":{"summary":"b"}}'],
        finish_reasons=["length", "stop"],
    )
    result = await loop.run()
    assert result.failures == {"truncated": 1}
    assert result.output == {"summary": "b"}


async def test_garbage_forever_fails_within_budget(tmp_path: Path) -> None:
    loop = make_loop(tmp_path, ["garbage"] * 50, limits=Limits(max_steps=20, max_failures=3))
    result = await loop.run()
    assert result.status == "fail"
    assert result.error_kind == "max_failures"
    assert result.steps == 4  # the 4th failure exceeds max_failures=3
    assert "parse" in (result.error or "")


async def test_max_steps(tmp_path: Path) -> None:
    listing = '{"type":"tool","name":"list_dir","args":{"path":"."}}'
    read = '{"type":"tool","name":"read_file","args":{"path":"notes.txt"}}'
    loop = make_loop(tmp_path, [listing, read] * 5, limits=Limits(max_steps=3, max_failures=3))
    result = await loop.run()
    assert result.status == "fail" and result.error_kind == "max_steps"
    assert result.tool_calls == 3


async def test_check_failure_goes_back_to_the_model(tmp_path: Path) -> None:
    seen = []

    async def finish(final: BaseModel) -> BaseModel:
        seen.append(final)
        if len(seen) == 1:
            raise CheckFailed("not yet: write the file first")
        return final

    loop = make_loop(tmp_path, ['{"type":"final","output":{"summary":"a"}}',
                                '{"type":"final","output":{"summary":"b"}}'], finish=finish)
    result = await loop.run()
    assert result.status == "ok" and result.failures == {"check": 1}
    assert result.output == {"summary": "b"}


async def test_grammar_constrains_envelopes(tmp_path: Path) -> None:
    import re

    loop = make_loop(tmp_path, [])
    pattern = re.compile(loop.grammar())
    assert pattern.fullmatch('{"type":"tool","name":"read_file","args":{"path":"a.md"}}')
    assert pattern.fullmatch('{"type":"final","output":{"summary":"done"}}')
    assert not pattern.fullmatch('{"type": "final","output":{"summary":"done"}}')
    assert not pattern.fullmatch('{"type":"tool","name":"write_file","args":{"path":"a"}}')


def _corpus() -> list[dict]:
    return [json.loads(line) for line in CORPUS.read_text().splitlines() if line.strip()]


async def test_malformed_corpus_never_crashes_the_loop(tmp_path: Path) -> None:
    """Every reply of the corpus ends as executed, retried or failed; the loop never raises."""
    corpus = _corpus()
    assert len(corpus) >= 50
    outcomes = {"executed": 0, "retried": 0, "failed": 0}
    for case in corpus:
        seen: list[ModelCallRecord] = []
        # max_failures=0: a bad first reply ends the node; a good one is executed
        loop = make_loop(tmp_path, [case["reply"], GOOD_FINAL],
                         limits=Limits(max_steps=2, max_failures=0))
        loop.sinks = LoopSinks(on_model_call=seen.append)
        result = await loop.run()
        first = seen[0].outcome
        assert set(result.failures) <= set(FAILURE_KINDS)
        if case["expect"] == "parse":
            assert first == "parse", case
        elif case["expect"] == "schema" or case.get("disguised"):
            assert first == "schema", case
        elif case["expect"] == "tool":
            assert first in {"tool", "unknown_tool", "schema", "tool_error"}, case
        else:
            assert first in {"final", "schema"}, case
        if first in {"tool", "final"}:
            outcomes["executed"] += 1
        else:
            assert result.status == "fail" and result.error_kind == "max_failures"
            outcomes["failed"] += 1
            # with budget left the same reply is fed back and the loop goes on
            retry = make_loop(tmp_path, [case["reply"], GOOD_FINAL],
                              limits=Limits(max_steps=2, max_failures=1))
            again = await retry.run()
            assert again.status == "ok" and sum(again.failures.values()) == 1
            assert retry.messages()[-1].content.startswith(f"ERROR ({first})")
            outcomes["retried"] += 1
    assert outcomes["executed"] > 0 and outcomes["failed"] > 10


async def test_bound_arguments_leave_the_grammar_and_join_the_call(tmp_path: Path) -> None:
    import re

    loop = make_loop(tmp_path, [
        '{"type":"tool","name":"read_file","args":{}}',
        '{"type":"tool","name":"read_file","args":{"path":"elsewhere.txt"}}',
        '{"type":"final","output":{"summary":"ok"}}',
    ], limits=Limits(max_steps=4, max_failures=2))
    loop.bound_args = {"read_file": {"path": "notes.txt"}}
    grammar = re.compile(loop.grammar())
    assert grammar.fullmatch('{"type":"tool","name":"read_file","args":{}}')
    assert not grammar.fullmatch('{"type":"tool","name":"read_file","args":{"path":"a"}}')
    calls: list = []
    loop.sinks = LoopSinks(on_tool_call=calls.append)
    result = await loop.run()
    assert result.status == "ok"
    assert calls[0].ok and calls[0].args == {"path": "notes.txt"}
    assert calls[0].result["content"] == "hello\n"
    # a different value for a bound argument is refused, not silently overridden
    assert result.failures == {"schema": 1}


async def test_write_file_takes_its_content_as_a_fenced_block(tmp_path: Path) -> None:
    """The grammar offers the call's JSON without ``content`` and then a fenced block; the
    block's text is what lands in the file, and the prompt's tool list says so."""
    import re

    from pantheon_engine.loop.tool_loop import describe_tools

    code = 'def add(a, b):\n    """Sum."""\n    return a + b\n'
    call = ('{"type":"tool","name":"write_file","args":{"path":"calc.py"}}\n'
            f"```python\n{code}```")
    engine = ReplayEngine([RecordedReply(text=call), RecordedReply(text=GOOD_FINAL)])
    tools = [get_tool("write_file"), get_tool("read_file")]
    loop = ToolLoop(engine=engine, tools=tools, tool_ctx=ToolContext(workspace=tmp_path),
                    system_prompt="sys", task_prompt="task", final_model=Final)
    assert re.fullmatch(loop.grammar(), call)
    result = await loop.run()
    assert result.status == "ok", result.error
    assert (tmp_path / "calc.py").read_text() == code
    assert "then the content in a ``` fenced block" in describe_tools(tools)
    assert '"content"' not in describe_tools(tools)


async def test_a_call_that_repeats_the_previous_one_exactly_is_refused(tmp_path: Path) -> None:
    """It would change nothing; the model hears so and the repeat counts as a failure."""
    read = '{"type":"tool","name":"read_file","args":{"path":"notes.txt"}}'
    loop = make_loop(tmp_path, [read, read, GOOD_FINAL])
    result = await loop.run()
    assert result.status == "ok" and result.tool_calls == 1
    assert result.failures == {"tool_error": 1}
    assert any("repeats your previous call exactly" in m.content for m in loop.messages())


async def test_the_same_call_after_another_step_runs_again(tmp_path: Path) -> None:
    read = '{"type":"tool","name":"read_file","args":{"path":"notes.txt"}}'
    listing = '{"type":"tool","name":"list_dir","args":{"path":"."}}'
    loop = make_loop(tmp_path, [read, listing, read, GOOD_FINAL])
    result = await loop.run()
    assert result.status == "ok" and result.tool_calls == 3 and not result.failures


async def test_a_step_after_a_failure_samples_at_the_retry_temperature(tmp_path: Path) -> None:
    loop = make_loop(tmp_path, ["garbage", '{"type":"tool","name":"list_dir","args":{}}',
                                GOOD_FINAL],
                     limits=Limits(max_steps=6, max_failures=3, retry_temperature=0.7))
    seen: list[float] = []
    complete = loop.engine.complete

    async def spy(request):  # type: ignore[no-untyped-def]
        seen.append(request.temperature)
        return await complete(request)

    loop.engine.complete = spy  # type: ignore[method-assign]
    result = await loop.run()
    assert result.status == "ok"
    assert seen == [0.0, 0.7, 0.0]  # only the step after the failed one
