"""The flow model: nodes, flows, the problems a flow file can have, and graph queries.

A flow is a DAG of agent nodes (see :mod:`pantheon_engine.run.flows` for the file format and
loading, :mod:`pantheon_engine.run.flow_check` for validation). Everything here works on a
flow that is already valid.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
)

from pantheon_engine.errors import FlowError
from pantheon_engine.run.expr import Expr, ExprError, compile_expr

ENTRY = "input"
"""The name that always refers to the flow input (besides the flow's own ``input:`` name)."""

ID_PATTERN = r"^[A-Za-z][A-Za-z0-9_.-]*$"
"""Node ids and flow names: a letter, then letters, digits, ``_``, ``.`` or ``-``."""

INPUT_PATTERN = r"^[A-Za-z][A-Za-z0-9_]*$"
"""The flow's input name must also be usable as a name inside ``when:``."""

MAX_FLOW_BYTES = 1_000_000
"""Flow files larger than this are refused."""

MAX_YAML_NODES = 100_000
"""Refuse YAML whose alias-expanded size passes this (a "billion laughs" guard)."""

KnownAgents = Callable[[str], bool] | Collection[str]
"""Either a predicate (``registry.has``) or a collection of agent names."""

ID_HINT = "ids start with a letter and use only letters, digits, '_', '.' and '-'"


# --- models ------------------------------------------------------------------------------


class FlowNode(BaseModel):
    """One step of a flow: an agent run fed by the outputs of other nodes or the input."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=ID_PATTERN, max_length=100)
    agent: str = Field(min_length=1, max_length=200, pattern=r"^\S+$")
    inputs: list[str] = Field(default_factory=list)
    retries: int = Field(default=0, ge=0, strict=True)
    timeout_s: float | None = Field(default=None, gt=0)
    when: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)

    _when_expr: Expr | None = PrivateAttr(default=None)

    @field_validator("inputs", mode="before")
    @classmethod
    def _single_input(cls, value: Any) -> Any:
        """Accept ``inputs: plan`` as shorthand for ``inputs: [plan]``."""
        return [value] if isinstance(value, str) else value

    def when_expr(self) -> Expr | None:
        """The compiled ``when:`` condition (cached), or ``None`` when the node has none."""
        if self.when is None:
            return None
        if self._when_expr is None or self._when_expr.source != self.when.strip():
            self._when_expr = compile_expr(self.when)
        return self._when_expr


class Flow(BaseModel):
    """A validated flow. Build it with :func:`load_flow` or :func:`parse_flow`."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=ID_PATTERN, max_length=100)
    description: str = ""
    input: str = Field(default=ENTRY, pattern=INPUT_PATTERN, max_length=100)
    nodes: list[FlowNode] = Field(min_length=1)
    output: str | None = None
    source: str | None = None

    @property
    def node_ids(self) -> list[str]:
        """Node ids in file order."""
        return [n.id for n in self.nodes]

    @property
    def entry_names(self) -> frozenset[str]:
        """Names that refer to the flow input: ``input`` and the flow's ``input:`` name."""
        return frozenset({ENTRY, self.input})

    def node(self, node_id: str) -> FlowNode:
        """The node called ``node_id``; :class:`FlowError` (with close matches) if none."""
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise FlowError(
            f"no node {node_id!r} in flow {self.name!r}",
            file=self.source,
            hint=did_you_mean(node_id, self.node_ids) or f"nodes: {', '.join(self.node_ids)}",
        )

    def deps(self, node_id: str) -> list[str]:
        """The nodes ``node_id`` reads directly (its inputs minus the flow input)."""
        return [i for i in self.node(node_id).inputs if i not in self.entry_names]


# --- problems ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FlowProblem:
    """One thing wrong with a flow: what, where (node label, line) and how to fix it."""

    message: str
    node: str | None = None
    hint: str | None = None
    line: int | None = None

    def describe(self) -> str:
        """``node 'x', line 3: message`` (without the hint)."""
        where = []
        if self.node:
            where.append(
                f"node '{self.node}'" if not self.node.startswith("#") else f"node {self.node}"
            )
        if self.line:
            where.append(f"line {self.line}")
        return f"{', '.join(where)}: {self.message}" if where else self.message


class FlowValidationError(FlowError):
    """A flow file has one or more problems; ``problems`` holds them all, in file order."""

    def __init__(self, problems: Sequence[FlowProblem], *, file: str | None = None) -> None:
        if not problems:
            raise ValueError("FlowValidationError needs at least one problem")
        self.problems = list(problems)
        first = self.problems[0]
        head = first.message + (f" (line {first.line})" if first.line else "")
        if len(self.problems) == 1:
            super().__init__(head, file=file, node=first.node, hint=first.hint)
            return
        more = len(self.problems) - 1
        lines = [f"{head}; {more + 1} problems in all:"]
        for n, p in enumerate(self.problems, 1):
            lines.append(f"  {n}. {p.describe()}")
            if p.hint:
                lines.append(f"     hint: {p.hint}")
        super().__init__("\n".join(lines), file=file, node=first.node)


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    matches = difflib.get_close_matches(word, sorted(set(candidates)), n=3, cutoff=0.6)
    if not matches:
        return None
    return "did you mean " + " or ".join(repr(m) for m in matches) + "?"


def closure(start: Iterable[str], edges: Mapping[str, Sequence[str]]) -> set[str]:
    out: set[str] = set()
    todo = list(start)
    while todo:
        v = todo.pop()
        if v in out:
            continue
        out.add(v)
        todo.extend(edges.get(v, ()))
    return out


# --- graph queries -----------------------------------------------------------------------


def _deps_map(flow: Flow) -> dict[str, list[str]]:
    ids = set(flow.node_ids)
    return {
        n.id: [i for i in dict.fromkeys(n.inputs) if i in ids and i not in flow.entry_names]
        for n in flow.nodes
    }


def topological_layers(flow: Flow) -> list[list[str]]:
    """Node ids grouped by dependency depth (longest path from the entry), file order within.

    Every node in a layer depends only on nodes in earlier layers, so a layer's nodes can
    run concurrently. Raises :class:`FlowError` if the graph has a cycle.
    """
    deps = _deps_map(flow)
    depth: dict[str, int] = {}
    remaining = list(flow.node_ids)
    layers: list[list[str]] = []
    while remaining:
        layer = [n for n in remaining if all(d in depth for d in deps[n])]
        if not layer:
            raise FlowError(
                f"cycle among nodes {', '.join(remaining)}",
                file=flow.source,
                node=remaining[0],
                hint="a flow must be acyclic",
            )
        for n in layer:
            depth[n] = len(layers)
        layers.append(layer)
        placed = set(layer)
        remaining = [n for n in remaining if n not in placed]
    return layers


def upstream(flow: Flow, node_id: str) -> set[str]:
    """Every node ``node_id`` depends on, directly or transitively (not the flow input)."""
    flow.node(node_id)
    deps = _deps_map(flow)
    return closure(deps[node_id], deps)


def downstream(flow: Flow, node_id: str) -> set[str]:
    """Every node that depends on ``node_id``, directly or transitively."""
    flow.node(node_id)
    feeds: dict[str, list[str]] = {n: [] for n in flow.node_ids}
    for n, ds in _deps_map(flow).items():
        for d in ds:
            feeds[d].append(n)
    return closure(feeds[node_id], feeds)


def sinks(flow: Flow) -> list[str]:
    """Nodes nothing depends on, in file order (the flow's results when ``output`` is unset)."""
    used = {d for ds in _deps_map(flow).values() for d in ds}
    return [n for n in flow.node_ids if n not in used]


def when_context(
    flow: Flow, node_id: str, *, run_input: Any, outputs: Mapping[str, Any]
) -> dict[str, Any]:
    """The names a node's ``when:`` may read.

    ``input`` and the flow's input name map to ``run_input``; every upstream node maps to its
    output from ``outputs`` or to ``None`` when it has none (skipped, say). Values should be
    plain JSON-like data.
    """
    context: dict[str, Any] = {n: outputs.get(n) for n in sorted(upstream(flow, node_id))}
    context[ENTRY] = run_input
    context[flow.input] = run_input
    return context


def should_run(flow: Flow, node_id: str, *, run_input: Any, outputs: Mapping[str, Any]) -> bool:
    """Evaluate the node's ``when:`` (``True`` when it has none).

    Raises :class:`~pantheon_engine.run.expr.ExprEvalError` (naming file and node) when the
    condition cannot be evaluated, e.g. a key is missing from an upstream output.
    """
    node = flow.node(node_id)
    expr = node.when_expr()
    if expr is None:
        return True
    try:
        return expr.evaluate_bool(when_context(flow, node_id, run_input=run_input, outputs=outputs))
    except ExprError as exc:
        raise type(exc)(
            exc.reason,
            source=exc.source,
            line=exc.line,
            column=exc.column,
            file=flow.source,
            node=node_id,
            hint=exc.hint,
        ) from None
