"""Running a draft's reference, and proving the rendered task fair before it is written.

:func:`run_reference` calls the reference implementation on every drawn input (deep
copies, so a reference that mutates its input cannot change a later case) and records
what it returned or raised: these are the expected values, never written by hand. Every
value must be a Python literal that reads back equal and of the same shape (the test file
holds it as ``repr``).

:func:`check_task` then runs the rendered test module itself, in-process, against three
versions of the task's file: the reference must pass every test, while the stub (no body:
it returns None) and an echo (returns its first argument unchanged) must each fail one.
A task that breaks any of this is a :class:`TaskDefect`: a bug in its family, never
something to write to a suite.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pantheon_engine.evals.codesuite.task import Args, Draft, Outcome

#: the only exceptions a task's rules may ask for (the test file names them)
ALLOWED_ERRORS: dict[str, type[Exception]] = {"ValueError": ValueError}
GROUPS = ("examples", "edge_cases", "more_cases")


class TaskDefect(RuntimeError):
    """A drawn task that is not a fair task: its family has a bug."""


def _compile_function(draft: Draft, body: str) -> Callable[..., Any]:
    source = f"{draft.signature}\n{textwrap.indent(body.strip(chr(10)) + chr(10), '    ')}"
    namespace: dict[str, Any] = {"__name__": f"reference_{draft.name}"}
    try:
        exec(compile(source, f"<reference {draft.family}/{draft.name}>", "exec"), namespace)
    except SyntaxError as exc:
        raise TaskDefect(f"{draft.family}: the reference of {draft.name} does not compile: "
                         f"{exc}") from None
    function: Callable[..., Any] = namespace[draft.name]
    return function


def _literal(value: Any) -> bool:
    """Whether ``repr(value)`` reads back as an equal value of the same shape."""
    try:
        back = ast.literal_eval(repr(value))
    except (ValueError, SyntaxError, RecursionError):
        return False
    return bool(back == value) and repr(back) == repr(value)


def _outcome(draft: Draft, function: Callable[..., Any], args: Args) -> Outcome:
    try:
        value = function(*copy.deepcopy(args))
    except tuple(ALLOWED_ERRORS.values()) as exc:
        return Outcome(args=args, raised=type(exc).__name__)
    except Exception as exc:
        raise TaskDefect(f"{draft.family}: {draft.name}{args!r} raised "
                         f"{type(exc).__name__}: {exc}") from exc
    if not _literal(value):
        raise TaskDefect(f"{draft.family}: {draft.name}{args!r} returned {value!r}, which "
                         "a test file cannot hold as a literal")
    return Outcome(args=args, value=value)


def run_reference(draft: Draft) -> dict[str, list[Outcome]]:
    """The reference's outcome on each input, by test group (a repeated input once).

    The docstring shows only examples that return: one that raises joins the edge cases.
    """
    function = _compile_function(draft, draft.body)
    seen: set[str] = set()
    groups: dict[str, list[Outcome]] = {}
    for group, inputs in zip(GROUPS, (draft.examples, draft.edges, draft.cases), strict=True):
        groups[group] = []
        for args in inputs:
            if repr(args) in seen:
                continue
            seen.add(repr(args))
            groups[group].append(_outcome(draft, function, args))
    # an example that raises is not shown in the docstring; it stays a hidden edge case
    shown = [o for o in groups["examples"] if o.raised is None]
    groups["edge_cases"][:0] = [o for o in groups["examples"] if o.raised is not None]
    groups["examples"] = shown
    if not shown:
        raise TaskDefect(f"{draft.family}: no example of {draft.name} returns a value")
    if any("\\" in repr(o.value) or "\\" in repr(o.args) for o in shown):
        raise TaskDefect(f"{draft.family}: an example of {draft.name} needs a backslash, "
                         "which a docstring would read as an escape")
    return groups


@contextlib.contextmanager
def _no_bytecode() -> Iterator[None]:
    """No ``__pycache__``: the same path holds three versions within one second, and a
    cached one could be taken for the next."""
    before = sys.dont_write_bytecode
    sys.dont_write_bytecode = True
    try:
        yield
    finally:
        sys.dont_write_bytecode = before


def _run_tests(test_path: Path, text: str) -> dict[str, str | None]:
    """Each ``test_*`` function of the test module: None when it passed, else why not."""
    namespace: dict[str, Any] = {"__name__": "hidden_tests", "__file__": str(test_path)}
    exec(compile(text, str(test_path), "exec"), namespace)
    results: dict[str, str | None] = {}
    for name, test in namespace.items():
        if name.startswith("test_") and callable(test):
            try:
                test()
                results[name] = None
            except Exception as exc:  # the code under test may raise anything
                results[name] = f"{type(exc).__name__}: {exc}"
    return results


def echo_text(draft: Draft) -> str:
    """A wrong solution that returns its first argument unchanged."""
    return f"{draft.signature}\n    return {draft.params[0][0]}\n"


def check_task(workspace: Path, path: str, tests_path: str, draft: Draft, *,
               reference: str, stub: str, tests: str) -> None:
    """Prove the task fair in ``workspace`` (a scratch folder): the reference passes every
    test of ``tests`` and the stub and the echo each fail one; else :class:`TaskDefect`."""
    if "\\" in stub:
        raise TaskDefect(f"{draft.family}: the stub of {draft.name} holds a backslash")
    module = workspace / path
    module.parent.mkdir(parents=True, exist_ok=True)
    test_path = workspace / tests_path
    test_path.parent.mkdir(parents=True, exist_ok=True)
    for label, text in (("reference", reference), ("stub", stub), ("echo", echo_text(draft))):
        module.write_text(text, encoding="utf-8")
        with _no_bytecode():
            results = _run_tests(test_path, tests)
        if not results:
            raise TaskDefect(f"{draft.family}: the tests of {draft.name} hold no test")
        failed = {name: why for name, why in results.items() if why is not None}
        if label == "reference" and failed:
            name, why = next(iter(failed.items()))
            raise TaskDefect(f"{draft.family}: the reference of {draft.name} fails its own "
                             f"{name}: {why}")
        if label != "reference" and not failed:
            raise TaskDefect(f"{draft.family}: the {label} of {draft.name} passes every test")
