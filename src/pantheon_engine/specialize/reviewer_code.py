"""Code review items from a generated code suite (``pantheon suite make code``).

Each task of the suite is a function to write; the suite's generator drew it with a
reference implementation (:func:`~pantheon_engine.evals.codesuite.make.drafts_by_id` draws
it again from ``suite.json``, and the stub it renders must be the one in ``tasks.jsonl``).
A task gives two items, labelled by the task's hidden tests (its check), run here on each
program:

* good: the reference program (the hidden tests pass), written as the bad one is;
* bad: a plausible but wrong program, the reference with one small change (a comparison,
  an operator, a constant, ``min``/``max``, a case method) that still returns the
  docstring's examples right but fails a hidden test (``plausible_wrong``); failing that,
  one that also gets an example wrong (``wrong``); failing that, a program that returns
  its first argument (``broken``).

The items are reviewed as spec2code's reviewers review a change
(:class:`SuiteCodeCanary`, a :class:`~pantheon_engine.night.reviewing.code_canary.CodeCanary`):
a fresh git repository holds the stub, the program is written over it, and ``compute_diff``
gives what the codegen node would hand on; the test node's report carries the hidden
tests' result. ``review.reference`` never sees the code: it writes its own version from
the task and compares. So a right reviewer's reply does not depend on the item: it is the
suite's reference written as ``expected`` with inputs that tell the task's bad program
apart (:func:`reference_replies`), and its verdict then follows from the comparison.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import copy
import json
import random
import signal
import textwrap
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from pantheon_engine.agents.io import CodePatch, TestReport
from pantheon_engine.errors import SuiteError
from pantheon_engine.evals.codesuite.make import GENERATOR, drafts_by_id
from pantheon_engine.evals.codesuite.task import Args, Draft, stub_text
from pantheon_engine.evals.codesuite.verify import TaskDefect, run_reference
from pantheon_engine.evals.suite import CONFIG_FILE, Suite, SuiteTask
from pantheon_engine.loop.envelope import FinalAnswer, block_form, envelope_text
from pantheon_engine.night.reviewing.code_canary import CodeCanary
from pantheon_engine.specialize.review_item import ReviewItem
from pantheon_engine.tools.base import ToolContext
from pantheon_engine.tools.dev import compute_diff

__all__ = ["SuiteCodeCanary", "code_items", "mutants", "reference_block", "reference_replies"]

#: seconds one program may run on one task's inputs before it counts as failing
RUN_LIMIT_S = 5
#: inputs a scripted reference tries (the review prompt asks for 8)
REFERENCE_INPUTS = 8
REFERENCE_SUMMARY = "compared with my reference"


class SuiteCodeCanary(CodeCanary):
    """A code suite item as spec2code's reviewers see it. Unlike a demo case its check
    may have failed (a bad item): the test report says so, as the test node's would."""

    #: the hidden tests' result on this program, and the function's name
    tests_passed: bool
    tests_summary: str
    function: str
    #: the scripted reviewer's reference block (the same for both items of a task)
    reference: str

    async def review_inputs(self, folder: Path, tool_ctx: ToolContext
                            ) -> tuple[dict[str, Any], dict[str, Any]]:
        await asyncio.to_thread(self._materialize, folder)
        diff = await compute_diff.invoke(tool_ctx, {})
        patch = CodePatch(diff=diff.diff, files_changed=diff.files,
                          lines_added=diff.lines_added, lines_removed=diff.lines_removed,
                          summary=self.summary)
        report = TestReport(passed=self.tests_passed, test_summary=self.tests_summary)
        return patch.model_dump(mode="json"), report.model_dump(mode="json")


# --- running a program on a task's inputs ---------------------------------------------------


class _Expired(Exception):
    pass


@contextlib.contextmanager
def _time_limit(seconds: int) -> Iterator[None]:
    """SIGALRM after ``seconds`` (a mutant may loop); a no-op off the main thread."""
    def expired(_signum: int, _frame: Any) -> None:
        raise _Expired

    try:
        previous = signal.signal(signal.SIGALRM, expired)
    except ValueError:  # not the main thread: no alarm to be had
        yield
        return
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _compile(draft: Draft, body: str) -> Callable[..., Any] | None:
    source = f"{draft.signature}\n{textwrap.indent(body.strip(chr(10)) + chr(10), '    ')}"
    namespace: dict[str, Any] = {"__name__": f"review_item_{draft.name}"}
    try:
        exec(compile(source, f"<{draft.name}>", "exec"), namespace)
    except SyntaxError:
        return None
    function = namespace.get(draft.name)
    return function if callable(function) else None


def _outcome(function: Callable[..., Any], args: Args) -> tuple[str, str]:
    try:
        return "value", repr(function(*copy.deepcopy(args)))
    except _Expired:
        raise
    except Exception as exc:  # the program under test may raise anything
        return "raised", type(exc).__name__


def _outcomes(function: Callable[..., Any] | None, inputs: Sequence[Args]
              ) -> list[tuple[str, str]] | None:
    """Each input's outcome, or None when the program does not compile or runs too long."""
    if function is None:
        return None
    with contextlib.suppress(_Expired), _time_limit(RUN_LIMIT_S):
        return [_outcome(function, args) for args in inputs]
    return None


def _inputs(draft: Draft) -> tuple[list[Args], list[Args]]:
    """(the docstring's examples, every input the hidden tests try), without repeats."""
    seen: set[str] = set()
    every: list[Args] = []
    for args in (*draft.examples, *draft.edges, *draft.cases):
        if repr(args) not in seen:
            seen.add(repr(args))
            every.append(args)
    return list(draft.examples), every


# --- bad programs ---------------------------------------------------------------------------

_COMPARE_SWAPS: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq, ast.NotEq: ast.Eq}
_BINOP_SWAPS: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.FloorDiv, ast.FloorDiv: ast.Mult,
    ast.Mod: ast.FloorDiv}
_NAME_SWAPS = {"min": "max", "max": "min", "any": "all", "all": "any"}
_METHOD_SWAPS = {"lower": "upper", "upper": "lower", "strip": "lstrip", "lstrip": "strip",
                 "rstrip": "strip", "startswith": "endswith", "endswith": "startswith",
                 "split": "rsplit", "capitalize": "title", "title": "capitalize"}


def _sites(tree: ast.AST) -> Iterator[tuple[ast.AST, str]]:
    """Every place one small change can be made, with what the change is."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            for op in node.ops:
                if type(op) in _COMPARE_SWAPS:
                    yield op, f"{type(op).__name__} -> {_COMPARE_SWAPS[type(op)].__name__}"
        elif isinstance(node, ast.BinOp) and type(node.op) in _BINOP_SWAPS:
            yield node, f"{type(node.op).__name__} -> {_BINOP_SWAPS[type(node.op)].__name__}"
        elif isinstance(node, ast.Constant) and type(node.value) is int:
            yield node, f"{node.value} -> {node.value + 1}"
        elif isinstance(node, ast.Name) and node.id in _NAME_SWAPS:
            yield node, f"{node.id} -> {_NAME_SWAPS[node.id]}"
        elif isinstance(node, ast.Attribute) and node.attr in _METHOD_SWAPS:
            yield node, f".{node.attr} -> .{_METHOD_SWAPS[node.attr]}"
        elif isinstance(node, ast.BoolOp):
            yield node, "and <-> or"


def _mutate(node: ast.AST, target: ast.AST) -> None:
    if isinstance(target, ast.cmpop):
        assert isinstance(node, ast.Compare)
        node.ops = [_COMPARE_SWAPS[type(op)]() if op is target else op for op in node.ops]
    elif isinstance(target, ast.BinOp):
        target.op = _BINOP_SWAPS[type(target.op)]()
    elif isinstance(target, ast.Constant) and isinstance(target.value, int):
        target.value = target.value + 1
    elif isinstance(target, ast.Name):
        target.id = _NAME_SWAPS[target.id]
    elif isinstance(target, ast.Attribute):
        target.attr = _METHOD_SWAPS[target.attr]
    elif isinstance(target, ast.BoolOp):
        target.op = ast.Or() if isinstance(target.op, ast.And) else ast.And()


def mutants(body: str) -> list[tuple[str, str]]:
    """Every body that differs from ``body`` by one small change: (change, new body)."""
    try:
        count = sum(1 for _ in _sites(ast.parse(body)))
    except SyntaxError:
        return []
    out: list[tuple[str, str]] = []
    for index in range(count):
        tree = ast.parse(body)
        site, change = list(_sites(tree))[index]
        if isinstance(site, ast.cmpop):
            owner = next(n for n in ast.walk(tree) if isinstance(n, ast.Compare)
                         and any(op is site for op in n.ops))
            _mutate(owner, site)
        else:
            _mutate(site, site)
        new = ast.unparse(tree)
        if new != ast.unparse(ast.parse(body)):
            out.append((change, new))
    return out


def _echo_body(draft: Draft) -> str:
    return f"return {draft.params[0][0]}"


def _bad_program(draft: Draft, rng: random.Random) -> tuple[str, str, list[Args]] | None:
    """(defect, body, the inputs on which it differs from the reference) of the task's bad
    item, the most plausible one found; None when no change is caught by the tests."""
    examples, every = _inputs(draft)
    want = _outcomes(_compile(draft, draft.body), every)
    if want is None:
        return None
    candidates = mutants(draft.body)
    rng.shuffle(candidates)
    fallback: tuple[str, str, list[Args]] | None = None
    for change, body in [*candidates, ("returns its first argument", _echo_body(draft))]:
        got = _outcomes(_compile(draft, body), every)
        if got is None:
            continue
        differs = [args for args, a, b in zip(every, want, got, strict=True) if a != b]
        if not differs:
            continue  # the tests cannot tell it from the reference: no label to give
        on_examples = any(repr(args) in {repr(e) for e in examples} for args in differs)
        if body == _echo_body(draft):
            kind = "broken"
        elif not on_examples:
            return f"plausible_wrong: {change}", body, differs
        else:
            kind = "wrong"
        if fallback is None or (kind == "wrong" and fallback[0].startswith("broken")):
            fallback = (f"{kind}: {change}", body, differs)
    return fallback


# --- the items -------------------------------------------------------------------------------


def _drafts(suite: Suite) -> dict[str, Draft]:
    try:
        config = json.loads((suite.folder / CONFIG_FILE).read_text(encoding="utf-8"))
        generator = config["generator"]
        if generator.get("name") != GENERATOR:
            raise KeyError("name")
        return drafts_by_id(int(generator["tasks"]), int(generator["seed"]),
                            float(generator["holdout_share"]))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        raise SuiteError(f"{suite.folder}: not written by `pantheon suite make code` (its "
                         f"{CONFIG_FILE} does not say how)",
                         hint="code review items need the suite's reference programs, "
                         "which its generator draws again from suite.json") from None


def _program(draft: Draft, examples: Sequence[Any], body: str) -> str:
    stub = stub_text(draft, examples)
    return stub + textwrap.indent(body.strip("\n") + "\n", "    ")


def reference_block(signature: str, body: str, inputs: Sequence[Any]) -> str:
    """A ``compare_reference`` block: ``expected`` with ``signature`` and ``body``, then
    ``INPUTS``, one input a line."""
    lines = "".join(f"    {value!r},\n" for value in inputs)
    return (f"{signature}\n{textwrap.indent(body.strip(chr(10)) + chr(10), '    ')}\n\n"
            f"INPUTS = [\n{lines}]\n")


def _reference(draft: Draft, every: Sequence[Args], differs: Sequence[Args]) -> str:
    """The scripted reviewer's reference: the suite's reference as ``expected``, on the
    first inputs of the task's tests, with one that tells the bad program apart."""
    chosen = list(every[:REFERENCE_INPUTS])
    if differs and not any(repr(d) in {repr(c) for c in chosen} for d in differs):
        chosen[-1] = differs[0]
    single = len(draft.params) == 1
    return reference_block(draft.signature.replace(f"def {draft.name}(", "def expected(", 1),
                           draft.body, [a[0] if single else a for a in chosen])


def code_items(suite: Suite, tasks: Sequence[SuiteTask], split: str, *,
               rng: random.Random, limit: int | None = None) -> list[ReviewItem]:
    """A good and a bad item per task of ``tasks`` (see the module docstring)."""
    drafts = _drafts(suite)
    items: list[ReviewItem] = []
    for task in tasks:
        if limit is not None and len(items) + 2 > limit:
            break
        draft = drafts.get(task.id)
        path = next(iter(task.input.get("files") or []), None)
        if draft is None or path is None or draft.name in draft.body:
            continue
        try:
            examples = run_reference(draft)["examples"]
        except TaskDefect:
            continue
        if task.input.get("existing", {}).get(path) != stub_text(draft, examples):
            raise SuiteError(f"{suite.folder}: task {task.id}'s stub is not the one its "
                             "generator draws from suite.json",
                             hint="the suite was edited or written by another version; "
                             "write it again with pantheon suite make code")
        bad = _bad_program(draft, rng)
        if bad is None:
            continue
        defect, bad_body, differs = bad
        _, every = _inputs(draft)
        reference = _reference(draft, every, differs)
        spec = {k: task.input[k] for k in ("title", "scope", "acceptance", "files", "tests")
                if k in task.input}
        # the reference's body written as the bad one is (ast.unparse): the two programs
        # differ in the change alone, not in quotes or spacing
        good_body = ast.unparse(ast.parse(draft.body))
        for good, body in ((True, good_body), (False, bad_body)):
            item_id = f"{task.id}-{'good' if good else 'bad'}"
            program = _program(draft, examples, body)
            canary = SuiteCodeCanary(
                id=item_id, spec=spec, base={path: task.input["existing"][path]},
                change={path: program}, summary=f"Implemented {draft.name} in {path}.",
                expected="pass" if good else "fail", defect=None if good else defect,
                source=f"suite {suite.folder.name} ({split})", tests_passed=good,
                tests_summary="hidden tests passed" if good else "hidden tests failed",
                function=draft.name, reference=reference)
            items.append(ReviewItem(id=item_id, task_id=task.id, split=split, kind="code",
                                    canary=canary, rationale=""))
    return items


def reference_replies(item: ReviewItem) -> list[str]:
    """The replies of a right ``review.reference`` on ``item``: the comparison with the
    suite's reference, then the final answer."""
    canary = item.canary
    assert isinstance(canary, SuiteCodeCanary)
    call = block_form("compare_reference", {"function": canary.function,
                                            "reference": canary.reference}, "reference")
    return [call, envelope_text(FinalAnswer(output={"summary": REFERENCE_SUMMARY}))]

