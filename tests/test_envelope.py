"""The envelope parser against a corpus of malformed and odd model replies.

``tests/data/malformed_replies.jsonl`` holds one reply a line: ``reply`` (the model's text),
``expect`` ("tool" | "final" | "parse" | "schema"), ``note``, and optionally ``name`` (the
tool a "tool" reply calls) and ``disguised`` (a "final" whose output is a tool call in
disguise, which the loop must refuse). The tool loop's tests reuse the same corpus.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

import pytest

from pantheon_engine.loop.envelope import (
    EnvelopeError,
    FinalAnswer,
    ToolCall,
    block_form,
    envelope_text,
    looks_like_tool_call,
    parse_envelope,
)

CORPUS_PATH = Path(__file__).parent / "data" / "malformed_replies.jsonl"


def _load_corpus() -> list[dict[str, Any]]:
    rows = []
    for line in CORPUS_PATH.read_text(encoding="utf-8").splitlines():
        if line.strip():
            rows.append(json.loads(line))
    return rows


CORPUS = _load_corpus()


def classify(reply: str) -> tuple[str, ToolCall | FinalAnswer | EnvelopeError]:
    """Parse ``reply``; only an envelope or an ``EnvelopeError`` may come out."""
    try:
        envelope = parse_envelope(reply)
    except EnvelopeError as exc:
        assert exc.kind in ("parse", "schema")
        assert isinstance(exc.message, str) and exc.message
        return exc.kind, exc
    assert isinstance(envelope, ToolCall | FinalAnswer)
    return envelope.type, envelope


def test_corpus_is_large_and_well_formed() -> None:
    assert len(CORPUS) >= 60
    kinds = {row["expect"] for row in CORPUS}
    assert kinds == {"tool", "final", "parse", "schema"}
    for row in CORPUS:
        assert set(row) <= {"reply", "expect", "note", "name", "disguised"}, row
        assert isinstance(row["reply"], str) and row["note"]
    assert sum(bool(row.get("disguised")) for row in CORPUS) >= 3


@pytest.mark.parametrize("row", CORPUS, ids=[row["note"][:60] for row in CORPUS])
def test_corpus_reply_is_classified(row: dict[str, Any]) -> None:
    kind, result = classify(row["reply"])
    assert kind == row["expect"], f"{row['note']}: got {kind}: {result!r}"
    if kind == "tool":
        assert isinstance(result, ToolCall)
        assert isinstance(result.args, dict)
        if "name" in row:
            assert result.name == row["name"]
    if kind == "final":
        assert isinstance(result, FinalAnswer)
        assert looks_like_tool_call(result.output) is bool(row.get("disguised", False))


def test_error_carries_kind_and_message() -> None:
    with pytest.raises(EnvelopeError) as info:
        parse_envelope('{"type":"tools","name":"x","args":{}}')
    err = info.value
    assert err.kind == "schema"
    assert "tools" in err.message
    assert str(err) == err.message
    assert "schema" in repr(err)
    assert not isinstance(err, ValueError)  # an expected model failure, not a user error


def test_non_string_input_is_a_parse_error() -> None:
    with pytest.raises(EnvelopeError) as info:
        parse_envelope(None)  # type: ignore[arg-type]
    assert info.value.kind == "parse"


def test_parse_messages_help_the_model() -> None:
    for reply, needle in [
        ("", "empty"),
        ('{"type":"tool","name":"read_file","args":{"path":"a"}', "not closed"),
        ('{"type":"tool","name":"x","args":{},}', "invalid JSON"),
        ("no json here", "no JSON object"),
    ]:
        with pytest.raises(EnvelopeError) as info:
            parse_envelope(reply)
        assert needle in info.value.message, (reply, info.value.message)


def test_openai_arguments_string_is_decoded() -> None:
    env = parse_envelope('{"name":"write_file","arguments":"{\\"path\\":\\"a\\",\\"n\\":2}"}')
    assert env == ToolCall(name="write_file", args={"path": "a", "n": 2})
    env = parse_envelope('{"name":"list_dir","arguments":""}')
    assert env == ToolCall(name="list_dir", args={})


def test_final_shorthand_and_null_output() -> None:
    assert parse_envelope('{"final":{"a":1}}') == FinalAnswer(output={"a": 1})
    assert parse_envelope('{"type":"final","output":null}') == FinalAnswer(output=None)


def test_envelope_text_round_trips() -> None:
    call = ToolCall(name="read_file", args={"path": "données.txt"})
    text = envelope_text(call)
    assert text == '{"type":"tool","name":"read_file","args":{"path":"données.txt"}}'
    assert parse_envelope(text) == call
    final = FinalAnswer(output={"ok": True, "items": [1, 2]})
    assert parse_envelope(envelope_text(final)) == final


def test_models_are_strict() -> None:
    with pytest.raises(ValueError):
        ToolCall(name="", args={})
    with pytest.raises(ValueError):
        ToolCall(name="x", args={}, extra=1)  # type: ignore[call-arg]
    with pytest.raises(ValueError):
        FinalAnswer()  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"type": "tool", "name": "read_file", "args": {}}, True),
        ({"type": "tool_call"}, True),
        ({"name": "read_file", "arguments": {"path": "a"}}, True),
        ({"name": "read_file", "arguments": '{"path":"a"}'}, True),
        ({"tool": "read_file", "args": {"path": "a"}}, True),
        ({"function_call": {"name": "f"}}, True),
        ('{"type":"tool","name":"read_file","args":{}}', True),
        ('```json\n{"tool":"list_dir","args":{"path":"."}}\n```', True),
        ('I will now call {"type": "tool", "name": "x", "args": {}}', True),
        ({"report": {"steps": ['{"tool":"x","args":{}}']}}, True),
        ([1, 2, {"type": "tool", "name": "x", "args": {}}], True),
        (None, False),
        (42, False),
        ("All done.", False),
        ("use {placeholders} freely", False),
        ('{"type":"final","output":"done"}', False),
        ({"name": "parse", "args": ["a", "b"]}, False),
        ({"name": "Bob", "age": 3}, False),
        ({"type": "report", "summary": "ok"}, False),
        ({"summary": "ok", "files": ["a.py", "b.py"]}, False),
    ],
)
def test_looks_like_tool_call(value: Any, expected: bool) -> None:
    assert looks_like_tool_call(value) is expected


def test_looks_like_tool_call_is_depth_bounded() -> None:
    value: Any = {"type": "tool", "name": "x", "args": {}}
    for _ in range(50):
        value = {"inner": [value]}
    assert looks_like_tool_call(value) is False  # buried too deep to be a disguise
    assert looks_like_tool_call({"a": {"b": value}}) is False


def test_every_prefix_of_a_call_is_handled() -> None:
    full = '{"type":"tool","name":"write_file","args":{"path":"a {b}.txt","content":"x\\"}y"}}'
    for cut in range(len(full)):
        kind, _ = classify(full[:cut])
        assert kind == "parse", (cut, full[:cut])
    assert classify(full)[0] == "tool"


def test_random_mutations_never_crash() -> None:
    rng = random.Random(1234)
    seeds = [row["reply"] for row in CORPUS if len(row["reply"]) < 400]
    alphabet = "{}[]\",:\\ \n'abc01\ufeff`"
    for _ in range(3000):
        text = list(rng.choice(seeds))
        for _ in range(rng.randint(1, 4)):
            op = rng.random()
            pos = rng.randint(0, len(text))
            if op < 0.4 and text:
                del text[min(pos, len(text) - 1)]
            elif op < 0.8:
                text.insert(pos, rng.choice(alphabet))
            elif text:
                text[min(pos, len(text) - 1)] = rng.choice(alphabet)
        kind, result = classify("".join(text))
        if kind == "final":
            looks_like_tool_call(result.output)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "reply",
    [
        "{" * 200_000,
        "{ " * 100_000,
        '{"' * 100_000,
        "x{" * 100_000 + '{"type":"final","output":1}',
        '{"type":"final","output":"' + "a{" * 200_000 + '"}',
        "[" * 100_000,
        '{"type":"final","output":' + "[" * 100_000 + "]" * 100_000 + "}",
    ],
    ids=[
        "braces",
        "braces+spaces",
        "brace-quotes",
        "prose-braces",
        "giant-string",
        "brackets",
        "deep",
    ],
)
def test_adversarial_replies_are_fast(reply: str) -> None:
    start = time.perf_counter()
    kind, _ = classify(reply)
    assert kind in ("final", "parse", "schema")
    assert time.perf_counter() - start < 2.0


# --- block arguments -----------------------------------------------------------------------

BLOCKS = {"write_file": "content"}


@pytest.mark.parametrize("fence", ["```python\n", "```\n", "```py \n"])
def test_a_fenced_block_after_a_call_is_its_block_argument(fence: str) -> None:
    code = 'def f():\n    return {"type": "final", "output": 1}\n'
    reply = '{"type":"tool","name":"write_file","args":{"path":"f.py"}}\n' + fence + code + "```"
    envelope = parse_envelope(reply, BLOCKS)
    assert isinstance(envelope, ToolCall)
    assert envelope.args == {"path": "f.py", "content": code}


def test_block_form_round_trips() -> None:
    args = {"path": "pkg/m.py", "content": "x = 1\n"}
    envelope = parse_envelope(block_form("write_file", args, "content"), BLOCKS)
    assert isinstance(envelope, ToolCall) and envelope.args == args


def test_a_block_is_read_after_a_json_fence_too() -> None:
    reply = ('```json\n{"type":"tool","name":"write_file","args":{"path":"f.py"}}\n```\n'
             "```python\nx = 2\n```\n")
    envelope = parse_envelope(reply, BLOCKS)
    assert isinstance(envelope, ToolCall) and envelope.args["content"] == "x = 2\n"


def test_an_argument_written_in_the_json_wins_over_the_block() -> None:
    reply = ('{"type":"tool","name":"write_file","args":{"path":"f.py","content":"a\\n"}}\n'
             "```\nb\n```")
    envelope = parse_envelope(reply, BLOCKS)
    assert isinstance(envelope, ToolCall) and envelope.args["content"] == "a\n"


def test_a_block_for_a_tool_without_a_block_argument_is_ignored() -> None:
    """The call stands as written (its tool then reports the missing argument)."""
    reply = '{"type":"tool","name":"read_file","args":{"path":"f.py"}}\n```\nx\n```'
    envelope = parse_envelope(reply, BLOCKS)
    assert isinstance(envelope, ToolCall) and envelope.args == {"path": "f.py"}
    assert parse_envelope(reply) == envelope


def test_code_with_json_inside_a_block_is_not_read_as_the_envelope() -> None:
    """Without a block argument the first fence would be searched first; a reply that opens
    with the call keeps the call, whatever JSON the code holds."""
    reply = ('{"type":"tool","name":"write_file","args":{"path":"f.py"}}\n'
             '```python\nX = {"type": "final", "output": {}}\n```')
    envelope = parse_envelope(reply)
    assert isinstance(envelope, ToolCall) and envelope.name == "write_file"
