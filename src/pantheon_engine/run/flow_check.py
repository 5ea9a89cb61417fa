"""Flow graph validation: every problem of a flow's graph, each with its node, line and a fix.

:func:`check_graph` runs on a light sketch of the nodes (taken from the raw YAML, or from a
:class:`~pantheon_engine.run.flow_model.Flow` built in code), so it reports graph problems
(duplicate or reserved ids, unknown agents, missing inputs, cycles, unreachable nodes, a bad
output, ``when:`` conditions) even when the schema check failed.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pantheon_engine.run.expr import ExprError, compile_expr
from pantheon_engine.run.flow_model import (
    ENTRY,
    Flow,
    FlowProblem,
    KnownAgents,
    closure,
    did_you_mean,
)
from pantheon_engine.run.flow_yaml import Lines


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
    lines: Lines
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


def sketch_raw(raw_nodes: Any, lines: Lines) -> list[_Sketch]:
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


def sketch_flow(flow: Flow) -> list[_Sketch]:
    lines = Lines(None)
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
        guess = did_you_mean(agent, names)
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


@dataclass
class _Graph:
    """The node graph as far as the sketches tell it, shared by the graph checks."""

    sketches: Sequence[_Sketch]
    entry: set[str]
    entry_words: str
    first: dict[str, _Sketch]  # node id -> its first sketch (later ones are duplicates)
    ids: list[str]
    id_set: set[str]
    deps: dict[str, list[str]] = field(default_factory=dict)  # node -> the nodes it reads
    feeds: dict[str, list[str]] = field(default_factory=dict)  # node -> nodes that read it
    unresolved: set[str] = field(default_factory=set)  # inputs that name nothing
    in_cycle: set[str] = field(default_factory=set)


def check_graph(
    sketches: Sequence[_Sketch],
    *,
    input_name: str,
    output: Any,
    output_line: int | None,
    known_agents: KnownAgents | None,
    agent_hint: Callable[[str], str | None] | None,
) -> list[FlowProblem]:
    """Every graph problem of the sketched nodes, in check order (the caller sorts by line)."""
    entry = {ENTRY, input_name}
    entry_words = f"'{ENTRY}'" + (f" or '{input_name}'" if input_name != ENTRY else "")
    problems, first = _check_ids(sketches, entry)
    ids = [i for i in first if i not in entry]
    graph = _Graph(sketches, entry, entry_words, first, ids, set(ids))
    if known_agents is not None:
        problems += _check_agents(sketches, known_agents, agent_hint)
    problems += _check_inputs(graph)
    _link(graph)
    problems += _check_cycles(graph)
    problems += _check_reachable(graph)
    problems += _check_output(graph, output, output_line)
    problems += _check_when(graph)
    return problems


def _check_ids(
    sketches: Sequence[_Sketch], entry: set[str]
) -> tuple[list[FlowProblem], dict[str, _Sketch]]:
    """Duplicate and reserved node ids; also returns each id's first sketch."""
    problems: list[FlowProblem] = []
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
    return problems, first


def _check_agents(
    sketches: Sequence[_Sketch],
    known_agents: KnownAgents,
    agent_hint: Callable[[str], str | None] | None,
) -> list[FlowProblem]:
    return [
        FlowProblem(
            f"unknown agent '{s.agent}'",
            node=s.label,
            hint=_agent_fix(s.agent, known_agents, agent_hint),
            line=s.line("agent"),
        )
        for s in sketches
        if s.agent is not None and not _is_known(s.agent, known_agents)
    ]


def _check_inputs(graph: _Graph) -> list[FlowProblem]:
    """Inputs listed twice or naming nothing (these are remembered in ``unresolved``)."""
    problems: list[FlowProblem] = []
    for s in graph.sketches:
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
            if name in graph.entry or name in graph.id_set:
                continue
            graph.unresolved.add(name)
            guess = did_you_mean(name, [*graph.ids, *graph.entry])
            problems.append(
                FlowProblem(
                    f"missing input: '{name}' names no node and is not the flow input "
                    f"({graph.entry_words})",
                    node=s.label,
                    hint=(guess + " " if guess else "")
                    + f"inputs are node ids of this flow, or {graph.entry_words} for the flow "
                    "input.",
                    line=s.line("inputs", j),
                )
            )
    return problems


def _link(graph: _Graph) -> None:
    """Fill ``deps`` and ``feeds`` from the inputs that name nodes."""
    for node_id in graph.ids:
        ins = graph.first[node_id].inputs or []
        graph.deps[node_id] = [i for i in dict.fromkeys(ins) if i in graph.id_set]
    graph.feeds = {i: [] for i in graph.ids}
    for node_id in graph.ids:
        for d in graph.deps[node_id]:
            graph.feeds[d].append(node_id)


def _check_cycles(graph: _Graph) -> list[FlowProblem]:
    """One problem per cycle, with the path around it; members go to ``in_cycle``."""
    problems: list[FlowProblem] = []
    for comp in _sccs(graph.ids, graph.deps):
        head = comp[0]
        if len(comp) == 1 and head not in graph.deps[head]:
            continue
        graph.in_cycle.update(comp)
        path = _cycle_path(head, set(comp), graph.feeds)
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
                line=graph.first[head].line("inputs"),
            )
        )
    return problems


def _check_reachable(graph: _Graph) -> list[FlowProblem]:
    """Nodes the flow input never reaches; unknown or unresolved inputs get the benefit of
    the doubt, and nodes in a cycle are reported as the cycle."""
    seeds = [
        s.id
        for s in graph.sketches
        if s.id in graph.id_set
        and (s.inputs is None or any(i in graph.entry or i in graph.unresolved
                                     for i in s.inputs))
    ]
    reachable = closure(seeds, graph.feeds)
    problems: list[FlowProblem] = []
    for s in graph.sketches:
        if s.inputs is None or s.id not in graph.id_set or graph.first[s.id] is not s:
            continue  # schema errors, reserved and duplicate ids are reported elsewhere
        if s.id in reachable or s.id in graph.in_cycle:
            continue
        if not s.inputs:
            message = "unreachable: the node has no inputs, so it never receives the flow input"
        else:
            message = (
                f"unreachable: it does not depend on the flow input ({graph.entry_words}), "
                f"directly or through other nodes (inputs: {', '.join(s.inputs)})"
            )
        problems.append(
            FlowProblem(
                message,
                node=s.label,
                hint=f"add '{ENTRY}' or a node that depends on it to `inputs:`, or remove the node",
                line=s.line(),
            )
        )
    return problems


def _check_output(graph: _Graph, output: Any, output_line: int | None) -> list[FlowProblem]:
    if not isinstance(output, str) or output in graph.id_set:
        return []
    if output in graph.entry:
        message = f"output '{output}' names the flow input, not a node"
    else:
        message = f"output '{output}' names no node"
    return [
        FlowProblem(
            message,
            hint=(did_you_mean(output, graph.ids) or f"nodes: {', '.join(graph.ids)}.")
            + " `output:` must be a node id (or leave it out).",
            line=output_line,
        )
    ]


def _check_when(graph: _Graph) -> list[FlowProblem]:
    """``when:`` conditions that do not compile or read names that are not upstream."""
    problems: list[FlowProblem] = []
    for s in graph.sketches:
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
        if s.inputs is None:
            continue  # cannot tell what is upstream; the schema error says why
        up = closure([i for i in s.inputs if i in graph.id_set], graph.deps)
        bad = sorted(n for n in expr.names() if n not in up and n not in graph.entry)
        if bad:
            problems.append(_when_problem(graph, s, s.when, bad, up))
    return problems


def _when_problem(
    graph: _Graph, s: _Sketch, when: str, bad: list[str], up: set[str]
) -> FlowProblem:
    names = ", ".join(f"'{n}'" for n in bad)
    fixes = []
    for n in bad:
        if n in graph.id_set:
            fixes.append(f"add '{n}' to `inputs:` if this node should wait for it")
        else:
            guess = did_you_mean(n, [*up, *graph.entry])
            if guess:
                fixes.append(f"'{n}': {guess}")
            elif "-" in when or any("." in i for i in graph.ids):
                fixes.append("node ids with '-' or '.' cannot be used as names in `when:`")
    allowed = ", ".join(sorted(up)) or "none"
    fixes.append(f"a condition may read {graph.entry_words} and upstream nodes ({allowed})")
    return FlowProblem(
        f"`when:` refers to {names}, which {'is' if len(bad) == 1 else 'are'} "
        "not the flow input or an upstream node",
        node=s.label,
        hint="; ".join(dict.fromkeys(fixes)),
        line=s.line("when"),
    )


