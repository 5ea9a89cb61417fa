"""Flow files: loading, validation errors (file, node, hint), graph queries."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from pantheon_engine.errors import FlowError, UserError
from pantheon_engine.flows_builtin import BUILTIN_DIR
from pantheon_engine.run.expr import ExprEvalError
from pantheon_engine.run.flows import (
    MAX_FLOW_BYTES,
    Flow,
    FlowNode,
    FlowProblem,
    FlowValidationError,
    downstream,
    load_flow,
    parse_flow,
    should_run,
    sinks,
    topological_layers,
    upstream,
    validate_flow,
    when_context,
)

AGENTS = {"plan.validate", "codegen", "test.pytest", "review.peer", "merge.gate", "docs.write"}

SPEC2CODE = """\
name: spec2code
description: Spec to code change with two peer reviews and a merge gate
input: spec
nodes:
  - id: plan
    agent: plan.validate
    inputs: [input]
  - id: codegen
    agent: codegen
    inputs: [plan]
    retries: 1
    timeout_s: 600
  - id: test
    agent: test.pytest
    inputs: [codegen]
  - id: reviewA
    agent: review.peer
    inputs: [codegen, test]
    params: {persona: strict}
  - id: reviewB
    agent: review.peer
    inputs: [codegen, test]
  - id: merge
    agent: merge.gate
    inputs: [reviewA, reviewB]
    when: "test.passed and reviewA.verdict == 'pass'"
output: merge
"""


def write(tmp_path: Path, text: str, name: str = "flow.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load_error(
    tmp_path: Path, text: str, *, name: str = "flow.yaml", **kw: object
) -> FlowValidationError:
    path = write(tmp_path, text, name)
    with pytest.raises(FlowError) as info:
        load_flow(path, **kw)  # type: ignore[arg-type]
    err = info.value
    assert isinstance(err, FlowValidationError)
    assert isinstance(err, UserError)
    assert err.exit_code == 2
    assert err.file == str(path)
    assert name in str(err)
    return err


def flow_text(*nodes: str, extra: str = "") -> str:
    """A flow with the given node blocks (each a YAML mapping body, dedented)."""
    body = "".join(
        "  - " + textwrap.indent(textwrap.dedent(n).strip(), "    ")[4:] + "\n" for n in nodes
    )
    return f"name: t\nnodes:\n{body}{extra}"


# --- a valid flow --------------------------------------------------------------------------


@pytest.fixture
def spec2code(tmp_path: Path) -> Flow:
    return load_flow(write(tmp_path, SPEC2CODE, "spec2code.yaml"), known_agents=AGENTS)


def test_valid_flow_loads(spec2code: Flow, tmp_path: Path) -> None:
    f = spec2code
    assert f.name == "spec2code"
    assert f.description.startswith("Spec to code")
    assert f.input == "spec"
    assert f.output == "merge"
    assert f.source == str(tmp_path / "spec2code.yaml")
    assert f.node_ids == ["plan", "codegen", "test", "reviewA", "reviewB", "merge"]
    assert f.entry_names == {"input", "spec"}
    codegen = f.node("codegen")
    assert isinstance(codegen, FlowNode)
    assert codegen.retries == 1 and codegen.timeout_s == 600.0
    assert f.node("plan").retries == 0 and f.node("plan").timeout_s is None
    assert f.node("reviewA").params == {"persona": "strict"}
    assert f.node("reviewB").params == {}
    assert f.node("merge").when == "test.passed and reviewA.verdict == 'pass'"
    assert f.node("merge").when_expr() is not None
    assert f.node("plan").when_expr() is None
    assert f.deps("reviewA") == ["codegen", "test"]
    assert f.deps("plan") == []


def test_topological_layers_of_spec2code(spec2code: Flow) -> None:
    assert topological_layers(spec2code) == [
        ["plan"],
        ["codegen"],
        ["test"],
        ["reviewA", "reviewB"],
        ["merge"],
    ]


def test_topological_layers_use_longest_path_and_file_order() -> None:
    flow = parse_flow(
        flow_text(
            "id: z\nagent: a\ninputs: [input]",
            "id: late\nagent: a\ninputs: [input, y]",
            "id: y\nagent: a\ninputs: [z]",
            "id: b\nagent: a\ninputs: [input]",
        )
    )
    assert topological_layers(flow) == [["z", "b"], ["y"], ["late"]]


def test_upstream_downstream_sinks(spec2code: Flow) -> None:
    assert upstream(spec2code, "merge") == {"plan", "codegen", "test", "reviewA", "reviewB"}
    assert upstream(spec2code, "test") == {"plan", "codegen"}
    assert upstream(spec2code, "plan") == set()
    assert downstream(spec2code, "codegen") == {"test", "reviewA", "reviewB", "merge"}
    assert downstream(spec2code, "merge") == set()
    assert sinks(spec2code) == ["merge"]


def test_unknown_node_lookup_names_close_matches(spec2code: Flow) -> None:
    with pytest.raises(FlowError) as info:
        spec2code.node("mrge")
    assert "mrge" in str(info.value)
    assert "merge" in str(info.value.hint)
    with pytest.raises(FlowError):
        upstream(spec2code, "nope")


def test_input_defaults_to_input_and_inputs_shorthand() -> None:
    flow = parse_flow(
        flow_text("id: a\nagent: x\ninputs: input", "id: b\nagent: x\ninputs: a\nwhen: a.ok")
    )
    assert flow.input == "input"
    assert flow.node("a").inputs == ["input"]
    assert flow.node("b").inputs == ["a"]
    assert flow.output is None
    assert sinks(flow) == ["b"]


def test_flow_input_name_is_an_alias_of_input() -> None:
    flow = parse_flow(
        "name: t\ninput: spec\nnodes:\n"
        "  - {id: a, agent: x, inputs: [spec]}\n"
        '  - {id: b, agent: x, inputs: [a], when: "spec.go and input.go and a.ok"}\n'
    )
    assert flow.node("a").inputs == ["spec"]
    assert topological_layers(flow) == [["a"], ["b"]]


def test_when_may_read_transitive_upstream(spec2code: Flow) -> None:
    # merge reads `test`, which is not a direct input but is upstream through reviewA
    assert "test" not in spec2code.node("merge").inputs
    assert "test" in upstream(spec2code, "merge")


def test_known_agents_as_predicate_and_none(tmp_path: Path) -> None:
    path = write(tmp_path, SPEC2CODE)
    assert load_flow(path, known_agents=lambda name: name in AGENTS).name == "spec2code"
    assert load_flow(path).name == "spec2code"  # no registry: no agent check


def test_parse_flow_source_defaults() -> None:
    flow = parse_flow(SPEC2CODE)
    assert flow.source == "<flow>"
    with pytest.raises(FlowError) as info:
        parse_flow("name: t\n", source="mem.yaml")
    assert "mem.yaml" in str(info.value)


# --- each error class ----------------------------------------------------------------------


def test_unknown_agent_with_collection(tmp_path: Path) -> None:
    err = load_error(
        tmp_path, SPEC2CODE.replace("agent: codegen", "agent: codegn"), known_agents=AGENTS
    )
    text = str(err)
    assert "unknown agent 'codegn'" in text
    assert "(node 'codegen')" in text
    assert "hint:" in text
    assert "did you mean 'codegen'" in text
    assert "pantheon init agent codegn" in text
    assert "line 9" in text


def test_unknown_agent_with_predicate_and_agent_hint(tmp_path: Path) -> None:
    seen: list[str] = []

    def hint(name: str) -> str:
        seen.append(name)
        return "registry says: try 'review.peer'"

    err = load_error(
        tmp_path,
        SPEC2CODE.replace(
            "agent: review.peer\n    inputs: [codegen, test]\n    params",
            "agent: review.pear\n    inputs: [codegen, test]\n    params",
        ),
        known_agents=lambda n: n in AGENTS,
        agent_hint=hint,
    )
    assert seen == ["review.pear"]
    assert "registry says" in str(err)
    assert "pantheon init agent review.pear" in str(err)
    assert "(node 'reviewA')" in str(err)


def test_unknown_agent_without_close_match_lists_known(tmp_path: Path) -> None:
    err = load_error(
        tmp_path, flow_text("id: a\nagent: zzzzzz\ninputs: [input]"), known_agents={"b1", "b2"}
    )
    assert "known agents: b1, b2" in str(err)
    assert "pantheon init agent zzzzzz" in str(err)


def test_missing_input(tmp_path: Path) -> None:
    err = load_error(tmp_path, SPEC2CODE.replace("inputs: [plan]", "inputs: [plna]"))
    text = str(err)
    assert "missing input: 'plna' names no node" in text
    assert "(node 'codegen')" in text
    assert "did you mean 'plan'" in text
    # a typo is not also reported as unreachable: one problem, one fix
    assert len(err.problems) == 1


def test_input_listed_twice(tmp_path: Path) -> None:
    err = load_error(tmp_path, flow_text("id: a\nagent: x\ninputs: [input, input]"))
    assert "listed twice" in str(err)
    assert "(node 'a')" in str(err)


@pytest.mark.parametrize(
    ("nodes", "cycle", "head"),
    [
        (["id: a\nagent: x\ninputs: [input, a]"], "a -> a", "a"),
        (
            ["id: a\nagent: x\ninputs: [input, b]", "id: b\nagent: x\ninputs: [a]"],
            "a -> b -> a",
            "a",
        ),
        (
            [
                "id: a\nagent: x\ninputs: [input, c]",
                "id: b\nagent: x\ninputs: [a]",
                "id: c\nagent: x\ninputs: [b]",
            ],
            "a -> b -> c -> a",
            "a",
        ),
    ],
    ids=["length-1", "length-2", "length-3"],
)
def test_cycles(tmp_path: Path, nodes: list[str], cycle: str, head: str) -> None:
    err = load_error(tmp_path, flow_text(*nodes))
    text = str(err)
    assert f"cycle: {cycle}" in text
    assert f"(node '{head}')" in text
    assert "hint:" in text
    assert len(err.problems) == 1


def test_cycle_not_connected_to_input_is_reported_once(tmp_path: Path) -> None:
    err = load_error(
        tmp_path,
        flow_text(
            "id: ok\nagent: x\ninputs: [input]",
            "id: p\nagent: x\ninputs: [q]",
            "id: q\nagent: x\ninputs: [p]",
        ),
    )
    assert [p.message for p in err.problems] == ["cycle: p -> q -> p"]


def test_two_separate_cycles(tmp_path: Path) -> None:
    err = load_error(
        tmp_path,
        flow_text(
            "id: a\nagent: x\ninputs: [input, b]",
            "id: b\nagent: x\ninputs: [a]",
            "id: c\nagent: x\ninputs: [input, c]",
        ),
    )
    assert {p.message for p in err.problems} == {"cycle: a -> b -> a", "cycle: c -> c"}


def test_topological_layers_refuse_a_cycle_built_in_code() -> None:
    flow = Flow(
        name="t",
        nodes=[
            FlowNode(id="a", agent="x", inputs=["input", "b"]),
            FlowNode(id="b", agent="x", inputs=["a"]),
        ],
    )
    with pytest.raises(FlowError, match="cycle"):
        topological_layers(flow)
    with pytest.raises(FlowValidationError, match="a -> b -> a"):
        validate_flow(flow)


def test_unreachable_node_without_inputs(tmp_path: Path) -> None:
    err = load_error(
        tmp_path,
        flow_text("id: a\nagent: x\ninputs: [input]", "id: lonely\nagent: x"),
    )
    text = str(err)
    assert "unreachable" in text
    assert "(node 'lonely')" in text
    assert "no inputs" in text
    assert "hint:" in text


def test_unreachable_transitively(tmp_path: Path) -> None:
    err = load_error(
        tmp_path,
        flow_text(
            "id: a\nagent: x\ninputs: [input]",
            "id: island\nagent: x\ninputs: []",
            "id: shore\nagent: x\ninputs: [island]",
        ),
    )
    assert [p.node for p in err.problems] == ["island", "shore"]
    assert all("unreachable" in p.message for p in err.problems)
    assert "inputs: island" in err.problems[1].message


def test_output_names_unknown_node(tmp_path: Path) -> None:
    err = load_error(tmp_path, SPEC2CODE.replace("output: merge", "output: mrge"))
    text = str(err)
    assert "output 'mrge' names no node" in text
    assert "did you mean 'merge'" in text
    assert "line 27" in text


def test_output_names_the_input(tmp_path: Path) -> None:
    err = load_error(tmp_path, SPEC2CODE.replace("output: merge", "output: spec"))
    assert "names the flow input" in str(err)


def test_when_that_does_not_compile(tmp_path: Path) -> None:
    err = load_error(
        tmp_path,
        SPEC2CODE.replace(
            "when: \"test.passed and reviewA.verdict == 'pass'\"",
            "when: \"__import__('os').system('true')\"",
        ),
    )
    text = str(err)
    assert "invalid `when:` condition" in text
    assert "__import__('os').system" in text
    assert "method or computed call" in text
    assert "(node 'merge')" in text
    assert "hint:" in text


def test_when_syntax_error(tmp_path: Path) -> None:
    err = load_error(tmp_path, flow_text("id: a\nagent: x\ninputs: [input]\nwhen: 'a =='"))
    assert "syntax error" in str(err)


@pytest.mark.parametrize(
    ("when", "bad"),
    [
        ("reviewB.verdict == 'pass'", "'reviewB'"),  # a sibling, not upstream
        ("merge.ok", "'merge'"),  # itself
        ("tset.passed", "'tset'"),  # no such node
        ("nosuch", "'nosuch'"),
    ],
)
def test_when_must_only_read_upstream_nodes(tmp_path: Path, when: str, bad: str) -> None:
    text = SPEC2CODE.replace(
        "  - id: reviewB\n    agent: review.peer\n    inputs: [codegen, test]\n",
        "  - id: reviewB\n    agent: review.peer\n    inputs: [codegen, test]\n"
        f'    when: "{when}"\n',
    )
    err = load_error(tmp_path, text)
    msg = str(err)
    assert f"`when:` refers to {bad}" in msg
    assert "(node 'reviewB')" in msg
    assert "hint:" in msg
    assert "plan" in msg  # the hint lists what may be read


def test_when_hint_suggests_adding_an_input(tmp_path: Path) -> None:
    err = load_error(
        tmp_path,
        flow_text(
            "id: a\nagent: x\ninputs: [input]",
            "id: b\nagent: x\ninputs: [input]",
            "id: c\nagent: x\ninputs: [a]\nwhen: b.ok",
        ),
    )
    assert "add 'b' to `inputs:`" in str(err)


def test_when_close_match_hint(tmp_path: Path) -> None:
    err = load_error(
        tmp_path,
        flow_text(
            "id: test\nagent: x\ninputs: [input]",
            "id: c\nagent: x\ninputs: [test]\nwhen: tset.passed",
        ),
    )
    assert "did you mean 'test'" in str(err)


def test_duplicate_node_ids(tmp_path: Path) -> None:
    err = load_error(
        tmp_path,
        flow_text("id: a\nagent: x\ninputs: [input]", "id: a\nagent: y\ninputs: [input]"),
    )
    text = str(err)
    assert "duplicate node id 'a'" in text
    assert "(node 'a')" in text
    assert "line 3" in text  # points back at the first one
    assert "hint:" in text


def test_reserved_node_id(tmp_path: Path) -> None:
    err = load_error(tmp_path, flow_text("id: input\nagent: x\ninputs: [input]"))
    assert "reserved" in str(err)
    assert "(node 'input')" in str(err)


def test_unreadable_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(FlowError) as info:
        load_flow(missing)
    assert "nope.yaml" in str(info.value)
    assert "cannot read" in str(info.value)
    assert info.value.hint
    assert info.value.exit_code == 2
    with pytest.raises(FlowError, match="cannot read"):
        load_flow(tmp_path)  # a directory


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "latin.yaml"
    path.write_bytes(b"name: caf\xe9\n")
    with pytest.raises(FlowError, match="not UTF-8"):
        load_flow(path)


def test_too_large_file(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("#" * (MAX_FLOW_BYTES + 10))
    with pytest.raises(FlowError, match="too large"):
        load_flow(path)


def test_yaml_syntax_error_reports_line(tmp_path: Path) -> None:
    err = load_error(tmp_path, "name: t\nnodes:\n  - id: a\n    agent: [x\n  - id: b\n")
    text = str(err)
    assert "YAML syntax error at line" in text
    assert "hint:" in text


def test_yaml_unquoted_colon_in_when(tmp_path: Path) -> None:
    err = load_error(
        tmp_path, "name: t\nnodes:\n  - id: a\n    agent: x\n    when: a: b\n    inputs: [input]\n"
    )
    assert "line 5" in str(err)
    assert "quote" in str(err)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "the flow file is empty"),
        ("# just a comment\n", "the flow file is empty"),
        ("- a\n- b\n", "expected a mapping at the top level, got a list"),
        ("just text\n", "expected a mapping at the top level, got a string"),
        ("42\n", "expected a mapping at the top level, got a number"),
    ],
)
def test_wrong_top_level_type(tmp_path: Path, text: str, needle: str) -> None:
    err = load_error(tmp_path, text)
    assert needle in str(err)
    assert "hint:" in str(err)


@pytest.mark.parametrize(
    ("body", "needle", "node"),
    [
        ("id: a\nagent: x\ninputs: [input]\nretries: -1", "field 'retries'", "a"),
        ("id: a\nagent: x\ninputs: [input]\nretries: '1'", "field 'retries'", "a"),
        ("id: a\nagent: x\ninputs: [input]\nretries: true", "field 'retries'", "a"),
        ("id: a\nagent: x\ninputs: [input]\ntimeout_s: 0", "field 'timeout_s'", "a"),
        ("id: a\nagent: x\ninputs: [input]\ntimeout_s: soon", "field 'timeout_s'", "a"),
        ("id: a\nagent: x\ninputs: [input]\nagnet: y", "unknown field 'agnet'", "a"),
        ("id: a\ninputs: [input]", "missing required field 'agent'", "a"),
        ("agent: x\ninputs: [input]", "missing required field 'id'", "#1"),
        ("id: 1abc\nagent: x\ninputs: [input]", "invalid id '1abc'", "1abc"),
        ("id: a/b\nagent: x\ninputs: [input]", "invalid id 'a/b'", "a/b"),
        ("id: a\nagent: two words\ninputs: [input]", "invalid agent name", "a"),
        ("id: a\nagent: x\ninputs: {x: 1}", "field 'inputs'", "a"),
        ("id: a\nagent: x\ninputs: [input]\nparams: [1, 2]", "field 'params'", "a"),
        ("id: a\nagent: x\ninputs: [input]\nwhen: true", "field 'when'", "a"),
    ],
)
def test_schema_errors_name_node_and_field(
    tmp_path: Path, body: str, needle: str, node: str
) -> None:
    err = load_error(tmp_path, flow_text(body))
    text = str(err)
    assert needle in text
    assert f"node '{node}'" in text
    assert "hint:" in text


def test_unknown_field_hint_has_close_match(tmp_path: Path) -> None:
    err = load_error(tmp_path, flow_text("id: a\nagnet: x\nagent: x\ninputs: [input]"))
    assert "did you mean 'agent'" in str(err)


def test_node_that_is_not_a_mapping(tmp_path: Path) -> None:
    err = load_error(tmp_path, "name: t\nnodes:\n  - just-a-string\n")
    assert "a node must be a mapping" in str(err)
    assert "node '#1'" in str(err)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("nodes:\n  - {id: a, agent: x, inputs: [input]}\n", "missing required field 'name'"),
        ("name: t\n", "missing required field 'nodes'"),
        ("name: t\nnodes: []\n", "the flow has no nodes"),
        ("name: t\nnodes: {a: 1}\n", "field 'nodes'"),
        ("name: 'my flow'\nnodes:\n  - {id: a, agent: x, inputs: [input]}\n", "invalid name"),
        (
            "name: t\ninput: 'a b'\nnodes:\n  - {id: a, agent: x, inputs: [input]}\n",
            "invalid input name",
        ),
        (
            "name: t\nnodse: []\nnodes:\n  - {id: a, agent: x, inputs: [input]}\n",
            "unknown field 'nodse'",
        ),
        (
            "name: t\nsource: x\nnodes:\n  - {id: a, agent: x, inputs: [input]}\n",
            "unknown field 'source'",
        ),
    ],
)
def test_top_level_schema_errors(tmp_path: Path, text: str, needle: str) -> None:
    err = load_error(tmp_path, text)
    assert needle in str(err)
    assert "hint:" in str(err)


def test_duplicate_yaml_keys_are_reported(tmp_path: Path) -> None:
    err = load_error(tmp_path, flow_text("id: a\nagent: x\nagent: y\ninputs: [input]"))
    text = str(err)
    assert "duplicate key 'agent'" in text
    assert "(node 'a')" in text


def test_yaml_alias_bomb_is_refused(tmp_path: Path) -> None:
    rows = ["a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    for prev, cur in zip("abcdefg", "bcdefgh", strict=True):
        rows.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 10) + "]")
    err = load_error(tmp_path, "\n".join(rows) + "\n")
    assert "too many values" in str(err)


def test_recursive_yaml_anchor_is_refused(tmp_path: Path) -> None:
    err = load_error(tmp_path, "name: t\nnodes: &n [*n]\n")
    assert "too many values" in str(err)


# --- many problems at once -----------------------------------------------------------------

BROKEN = """\
name: broken
input: spec
nodes:
  - id: plan
    agent: plan.validat
    inputs: [input]
  - id: codegen
    agent: codegen
    inputs: [plna]
    retries: -2
  - id: fix
    agent: codegen
    inputs: [fix]
  - id: lonely
    agent: codegen
  - id: codegen
    agent: codegen
    inputs: [plan]
  - id: merge
    agent: merge.gate
    inputs: [plan]
    when: "reviewA.verdict == 'pass'"
  - id: gate
    agent: merge.gate
    inputs: [plan]
    when: "len("
output: mrge
"""


def test_all_problems_are_reported_together(tmp_path: Path) -> None:
    err = load_error(tmp_path, BROKEN, name="broken.yaml", known_agents=AGENTS)
    text = str(err)
    expected = [
        "unknown agent 'plan.validat'",
        "missing input: 'plna'",
        "field 'retries'",
        "cycle: fix -> fix",
        "unreachable",
        "duplicate node id 'codegen'",
        "`when:` refers to 'reviewA'",
        "invalid `when:` condition",
        "output 'mrge' names no node",
    ]
    for needle in expected:
        assert needle in text, needle
    assert len(err.problems) == len(expected)
    assert f"{len(expected)} problems in all" in text
    # every problem is listed with its own hint, in file order
    assert text.count("hint:") == len(expected)
    lines = [p.line for p in err.problems]
    assert lines == sorted(lines)
    assert all(isinstance(p, FlowProblem) for p in err.problems)
    # the main message is the first problem, with its node
    assert err.node == "plan"
    assert text.startswith(f"{tmp_path / 'broken.yaml'} (node 'plan'): unknown agent")
    for node in ("plan", "codegen", "fix", "lonely", "merge", "gate"):
        assert f"node '{node}'" in text


def test_schema_and_graph_problems_together(tmp_path: Path) -> None:
    err = load_error(
        tmp_path,
        flow_text(
            "id: a\nagent: x\ninputs: [input]\ntimeout_s: -1",
            "id: b\nagent: x\ninputs: [nope]",
        ),
    )
    assert len(err.problems) == 2
    assert {p.node for p in err.problems} == {"a", "b"}


def test_schema_broken_node_does_not_cascade(tmp_path: Path) -> None:
    # `a` has a bad inputs field; `b` depends on `a` and must not be called unreachable
    err = load_error(
        tmp_path,
        flow_text("id: a\nagent: x\ninputs: {bad: 1}", "id: b\nagent: x\ninputs: [a]"),
    )
    assert len(err.problems) == 1
    assert err.problems[0].node == "a"


def test_problem_describe() -> None:
    assert FlowProblem("m", node="a", line=3).describe() == "node 'a', line 3: m"
    assert FlowProblem("m", node="#2").describe() == "node #2: m"
    assert FlowProblem("m").describe() == "m"
    with pytest.raises(ValueError):
        FlowValidationError([])


# --- validate_flow, when_context, should_run -----------------------------------------------


def test_validate_flow_in_code() -> None:
    good = Flow(
        name="t",
        nodes=[
            FlowNode(id="a", agent="x", inputs=["input"]),
            FlowNode(id="b", agent="y", inputs=["a"], when="a.ok"),
        ],
    )
    validate_flow(good, known_agents={"x", "y"})
    with pytest.raises(FlowValidationError) as info:
        validate_flow(good, known_agents={"x"})
    assert "unknown agent 'y'" in str(info.value)


def test_when_context_and_should_run(spec2code: Flow) -> None:
    outputs = {
        "plan": {"ok": True},
        "codegen": {"diff": "..."},
        "test": {"passed": True},
        "reviewA": {"verdict": "pass"},
    }
    ctx = when_context(spec2code, "merge", run_input={"title": "x"}, outputs=outputs)
    assert ctx["input"] == ctx["spec"] == {"title": "x"}
    assert ctx["reviewB"] is None  # upstream but no output (skipped)
    assert set(ctx) == {"input", "spec", "plan", "codegen", "test", "reviewA", "reviewB"}
    assert should_run(spec2code, "merge", run_input={}, outputs=outputs) is True
    outputs["reviewA"] = {"verdict": "fail"}
    assert should_run(spec2code, "merge", run_input={}, outputs=outputs) is False
    assert should_run(spec2code, "plan", run_input={}, outputs={}) is True


def test_should_run_error_names_file_and_node(spec2code: Flow) -> None:
    with pytest.raises(ExprEvalError) as info:
        should_run(spec2code, "merge", run_input={}, outputs={"test": {}, "reviewA": {}})
    text = str(info.value)
    assert "spec2code.yaml" in text
    assert "(node 'merge')" in text
    assert "no key 'passed'" in text


# --- the repository's own flows ------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(BUILTIN_DIR.glob("*.yaml")), ids=lambda p: p.name)
def test_repository_flows_load(path: Path) -> None:
    flow = load_flow(path)
    assert topological_layers(flow)
