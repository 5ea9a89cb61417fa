"""Key bindings with ids, and the user's overrides of them.

Every binding of the control room has an id (``room.queue``, ``queue.requeue`` …). The
``[tui.keys]`` table of ``pantheon.toml`` maps ids to keys; an id nobody defines, or an
empty key list, is reported and ignored, so a typo never costs the user the whole keymap.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from textual.binding import Binding, BindingType


@dataclass(frozen=True)
class BindingInfo:
    """A binding as the help screen and the palette show it."""

    id: str
    keys: str
    description: str
    action: str
    scope: str  # "room" or the screen's name


def binding_ids(bindings: Iterable[BindingType]) -> list[str]:
    return [b.id for b in bindings if isinstance(b, Binding) and b.id]


def check_keymap(overrides: Mapping[str, str], known: Iterable[str]) -> tuple[dict[str, str],
                                                                             list[str]]:
    """The overrides that name a known binding id, and a message for each that does not."""
    known_ids = set(known)
    keymap: dict[str, str] = {}
    problems: list[str] = []
    for binding_id, keys in overrides.items():
        if binding_id not in known_ids:
            problems.append(f"tui.keys: no binding with id {binding_id!r}")
            continue
        cleaned = ",".join(k.strip() for k in keys.split(",") if k.strip())
        if not cleaned:
            problems.append(f"tui.keys: {binding_id!r} has no keys")
            continue
        keymap[binding_id] = cleaned
    return keymap, problems


def describe(bindings: Iterable[BindingType], scope: str,
             keymap: Mapping[str, str]) -> list[BindingInfo]:
    """The bindings of one scope with the user's keys applied."""
    found = []
    for b in bindings:
        if not isinstance(b, Binding) or not b.id:
            continue
        keys = keymap.get(b.id, b.key)
        found.append(BindingInfo(b.id, keys, b.description, b.action, scope))
    return found
