"""Problems in a file a user wrote (YAML, JSON, TOML), one ``file:line: message`` line each.

pydantic names a bad field by its path (``0.absent.kee``) and says "Extra inputs are not
permitted"; PyYAML and tomllib describe their parser state over several lines. A user wants
the file, the line, what is wrong and, for a typo, the name they probably meant::

    rules.yaml:3: unknown key 'kee' in rules[0] (did you mean 'key'?)
    pantheon.toml:1: unknown key 'enigne' (did you mean 'engine'?)

:func:`validation_problems` turns a ``ValidationError`` and the file's text into such
lines, every problem rather than the first; :func:`yaml_syntax_problem` and
:func:`toml_syntax_problem` turn a parser error into one. The loaders (``config``, the
docops rules, the room's settings, ``curve add``) raise their own error with the text of
:func:`problems_text` or :func:`one_line`.
"""

from __future__ import annotations

import difflib
import json
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import yaml
from pydantic import BaseModel, TypeAdapter, ValidationError

Loc = tuple[str | int, ...]
"""A path into parsed data: keys and list indexes (``("rules", 0, "key")``)."""
Kind = Literal["unknown", "missing", "invalid", "syntax"]
Lines = Mapping[Loc, int]
"""The line (1-based) of each key and list item of a file."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a file, where it is, and what kind of thing it is."""

    file: str
    line: int | None
    message: str
    kind: Kind = "invalid"
    column: int | None = None
    path: Loc = ()
    """where in the data (an unknown or missing key: the key's path)"""
    suggestion: str | None = None
    """for an unknown key, the known name closest to it"""

    @property
    def where(self) -> str:
        """``file``, ``file:line`` or ``file:line:column``."""
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return where

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


def closest(word: str, names: Iterable[str]) -> str | None:
    """The known name closest to ``word`` (difflib), or None when none is close."""
    found = difflib.get_close_matches(word, sorted(set(names)), n=1, cutoff=0.6)
    return found[0] if found else None


def problems_text(problems: Sequence[Problem]) -> str:
    """One problem as its line; several as ``file: N problems`` and one indented line each."""
    if len(problems) == 1:
        return str(problems[0])
    files = {p.file for p in problems}
    head = f"{problems[0].file}: " if len(files) == 1 else ""
    return "\n".join([f"{head}{len(problems)} problems", *(f"  {p}" for p in problems)])


def one_line(problems: Sequence[Problem], *, lead: str = "", shown: int = 3) -> str:
    """The problems on one line, after the first one's place and ``lead`` (``not an
    eval.json``): missing keys named together, at most ``shown`` others."""
    missing = [str(p.path[-1]) for p in problems if p.kind == "missing" and p.path]
    parts = []
    if missing:
        names = ", ".join(missing[:shown * 2])
        more = len(missing) - shown * 2
        parts.append(f"missing {names}" + (f" and {more} more" if more > 0 else ""))
    others = [p.message for p in problems if p.kind != "missing"]
    parts.extend(others[:shown])
    if len(others) > shown:
        parts.append(f"{len(others) - shown} more problems")
    return f"{problems[0].where}: " + (f"{lead}: " if lead else "") + "; ".join(parts)


# --------------------------------------------------------------------------- lines


def yaml_lines(text: str) -> dict[Loc, int]:
    """The line of every key and list item of a YAML (or JSON) text; empty if it does not
    parse."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except (yaml.YAMLError, RecursionError):
        return {}
    if root is None:
        return {}
    lines: dict[Loc, int] = {(): root.start_mark.line + 1}
    stack: list[tuple[Loc, yaml.Node]] = [((), root)]
    seen: set[int] = set()
    while stack:
        loc, node = stack.pop()
        if id(node) in seen:  # an alias: its paths were walked once
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    lines.setdefault((*loc, key.value), key.start_mark.line + 1)
                    stack.append(((*loc, key.value), value))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                lines.setdefault((*loc, i), item.start_mark.line + 1)
                stack.append(((*loc, i), item))
    return lines


_TOML_TABLE = re.compile(r"^\s*\[\[?([^\]]+)\]\]?\s*(?:#.*)?$")
_TOML_KEY = re.compile(r"""^\s*((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')"""
                       r"""(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*=""")
_TOML_PART = re.compile(r""""([^"]*)"|'([^']*)'|([A-Za-z0-9_-]+)""")


def _toml_path(text: str) -> Loc:
    return tuple(a or b or c for a, b, c in _TOML_PART.findall(text))


def toml_lines(text: str) -> dict[Loc, int]:
    """The line of every table header and key of a TOML text (a line scan: keys inside
    multi-line strings are skipped, arrays of tables are not numbered)."""
    lines: dict[Loc, int] = {(): 1}
    table: Loc = ()
    in_string = False
    for number, raw in enumerate(text.splitlines(), 1):
        quotes = raw.count('"""') + raw.count("'''")
        if in_string:
            in_string = quotes % 2 == 0
            continue
        if header := _TOML_TABLE.match(raw):
            table = _toml_path(header.group(1))
            lines.setdefault(table, number)
        elif key := _TOML_KEY.match(raw):
            lines.setdefault((*table, *_toml_path(key.group(1))), number)
        in_string = quotes % 2 == 1
    return lines


def line_of(lines: Lines, loc: Loc) -> int | None:
    """The line of ``loc``, or of the nearest enclosing key or item that has one."""
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


# --------------------------------------------------------------------------- syntax


def yaml_syntax_problem(exc: yaml.YAMLError, file: str) -> Problem:
    """A YAML parser error as one line: where, the problem, and its context."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        what = exc.problem or exc.context or "invalid YAML"
        context = f" ({exc.context})" if exc.context and exc.problem else ""
        return Problem(file, mark.line + 1 if mark else None,
                       f"not valid YAML: {what}{context}", "syntax",
                       mark.column + 1 if mark else None)
    return Problem(file, None, f"not valid YAML: {exc}", "syntax")


def json_syntax_problem(exc: json.JSONDecodeError, file: str) -> Problem:
    """A JSON parser error as one line."""
    return Problem(file, exc.lineno, f"not valid JSON: {exc.msg}", "syntax", exc.colno)


_TOML_AT = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")


def toml_syntax_problem(exc: tomllib.TOMLDecodeError, file: str) -> Problem:
    """A TOML parser error as one line (tomllib writes the place into its message)."""
    text = str(exc).splitlines()[0] if str(exc) else "invalid TOML"
    found = _TOML_AT.search(text)
    if found is None:
        return Problem(file, None, f"not valid TOML: {text}", "syntax")
    return Problem(file, int(found.group(1)), f"not valid TOML: {text[:found.start()]}",
                   "syntax", int(found.group(2)))


# --------------------------------------------------------------------------- schema


def _data_path(loc: Loc, data: Any) -> Loc:
    """``loc`` as a path into ``data``: the union tags pydantic adds are left out
    (``(0, "absent", "kee")`` → ``(0, "kee")``); a last key not in the data stays."""
    path: list[str | int] = []
    node = data
    for i, part in enumerate(loc):
        if _has(node, part):
            path.append(part)
            node = node[part]
        elif isinstance(node, Mapping) and i == len(loc) - 1:
            path.append(part)
    return tuple(path)


def _has(node: Any, part: str | int) -> bool:
    if isinstance(node, Mapping):
        return part in node
    return isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)


def _resolve(schema: Mapping[str, Any], defs: Mapping[str, Any]) -> Mapping[str, Any]:
    for _ in range(32):
        ref = schema.get("$ref")
        if not isinstance(ref, str):
            break
        schema = defs.get(ref.rsplit("/", 1)[-1], {})
    return schema


def _branches(schema: Mapping[str, Any], defs: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [_resolve(b, defs) for b in (*schema.get("anyOf", ()), *schema.get("oneOf", ()))]


def _step(schema: Mapping[str, Any], part: str | int,
          defs: Mapping[str, Any]) -> Mapping[str, Any] | None:
    if isinstance(part, int):
        items = schema.get("items")
        return items if isinstance(items, Mapping) else None
    if part in schema.get("properties", {}):
        found: Mapping[str, Any] = schema["properties"][part]
        return found
    mapping = schema.get("discriminator", {}).get("mapping", {})
    if part in mapping:
        return {"$ref": mapping[part]}
    for branch in _branches(schema, defs):
        if part in branch.get("properties", {}):
            found = branch["properties"][part]
            return found
    extra = schema.get("additionalProperties")
    return extra if isinstance(extra, Mapping) else None


def known_names(schema: Mapping[str, Any], loc: Loc) -> list[str]:
    """The field names the JSON ``schema`` allows in the object at pydantic's ``loc``."""
    defs = schema.get("$defs", {})
    node = _resolve(schema, defs)
    for part in loc:
        nxt = _step(node, part, defs)
        if nxt is not None:  # else a union member's tag: the object stays the same
            node = _resolve(nxt, defs)
    for candidate in (node, *_branches(node, defs)):
        if candidate.get("properties"):
            return list(candidate["properties"])
    return []


def schema_of(model: type[BaseModel] | TypeAdapter[Any]) -> dict[str, Any]:
    """The JSON schema of a model or type adapter (empty when it has none)."""
    try:
        if isinstance(model, TypeAdapter):
            return model.json_schema()
        return model.model_json_schema()
    except Exception:  # a type without a JSON schema: no suggestions, nothing worse
        return {}


def _path_text(path: Loc) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _short(value: Any, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _unquote(text: Any) -> str:
    return str(text).strip("'\"")


def _problem(err: Mapping[str, Any], path: Loc, *, file: str, lines: Lines,
             schema: Mapping[str, Any]) -> Problem:
    kind = err["type"]
    inside = f" in {_path_text(path[:-1])}" if len(path) > 1 else ""
    ctx = err.get("ctx") or {}
    if kind == "extra_forbidden" and path:
        key = str(path[-1])
        guess = closest(key, known_names(schema, tuple(err["loc"])[:-1]))
        hint = f" (did you mean '{guess}'?)" if guess else ""
        return Problem(file, line_of(lines, path), f"unknown key '{key}'{inside}{hint}",
                       "unknown", path=path, suggestion=guess)
    if kind == "missing" and path:
        return Problem(file, line_of(lines, path[:-1]),
                       f"missing key '{path[-1]}'{inside}", "missing", path=path)
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        return _tag_problem(kind, ctx, path, file=file, lines=lines)
    value = err.get("input")
    got = f" (got {_short(value)})" if isinstance(value, str | int | float | bool) else ""
    return Problem(file, line_of(lines, path),
                   f"{_path_text(path) or 'file'}: {err['msg']}{got}")


def _tag_problem(kind: str, ctx: Mapping[str, Any], path: Loc, *, file: str,
                 lines: Lines) -> Problem:
    """A tagged union's tag (a rule's ``kind``) that is missing or names no member."""
    field = _unquote(ctx.get("discriminator", "kind"))
    where = _path_text(path) or "file"
    if kind == "union_tag_not_found":
        return Problem(file, line_of(lines, path), f"missing key '{field}' in {where}",
                       "missing", path=(*path, field))
    tags = [_unquote(t) for t in str(ctx.get("expected_tags", "")).split(", ") if t]
    guess = closest(str(ctx.get("tag", "")), tags)
    hint = f"did you mean '{guess}'? " if guess else ""
    return Problem(file, line_of(lines, (*path, field)),
                   f"unknown {field} '{ctx.get('tag')}' in {where} "
                   f"({hint}one of: {', '.join(tags)})")


def validation_problems(exc: ValidationError, *, file: str, data: Any, lines: Lines,
                        schema: Mapping[str, Any] | None = None,
                        prefix: Loc = ()) -> list[Problem]:
    """Every error of ``exc`` as a :class:`Problem`, in file order.

    ``data`` is what was validated and ``lines`` the lines of the whole file; ``prefix`` is
    where ``data`` sits in the file (``("tui",)`` for one table of a TOML file). A missing
    key that an unknown key's suggestion names (``kee`` → ``key``) is said once, as the
    unknown key.
    """
    problems: list[Problem] = []
    for err in exc.errors(include_url=False):
        path = (*prefix, *_data_path(tuple(err["loc"]), data))
        problems.append(_problem(err, path, file=file, lines=lines, schema=schema or {}))
    suggested = {(*p.path[:-1], p.suggestion) for p in problems
                 if p.kind == "unknown" and p.suggestion}
    kept = [p for p in problems if not (p.kind == "missing" and p.path in suggested)]
    return sorted(kept, key=lambda p: p.line if p.line is not None else 0)
