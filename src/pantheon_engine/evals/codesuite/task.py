"""One code task: what a family draws (a :class:`Draft`), and the files it becomes.

A draft is a function to write: its name and signature, the docstring paragraphs that say
what it does (edge rules included), the body of a reference implementation, and the
arguments to test it on: ``examples`` (shown in the docstring), ``edges`` and ``cases``
(hidden). The expected values are not part of the draft: :mod:`.verify` computes them by
running the reference, and only then are the stub (signature and docstring, no body) and
the hidden test file rendered from them.
"""

from __future__ import annotations

import random
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Args = tuple[Any, ...]
#: docstring lines are wrapped to this width (the stub is read by a model, not linted)
DOC_WIDTH = 88


@dataclass(frozen=True)
class Draft:
    """A function to write, drawn by a family."""

    family: str
    name: str
    params: tuple[tuple[str, str], ...]  # (name, annotation)
    returns: str
    doc: tuple[str, ...]  # docstring paragraphs: what it does, then its rules
    body: str  # the reference implementation's body, unindented
    examples: tuple[Args, ...]  # shown in the docstring; must return, not raise
    edges: tuple[Args, ...]
    cases: tuple[Args, ...]
    #: two drafts of one family with the same key are the same task
    key: tuple[Any, ...] = field(default=())

    @property
    def signature(self) -> str:
        params = ", ".join(f"{name}: {annotation}" for name, annotation in self.params)
        return f"def {self.name}({params}) -> {self.returns}:"


@dataclass(frozen=True)
class Outcome:
    """What the reference did with one call: returned ``value``, or raised ``raised``."""

    args: Args
    value: Any = None
    raised: str | None = None


@dataclass(frozen=True)
class Family:
    """A generator of drafts of one kind of function; ``draw`` varies them by the seed."""

    name: str
    what: str  # one line, for the suite's record
    draw: Callable[[random.Random], Draft]


def call_text(name: str, args: Args) -> str:
    return f"{name}({', '.join(repr(a) for a in args)})"


def docstring(draft: Draft, examples: Sequence[Outcome]) -> str:
    """The docstring block, indented for the function body, quotes included."""
    lines: list[str] = []
    for number, paragraph in enumerate(draft.doc):
        if number:
            lines.append("")
        lines += textwrap.wrap(paragraph, DOC_WIDTH - 4)
    if examples:
        lines += ["", "Examples:"]
        for outcome in examples:
            lines += [f">>> {call_text(draft.name, outcome.args)}", repr(outcome.value)]
    body = "\n".join(f"    {line}" if line else "" for line in lines)
    return f'    """{body.lstrip()}\n    """\n'


def stub_text(draft: Draft, examples: Sequence[Outcome]) -> str:
    """The module the task starts from: the signature and docstring, no body."""
    return f"{draft.signature}\n{docstring(draft, examples)}"


def reference_text(draft: Draft, examples: Sequence[Outcome]) -> str:
    """The stub completed by the reference body: the module that passes the tests."""
    return stub_text(draft, examples) + textwrap.indent(draft.body.strip("\n") + "\n", "    ")


def _asserts(name: str, outcomes: Sequence[Outcome]) -> list[str]:
    lines = []
    for outcome in outcomes:
        if outcome.raised is not None:
            args = "".join(f", {a!r}" for a in outcome.args)
            lines.append(f"    assert _raises({outcome.raised}, {name}{args}), "
                         f"\"{name} should raise {outcome.raised} here\"")
        else:
            lines.append(f"    assert {call_text(name, outcome.args)} == {outcome.value!r}")
    return lines


TEST_HEAD = '''\
"""Hidden tests of {task_id}: {name}. Generated with the task, from its reference
implementation; the agent never sees this file."""

import importlib.util
import pathlib

_PATH = pathlib.Path(__file__).resolve().parents[2] / "{path}"


def _load():
    spec = importlib.util.spec_from_file_location("{module}", _PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.{name}


def _raises(error, function, *args):
    try:
        function(*args)
    except error:
        return True
    return False
'''


def hidden_tests_text(task_id: str, draft: Draft, path: str,
                      groups: Mapping[str, Sequence[Outcome]]) -> str:
    """The hidden test module: one test function per non-empty group of outcomes."""
    module = path.removesuffix(".py").replace("/", "_")
    parts = [TEST_HEAD.format(task_id=task_id, name=draft.name, path=path, module=module)]
    for group, outcomes in groups.items():
        if outcomes:
            parts.append(f"\n\ndef test_{group}():\n    {draft.name} = _load()\n"
                         + "\n".join(_asserts(draft.name, outcomes)) + "\n")
    return "".join(parts)
