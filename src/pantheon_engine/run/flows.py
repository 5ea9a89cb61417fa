"""Flow definitions: DAGs of agent nodes, written in YAML and validated on load.

A flow file names its nodes, the agent each one runs, the nodes (or the flow input) each
one reads, and optional retries, timeouts, ``when:`` conditions and free-form params::

    name: spec2code
    input: spec
    nodes:
      - id: plan
        agent: plan.validate
        inputs: [input]
      - id: codegen
        agent: codegen
        inputs: [plan]
        retries: 1
    output: codegen

:func:`load_flow` (a file) and :func:`parse_flow` (text) check the schema and the graph
(duplicate ids, unknown agents, missing inputs, cycles, unreachable nodes, unknown output,
``when:`` conditions that do not compile or read nodes that are not upstream) and raise a
single :class:`FlowValidationError` (a :class:`~pantheon_engine.errors.FlowError`) that
lists *every* problem, each with the file, the node, the line and a hint.

The flow input can be named in ``inputs:`` and in ``when:`` as ``input`` or by the flow's
``input:`` name (both mean the run's input JSON). See ``docs/flows.md``.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
)

from pantheon_engine.errors import FlowError
from pantheon_engine.run.expr import Expr, ExprError, compile_expr

__all__ = [
    "ENTRY",
    "ID_PATTERN",
    "INPUT_PATTERN",
    "Flow",
    "FlowNode",
    "FlowProblem",
    "FlowValidationError",
    "KnownAgents",
    "downstream",
    "load_flow",
    "parse_flow",
    "should_run",
    "sinks",
    "topological_layers",
    "upstream",
    "validate_flow",
    "when_context",
]

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

_ID_HINT = "ids start with a letter and use only letters, digits, '_', '.' and '-'"


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
            hint=_did_you_mean(node_id, self.node_ids) or f"nodes: {', '.join(self.node_ids)}",
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


# --- helpers -----------------------------------------------------------------------------


def _did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    matches = difflib.get_close_matches(word, sorted(set(candidates)), n=3, cutoff=0.6)
    if not matches:
        return None
    return "did you mean " + " or ".join(repr(m) for m in matches) + "?"


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _type_word(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    return {
        dict: "a mapping",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
    }.get(type(value), type(value).__name__)


class _Lines:
    """Finds the line of a path (``["nodes", 2, "agent"]``) in the composed YAML tree."""

    def __init__(self, root: yaml.Node | None) -> None:
        self.root = root

    def find(self, path: Sequence[str | int]) -> yaml.Node | None:
        node = self.root
        best = node
        for key in path:
            if isinstance(node, yaml.MappingNode) and isinstance(key, str):
                for k, v in node.value:
                    if isinstance(k, yaml.ScalarNode) and k.value == key:
                        node = v
                        break
                else:
                    return best
            elif isinstance(node, yaml.SequenceNode) and isinstance(key, int):
                if not 0 <= key < len(node.value):
                    return best
                node = node.value[key]
            else:
                return best
            best = node
        return best

    def line(self, path: Sequence[str | int]) -> int | None:
        node = self.find(path)
        return None if node is None else node.start_mark.line + 1


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [x for pair in node.value for x in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _expanded_size(root: yaml.Node, limit: int) -> int:
    """Node count with aliases expanded (capped at ``limit + 1``; recursion counts as over)."""
    memo: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            memo[key] = min(limit + 1, 1 + sum(memo[id(c)] for c in _children(node)))
            continue
        if key in memo:
            continue
        if key in on_path:
            return limit + 1
        on_path.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in on_path:
                return limit + 1
            if id(child) not in memo:
                stack.append((child, False))
    return memo[id(root)]


def _duplicate_keys(root: yaml.Node, labels: Mapping[int, str]) -> list[FlowProblem]:
    """YAML keeps the last of two equal keys silently; report them instead."""
    problems: list[FlowProblem] = []
    seen_nodes: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for k, _ in node.value:
                if not isinstance(k, yaml.ScalarNode) or k.tag == "tag:yaml.org,2002:merge":
                    continue
                line = k.start_mark.line + 1
                if k.value in seen:
                    problems.append(
                        FlowProblem(
                            f"duplicate key '{k.value}' (first at line {seen[k.value]}); "
                            "YAML would silently keep only the last one",
                            node=labels.get(id(node)),
                            hint=f"remove or merge one of the two '{k.value}:' entries",
                            line=line,
                        )
                    )
                else:
                    seen[k.value] = line
        stack.extend(reversed(_children(node)))
    return problems


@dataclass
class _Sketch:
    """What graph checks need from one node, read leniently from raw data.

    ``None`` means "not known" (the schema check reports why), so graph checks skip it
    instead of piling follow-up errors on top.
    """

    index: int
    id: str | None
    agent: str | None
    inputs: list[str] | None
    when: str | None
    lines: _Lines
    base: tuple[str | int, ...] = ()

    @property
    def label(self) -> str:
        return self.id if self.id is not None else f"#{self.index + 1}"

    def line(self, *path: str | int) -> int | None:
        if not self.base:
            return None
        return self.lines.line((*self.base, *path))


def _has_space(text: str) -> bool:
    return any(c.isspace() for c in text)


def _sketch_raw(raw_nodes: Any, lines: _Lines) -> list[_Sketch]:
    if not isinstance(raw_nodes, list):
        return []
    out = []
    for i, item in enumerate(raw_nodes):
        item = item if isinstance(item, dict) else {}
        node_id = item.get("id")
        agent = item.get("agent")
        inputs: Any = item.get("inputs", [])
        if isinstance(inputs, str):
            inputs = [inputs]
        if not (isinstance(inputs, list) and all(isinstance(x, str) for x in inputs)):
            inputs = None
        if not isinstance(item, dict) or not item:
            inputs = None
        when = item.get("when")
        out.append(
            _Sketch(
                index=i,
                id=node_id if isinstance(node_id, str) else None,
                agent=agent if isinstance(agent, str) and agent and not _has_space(agent) else None,
                inputs=inputs,
                when=when if isinstance(when, str) else None,
                lines=lines,
                base=("nodes", i),
            )
        )
    return out


def _sketch_flow(flow: Flow) -> list[_Sketch]:
    lines = _Lines(None)
    return [
        _Sketch(index=i, id=n.id, agent=n.agent, inputs=list(n.inputs), when=n.when, lines=lines)
        for i, n in enumerate(flow.nodes)
    ]


def _is_known(agent: str, known_agents: KnownAgents) -> bool:
    if callable(known_agents):
        return bool(known_agents(agent))
    return agent in known_agents


def _agent_fix(
    agent: str,
    known_agents: KnownAgents,
    agent_hint: Callable[[str], str | None] | None,
) -> str:
    parts: list[str] = []
    if agent_hint is not None:
        extra = agent_hint(agent)
        if extra:
            parts.append(extra)
    elif not callable(known_agents):
        names = [a for a in known_agents if isinstance(a, str)]
        guess = _did_you_mean(agent, names)
        if guess:
            parts.append(guess)
        elif names:
            listed = sorted(names)
            parts.append(
                "known agents: "
                + ", ".join(listed[:10])
                + (", ..." if len(listed) > 10 else "")
                + "."
            )
    parts.append(f"to create a new agent instead, run `pantheon init agent {agent}`.")
    return " ".join(parts)


def _sccs(order: Sequence[str], deps: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Strongly connected components (iterative Tarjan), members in file order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    result: list[list[str]] = []
    counter = 0
    pos = {n: k for k, n in enumerate(order)}
    for start in order:
        if start in index:
            continue
        work: list[tuple[str, int]] = [(start, 0)]
        while work:
            v, i = work.pop()
            if i == 0:
                index[v] = low[v] = counter
                counter += 1
                stack.append(v)
                on_stack.add(v)
            succ = deps.get(v, ())
            recurse = False
            while i < len(succ):
                w = succ[i]
                i += 1
                if w not in index:
                    work.append((v, i))
                    work.append((w, 0))
                    recurse = True
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            if recurse:
                continue
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                result.append(sorted(comp, key=lambda n: pos.get(n, 0)))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[v])
    return result


def _cycle_path(start: str, members: set[str], feeds: Mapping[str, Sequence[str]]) -> list[str]:
    """Shortest data-flow cycle ``start -> ... -> start`` inside one component."""
    prev: dict[str, str] = {}
    frontier = [start]
    seen = {start}
    while frontier:
        nxt = []
        for v in frontier:
            for w in feeds.get(v, ()):
                if w not in members:
                    continue
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(prev[path[-1]])
                    path.reverse()
                    return [*path, start]
                if w not in seen:
                    seen.add(w)
                    prev[w] = v
                    nxt.append(w)
        frontier = nxt
    return [start, start]  # pragma: no cover - a component always has a cycle


def _closure(start: Iterable[str], edges: Mapping[str, Sequence[str]]) -> set[str]:
    out: set[str] = set()
    todo = list(start)
    while todo:
        v = todo.pop()
        if v in out:
            continue
        out.add(v)
        todo.extend(edges.get(v, ()))
    return out


def _check_graph(
    sketches: Sequence[_Sketch],
    *,
    input_name: str,
    output: Any,
    output_line: int | None,
    known_agents: KnownAgents | None,
    agent_hint: Callable[[str], str | None] | None,
) -> list[FlowProblem]:
    problems: list[FlowProblem] = []
    entry = {ENTRY, input_name}
    entry_words = f"'{ENTRY}'" + (f" or '{input_name}'" if input_name != ENTRY else "")

    first: dict[str, _Sketch] = {}
    for s in sketches:
        if s.id is None:
            continue
        if s.id in first:
            other = first[s.id]
            where = f"node #{other.index + 1}" + (f", line {other.line()}" if other.line() else "")
            problems.append(
                FlowProblem(
                    f"duplicate node id '{s.id}' (also used by {where})",
                    node=s.id,
                    hint="node ids must be unique within a flow; rename one of them",
                    line=s.line("id"),
                )
            )
        else:
            first[s.id] = s
        if s.id in entry:
            problems.append(
                FlowProblem(
                    f"node id '{s.id}' is reserved: it names the flow input",
                    node=s.id,
                    hint="rename the node",
                    line=s.line("id"),
                )
            )
    ids = [i for i in first if i not in entry]
    id_set = set(ids)

    # agents
    if known_agents is not None:
        for s in sketches:
            if s.agent is not None and not _is_known(s.agent, known_agents):
                problems.append(
                    FlowProblem(
                        f"unknown agent '{s.agent}'",
                        node=s.label,
                        hint=_agent_fix(s.agent, known_agents, agent_hint),
                        line=s.line("agent"),
                    )
                )

    # inputs
    unresolved: set[str] = set()
    for s in sketches:
        if s.inputs is None:
            continue
        seen: set[str] = set()
        for j, name in enumerate(s.inputs):
            if name in seen:
                problems.append(
                    FlowProblem(
                        f"input '{name}' is listed twice",
                        node=s.label,
                        hint="list each input once",
                        line=s.line("inputs", j),
                    )
                )
                continue
            seen.add(name)
            if name in entry or name in id_set:
                continue
            unresolved.add(name)
            guess = _did_you_mean(name, [*ids, *entry])
            problems.append(
                FlowProblem(
                    f"missing input: '{name}' names no node and is not the flow input "
                    f"({entry_words})",
                    node=s.label,
                    hint=(guess + " " if guess else "")
                    + f"inputs are node ids of this flow, or {entry_words} for the flow input.",
                    line=s.line("inputs", j),
                )
            )

    # graph: deps (node -> the nodes it reads), feeds (node -> nodes that read it)
    deps: dict[str, list[str]] = {}
    for node_id in ids:
        ins = first[node_id].inputs or []
        deps[node_id] = [i for i in dict.fromkeys(ins) if i in id_set]
    feeds: dict[str, list[str]] = {i: [] for i in ids}
    for node_id in ids:
        for d in deps[node_id]:
            feeds[d].append(node_id)

    in_cycle: set[str] = set()
    for comp in _sccs(ids, deps):
        head = comp[0]
        if len(comp) == 1 and head not in deps[head]:
            continue
        in_cycle.update(comp)
        path = _cycle_path(head, set(comp), feeds)
        if len(path) == 2:
            hint = f"node '{head}' lists itself in its inputs; remove it"
        else:
            hint = (
                f"a flow must be acyclic: remove '{path[-2]}' from the inputs of '{head}' "
                "(or break the loop elsewhere)"
            )
        problems.append(
            FlowProblem(
                "cycle: " + " -> ".join(path),
                node=head,
                hint=hint,
                line=first[head].line("inputs"),
            )
        )

    # reachability from the entry; unknown or unresolved inputs get the benefit of doubt
    seeds = [
        s.id
        for s in sketches
        if s.id in id_set
        and (s.inputs is None or any(i in entry or i in unresolved for i in s.inputs))
    ]
    reachable = _closure(seeds, feeds)
    for s in sketches:
        if s.inputs is None or s.id not in id_set or first[s.id] is not s:
            continue  # schema errors, reserved and duplicate ids are reported elsewhere
        if s.id in reachable or s.id in in_cycle:
            continue
        if not s.inputs:
            message = "unreachable: the node has no inputs, so it never receives the flow input"
        else:
            message = (
                f"unreachable: it does not depend on the flow input ({entry_words}), directly "
                f"or through other nodes (inputs: {', '.join(s.inputs)})"
            )
        problems.append(
            FlowProblem(
                message,
                node=s.label,
                hint=f"add '{ENTRY}' or a node that depends on it to `inputs:`, or remove the node",
                line=s.line(),
            )
        )

    # output
    if isinstance(output, str) and output not in id_set:
        if output in entry:
            message = f"output '{output}' names the flow input, not a node"
        else:
            message = f"output '{output}' names no node"
        problems.append(
            FlowProblem(
                message,
                hint=(_did_you_mean(output, ids) or f"nodes: {', '.join(ids)}.")
                + " `output:` must be a node id (or leave it out).",
                line=output_line,
            )
        )

    # when
    for s in sketches:
        if s.when is None:
            continue
        try:
            expr = compile_expr(s.when)
        except ExprError as exc:
            problems.append(
                FlowProblem(
                    f"invalid `when:` condition: {exc.reason}",
                    node=s.label,
                    hint=exc.hint,
                    line=s.line("when"),
                )
            )
            continue
        direct = [i for i in (s.inputs or []) if i in id_set]
        up = _closure(direct, deps)
        if s.inputs is None:
            continue  # cannot tell what is upstream; the schema error says why
        bad = sorted(n for n in expr.names() if n not in up and n not in entry)
        if not bad:
            continue
        names = ", ".join(f"'{n}'" for n in bad)
        fixes = []
        for n in bad:
            if n in id_set:
                fixes.append(f"add '{n}' to `inputs:` if this node should wait for it")
            else:
                guess = _did_you_mean(n, [*up, *entry])
                if guess:
                    fixes.append(f"'{n}': {guess}")
                elif "-" in s.when or any("." in i for i in ids):
                    fixes.append("node ids with '-' or '.' cannot be used as names in `when:`")
        allowed = ", ".join(sorted(up)) or "none"
        fixes.append(f"a condition may read {entry_words} and upstream nodes ({allowed})")
        problems.append(
            FlowProblem(
                f"`when:` refers to {names}, which {'is' if len(bad) == 1 else 'are'} "
                "not the flow input or an upstream node",
                node=s.label,
                hint="; ".join(dict.fromkeys(fixes)),
                line=s.line("when"),
            )
        )
    return problems


def _field_path(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        if part == "[key]":
            out += " (key)"
        elif isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


_FIELD_HINTS = {
    "id": "give the node an id, e.g. `id: plan`",
    "agent": "name the agent that runs the node, e.g. `agent: codegen`",
    "name": "add `name: <flow name>` at the top of the file",
    "nodes": "add a `nodes:` list; each node has `id`, `agent` and `inputs`",
}


def _schema_problems(
    exc: ValidationError, raw: Mapping[str, Any], lines: _Lines
) -> list[FlowProblem]:
    problems: list[FlowProblem] = []
    raw_nodes = raw.get("nodes")
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        kind = err["type"]
        value = err.get("input")
        node: str | None = None
        fields = loc
        model: type[BaseModel] = Flow
        if len(loc) >= 2 and loc[0] == "nodes" and isinstance(loc[1], int):
            i = loc[1]
            item = raw_nodes[i] if isinstance(raw_nodes, list) and i < len(raw_nodes) else None
            node_id = item.get("id") if isinstance(item, dict) else None
            node = node_id if isinstance(node_id, str) and node_id else f"#{i + 1}"
            fields = loc[2:]
            model = FlowNode
        field = _field_path(fields)
        top = str(fields[0]) if fields else ""
        line = lines.line(loc)
        hint: str | None = None
        if not fields and model is FlowNode:
            message = f"a node must be a mapping (id, agent, inputs...), not {_type_word(value)}"
            hint = "write each node as `- id: ...` followed by `agent:` and `inputs:` lines"
        elif kind == "missing":
            message = f"missing required field '{field}'"
            hint = _FIELD_HINTS.get(top)
        elif kind == "extra_forbidden":
            message = f"unknown field '{field}'"
            allowed = [f for f in model.model_fields if f != "source"]
            guess = _did_you_mean(top, allowed)
            hint = (guess + " " if guess else "") + "allowed fields: " + ", ".join(allowed)
        elif kind == "string_pattern_mismatch" and top in {"id", "name"}:
            message = f"invalid {top} {_short(value)}"
            hint = _ID_HINT
        elif kind == "string_pattern_mismatch" and top == "input":
            message = f"invalid input name {_short(value)}"
            hint = "the input name must be a letter followed by letters, digits or '_'"
        elif kind == "string_pattern_mismatch" and top == "agent":
            message = f"invalid agent name {_short(value)}"
            hint = "agent names contain no spaces, e.g. `agent: review.peer`"
        elif kind == "too_short" and top == "nodes" and model is Flow:
            message = "the flow has no nodes"
            hint = _FIELD_HINTS["nodes"]
        elif kind == "model_type" and model is Flow and not fields:  # pragma: no cover
            message = f"expected a mapping, not {_type_word(value)}"
        else:
            message = f"field '{field}': {err['msg']} (got {_short(value)})"
            if top == "inputs":
                hint = "write inputs as a list of node ids, e.g. `inputs: [plan, test]`"
            elif top == "retries":
                hint = "retries is a whole number >= 0, e.g. `retries: 1`"
            elif top == "timeout_s":
                hint = "timeout_s is a number of seconds > 0, e.g. `timeout_s: 600`"
            elif top == "when":
                hint = 'quote the condition, e.g. when: "test.passed"'
            elif top == "params":
                hint = "params is a mapping of string keys, e.g. `params: {persona: strict}`"
            elif top == "nodes":
                hint = _FIELD_HINTS["nodes"]
            elif top in {"name", "description", "input", "output", "id", "agent"}:
                hint = f"`{top}` is a single string"
        problems.append(FlowProblem(message, node=node, hint=hint, line=line))
    return problems


# --- loading -----------------------------------------------------------------------------


def _too_large(size: int, source: str) -> FlowValidationError:
    return FlowValidationError(
        [
            FlowProblem(
                f"the flow file is too large ({size} bytes; the limit is {MAX_FLOW_BYTES})",
                hint="a flow is a short YAML file; move data into the run input",
            )
        ],
        file=source,
    )


def parse_flow(
    text: str,
    *,
    source: str = "<flow>",
    known_agents: KnownAgents | None = None,
    agent_hint: Callable[[str], str | None] | None = None,
) -> Flow:
    """Parse and validate flow YAML from ``text``; ``source`` names it in messages.

    ``known_agents`` is a predicate or a collection of agent names (``None`` skips the
    agent check); ``agent_hint(name)`` may return a hint for an unknown agent (close
    matches from a registry, say). Raises :class:`FlowValidationError` listing every problem.
    """

    def fail(message: str, hint: str | None = None, line: int | None = None) -> FlowError:
        return FlowValidationError([FlowProblem(message, hint=hint, line=line)], file=source)

    if len(text) > MAX_FLOW_BYTES:
        raise _too_large(len(text), source)
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is not None and _expanded_size(root, MAX_YAML_NODES) > MAX_YAML_NODES:
            raise fail(
                "the YAML expands to too many values (aliases nested too deep?)",
                "flows do not need YAML anchors that multiply; write the values out",
            )
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        col = mark.column + 1 if mark else None
        what = exc.problem or exc.context or "invalid YAML"
        context = f" ({exc.context})" if exc.context and exc.problem else ""
        raise fail(
            f"YAML syntax error at line {line}, column {col}: {what}{context}",
            f"check indentation and quoting around line {line}; quote values that contain "
            "': ' or '#', e.g. when: \"reviewA.verdict == 'pass'\"",
        ) from None
    except yaml.YAMLError as exc:
        raise fail(f"YAML error: {exc}", "check the file is valid YAML") from None
    except RecursionError:
        raise fail(
            "the YAML is nested too deeply", "flows are shallow; simplify the file"
        ) from None
    finally:
        loader.dispose()

    shape_hint = (
        "a flow file is a YAML mapping with `name`, `nodes` (a list) and optional "
        "`description`, `input` and `output`"
    )
    if data is None:
        raise fail("the flow file is empty", shape_hint)
    if not isinstance(data, dict):
        raise fail(f"expected a mapping at the top level, got {_type_word(data)}", shape_hint, 1)

    lines = _Lines(root)
    problems: list[FlowProblem] = []

    raw_nodes = data.get("nodes")
    labels: dict[int, str] = {}
    nodes_seq = lines.find(["nodes"])
    if isinstance(nodes_seq, yaml.SequenceNode) and isinstance(raw_nodes, list):
        for i, (item_node, item) in enumerate(zip(nodes_seq.value, raw_nodes, strict=False)):
            ident = item.get("id") if isinstance(item, dict) else None
            labels[id(item_node)] = ident if isinstance(ident, str) else f"#{i + 1}"
    assert root is not None
    problems.extend(_duplicate_keys(root, labels))

    raw = dict(data)
    if "source" in raw:
        raw.pop("source")
        problems.append(
            FlowProblem(
                "unknown field 'source'",
                hint="`source` is set by the loader to the file path; remove it",
                line=lines.line(["source"]),
            )
        )

    flow: Flow | None = None
    try:
        flow = Flow.model_validate({**raw, "source": source})
    except ValidationError as exc:
        problems.extend(_schema_problems(exc, raw, lines))

    input_name = raw.get("input", ENTRY)
    if not isinstance(input_name, str):
        input_name = ENTRY
    problems.extend(
        _check_graph(
            _sketch_raw(raw_nodes, lines),
            input_name=input_name,
            output=raw.get("output"),
            output_line=lines.line(["output"]),
            known_agents=known_agents,
            agent_hint=agent_hint,
        )
    )
    if problems or flow is None:
        problems.sort(key=lambda p: p.line if p.line is not None else 1 << 30)
        raise FlowValidationError(problems, file=source)
    return flow


def load_flow(
    path: str | os.PathLike[str],
    *,
    known_agents: KnownAgents | None = None,
    agent_hint: Callable[[str], str | None] | None = None,
) -> Flow:
    """Read a flow file and validate it (see :func:`parse_flow`)."""
    source = os.fspath(path)
    try:
        p = Path(source)
        size = p.stat().st_size
        if size > MAX_FLOW_BYTES:
            raise _too_large(size, source)
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise FlowValidationError(
            [
                FlowProblem(
                    f"the file is not UTF-8 text (byte {exc.start})",
                    hint="save the flow as UTF-8",
                )
            ],
            file=source,
        ) from None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise FlowValidationError(
            [
                FlowProblem(
                    f"cannot read the flow file: {reason}",
                    hint="check the path, or name a built-in flow (docops, spec2code)",
                )
            ],
            file=source,
        ) from None
    return parse_flow(text, source=source, known_agents=known_agents, agent_hint=agent_hint)


def validate_flow(
    flow: Flow,
    *,
    known_agents: KnownAgents | None = None,
    agent_hint: Callable[[str], str | None] | None = None,
) -> None:
    """Run the graph checks on a :class:`Flow` built in code (no line numbers)."""
    problems = _check_graph(
        _sketch_flow(flow),
        input_name=flow.input,
        output=flow.output,
        output_line=None,
        known_agents=known_agents,
        agent_hint=agent_hint,
    )
    if problems:
        raise FlowValidationError(problems, file=flow.source)


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
    return _closure(deps[node_id], deps)


def downstream(flow: Flow, node_id: str) -> set[str]:
    """Every node that depends on ``node_id``, directly or transitively."""
    flow.node(node_id)
    feeds: dict[str, list[str]] = {n: [] for n in flow.node_ids}
    for n, ds in _deps_map(flow).items():
        for d in ds:
            feeds[d].append(n)
    return _closure(feeds[node_id], feeds)


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
