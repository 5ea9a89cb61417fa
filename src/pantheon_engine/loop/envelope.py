"""The tool-loop envelope: what a model reply must be, and a tolerant parser for it.

Every reply in a tool loop is one JSON object, either a tool call or the final answer::

    {"type":"tool","name":"read_file","args":{"path":"README.md"}}
    {"type":"final","output":{...}}

:func:`parse_envelope` finds that object in whatever a model wrote (code fences, prose
around it, a byte-order mark) and normalises a few unambiguous variants that small models
like to write instead:

* ``{"tool":"x","args":{...}}`` and ``{"name":"x","args":{...}}`` — no ``type``;
* ``{"name":"x","arguments":{...}}`` — OpenAI style; ``arguments`` may be a JSON string;
* ``{"type":"tool_call",...}`` / ``{"type":"tool_use",...}`` — other names for a call;
* ``{"type":"Tool",...}`` — type names in any case;
* ``{"final": {...}}`` — a final answer keyed by ``final`` alone.

A tool may take one long text argument as a *block* (``write_file``'s ``content``): the
envelope leaves it out and a fenced block follows it, so that a model writes code as code
rather than as one JSON string (small code models write far worse code inside a JSON string,
and lose track of where it ends)::

    {"type":"tool","name":"write_file","args":{"path":"calc.py"}}
    ```python
    def add(a, b):
        return a + b
    ```

:func:`parse_envelope` puts the block's text into that argument when its ``block_args``
name the tool (the argument written inside ``args`` wins if both are there).

Keys the envelope does not define (a ``"thought"``, say) are ignored. Anything else fails
with :class:`EnvelopeError`: ``kind="parse"`` when no JSON object can be read, and
``kind="schema"`` when the JSON is not an envelope. The message is written to be fed back
to the model.

:func:`looks_like_tool_call` tells whether a final answer is really a tool call in
disguise, so that the loop can refuse it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from pantheon_engine.loop.grammar import compact_json

__all__ = [
    "Envelope",
    "EnvelopeError",
    "FinalAnswer",
    "ToolCall",
    "block_form",
    "envelope_text",
    "looks_like_tool_call",
    "parse_envelope",
]

EnvelopeErrorKind = Literal["parse", "schema"]

#: ``type`` values read as a tool call (compared in lower case).
_TOOL_TYPES = frozenset({"tool", "tool_call", "tool_use"})
_FINAL_TYPES = frozenset({"final"})
#: ``type`` values that make a FINAL output look like a tool call.
_DISGUISED_TOOL_TYPES = _TOOL_TYPES | {"function", "function_call", "tool_calls"}

#: Give up after this many candidate ``{`` positions that did not parse.
_MAX_CANDIDATES = 64
#: How deep :func:`looks_like_tool_call` looks into nested containers.
_MAX_LOOK_DEPTH = 8
_FENCE = re.compile(r"```[ \t]*[A-Za-z0-9_+-]*[ \t]*\r?\n?(.*?)```", re.DOTALL)
_SNIPPET = 60
_JSON_START = re.compile(r'\{\s*("|\})')
#: Braces, and whole JSON strings (so that braces inside them do not count).
_TOKENS = re.compile(r'[{}]|"[^"\\]*(\\.[^"\\]*)*(?P<closed>"?)', re.DOTALL)


class EnvelopeError(Exception):
    """A reply is not a usable envelope; an expected model failure, handled by the loop.

    ``kind`` is ``"parse"`` (no JSON object could be read) or ``"schema"`` (JSON, but not
    a valid envelope); ``message`` says what is wrong, for the model to read.
    """

    def __init__(self, kind: EnvelopeErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind: EnvelopeErrorKind = kind
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"EnvelopeError(kind={self.kind!r}, message={self.message!r})"


class ToolCall(BaseModel):
    """A request to run the tool ``name`` with ``args``."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["tool"] = "tool"
    name: str = Field(min_length=1)
    args: dict[str, Any]


class FinalAnswer(BaseModel):
    """The model's answer; ``output`` is checked against the agent's output model later."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["final"] = "final"
    output: Any


Envelope = ToolCall | FinalAnswer

_ADAPTER: TypeAdapter[ToolCall | FinalAnswer] = TypeAdapter(
    Annotated[ToolCall | FinalAnswer, Field(discriminator="type")]
)


def envelope_text(envelope: ToolCall | FinalAnswer) -> str:
    """The canonical compact JSON of an envelope (what the constrained model writes)."""
    return compact_json(envelope.model_dump(mode="json"))


def parse_envelope(text: str, block_args: Mapping[str, str] | None = None
                   ) -> ToolCall | FinalAnswer:
    """Read one envelope from a model reply; raise :class:`EnvelopeError` if there is none.

    The first top-level JSON object that parses is the reply's envelope (inside the first
    code fence when there is one); text around it is ignored. A reply that opens with a
    JSON object followed by a fenced block is a call with a block argument: ``block_args``
    maps tool names to the argument that takes the block's text.
    """
    if not isinstance(text, str):
        raise EnvelopeError("parse", f"expected text, got {type(text).__name__}")
    with_block = _split_block(text)
    if with_block is not None:
        head, body = with_block
        envelope = _to_envelope(_extract_object(head))
        arg = (block_args or {}).get(envelope.name) if isinstance(envelope, ToolCall) else None
        if arg is not None and isinstance(envelope, ToolCall) and arg not in envelope.args:
            return ToolCall(name=envelope.name, args={**envelope.args, arg: body})
        return envelope
    value = _extract_object(text)
    return _to_envelope(value)


def block_form(tool: str, args: Mapping[str, Any], arg: str) -> str:
    """The reply text of a call of ``tool`` whose argument ``arg`` is written as a block
    (what the constrained model writes; used to show the form and in tests)."""
    rest = {key: value for key, value in args.items() if key != arg}
    body = str(args.get(arg, ""))
    if body and not body.endswith("\n"):
        body += "\n"
    return compact_json({"type": "tool", "name": tool, "args": rest}) + "\n```\n" + body + "```"


# A JSON object at the very start of a reply (or in a leading ```json fence), then a fence.
_LEADING_FENCE = re.compile(r"\s*```[ \t]*(json)?[ \t]*\r?\n(?P<head>.*?)```", re.DOTALL)
_BLOCK = re.compile(r"\s*```[^\n`]*\r?\n(?P<body>.*?)(```|\Z)", re.DOTALL)


def _split_block(text: str) -> tuple[str, str] | None:
    """``(envelope text, block text)`` when ``text`` is an envelope followed by a fenced
    block, else ``None``. The block runs to its closing fence (or to the end of the reply
    when the fence never closes)."""
    text = text.lstrip("\ufeff")
    lead = _LEADING_FENCE.match(text)
    if lead is not None:
        head, rest = lead.group("head"), text[lead.end():]
    else:
        start = len(text) - len(text.lstrip())
        if text[start:start + 1] != "{":
            return None
        try:
            _, end = json.JSONDecoder(strict=False).raw_decode(text, start)
        except (ValueError, RecursionError):
            return None
        head, rest = text[start:end], text[end:]
    block = _BLOCK.match(rest)
    if block is None:
        return None
    return head, block.group("body")


def looks_like_tool_call(value: Any) -> bool:
    """True when a final ``output`` is (or hides) a tool call.

    That is: a mapping shaped like a call (``type`` naming a tool call, or ``name``/``tool``
    with ``args``/``arguments``, or ``tool_calls`` / ``function_call``), or a string whose
    text parses as a tool-call envelope, found at the top or nested in lists and mappings.
    """
    return _disguised(value, 0)


# --- finding the JSON object ---------------------------------------------------------------


def _snippet(text: str) -> str:
    text = text.strip()
    if len(text) <= _SNIPPET:
        return repr(text)
    return repr(text[:_SNIPPET]) + f" … ({len(text)} characters)"


def _extract_object(text: str) -> dict[str, Any]:
    """The reply's JSON object, or raise (a JSON value that is not an object → schema)."""
    text = text.lstrip("\ufeff").strip()
    if not text:
        raise EnvelopeError("parse", "the reply is empty; answer with one JSON object")
    regions = [m.group(1) for m in _FENCE.finditer(text)][:1]
    regions.append(text)
    first_error: EnvelopeError | None = None
    for region in regions:
        try:
            return _first_object(region.lstrip("\ufeff").strip())
        except EnvelopeError as exc:
            if exc.kind == "schema":
                raise
            first_error = first_error or exc
    assert first_error is not None
    raise first_error


def _loads(text: str) -> Any:
    """``json.loads`` that tolerates raw control characters inside strings and refuses
    duplicate keys (an envelope with two ``type`` keys is ambiguous)."""
    return json.loads(text, strict=False, object_pairs_hook=_no_duplicates)


class _DuplicateKey(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(f"the key {key!r} appears twice in one object")
        out[key] = value
    return out


def _first_object(text: str) -> dict[str, Any]:
    """The first top-level JSON object in ``text`` that parses, preferring one shaped like
    an envelope over, say, an example of arguments quoted before it."""
    # A reply that is JSON as a whole but not an object is a schema error, not a search.
    if text[:1] and text[:1] in '["-0123456789tfn':
        try:
            whole = _loads(text)
        except _DuplicateKey as exc:
            raise EnvelopeError("schema", str(exc)) from None
        except (ValueError, RecursionError):
            pass
        else:
            raise EnvelopeError(
                "schema",
                f'expected one JSON object with a "type" key, got a JSON {_json_kind(whole)}',
            )
    first_error: EnvelopeError | None = None
    first_value: dict[str, Any] | None = None
    start = text.find("{")
    memo: dict[int, int | None] = {}
    tries = 0
    while start != -1 and tries < _MAX_CANDIDATES:
        tries += 1
        end = _matching_brace(text, start, memo)
        if end is None:
            if first_value is not None:
                break
            # Unbalanced from here to the end. If it starts like a JSON object, the reply
            # was cut off (or lost a brace): do not look for objects nested inside it.
            if _JSON_START.match(text, start):
                raise first_error or EnvelopeError(
                    "parse",
                    "the JSON object is not closed (the reply was cut off, or a '}' is "
                    f"missing): {_snippet(text[start:])}",
                )
            start = text.find("{", start + 1)
            continue
        candidate = text[start : end + 1]
        try:
            # balanced braces from a "{": what parses is a JSON object
            value: dict[str, Any] = _loads(candidate)
        except _DuplicateKey as exc:
            raise EnvelopeError("schema", str(exc)) from None
        except RecursionError:
            first_error = first_error or EnvelopeError("parse", "the JSON is nested too deeply")
        except ValueError as exc:
            first_error = first_error or EnvelopeError(
                "parse", f"invalid JSON ({_json_problem(exc)}) in {_snippet(candidate)}"
            )
        else:
            if _envelope_shaped(value):
                return value
            first_value = first_value if first_value is not None else value
        start = text.find("{", end + 1)
    if first_value is not None:
        return first_value
    if first_error is not None:
        raise first_error
    raise EnvelopeError(
        "parse", f"no JSON object found in the reply {_snippet(text)}; answer with one"
    )


def _envelope_shaped(value: dict[str, Any]) -> bool:
    """Whether an object is meant as an envelope (valid or not): it has ``type``, is
    ``{"final": …}``, or names a tool next to arguments."""
    if "type" in value or set(value) == {"final"}:
        return True
    return ("tool" in value or "name" in value) and ("args" in value or "arguments" in value)


def _json_problem(exc: ValueError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at character {exc.pos}"
    return str(exc)


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"


def _matching_brace(text: str, start: int, memo: dict[int, int | None]) -> int | None:
    """Index of the ``}`` closing the ``{`` at ``start`` (string-aware), or ``None``.

    One scan also settles every ``{`` nested inside (the tokens from a nested brace on are
    the same), so ``memo`` keeps those answers and many candidates cost one pass.
    """
    if start in memo:
        return memo[start]
    stack: list[int] = []
    for m in _TOKENS.finditer(text, start):
        tok = m.group()
        if tok == "{":
            stack.append(m.start())
        elif tok == "}":
            memo[stack.pop()] = m.start()
            if not stack:
                break
        elif not m.group("closed"):
            break  # a string that never ends
    for pos in stack:
        memo[pos] = None
    return memo[start]


# --- normalising and validating -------------------------------------------------------------


def _to_envelope(value: dict[str, Any]) -> ToolCall | FinalAnswer:
    data = _normalise(value)
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as exc:
        raise EnvelopeError("schema", _validation_message(exc)) from None


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:4]:
        where = ".".join(str(p) for p in err["loc"] if p not in ("tool", "final"))
        parts.append(f"{where or 'envelope'}: {err['msg']}")
    return "not a valid envelope: " + "; ".join(parts)


def _schema_error(message: str) -> EnvelopeError:
    hint = ' (write {"type":"tool","name":"<tool>","args":{...}} or {"type":"final","output":...})'
    return EnvelopeError("schema", message + hint)


def _normalise(value: dict[str, Any]) -> dict[str, Any]:
    """Map the accepted variants onto ``{"type":"tool",…}`` / ``{"type":"final",…}``."""
    if "type" in value:
        kind = value["type"]
        if not isinstance(kind, str):
            raise _schema_error(f'"type" must be "tool" or "final", got {compact_json(kind)}')
        kind = kind.strip().lower()
        if kind in _TOOL_TYPES:
            return _tool(value, value.get("name", value.get("tool")), "name")
        if kind in _FINAL_TYPES:
            if "output" not in value:
                raise _schema_error('a final answer needs an "output" key')
            return {"type": "final", "output": value["output"]}
        raise _schema_error(f'unknown "type" {compact_json(value["type"])}')
    if set(value) == {"final"}:
        return {"type": "final", "output": value["final"]}
    if "tool" in value and ("args" in value or "arguments" in value):
        return _tool(value, value["tool"], "tool")
    if "name" in value and ("args" in value or "arguments" in value):
        return _tool(value, value["name"], "name")
    raise _schema_error(
        f'the JSON object has no "type" key (keys: {", ".join(sorted(value)) or "none"})'
    )


def _tool(value: dict[str, Any], name: Any, name_key: str) -> dict[str, Any]:
    if "name" in value and "tool" in value and value["name"] != value["tool"]:
        raise _schema_error('a tool call has both "name" and "tool", and they differ')
    if not isinstance(name, str) or not name.strip():
        raise _schema_error(f'a tool call needs a "{name_key}" string naming the tool')
    if "args" in value and "arguments" in value:
        raise _schema_error('a tool call has both "args" and "arguments"; use "args"')
    if "args" in value:
        args = value["args"]
    elif "arguments" in value:
        args = value["arguments"]
        if isinstance(args, str):  # OpenAI style: the arguments as a JSON string
            try:
                args = _loads(args) if args.strip() else {}
            except (ValueError, RecursionError):
                raise _schema_error(
                    '"arguments" is a string that is not a JSON object; use "args":{...}'
                ) from None
    else:
        raise _schema_error(f'the tool call to {compact_json(name)} has no "args" object')
    if not isinstance(args, dict):
        raise _schema_error(f'"args" must be a JSON object, got a JSON {_json_kind(args)}')
    return {"type": "tool", "name": name, "args": args}


# --- disguised tool calls --------------------------------------------------------------------


def _disguised(value: Any, depth: int) -> bool:
    if depth > _MAX_LOOK_DEPTH:
        return False
    if isinstance(value, str):
        return _string_is_tool_call(value, depth)
    if isinstance(value, dict):
        if _dict_is_tool_call(value):
            return True
        return any(_disguised(v, depth + 1) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_disguised(v, depth + 1) for v in value)
    return False


def _dict_is_tool_call(value: dict[Any, Any]) -> bool:
    kind = value.get("type")
    if isinstance(kind, str) and kind.strip().lower() in _DISGUISED_TOOL_TYPES:
        return True
    if isinstance(value.get("tool_calls"), list) or isinstance(value.get("function_call"), dict):
        return True
    named = isinstance(value.get("name"), str) or isinstance(value.get("tool"), str)
    if named and ("args" in value or "arguments" in value):
        args = value.get("args", value.get("arguments"))
        return isinstance(args, dict) or (isinstance(args, str) and args.lstrip()[:1] == "{")
    return False


def _string_is_tool_call(text: str, depth: int) -> bool:
    if "{" not in text:
        return False
    try:
        value = _extract_object(text)
    except EnvelopeError:
        return False
    if _disguised(value, depth + 1):
        return True
    try:
        return isinstance(_to_envelope(value), ToolCall)
    except EnvelopeError:
        return False
