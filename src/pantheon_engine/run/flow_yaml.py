"""Reading a flow file: YAML lines for messages, size guards, duplicate keys, schema errors.

Everything here speaks of the file as written (line numbers, the raw values), so a problem
can point at the exact place to fix; :mod:`pantheon_engine.run.flow_check` checks the graph.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import yaml
from pydantic import (
    BaseModel,
    ValidationError,
)

from pantheon_engine.file_problems import closest
from pantheon_engine.run.flow_model import (
    ID_HINT,
    MAX_FLOW_BYTES,
    Flow,
    FlowNode,
    FlowProblem,
    FlowValidationError,
    did_you_mean,
)

# --- helpers -----------------------------------------------------------------------------


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def type_word(value: Any) -> str:
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


class Lines:
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

    def key_line(self, path: Sequence[str | int]) -> int | None:
        """The line of the key ``path[-1]`` itself (a block value starts a line below)."""
        parent = self.find(path[:-1]) if path else None
        if isinstance(parent, yaml.MappingNode):
            for k, _ in parent.value:
                if isinstance(k, yaml.ScalarNode) and k.value == path[-1]:
                    return k.start_mark.line + 1
        return self.line(path)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [x for pair in node.value for x in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def expanded_size(root: yaml.Node, limit: int) -> int:
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


def duplicate_keys(root: yaml.Node, labels: Mapping[int, str]) -> list[FlowProblem]:
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


def schema_problems(
    exc: ValidationError, raw: Mapping[str, Any], lines: Lines
) -> list[FlowProblem]:
    problems: list[FlowProblem] = []
    missing: list[tuple[str | None, str, FlowProblem]] = []
    suggested: set[tuple[str | None, str]] = set()  # (node, field) an unknown field suggests
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
            message = f"a node must be a mapping (id, agent, inputs...), not {type_word(value)}"
            hint = "write each node as `- id: ...` followed by `agent:` and `inputs:` lines"
        elif kind == "missing":
            message = f"missing required field '{field}'"
            hint = _FIELD_HINTS.get(top)
        elif kind == "extra_forbidden":
            message = f"unknown field '{field}'"
            allowed = [f for f in model.model_fields if f != "source"]
            guess = did_you_mean(top, allowed)
            line = lines.key_line(loc)
            if (near := closest(top, allowed)) is not None:
                suggested.add((node, near))
            hint = (guess + " " if guess else "") + "allowed fields: " + ", ".join(allowed)
        elif kind == "string_pattern_mismatch" and top in {"id", "name"}:
            message = f"invalid {top} {_short(value)}"
            hint = ID_HINT
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
            message = f"expected a mapping, not {type_word(value)}"
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
        problem = FlowProblem(message, node=node, hint=hint, line=line)
        problems.append(problem)
        if kind == "missing":
            missing.append((node, top, problem))
    # `nodse:` says "unknown field 'nodse' (did you mean 'nodes'?)": not also "missing nodes"
    folded = {id(p) for node, field, p in missing if (node, field) in suggested}
    return [p for p in problems if id(p) not in folded]


# --- loading -----------------------------------------------------------------------------


def too_large(size: int, source: str) -> FlowValidationError:
    return FlowValidationError(
        [
            FlowProblem(
                f"the flow file is too large ({size} bytes; the limit is {MAX_FLOW_BYTES})",
                hint="a flow is a short YAML file; move data into the run input",
            )
        ],
        file=source,
    )

