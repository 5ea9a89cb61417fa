"""Whitespace-free regular expressions for JSON schemas (constrained decoding).

A tiny model under a plain JSON-schema constraint spends its token budget on newlines and
indentation, because a JSON grammar allows whitespace anywhere. A regular expression that
admits only the *compact* form (``json.dumps(..., separators=(",", ":"))``) leaves it no
such room. This module turns the JSON schema that pydantic's ``model_json_schema()`` writes
into such a regex, and builds the tool-loop envelope regex from the tools' argument schemas.

The dialect is the common subset of Python's :mod:`re` and XGrammar's regex converter (the
engine behind OpenVINO GenAI's ``StructuredOutputConfig.regex``), so the same string is fed
to the engine and checked with ``re.fullmatch`` in tests:

* only capturing groups ``( … )`` (older XGrammar releases reject ``(?:``), ``|``, ``?``,
  ``*``, ``+``, ``{n}``, ``{n,}``, ``{n,m}`` (never ``{,m}``);
* character classes with ``\\xHH`` escapes, no shorthand classes (``\\d``, ``\\w``, ``\\s``
  meant different things in older XGrammar releases);
* no anchors, lookarounds, backreferences, lazy or possessive quantifiers, no empty
  alternatives;
* literal metacharacters escaped with a backslash, nothing else escaped.

Bounded repetition has a cliff in XGrammar: an upper bound up to 128 is expanded into a
small automaton and costs little, a larger one switches to a repetition construct that is
slow to compile and to match (measured with SmolLM2-135M on 2 CPU cores: the 3-tool
envelope compiled in 1.3 s with strings bounded at 128 characters, in 44 s at 129; a
single string bounded at 200 slowed decoding inside it to ~70 ms/token). Hence
``max_string`` defaults to :data:`XGRAMMAR_REPEAT_LIMIT`. ``*`` is cheap too: pass
``max_string=None`` / ``max_items=None`` for unbounded strings / arrays (``max_new_tokens``
still bounds the output). An explicit ``maxLength`` above the limit becomes ``*`` (the
parsed value is validated against the model afterwards, so the bound still holds); an
explicit ``maxItems`` is honoured.

What the regex does not enforce (it accepts a superset; validate the parsed value with the
pydantic model afterwards): ``pattern``, most ``format`` values, ``multipleOf``, numeric
bounds on floats and on wide integer ranges, ``uniqueItems``, additional properties of
objects that declare ``properties`` (closed: they are left out).
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Mapping
from typing import Any

__all__ = [
    "BLOCK",
    "INTEGER",
    "NUMBER",
    "STRING_CHAR",
    "XGRAMMAR_REPEAT_LIMIT",
    "compact_json",
    "envelope_regex",
    "regex_literal",
    "schema_to_regex",
    "without_property",
]

#: The largest repetition bound XGrammar expands cheaply (see the module docstring).
XGRAMMAR_REPEAT_LIMIT = 128

#: One character of a JSON string body: anything but ``"``, ``\\`` and control characters,
#: or one of JSON's escapes.
STRING_CHAR = r'([^"\\\x00-\x1f]|\\(["\\/bfnrt]|u[0-9a-fA-F]{4}))'
#: A JSON integer (at most 16 digits).
INTEGER = r"-?(0|[1-9][0-9]{0,15})"
#: A JSON number as Python's ``json.dumps`` writes floats (``1.5``, ``1e-05``, ``1e+16``).
NUMBER = r"-?(0|[1-9][0-9]{0,15})(\.[0-9]{1,20})?([eE][+-]?[0-9]{1,3})?"

_BOOLEAN = "(true|false)"
_NULL = "null"
_META = set("\\^$.|?*+()[]{}/")

#: Exact shapes for the ``format`` values pydantic writes, as pydantic serialises them.
_DIGITS2 = "[0-9]{2}"
_DATE = "[0-9]{4}-" + _DIGITS2 + "-" + _DIGITS2
_TIME = _DIGITS2 + ":" + _DIGITS2 + ":" + _DIGITS2 + r"(\.[0-9]{1,6})?"
_TZ = "(Z|[+-]" + _DIGITS2 + ":" + _DIGITS2 + ")"
_HEX = "[0-9a-fA-F]"
_FORMATS = {
    "date": _DATE,
    "time": _TIME + _TZ + "?",
    "date-time": _DATE + "T" + _TIME + _TZ + "?",
    "uuid": f"{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}",
}

#: Keys that only annotate a schema; a schema with nothing else accepts any value.
_ANNOTATIONS = frozenset(
    {
        "title",
        "description",
        "default",
        "examples",
        "deprecated",
        "readOnly",
        "writeOnly",
        "$schema",
        "$id",
        "$comment",
        "$defs",
        "definitions",
    }
)

#: How deep the generic "any JSON value" goes: 1 means arrays/objects of scalars.
_ANY_DEPTH = 1
#: A regex longer than this is refused: the engine would take ages to compile it.
_MAX_REGEX_CHARS = 2_000_000


def compact_json(value: Any) -> str:
    """The canonical compact JSON text of ``value``: no spaces, non-ASCII kept as is.

    This is the form :func:`schema_to_regex` matches; the tool loop and the tests use it
    whenever they write JSON a model should imitate.
    """
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def regex_literal(text: str) -> str:
    """Escape ``text`` so that it matches itself, in the dialect described above."""
    out: list[str] = []
    for ch in text:
        if ch in _META:
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return "".join(out)


def schema_to_regex(
    schema: Mapping[str, Any] | Any,
    *,
    max_string: int | None = XGRAMMAR_REPEAT_LIMIT,
    max_items: int | None = 8,
    max_recursion: int = 2,
) -> str:
    """Return a whitespace-free regex matching the compact JSON of instances of ``schema``.

    ``schema`` is a JSON schema as pydantic's ``model_json_schema()`` writes it (a pydantic
    model class is accepted too). Objects list their properties in declared order; optional
    properties may be left out. ``max_string`` bounds strings without ``maxLength`` and
    ``max_items`` bounds arrays without ``maxItems`` and the pairs of ``dict``-like objects
    (``None``: unbounded). ``max_recursion`` is how many times a recursive ``$ref`` may be
    expanded inside itself; below that depth only the non-recursive alternatives remain
    (an empty list, ``null``).

    Raises ``ValueError`` for a schema no finite value satisfies within these bounds, an
    unresolvable ``$ref`` or an unsupported construct.
    """
    schema = _as_schema(schema)
    for name, bound in (("max_string", max_string), ("max_items", max_items)):
        if bound is not None and bound < 0:
            raise ValueError(f"{name} must be >= 0 or None, got {bound}")
    if max_recursion < 0:
        raise ValueError(f"max_recursion must be >= 0, got {max_recursion}")
    builder = _Builder(
        schema, max_string=max_string, max_items=max_items, max_recursion=max_recursion
    )
    regex = builder.build(schema)
    if regex is None:
        raise ValueError("no JSON value satisfies this schema within the given bounds")
    if len(regex) > _MAX_REGEX_CHARS:
        raise ValueError(
            f"the regex for this schema is {len(regex)} characters long; lower max_string, "
            "max_items or max_recursion"
        )
    return regex


#: A fenced block after an envelope: the opening fence with an optional language word, any
#: text without a run of three backticks, the closing fence and an optional newline. The
#: newline matters: tokenizers have a token for "```" + newline, and a grammar that forbids
#: it leaves a model that means to close the block writing "``" and running on.
BLOCK = r"\x0a```[a-z0-9_+-]{0,16}\x0a([^`]|`[^`]|``[^`])*```(\x0a)?"


def envelope_regex(
    tools: Mapping[str, Mapping[str, Any] | Any],
    final_schema: Mapping[str, Any] | Any | None,
    *,
    blocks: Mapping[str, str] | None = None,
    **kw: Any,
) -> str:
    """Regex for one tool-loop reply: a call of one of ``tools`` or the final answer.

    ``tools`` maps each tool name to its argument schema. Each tool contributes the branch
    ``{"type":"tool","name":"<name>","args":<args>}``; ``final_schema`` (unless ``None``)
    contributes ``{"type":"final","output":<output>}``. ``blocks`` maps a tool to its block
    argument: that argument leaves the JSON and follows it as a fenced block
    (:data:`BLOCK`; see :mod:`pantheon_engine.loop.envelope`). ``kw`` goes to
    :func:`schema_to_regex`.
    """
    branches: list[str] = []
    for name, args_schema in tools.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"tool names must be non-empty strings, got {name!r}")
        block = (blocks or {}).get(name)
        if block is not None:
            args_schema = without_property(_as_schema(args_schema), block)
        try:
            args = schema_to_regex(args_schema, **kw)
        except ValueError as exc:
            raise ValueError(f"tool {name!r}: {exc}") from exc
        head = regex_literal(compact_json({"type": "tool", "name": name})[:-1] + ',"args":')
        branches.append(head + args + r"\}" + (BLOCK if block is not None else ""))
    if final_schema is not None:
        try:
            output = schema_to_regex(final_schema, **kw)
        except ValueError as exc:
            raise ValueError(f"final output: {exc}") from exc
        branches.append(regex_literal('{"type":"final","output":') + output + r"\}")
    if not branches:
        raise ValueError("an envelope needs at least one tool or a final schema")
    return _alt(branches)


# --- internals ------------------------------------------------------------------------------


def without_property(schema: Mapping[str, Any], name: str) -> dict[str, Any]:
    """``schema`` (an object schema) without the property ``name``."""
    if "properties" not in schema:
        return dict(schema)
    return {
        **schema,
        "properties": {k: v for k, v in schema["properties"].items() if k != name},
        "required": [k for k in schema.get("required", []) if k != name],
    }


def narrow(schema: Mapping[str, Any], field: str, values: list[str]) -> dict[str, Any]:
    """A copy of a tool's args schema whose ``field`` only admits ``values``."""
    narrowed = copy.deepcopy(dict(schema))
    narrowed["properties"][field] = {"type": "string", "enum": list(dict.fromkeys(values))}
    return narrowed


def _as_schema(schema: Any) -> Mapping[str, Any]:
    """Accept a schema mapping, or a pydantic model class (its ``model_json_schema()``)."""
    if isinstance(schema, Mapping):
        return schema
    to_schema = getattr(schema, "model_json_schema", None)
    if callable(to_schema):
        model_schema: Mapping[str, Any] = to_schema()
        return model_schema
    if schema is True:
        return {}
    raise ValueError(f"expected a JSON schema (a mapping), got {type(schema).__name__}")


def _alt(options: list[str]) -> str:
    """Alternation of distinct options, in order; a single option needs no group."""
    unique = list(dict.fromkeys(options))
    if len(unique) == 1:
        return unique[0]
    return "(" + "|".join(unique) + ")"


def _group(regex: str) -> str:
    """Wrap ``regex`` so that a quantifier applies to all of it."""
    return f"({regex})"


def _repeat(unit: str, lo: int, hi: int | None) -> str:
    """``unit`` repeated ``lo`` to ``hi`` times (``hi=None``: no upper bound); ``unit`` must
    already be a single atom (a group, a class or one literal character)."""
    if hi is not None and hi < lo:
        raise ValueError(f"repetition bounds {lo}..{hi} are empty")
    if hi == 0:
        return ""
    if hi is None:
        if lo == 0:
            return unit + "*"
        if lo == 1:
            return unit + "+"
        return f"{unit}{{{lo},}}"
    if lo == hi:
        return unit if lo == 1 else f"{unit}{{{lo}}}"
    if (lo, hi) == (0, 1):
        return unit + "?"
    return f"{unit}{{{lo},{hi}}}"


def _json_literal(value: Any) -> str:
    return regex_literal(compact_json(value))


def _int_bound(schema: Mapping[str, Any], key: str, exclusive: str, lower: bool) -> int | None:
    """The tightest integer bound that ``key`` / ``exclusive`` set (``None``: no bound)."""
    bounds: list[int] = []
    for name, is_exclusive in ((key, False), (exclusive, True)):
        value = schema.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if lower:
            bound = math.ceil(value)
            bounds.append(bound + 1 if is_exclusive and bound == value else bound)
        else:
            bound = math.floor(value)
            bounds.append(bound - 1 if is_exclusive and bound == value else bound)
    if not bounds:
        return None
    return max(bounds) if lower else min(bounds)


class _Builder:
    """Walks one schema (with its ``$defs``) and builds the regex; ``None`` = no match."""

    def __init__(
        self,
        root: Mapping[str, Any],
        *,
        max_string: int | None,
        max_items: int | None,
        max_recursion: int,
    ) -> None:
        self.root = root
        self.max_string = max_string
        self.max_items = max_items
        self.max_recursion = max_recursion
        self.ref_stack: list[str] = []

    # entry -------------------------------------------------------------------------------

    def build(self, schema: Any) -> str | None:
        if schema is True:
            return self.any_value(_ANY_DEPTH)
        if schema is False:
            return None
        if not isinstance(schema, Mapping):
            raise ValueError(f"a schema must be a mapping or a boolean, got {schema!r}")

        if "$ref" in schema:
            return self.ref(schema)
        if "const" in schema:
            return _json_literal(schema["const"])
        if "enum" in schema:
            values = schema["enum"]
            if not isinstance(values, list) or not values:
                raise ValueError(f"enum must be a non-empty list, got {values!r}")
            return _alt([_json_literal(v) for v in values])
        for key in ("anyOf", "oneOf"):
            if key in schema:
                options = schema[key]
                if not isinstance(options, list) or not options:
                    raise ValueError(f"{key} must be a non-empty list")
                return self.alternatives([self.build(s) for s in options])
        if "allOf" in schema:
            parts = schema["allOf"]
            if isinstance(parts, list) and len(parts) == 1:
                return self.build(parts[0])
            raise ValueError("allOf with several schemas is not supported")

        kind = schema.get("type")
        if isinstance(kind, list):
            return self.alternatives([self.build({**schema, "type": k}) for k in kind])
        if kind is None:
            if "properties" in schema or "additionalProperties" in schema:
                kind = "object"
            elif "items" in schema or "prefixItems" in schema:
                kind = "array"
            elif set(schema) <= _ANNOTATIONS:
                return self.any_value(_ANY_DEPTH)
            else:
                unknown = sorted(set(schema) - _ANNOTATIONS)
                raise ValueError(f"cannot tell the type of a schema with keys {unknown}")

        if kind == "string":
            return self.string(schema)
        if kind == "integer":
            return self.integer(schema)
        if kind == "number":
            return self.number(schema)
        if kind == "boolean":
            return _BOOLEAN
        if kind == "null":
            return _NULL
        if kind == "array":
            return self.array(schema)
        if kind == "object":
            return self.object(schema)
        raise ValueError(f"unsupported schema type {kind!r}")

    @staticmethod
    def alternatives(options: list[str | None]) -> str | None:
        possible = [o for o in options if o is not None]
        return _alt(possible) if possible else None

    # references --------------------------------------------------------------------------

    def ref(self, schema: Mapping[str, Any]) -> str | None:
        ref = schema["$ref"]
        if not isinstance(ref, str) or not ref.startswith("#"):
            raise ValueError(f"only local $ref values are supported, got {ref!r}")
        if self.ref_stack.count(ref) > self.max_recursion:
            return None  # recursion bound reached: only non-recursive alternatives remain
        target: Any = self.root
        for part in ref[1:].split("/"):
            if not part:
                continue
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(target, Mapping) or part not in target:
                raise ValueError(f"cannot resolve $ref {ref!r}")
            target = target[part]
        siblings = {k: v for k, v in schema.items() if k != "$ref" and k not in _ANNOTATIONS}
        if siblings:
            if not isinstance(target, Mapping):
                raise ValueError(f"$ref {ref!r} does not point to a schema")
            target = {**target, **siblings}
        self.ref_stack.append(ref)
        try:
            return self.build(target)
        finally:
            self.ref_stack.pop()

    # scalars -----------------------------------------------------------------------------

    def string(self, schema: Mapping[str, Any]) -> str | None:
        lo = int(schema.get("minLength", 0))
        hi: int | None = schema.get("maxLength")
        fmt = schema.get("format")
        if fmt in _FORMATS and "maxLength" not in schema and "minLength" not in schema:
            return '"' + _FORMATS[fmt] + '"'
        if hi is None:
            hi = self.max_string
            if hi is not None and hi < lo:
                hi = lo
        elif hi < lo:
            return None
        elif hi > XGRAMMAR_REPEAT_LIMIT:
            hi = None  # past the cliff: unbounded is cheap, pydantic enforces maxLength
        return '"' + _repeat(STRING_CHAR, lo, hi) + '"'

    def integer(self, schema: Mapping[str, Any]) -> str | None:
        lo = _int_bound(schema, "minimum", "exclusiveMinimum", lower=True)
        hi = _int_bound(schema, "maximum", "exclusiveMaximum", lower=False)
        if lo is not None and hi is not None:
            if hi < lo:
                return None
            if hi - lo < 64:  # a small range: spell the values out
                return _alt([str(v) for v in range(lo, hi + 1)])
        if lo is not None and lo >= 1:
            return "[1-9][0-9]{0,15}"
        if lo == 0:
            return "(0|[1-9][0-9]{0,15})"
        if hi is not None and hi < 0:
            return "-[1-9][0-9]{0,15}"
        return INTEGER

    def number(self, schema: Mapping[str, Any]) -> str | None:
        lo = schema.get("minimum", schema.get("exclusiveMinimum"))
        if isinstance(lo, int | float) and not isinstance(lo, bool) and lo >= 0:
            return NUMBER[2:]  # no minus sign
        return NUMBER

    # containers --------------------------------------------------------------------------

    def _items_bounds(self, schema: Mapping[str, Any], fixed: int = 0) -> tuple[int, int | None]:
        lo = max(int(schema.get("minItems", 0)) - fixed, 0)
        if "maxItems" in schema:
            hi: int | None = int(schema["maxItems"]) - fixed
        elif self.max_items is None:
            hi = None
        else:
            hi = max(self.max_items - fixed, lo)
        return lo, hi

    def array(self, schema: Mapping[str, Any]) -> str | None:
        prefix_schemas = schema.get("prefixItems") or []
        items = schema.get("items", None if prefix_schemas else True)
        prefix: list[str] = []
        for sub in prefix_schemas:
            part = self.build(sub)
            if part is None:
                return None
            prefix.append(part)
        lo, hi = self._items_bounds(schema, fixed=len(prefix))
        if hi is not None and hi < lo:
            return None
        item = None if items is None or items is False else self.build(items)
        if item is None:
            if lo > 0:
                return None
            hi = 0
        if not prefix:
            return _container("[", "]", item or "", lo, hi)
        body = ",".join(prefix)
        if hi != 0 and item is not None:
            body += _repeat(_group("," + item), lo, hi)
        return r"\[" + body + r"\]"

    def object(self, schema: Mapping[str, Any]) -> str | None:
        properties = schema.get("properties")
        if properties is None:
            extra = schema.get("additionalProperties", True)
            if extra is False:
                return r"\{\}"
            return self.pairs(schema, extra)
        required = set(schema.get("required", []))
        members: list[tuple[str, bool]] = []
        for name, sub in properties.items():
            value = self.build(sub)
            if value is None:
                if name in required:
                    return None
                continue
            members.append((_json_literal(name) + ":" + value, name in required))
        return r"\{" + _members(members) + r"\}"

    def pairs(self, schema: Mapping[str, Any], value_schema: Any) -> str | None:
        """A ``dict[str, X]``: up to a bounded number of ``"key":value`` pairs."""
        key = self.build(schema.get("propertyNames") or {"type": "string"})
        value = self.build(value_schema)
        lo = int(schema.get("minProperties", 0))
        if "maxProperties" in schema:
            hi: int | None = int(schema["maxProperties"])
        else:
            hi = None if self.max_items is None else max(self.max_items, lo)
        if key is None or value is None or hi == 0:
            return r"\{\}" if lo == 0 else None
        return _container("{", "}", key + ":" + value, lo, hi)

    def any_value(self, depth: int) -> str:
        """A bounded generic JSON value: scalars, and containers of them up to ``depth``."""
        scalar = _alt([self.string({"type": "string"}) or '""', NUMBER, _BOOLEAN, _NULL])
        if depth <= 0:
            return scalar
        inner = self.any_value(depth - 1)
        key = self.string({"type": "string"}) or '""'
        hi = self.max_items
        array = _container("[", "]", inner, 0, hi)
        obj = _container("{", "}", key + ":" + inner, 0, hi)
        # lo = 0 <= hi (max_items is checked >= 0), so neither container can be None
        assert array is not None and obj is not None
        return _alt([scalar, array, obj])


def _container(open_: str, close: str, element: str, lo: int, hi: int | None) -> str | None:
    """``open`` + ``lo``..``hi`` comma-separated ``element`` + ``close``."""
    if hi is not None and hi < lo:
        return None
    left, right = "\\" + open_, "\\" + close
    if hi == 0:
        return left + right
    rest = _repeat(_group("," + element), max(lo - 1, 0), None if hi is None else hi - 1)
    body = element + rest
    return left + (body if lo > 0 else _group(body) + "?") + right


def _members(members: list[tuple[str, bool]]) -> str:
    """Object members in order, required ones always, optional ones maybe, comma-separated.

    With a required member the regex is linear: the optional members before the first
    required one carry a trailing comma, those after it a leading one. With none required
    it is an alternation over which member comes first (quadratic in the member count).
    """
    if not members:
        return ""
    first_required = next((i for i, (_, req) in enumerate(members) if req), None)
    if first_required is not None:
        out: list[str] = []
        for i, (member, req) in enumerate(members):
            if i < first_required:
                out.append(_group(member + ",") + "?")
            elif i == first_required:
                out.append(member)
            elif req:
                out.append("," + member)
            else:
                out.append(_group("," + member) + "?")
        return "".join(out)
    starts: list[str] = []
    for i, (member, _) in enumerate(members):
        tail = "".join(_group("," + m) + "?" for m, _ in members[i + 1 :])
        starts.append(member + tail)
    return _group("|".join(starts)) + "?"
