"""A hand-fixed document as the agent's tool calls: the diff between two front matters.

:func:`fix_calls` turns the difference between a document before and after a fix into the
``fm_rename``, ``fm_delete`` and ``fm_set`` calls of the docops agent, in the order the
scripted demonstrator uses, and proves them by replaying them on the parsed front matter.
A difference the tools cannot make (the body edited, a value that does not survive YAML)
raises :class:`InexpressibleFix`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml
from pydantic import BaseModel

from pantheon_engine.docops.check import UnreadableDocument, read_document
from pantheon_engine.docops.rules import KeyAbsent, KeyRenamed, LowercaseKeys, Rule
from pantheon_engine.loop.envelope import ToolCall, envelope_text


class FixCall(BaseModel):
    """One tool call of the demonstration (``path`` is bound by the agent, left out)."""

    name: str
    args: dict[str, Any]

    def text(self) -> str:
        return envelope_text(ToolCall(name=self.name, args=self.args))


class InexpressibleFix(ValueError):
    """The difference between two documents is not a sequence of the agent's edits."""


def _same(a: Any, b: Any) -> bool:
    """Equal values of the same type (``True`` is not ``1``, ``"1"`` is not ``1``)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


def _set_call(key: str, value: Any) -> FixCall:
    """``fm_set``: a string as it is; anything else as YAML with ``parse`` true."""
    if isinstance(value, str):
        return FixCall(name="fm_set", args={"key": key, "value": value})
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True,
                          width=10**6).strip()
    text = text.removesuffix("\n...").strip()
    if "\n" in text:
        raise InexpressibleFix(f"the value of `{key}` does not fit on one line as YAML")
    try:
        again = yaml.safe_load(text)
    except yaml.YAMLError:
        again = None
    if not _same(again, value):
        raise InexpressibleFix(f"the value of `{key}` does not survive being written as "
                               f"YAML text ({text!r})")
    return FixCall(name="fm_set", args={"key": key, "value": text, "parse": True})


def fix_calls(before: str, after: str, rules: list[Rule] | None = None) -> list[FixCall]:
    """The ``fm_*`` calls that turn the front matter of ``before`` into that of ``after``.

    A key that disappears while a new one appears is a rename (``fm_rename``, then
    ``fm_set`` if its value changed too) when a rule says so (``renamed``, ``lowercase_keys``),
    else when only the case of the name changed, else when the new key holds the same value,
    else when it sits in the same place (between the same neighbours); a key an ``absent``
    rule names is always deleted. Other keys that
    disappear are deleted, new or changed ones set. Renames come first, then deletes, then
    sets, as the scripted demonstrator orders them. Raises :class:`InexpressibleFix` when
    the body changed, a document is unreadable, or the calls would not give ``after``'s
    front matter.
    """
    try:
        old, new = read_document(before), read_document(after)
    except UnreadableDocument as exc:
        raise InexpressibleFix(f"the front matter cannot be read: {exc}") from None
    if old.body.replace("\r\n", "\n") != new.body.replace("\r\n", "\n"):
        raise InexpressibleFix("the body changed: the agent's tools edit the front matter only")
    rules = rules or []
    old_keys, new_keys = list(old.meta), list(new.meta)
    absent = {r.key for r in rules if isinstance(r, KeyAbsent)}
    removed = [k for k in old_keys if k not in new.meta]
    added = [k for k in new_keys if k not in old.meta]
    renames: dict[str, str] = {}

    def pair(match: Callable[[str, str], bool]) -> None:
        for key in removed:
            if key in renames or key in absent:
                continue
            found = next((n for n in added if n not in renames.values() and match(key, n)),
                         None)
            if found is not None:
                renames[key] = found

    named = {r.key: r.to for r in rules if isinstance(r, KeyRenamed)}
    lowercase = any(isinstance(r, LowercaseKeys) for r in rules)
    pair(lambda k, n: named.get(k) == n or (lowercase and k.lower() == n))
    pair(lambda k, n: k.lower() == n.lower())
    pair(lambda k, n: _same(old.meta[k], new.meta[n]))

    def old_anchor(k: str) -> str | None:  # a key both documents have, by its new name
        return renames.get(k, k if k in new.meta else None)

    def new_anchor(n: str) -> str | None:
        return n if n in old.meta or n in renames.values() else None

    pair(lambda k, n: _neighbours(old_keys, k, old_anchor) == _neighbours(new_keys, n,
                                                                          new_anchor))
    ordered = sorted(renames.items(), key=lambda item: old_keys.index(item[0]))
    calls = [FixCall(name="fm_rename", args={"key": k, "new_key": n}) for k, n in ordered]
    calls += [FixCall(name="fm_delete", args={"key": k}) for k in removed if k not in renames]
    renamed_to = {n: k for k, n in renames.items()}
    for key in new_keys:
        was = renamed_to.get(key, key)
        if was in old.meta and _same(old.meta[was], new.meta[key]):
            continue
        calls.append(_set_call(key, new.meta[key]))
    state = _simulate(old.meta, calls)
    if set(state) != set(new.meta) or not all(_same(state[k], new.meta[k]) for k in state):
        raise InexpressibleFix("the calls found do not reproduce the fixed front matter")
    return calls


def _neighbours(keys: list[str], key: str,
                anchor: Callable[[str], str | None]) -> tuple[str | None, str | None]:
    """The nearest keys before and after ``key`` that ``anchor`` names in both documents."""
    index = keys.index(key)
    before = next((a for k in reversed(keys[:index]) if (a := anchor(k)) is not None), None)
    after = next((a for k in keys[index + 1:] if (a := anchor(k)) is not None), None)
    return before, after


def _simulate(meta: dict[str, Any], calls: list[FixCall]) -> dict[str, Any]:
    state = dict(meta)
    for call in calls:
        key = call.args["key"]
        if call.name == "fm_rename":
            state = {(call.args["new_key"] if k == key else k): v for k, v in state.items()}
        elif call.name == "fm_delete":
            state.pop(key, None)
        else:
            value = call.args["value"]
            state[key] = yaml.safe_load(value) if call.args.get("parse") else value
    return state
