"""The `when:` expression language: what it evaluates, and everything it refuses."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path
from typing import Any, ClassVar

import pytest

import pantheon_engine.run.expr as expr_mod
from pantheon_engine.errors import FlowError, UserError
from pantheon_engine.run.expr import (
    MAX_DEPTH,
    MAX_LENGTH,
    Expr,
    ExprError,
    ExprEvalError,
    compile_expr,
)

CTX: dict[str, Any] = {
    "input": {"files": ["a.py", "b.py"], "title": "Add feature", "n": 3, "opt": None},
    "test": {"passed": True, "failed": 0, "total": 12, "ratio": 0.75},
    "reviewA": {"verdict": "pass", "score": 8, "issues": []},
    "reviewB": {"verdict": "fail", "score": 4, "issues": [{"line": 3, "sev": "high"}]},
    "nums": [3, 1, 2],
    "flags": [True, False],
    "x": 7,
    "s": "hello world",
}


def ev(src: str, ctx: dict[str, Any] | None = None) -> Any:
    return compile_expr(src).evaluate(CTX if ctx is None else ctx)


# --- evaluation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("src", "expected"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("7 / 2", 3.5),
        ("7 % 3", 1),
        ("10 - 4 - 3", 3),
        ("-x", -7),
        ("+x", 7),
        ("-(x - 10)", 3),
        ("x * 1.5", 10.5),
        ("test.total - test.failed", 12),
        ("test.ratio * 100 >= 75", True),
        ("abs(-3)", 3),
        ("abs(reviewB.score - reviewA.score)", 4),
    ],
)
def test_arithmetic(src: str, expected: Any) -> None:
    assert ev(src) == expected


@pytest.mark.parametrize(
    ("src", "expected"),
    [
        ("x == 7", True),
        ("x != 7", False),
        ("x < 8", True),
        ("x <= 7", True),
        ("x > 7", False),
        ("x >= 8", False),
        ("1 < x < 10", True),
        ("1 < x < 5", False),
        ("'a.py' in input.files", True),
        ("'c.py' not in input.files", True),
        ("'passed' in test", True),
        ("'missing' in test", False),
        ("'world' in s", True),
        ("input.opt is None", True),
        ("input.title is not None", True),
        ("reviewA.verdict == 'pass'", True),
        ("reviewA.verdict == reviewB.verdict", False),
        ("[1, 2] == [1, 2]", True),
        ("(1, 2) == (1, 2)", True),
        ("'a' < 'b'", True),
        ("True == 1", True),
        ("None == None", True),
    ],
)
def test_comparisons(src: str, expected: Any) -> None:
    assert ev(src) is expected


@pytest.mark.parametrize(
    ("src", "expected"),
    [
        ("test.passed and reviewA.verdict == 'pass'", True),
        ("test.passed and reviewB.verdict == 'pass'", False),
        ("not test.passed or x > 5", True),
        ("not (test.passed or False)", False),
        ("input.opt or 'default'", "default"),
        ("input.title and input.n", 3),
        ("0 and unknown_name", 0),  # short-circuit: the unknown name is never looked up
        ("1 or unknown_name", 1),
    ],
)
def test_boolean_ops(src: str, expected: Any) -> None:
    assert ev(src) == expected


@pytest.mark.parametrize(
    ("src", "expected"),
    [
        ("reviewA.verdict", "pass"),
        ("reviewA['verdict']", "pass"),
        ("input['files'][0]", "a.py"),
        ("input.files[-1]", "b.py"),
        ("reviewB.issues[0].sev", "high"),
        ("reviewB['issues'][0]['line']", 3),
        ("nums[1]", 1),
        ("len(input.files)", 2),
        ("len(s)", 11),
        ("len(test)", 4),
        ("len(reviewA.issues) == 0", True),
        ("min(nums)", 1),
        ("max(nums)", 3),
        ("min(3, x, 5)", 3),
        ("max(reviewA.score, reviewB.score)", 8),
        ("any(flags)", True),
        ("all(flags)", False),
        ("all([])", True),
        ("any([test.passed, False])", True),
        ("[1, x, 'a']", [1, 7, "a"]),
        ("(1, 2)", (1, 2)),
        ("True", True),
        ("None", None),
        ("'text'", "text"),
        ("2.5", 2.5),
    ],
)
def test_lookups_functions_literals(src: str, expected: Any) -> None:
    assert ev(src) == expected


def test_spec2code_condition() -> None:
    e = compile_expr("test.passed and reviewA.verdict == 'pass'")
    assert e.evaluate_bool(CTX) is True
    assert e.evaluate_bool({**CTX, "test": {"passed": False}}) is False


def test_names_are_top_level_only_and_exclude_functions() -> None:
    e = compile_expr("len(a.b) > c['d'].e and max(f, 1) == 2 or 'x' in g[0]")
    assert e.names() == {"a", "c", "f", "g"}
    assert compile_expr("1 + 2").names() == set()
    assert compile_expr("input.x").names() == {"input"}
    # names() hands out a copy
    e.names().add("zzz")
    assert "zzz" not in e.names()


def test_expr_object_basics() -> None:
    a = compile_expr("  x == 1  ")
    b = compile_expr("x == 1")
    assert a.source == "x == 1"
    assert a == b and hash(a) == hash(b)
    assert "x == 1" in repr(a)
    assert isinstance(a, Expr)


def test_multiline_in_parentheses() -> None:
    assert ev("(test.passed and\n reviewA.verdict == 'pass')") is True


# --- evaluation errors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("src", "needle"),
    [
        ("nope == 1", "unknown name 'nope'"),
        ("test.nope", "no key 'nope'"),
        ("test['nope']", "no key 'nope'"),
        ("input.keys", "no key 'keys'"),  # never the dict method
        ("input.get", "no key 'get'"),
        ("nums.count", "cannot look up 'count' in a list"),
        ("s.upper", "cannot look up 'upper' in a str"),
        ("x.real", "cannot look up 'real' in a int"),
        ("s[0]", "cannot look up 0 in a str"),
        ("nums[10]", "out of range"),
        ("nums['a']", "list index must be an integer"),
        ("nums[True]", "list index must be an integer"),
        ("x / 0", "division by zero"),
        ("x % 0", "modulo"),
        ("s + 'x'", "needs numbers"),
        ("nums * 2", "needs numbers"),
        ("-s", "needs a number"),
        ("x < 'a'", "cannot compare"),
        ("1 in x", "cannot compare"),
        ("1 in s", "cannot compare"),
        ("len(x)", "len()"),
        ("min([])", "empty"),
        ("min(x)", "min()"),
        ("any(x)", "any()"),
        ("abs(s)", "abs()"),
        ("max(1, 'a')", "max()"),
        ("test[nums]", "a list cannot be a key"),
        ("test[s[0]]", "cannot look up"),
        ("input[input.files[0]]", "no key 'a.py'"),
    ],
)
def test_evaluation_errors(src: str, needle: str) -> None:
    e = compile_expr(src)  # compiles fine: the problem is the data
    with pytest.raises(ExprEvalError) as info:
        e.evaluate(CTX)
    assert needle in str(info.value)
    assert src in str(info.value)


def test_unknown_name_hint_lists_available_names() -> None:
    with pytest.raises(ExprEvalError) as info:
        compile_expr("reviewC.verdict").evaluate({"reviewA": {}, "input": {}})
    assert "reviewA" in str(info.value.hint)
    assert "input" in str(info.value.hint)


def test_private_key_from_data_is_refused_at_runtime() -> None:
    with pytest.raises(ExprEvalError, match="private key"):
        compile_expr("input[input.k]").evaluate({"input": {"k": "__class__"}})


def test_huge_integers_are_refused() -> None:
    src = " * ".join(["x"] * 10)
    with pytest.raises(ExprEvalError, match="too large"):
        compile_expr(src).evaluate({"x": 10**30})
    assert compile_expr(src).evaluate({"x": 10**3}) == 10**30


class Spy:
    """An object that records any use of its special methods."""

    touched: ClassVar[list[str]] = []

    def __getattr__(self, name: str) -> Any:  # pragma: no cover - must never run
        Spy.touched.append(name)
        raise AssertionError("getattr on an arbitrary object")

    def __getitem__(self, key: Any) -> Any:  # pragma: no cover - must never run
        Spy.touched.append("getitem")
        raise AssertionError("getitem on an arbitrary object")

    def __eq__(self, other: object) -> bool:  # pragma: no cover - must never run
        Spy.touched.append("eq")
        raise AssertionError("eq on an arbitrary object")

    __hash__ = object.__hash__


@pytest.mark.parametrize("src", ["obj.x", "obj['x']", "obj == 1", "obj", "box.o == 1", "len(obj)"])
def test_non_plain_values_are_refused_without_touching_them(src: str) -> None:
    Spy.touched.clear()
    with pytest.raises(ExprEvalError, match="not plain data"):
        compile_expr(src).evaluate({"obj": Spy(), "box": {"o": Spy()}})
    assert Spy.touched == []


def test_functions_in_context_are_data_not_callables() -> None:
    calls: list[int] = []

    def f() -> None:  # pragma: no cover - must never run
        calls.append(1)

    with pytest.raises(ExprEvalError):
        compile_expr("f").evaluate({"f": f})
    with pytest.raises(ExprError):
        compile_expr("f()")
    assert calls == []


# --- compile errors: the allow-list --------------------------------------------------------

ATTACKS = [
    "__import__('os')",
    "__import__('os').system('touch /tmp/pwned')",
    "__builtins__",
    "_",
    "_secret + 1",
    "().__class__",
    "().__class__.__bases__[0].__subclasses__()",
    "input.__class__",
    "input.__dict__",
    "len.__self__",
    "a._private",
    "a['_private']",
    "a['__class__']",
    "a[0]['__globals__']",
    "[x for x in y]",
    "{x: 1 for x in y}",
    "{x for x in y}",
    "(x for x in y)",
    "any(x for x in y)",
    "lambda: 1",
    "(lambda: 1)()",
    "open('f')",
    "open('/etc/passwd').read()",
    "exec('1')",
    "eval('1')",
    "compile('1', 'f', 'eval')",
    "getattr(a, 'b')",
    "setattr(a, 'b', 1)",
    "globals()",
    "locals()",
    "vars()",
    "dir()",
    "type(a)",
    "print(1)",
    "breakpoint()",
    "a.b()",
    "'abc'.upper()",
    "input.get('x')",
    "len(a)(b)",
    "f'{a}'",
    "f'{a.__class__}'",
    "(y := 1)",
    "import os",
    "from os import system",
    "2 ** 100000",
    "x ** 2",
    "a // 2",
    "a << 1",
    "a | b",
    "a & b",
    "a ^ b",
    "~a",
    "a @ b",
    "a[1:2]",
    "a[::-1]",
    "{'a': 1}",
    "{1, 2}",
    "x if y else z",
    "[*a]",
    "len(*a)",
    "max(a, key=len)",
    "a is b",
    "a is not 1",
    "b'bytes'",
    "1j",
    "...",
    "await x",
    "(yield)",
    "x = 1",
    "a; b",
    "a\x00",
    "",
    "   ",
    "x" * (MAX_LENGTH + 1),
    "1 + " * 200 + "1",
    "-" * (MAX_DEPTH + 5) + "1",
    "not " * (MAX_DEPTH + 5) + "x",
    "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5),
    "(" * 240 + "1" + ")" * 240,
    "a." + ".".join(["b"] * 100),
    "len()",
    "len(a, b)",
    "abs()",
]


@pytest.mark.parametrize("src", ATTACKS, ids=[repr(a[:40]) for a in ATTACKS])
def test_forbidden_constructs_raise_expr_error(src: str, tmp_path: Path) -> None:
    with pytest.raises(ExprError) as info:
        compile_expr(src)
    err = info.value
    assert isinstance(err, FlowError) and isinstance(err, UserError)
    assert err.exit_code == 2
    assert not isinstance(err, ExprEvalError)
    assert not Path("/tmp/pwned").exists()


def test_at_least_twenty_attacks() -> None:
    assert len(ATTACKS) >= 20


@pytest.mark.parametrize(
    ("src", "needle"),
    [
        ("__import__('os')", "call to '__import__'"),
        ("open('f')", "call to 'open'"),
        ("a.b()", "method or computed call"),
        ("().__class__", "private attribute '__class__'"),
        ("a._private", "private attribute '_private'"),
        ("a['_private']", "private key '_private'"),
        ("_x", "private name '_x'"),
        ("[x for x in y]", "list comprehension"),
        ("lambda: 1", "lambda"),
        ("f'{a}'", "f-string"),
        ("(y := 1)", "assignment expression"),
        ("2 ** 3", "operator '**'"),
        ("a[1:2]", "slice"),
        ("x if y else z", "conditional expression"),
        ("{'a': 1}", "dict literal"),
        ("a is b", "'is' with anything but None"),
        ("max(a, key=len)", "keyword arguments"),
        ("len(a, b)", "len() takes 1 argument"),
        ("import os", "syntax error"),
        ("b'x'", "bytes literal"),
        ("x" * (MAX_LENGTH + 1), "the limit is 500"),
        ("-" * (MAX_DEPTH + 5) + "1", "nesting deeper than"),
    ],
)
def test_error_names_the_construct(src: str, needle: str) -> None:
    with pytest.raises(ExprError) as info:
        compile_expr(src)
    assert needle in str(info.value)
    assert info.value.hint


def test_error_position_points_at_the_construct() -> None:
    with pytest.raises(ExprError) as info:
        compile_expr("a and b._c")
    assert info.value.column == 9
    assert "column 9" in str(info.value)

    with pytest.raises(ExprError) as info:
        compile_expr("x == 1 and open('f')")
    assert info.value.column == 12

    # columns count characters, not UTF-8 bytes
    with pytest.raises(ExprError) as info:
        compile_expr("'é' == x._y")
    assert info.value.column == 10


def test_syntax_error_has_position() -> None:
    with pytest.raises(ExprError) as info:
        compile_expr("a ==")
    assert info.value.line == 1
    assert "syntax error" in str(info.value)


def test_length_limit_is_inclusive() -> None:
    src = "x" * MAX_LENGTH
    assert compile_expr(src).names() == {src}


def test_depth_limit_allows_reasonable_nesting() -> None:
    compile_expr("-" * (MAX_DEPTH - 2) + "1")
    src = "a.b.c['d'][0].e == 1 and not (x > 2 or len(y) in [1, 2, 3])"
    assert compile_expr(src).names() == {"a", "x", "y"}


def test_non_string_source_is_refused() -> None:
    with pytest.raises(ExprError):
        compile_expr(123)  # type: ignore[arg-type]


# --- the implementation never reaches for eval/exec/compile or getattr ---------------------


def test_module_never_calls_dynamic_code_builtins() -> None:
    tree = ast.parse(inspect.getsource(expr_mod))
    banned = {"eval", "exec", "compile", "__import__", "getattr", "setattr", "globals", "vars"}
    called = {
        node.func.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }
    # getattr is used only on ast nodes (line/column); make sure that is all
    assert not (called & (banned - {"getattr"}))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "getattr":
            assert ast.unparse(node.args[0]) == "node"
            assert isinstance(node.args[1], ast.Constant)
            assert node.args[1].value in {"lineno", "col_offset"}
