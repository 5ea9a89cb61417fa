"""A small, safe expression language for a flow node's ``when:`` condition.

An expression is parsed with :func:`ast.parse` (``mode="eval"``) and then *interpreted* by
walking the tree; nothing is ever handed to ``eval``, ``exec`` or ``compile``. Only an
allow-list of constructs is accepted, and it is checked once, at load time
(:func:`compile_expr`), so a flow file with a bad condition fails before anything runs.

Allowed:

* constants: strings, integers, floats, ``True``, ``False``, ``None``
* names, looked up in the evaluation context (node outputs and ``input``)
* ``a.b`` and ``a['b']`` on mappings (key lookup, never ``getattr``), ``a[0]`` on lists
* comparisons ``== != < <= > >= in not in``, and ``is None`` / ``is not None``
* ``and``, ``or``, ``not``; ``+ - * / %`` on numbers; unary ``-`` and ``+``
* list and tuple literals
* the functions ``len``, ``min``, ``max``, ``any``, ``all``, ``abs`` (positional arguments)

Everything else (other calls, methods, lambdas, comprehensions, f-strings, ``:=``, ``**``,
slices, conditional expressions, dict/set literals, names or keys starting with ``_``) is
refused with an :class:`ExprError` that names the construct and its position.

Values met while evaluating must be plain JSON-like data (``dict``/mapping, ``list``,
``tuple``, ``str``, ``int``, ``float``, ``bool``, ``None``); anything else is refused with
an :class:`ExprEvalError`. Pass pydantic models as ``model.model_dump(mode="json")``.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping
from typing import Any

from pantheon_engine.errors import FlowError

__all__ = [
    "FUNCTIONS",
    "MAX_DEPTH",
    "MAX_LENGTH",
    "Expr",
    "ExprError",
    "ExprEvalError",
    "compile_expr",
]

MAX_LENGTH = 500
"""Longest accepted expression, in characters."""

MAX_DEPTH = 32
"""Deepest accepted nesting of expression nodes."""

MAX_INT_BITS = 256
"""Integer results wider than this are refused (keeps arithmetic cheap)."""

_ALLOWED_HINT = (
    "a `when:` expression may use constants, names of upstream nodes and `input`, "
    "a.b / a['b'] / a[0], comparisons (== != < <= > >= in, not in, is None), "
    "and/or/not, + - * / % on numbers, [lists], and len/min/max/any/all/abs"
)


class ExprError(FlowError):
    """An expression is not valid (syntax, forbidden construct, too long or too deep).

    ``line`` and ``column`` (1-based) say where, when known; ``source`` is the expression.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        line: int | None = None,
        column: int | None = None,
        file: str | None = None,
        node: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, file=file, node=node, hint=hint)
        self.source = source
        self.line = line
        self.column = column
        self.reason = message


class ExprEvalError(ExprError):
    """Evaluating a valid expression failed (unknown name, missing key, wrong type...)."""


# --- compile time ----------------------------------------------------------------------


def _fn_len(x: Any) -> int:
    if isinstance(x, str | list | tuple | Mapping):
        return len(x)
    raise TypeError(f"len() needs a string, list or mapping, not {_type_name(x)}")


def _fn_minmax(name: str, pick: Callable[..., Any]) -> Callable[..., Any]:
    def fn(*args: Any) -> Any:
        if len(args) == 1:
            (seq,) = args
            if not isinstance(seq, list | tuple):
                raise TypeError(f"{name}() of one argument needs a list, not {_type_name(seq)}")
            if not seq:
                raise ValueError(f"{name}() of an empty list")
            return pick(seq)
        return pick(args)

    return fn


def _fn_anyall(name: str, pick: Callable[[Any], bool]) -> Callable[[Any], bool]:
    def fn(seq: Any) -> bool:
        if not isinstance(seq, list | tuple):
            raise TypeError(f"{name}() needs a list, not {_type_name(seq)}")
        return pick(seq)

    return fn


def _fn_abs(x: Any) -> Any:
    if _is_number(x):
        return abs(x)
    raise TypeError(f"abs() needs a number, not {_type_name(x)}")


# name -> (implementation, minimum positional args, maximum positional args or None)
FUNCTIONS: dict[str, tuple[Callable[..., Any], int, int | None]] = {
    "len": (_fn_len, 1, 1),
    "min": (_fn_minmax("min", min), 1, None),
    "max": (_fn_minmax("max", max), 1, None),
    "any": (_fn_anyall("any", any), 1, 1),
    "all": (_fn_anyall("all", all), 1, 1),
    "abs": (_fn_abs, 1, 1),
}

_CMP_OPS: dict[type[ast.cmpop], str] = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.In: "in",
    ast.NotIn: "not in",
    ast.Is: "is",
    ast.IsNot: "is not",
}

_BIN_OPS: dict[type[ast.operator], str] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.Mod: "%",
}

_FORBIDDEN_BIN_OPS: dict[type[ast.operator], str] = {
    ast.Pow: "**",
    ast.FloorDiv: "//",
    ast.MatMult: "@",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitAnd: "&",
    ast.BitXor: "^",
}

_CONSTRUCT_NAMES: dict[type[ast.AST], str] = {
    ast.Lambda: "lambda",
    ast.ListComp: "list comprehension",
    ast.SetComp: "set comprehension",
    ast.DictComp: "dict comprehension",
    ast.GeneratorExp: "generator expression",
    ast.JoinedStr: "f-string",
    ast.FormattedValue: "f-string",
    ast.NamedExpr: "assignment expression (:=)",
    ast.IfExp: "conditional expression (x if c else y)",
    ast.Dict: "dict literal",
    ast.Set: "set literal",
    ast.Slice: "slice",
    ast.Starred: "star expression (*x)",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield from",
}


def _short(source: str, limit: int = 80) -> str:
    """``repr`` of an expression, cut to ``limit`` characters for messages."""
    if len(source) <= limit:
        return repr(source)
    return repr(source[:limit]) + "..."


def _char_column(source: str, line: int, byte_col: int) -> int:
    """Turn ast's UTF-8 byte offset into a 1-based character column."""
    lines = source.splitlines() or [""]
    text = lines[min(max(line, 1), len(lines)) - 1]
    return len(text.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore")) + 1


class _Validator:
    """Checks a parsed tree against the allow-list and records the names it uses."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.names: set[str] = set()

    def fail(self, node: ast.AST, what: str, *, hint: str | None = None) -> ExprError:
        line = getattr(node, "lineno", 1) or 1
        byte_col = getattr(node, "col_offset", 0) or 0
        if (
            isinstance(node, ast.Attribute)
            and node.end_col_offset is not None
            and node.end_lineno == line
        ):
            # point at the attribute name, not at the start of ``a.b``
            byte_col = node.end_col_offset - len(node.attr.encode("utf-8"))
        column = _char_column(self.source, line, byte_col)
        where = f"column {column}" if "\n" not in self.source else f"line {line}, column {column}"
        return ExprError(
            f"{what} is not allowed in an expression ({where}): {_short(self.source)}",
            source=self.source,
            line=line,
            column=column,
            hint=hint or _ALLOWED_HINT,
        )

    def visit(self, node: ast.AST, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise self.fail(
                node,
                f"nesting deeper than {MAX_DEPTH} levels",
                hint="split the condition or simplify it",
            )
        d = depth + 1
        if isinstance(node, ast.Constant):
            value = node.value
            if value is None or isinstance(value, bool | int | float | str):
                return
            kind = {bytes: "bytes literal", complex: "complex number"}.get(
                type(value), f"constant {value!r}"
            )
            raise self.fail(node, kind)
        if isinstance(node, ast.Name):
            if not isinstance(node.ctx, ast.Load):  # pragma: no cover - eval mode loads only
                raise self.fail(node, "assignment")
            if node.id.startswith("_"):
                raise self.fail(node, f"private name {node.id!r}")
            self.names.add(node.id)
            return
        if isinstance(node, ast.Attribute):
            if node.attr.startswith("_"):
                raise self.fail(node, f"private attribute {node.attr!r}")
            self.visit(node.value, d)
            return
        if isinstance(node, ast.Subscript):
            index = node.slice
            if isinstance(index, ast.Slice):
                raise self.fail(index, "slice")
            if (
                isinstance(index, ast.Constant)
                and isinstance(index.value, str)
                and index.value.startswith("_")
            ):
                raise self.fail(index, f"private key {index.value!r}")
            self.visit(node.value, d)
            self.visit(index, d)
            return
        if isinstance(node, ast.Compare):
            for op, right in zip(node.ops, node.comparators, strict=True):
                if type(op) not in _CMP_OPS:  # pragma: no cover - all cmpops are listed
                    raise self.fail(node, f"comparison {type(op).__name__}")
                if isinstance(op, ast.Is | ast.IsNot) and not (
                    isinstance(right, ast.Constant) and right.value is None
                ):
                    raise self.fail(
                        node,
                        f"'{_CMP_OPS[type(op)]}' with anything but None",
                        hint="use == and != to compare values; `is` only as `x is None`",
                    )
            self.visit(node.left, d)
            for right in node.comparators:
                self.visit(right, d)
            return
        if isinstance(node, ast.BoolOp):
            for operand in node.values:
                self.visit(operand, d)
            return
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.Invert):
                raise self.fail(node, "operator '~'")
            self.visit(node.operand, d)
            return
        if isinstance(node, ast.BinOp):
            if type(node.op) in _FORBIDDEN_BIN_OPS:
                raise self.fail(node, f"operator '{_FORBIDDEN_BIN_OPS[type(node.op)]}'")
            if type(node.op) not in _BIN_OPS:  # pragma: no cover - all operators are listed
                raise self.fail(node, f"operator {type(node.op).__name__}")
            self.visit(node.left, d)
            self.visit(node.right, d)
            return
        if isinstance(node, ast.List | ast.Tuple):
            for elt in node.elts:
                if isinstance(elt, ast.Starred):
                    raise self.fail(elt, "star expression (*x)")
                self.visit(elt, d)
            return
        if isinstance(node, ast.Call):
            self.visit_call(node, d)
            return
        name = _CONSTRUCT_NAMES.get(type(node), type(node).__name__)
        raise self.fail(node, name)

    def visit_call(self, node: ast.Call, d: int) -> None:
        func = node.func
        if not isinstance(func, ast.Name):
            target = ast.unparse(func) if len(self.source) <= MAX_LENGTH else "?"
            raise self.fail(
                node,
                f"call to {target!r} (method or computed call)",
                hint=f"only these functions may be called: {', '.join(FUNCTIONS)}",
            )
        if func.id not in FUNCTIONS:
            raise self.fail(
                node,
                f"call to {func.id!r}",
                hint=f"only these functions may be called: {', '.join(FUNCTIONS)}",
            )
        if node.keywords:
            raise self.fail(node, f"keyword arguments in a call to {func.id}()")
        _, lo, hi = FUNCTIONS[func.id]
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise self.fail(arg, "star expression (*x)")
        n = len(node.args)
        if n < lo or (hi is not None and n > hi):
            want = f"{lo}" if hi == lo else f"at least {lo}"
            raise ExprError(
                f"{func.id}() takes {want} argument(s), got {n}: {_short(self.source)}",
                source=self.source,
                hint=_ALLOWED_HINT,
            )
        for arg in node.args:
            self.visit(arg, d)


def compile_expr(src: str) -> Expr:
    """Parse and validate ``src``; raise :class:`ExprError` if it is not allowed."""
    if not isinstance(src, str):
        raise ExprError(f"an expression must be a string, not {_type_name(src)}")
    text = src.strip()
    if not text:
        raise ExprError("empty expression", source=src, hint="write a condition or drop `when:`")
    if len(text) > MAX_LENGTH:
        raise ExprError(
            f"expression is {len(text)} characters long; the limit is {MAX_LENGTH}",
            source=text,
            hint="simplify the condition (or compute the decision in an agent)",
        )
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        col = exc.offset or 0
        line = exc.lineno or 1
        where = f"line {line}, column {col}" if col else f"line {line}"
        raise ExprError(
            f"syntax error in expression ({where}): {exc.msg}: {_short(text)}",
            source=text,
            line=line,
            column=col or None,
            hint=_ALLOWED_HINT,
        ) from None
    except (ValueError, RecursionError, MemoryError) as exc:  # NUL bytes, absurd nesting
        raise ExprError(
            f"expression cannot be parsed: {type(exc).__name__}: {exc}",
            source=text,
            hint=_ALLOWED_HINT,
        ) from None
    validator = _Validator(text)
    validator.visit(tree.body, 1)
    return Expr(text, tree.body, frozenset(validator.names))


# --- run time --------------------------------------------------------------------------


def _type_name(value: Any) -> str:
    if value is None:
        return "None"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, Mapping):
        return "mapping"
    return type(value).__name__


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float)


def _is_plain(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | list | tuple | Mapping)


class Expr:
    """A compiled, validated expression. Build with :func:`compile_expr`."""

    __slots__ = ("_names", "_source", "_tree")

    def __init__(self, source: str, tree: ast.expr, names: frozenset[str]) -> None:
        self._source = source
        self._tree = tree
        self._names = names

    @property
    def source(self) -> str:
        """The expression text (stripped)."""
        return self._source

    def names(self) -> set[str]:
        """The top-level names the expression reads (``a`` in ``a.b['c']``), not functions."""
        return set(self._names)

    def evaluate(self, context: Mapping[str, Any]) -> Any:
        """Evaluate against ``context`` (name -> plain JSON-like value).

        Raises :class:`ExprEvalError` for unknown names, missing keys, type mismatches and
        arithmetic errors; never runs any code other than the interpreter below.
        """
        return _Evaluator(self._source, context).eval(self._tree)

    def evaluate_bool(self, context: Mapping[str, Any]) -> bool:
        """Evaluate and return the truth value of the result."""
        return bool(self.evaluate(context))

    def __repr__(self) -> str:
        return f"Expr({self._source!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Expr) and other._source == self._source

    def __hash__(self) -> int:
        return hash(("Expr", self._source))


class _Evaluator:
    def __init__(self, source: str, context: Mapping[str, Any]) -> None:
        self.source = source
        self.context = context

    def fail(self, node: ast.AST, message: str, *, hint: str | None = None) -> ExprEvalError:
        line = getattr(node, "lineno", 1) or 1
        column = _char_column(self.source, line, getattr(node, "col_offset", 0) or 0)
        return ExprEvalError(
            f"cannot evaluate {_short(self.source)} (column {column}): {message}",
            source=self.source,
            line=line,
            column=column,
            hint=hint,
        )

    def plain(self, node: ast.AST, value: Any, what: str) -> Any:
        if not _is_plain(value):
            raise self.fail(
                node,
                f"{what} is a {type(value).__name__}, not plain data",
                hint="the context must hold JSON-like data (use model_dump(mode='json'))",
            )
        return value

    def eval(self, node: ast.expr) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            if node.id not in self.context:
                known = ", ".join(sorted(k for k in self.context if isinstance(k, str)))
                raise self.fail(
                    node,
                    f"unknown name {node.id!r}",
                    hint=f"names available here: {known or '(none)'}",
                )
            return self.plain(node, self.context[node.id], f"{node.id!r}")
        if isinstance(node, ast.Attribute):
            base = self.eval(node.value)
            return self.lookup(node, base, node.attr, attribute=True)
        if isinstance(node, ast.Subscript):
            base = self.eval(node.value)
            key = self.eval(node.slice)
            return self.lookup(node, base, key)
        if isinstance(node, ast.BoolOp):
            if isinstance(node.op, ast.And):
                result: Any = True
                for value in node.values:
                    result = self.eval(value)
                    if not result:
                        return result
                return result
            result = False
            for value in node.values:
                result = self.eval(value)
                if result:
                    return result
            return result
        if isinstance(node, ast.UnaryOp):
            operand = self.eval(node.operand)
            if isinstance(node.op, ast.Not):
                return not operand
            if not _is_number(operand):
                raise self.fail(node, f"unary minus/plus needs a number, not {_type_name(operand)}")
            return -operand if isinstance(node.op, ast.USub) else +operand
        if isinstance(node, ast.BinOp):
            return self.binop(node)
        if isinstance(node, ast.Compare):
            return self.compare(node)
        if isinstance(node, ast.List):
            return [self.eval(e) for e in node.elts]
        if isinstance(node, ast.Tuple):
            return tuple(self.eval(e) for e in node.elts)
        if isinstance(node, ast.Call):
            assert isinstance(node.func, ast.Name)
            fn = FUNCTIONS[node.func.id][0]
            args = [self.eval(a) for a in node.args]
            try:
                return fn(*args)
            except (TypeError, ValueError) as exc:
                raise self.fail(node, f"{node.func.id}(): {exc}") from None
        # compile_expr never lets anything else through
        raise self.fail(node, f"{type(node).__name__} is not allowed")  # pragma: no cover

    def lookup(self, node: ast.AST, base: Any, key: Any, *, attribute: bool = False) -> Any:
        if isinstance(key, str) and key.startswith("_"):
            raise self.fail(node, f"private key {key!r} is not allowed")
        if isinstance(base, Mapping):
            if isinstance(key, list):
                raise self.fail(node, "a list cannot be a key")
            try:
                value = base[key]
            except KeyError:
                keys = ", ".join(repr(k) for k in list(base)[:20])
                raise self.fail(
                    node,
                    f"no key {key!r}",
                    hint=f"keys present: {keys or '(none)'}; test with "
                    f"`{key!r} in ...` first if it is optional",
                ) from None
            except TypeError as exc:
                raise self.fail(node, f"bad key {key!r}: {exc}") from None
            return self.plain(node, value, f"key {key!r}")
        if isinstance(base, list | tuple) and not attribute:
            if isinstance(key, bool) or not isinstance(key, int):
                raise self.fail(node, f"a list index must be an integer, not {_type_name(key)}")
            try:
                return self.plain(node, base[key], f"item {key}")
            except IndexError:
                raise self.fail(node, f"index {key} is out of range (length {len(base)})") from None
        raise self.fail(
            node,
            f"cannot look up {key!r} in a {_type_name(base)}; `.name` works on mappings only, "
            "`[key]` on mappings and `[index]` on lists",
        )

    def binop(self, node: ast.BinOp) -> Any:
        left = self.eval(node.left)
        right = self.eval(node.right)
        symbol = _BIN_OPS[type(node.op)]
        if not (_is_number(left) and _is_number(right)):
            raise self.fail(
                node,
                f"'{symbol}' needs numbers, not {_type_name(left)} and {_type_name(right)}",
            )
        try:
            if isinstance(node.op, ast.Add):
                result = left + right
            elif isinstance(node.op, ast.Sub):
                result = left - right
            elif isinstance(node.op, ast.Mult):
                result = left * right
            elif isinstance(node.op, ast.Div):
                result = left / right
            else:
                result = left % right
        except (ZeroDivisionError, OverflowError) as exc:
            raise self.fail(node, f"'{symbol}': {exc}") from None
        if isinstance(result, int) and result.bit_length() > MAX_INT_BITS:
            raise self.fail(node, f"number too large (more than {MAX_INT_BITS} bits)")
        return result

    def compare(self, node: ast.Compare) -> bool:
        left = self.eval(node.left)
        for op, right_node in zip(node.ops, node.comparators, strict=True):
            right = self.eval(right_node)
            symbol = _CMP_OPS[type(op)]
            try:
                if isinstance(op, ast.Eq):
                    ok = left == right
                elif isinstance(op, ast.NotEq):
                    ok = left != right
                elif isinstance(op, ast.Lt):
                    ok = left < right
                elif isinstance(op, ast.LtE):
                    ok = left <= right
                elif isinstance(op, ast.Gt):
                    ok = left > right
                elif isinstance(op, ast.GtE):
                    ok = left >= right
                elif isinstance(op, ast.In | ast.NotIn):
                    if not isinstance(right, str | list | tuple | Mapping):
                        raise TypeError(f"the right side is a {_type_name(right)}")
                    if isinstance(right, str) and not isinstance(left, str):
                        raise TypeError("only a string can be searched for in a string")
                    ok = left in right
                    if isinstance(op, ast.NotIn):
                        ok = not ok
                elif isinstance(op, ast.Is):
                    ok = left is None
                else:
                    ok = left is not None
            except TypeError as exc:
                raise self.fail(
                    node,
                    f"cannot compare {_type_name(left)} {symbol} {_type_name(right)}: {exc}",
                ) from None
            if not ok:
                return False
            left = right
        return True
