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

import os
from collections.abc import Callable
from pathlib import Path

import yaml
from pydantic import ValidationError

from pantheon_engine.agents.registry import AgentRegistry, default_registry
from pantheon_engine.errors import FlowError
from pantheon_engine.flows_builtin import agent_roots
from pantheon_engine.run.flow_check import check_graph, sketch_flow, sketch_raw
from pantheon_engine.run.flow_model import (
    ENTRY,
    ID_PATTERN,
    INPUT_PATTERN,
    MAX_FLOW_BYTES,
    MAX_YAML_NODES,
    Flow,
    FlowNode,
    FlowProblem,
    FlowValidationError,
    KnownAgents,
    downstream,
    should_run,
    sinks,
    topological_layers,
    upstream,
    when_context,
)
from pantheon_engine.run.flow_yaml import (
    Lines,
    duplicate_keys,
    expanded_size,
    schema_problems,
    too_large,
    type_word,
)

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
    "load_flow_checked",
    "parse_flow",
    "should_run",
    "sinks",
    "topological_layers",
    "upstream",
    "validate_flow",
    "when_context",
]


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
        raise too_large(len(text), source)
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is not None and expanded_size(root, MAX_YAML_NODES) > MAX_YAML_NODES:
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
        raise fail(f"expected a mapping at the top level, got {type_word(data)}", shape_hint, 1)

    lines = Lines(root)
    problems: list[FlowProblem] = []

    raw_nodes = data.get("nodes")
    labels: dict[int, str] = {}
    nodes_seq = lines.find(["nodes"])
    if isinstance(nodes_seq, yaml.SequenceNode) and isinstance(raw_nodes, list):
        for i, (item_node, item) in enumerate(zip(nodes_seq.value, raw_nodes, strict=False)):
            ident = item.get("id") if isinstance(item, dict) else None
            labels[id(item_node)] = ident if isinstance(ident, str) else f"#{i + 1}"
    assert root is not None
    problems.extend(duplicate_keys(root, labels))

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
        problems.extend(schema_problems(exc, raw, lines))

    input_name = raw.get("input", ENTRY)
    if not isinstance(input_name, str):
        input_name = ENTRY
    problems.extend(
        check_graph(
            sketch_raw(raw_nodes, lines),
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
            raise too_large(size, source)
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
    problems = check_graph(
        sketch_flow(flow),
        input_name=flow.input,
        output=flow.output,
        output_line=None,
        known_agents=known_agents,
        agent_hint=agent_hint,
    )
    if problems:
        raise FlowValidationError(problems, file=flow.source)


def load_flow_checked(path: Path, registry: AgentRegistry | None = None) -> Flow:
    """Load and validate a flow against the registry (unknown agents get a fix hint)."""
    registry = registry or default_registry(agent_roots(path))
    return load_flow(path, known_agents=lambda name: name in registry,
                     agent_hint=registry.hint)
