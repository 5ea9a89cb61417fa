"""Whitespace-free regexes from JSON schemas, checked with ``re.fullmatch`` (and, with the
``model`` mark, fed to OpenVINO GenAI's XGrammar-based structured output)."""

from __future__ import annotations

import enum
import json
import os
import random
import re
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel, Field

from pantheon_engine.loop.envelope import FinalAnswer, ToolCall, parse_envelope
from pantheon_engine.loop.grammar import (
    INTEGER,
    NUMBER,
    XGRAMMAR_REPEAT_LIMIT,
    compact_json,
    envelope_regex,
    regex_literal,
    schema_to_regex,
)

# --- models under test ---------------------------------------------------------------------


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Priority(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Flags(BaseModel):
    mode: Literal["fast", "safe"]
    level: Literal[1, 2, 3]
    tag: Literal["only"] = "only"
    on: bool
    color: Color = Color.RED
    priority: Priority = Priority.LOW


class Numbers(BaseModel):
    count: int
    small: int = Field(ge=0, le=20)
    positive: int = Field(gt=0)
    negative: int = Field(lt=0)
    ratio: float
    weight: float = Field(ge=0)


class Texts(BaseModel):
    name: str
    code: str = Field(min_length=2, max_length=6)
    note: str | None = None
    maybe: int | None = None


class Point(BaseModel):
    x: int
    y: int = 0


class Shape(BaseModel):
    label: str
    points: list[Point] = Field(default_factory=list, max_length=4)
    center: Point | None = None
    tags: list[str] = []
    pair: tuple[int, str] = (0, "")
    numbers: tuple[int, ...] = ()


class Bag(BaseModel):
    env: dict[str, str] = {}
    counts: dict[str, int] = {}
    extra: Any = None
    anything: dict[str, Any] = {}


class AllOptional(BaseModel):
    a: int = 0
    b: str = ""
    c: bool = False


class Node(BaseModel):
    name: str
    children: list[Node] = []


class Empty(BaseModel):
    pass


MODELS: list[type[BaseModel]] = [Flags, Numbers, Texts, Point, Shape, Bag, AllOptional, Node, Empty]

# --- a random instance generator driven by the JSON schema ---------------------------------

ALPHABET = 'abcXYZ09 _-./"\\\n\té😀{}[]:,'


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = root["$defs"][schema["$ref"].split("/")[-1]]
    return schema


def random_value(schema: dict[str, Any], root: dict[str, Any], rng: random.Random, depth: int = 0):
    """A random JSON value valid for ``schema`` (within the regex bounds used below)."""
    schema = _resolve(schema, root)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return rng.choice(schema["enum"])
    if "anyOf" in schema:
        options = schema["anyOf"]
        if depth > 2:
            options = [o for o in options if o.get("type") == "null"] or options
        return random_value(rng.choice(options), root, rng, depth + 1)
    kind = schema.get("type")
    if kind is None:  # Any: a scalar or a flat container of scalars
        scalar = lambda: rng.choice([None, True, 3, -2.5, 's"x', "é"])  # noqa: E731
        return rng.choice([scalar(), [scalar() for _ in range(3)], {"k": scalar(), "z": 1}])
    if kind == "string":
        lo, hi = schema.get("minLength", 0), schema.get("maxLength", 12)
        return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(lo, hi)))
    if kind == "integer":
        lo, hi = schema.get("minimum", -(10**6)), schema.get("maximum", 10**6)
        if "exclusiveMinimum" in schema:
            lo = schema["exclusiveMinimum"] + 1
        if "exclusiveMaximum" in schema:
            hi = schema["exclusiveMaximum"] - 1
        return rng.randint(lo, hi)
    if kind == "number":
        low = schema.get("minimum", -1e6)
        return rng.choice([rng.uniform(low, 1e6), 0.0, 1e-7 + max(low, 0), 3.0, 1.5e300])
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "null":
        return None
    if kind == "array":
        if "prefixItems" in schema:
            return [random_value(s, root, rng, depth + 1) for s in schema["prefixItems"]]
        count = 0 if depth > 2 else rng.randint(0, schema.get("maxItems", 4))
        return [random_value(schema.get("items", {}), root, rng, depth + 1) for _ in range(count)]
    if kind == "object":
        if "properties" in schema:
            required = set(schema.get("required", []))
            return {
                name: random_value(sub, root, rng, depth + 1)
                for name, sub in schema["properties"].items()
                if name in required or rng.random() < 0.6
            }
        value_schema = schema.get("additionalProperties", {})
        value_schema = {} if value_schema is True else value_schema
        return {
            f"k{i}{rng.choice(ALPHABET)}": random_value(value_schema, root, rng, depth + 1)
            for i in range(rng.randint(0, 3))
        }
    raise AssertionError(f"unexpected schema {schema}")


def instances(model: type[BaseModel], n: int = 40, seed: int = 7) -> list[BaseModel]:
    schema = model.model_json_schema()
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        out.append(model.model_validate(random_value(schema, schema, rng)))
    return out


def dumped(instance: BaseModel, **kw: Any) -> str:
    return compact_json(instance.model_dump(mode="json", **kw))


# --- instances match ------------------------------------------------------------------------


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_random_instances_match(model: type[BaseModel]) -> None:
    regex = re.compile(schema_to_regex(model.model_json_schema()))
    for instance in instances(model):
        text = dumped(instance)
        assert regex.fullmatch(text), text
        # Optional fields may be left out: pydantic fills their defaults.
        short = dumped(instance, exclude_defaults=True)
        assert regex.fullmatch(short), short
        assert model.model_validate_json(short) == instance


def test_hand_written_instances_match() -> None:
    cases: list[BaseModel] = [
        Flags(mode="safe", level=3, on=False, color=Color.GREEN, priority=Priority.HIGH),
        Numbers(count=0, small=20, positive=1, negative=-1, ratio=-0.0, weight=1e-05),
        Numbers(count=-(10**15), small=0, positive=10**15, negative=-7, ratio=1e16, weight=0.1),
        Texts(name="", code="ab", note='quote " backslash \\ newline \n tab \t nul \x00'),
        Texts(name="日本語 😀 naïve", code="abcdef", note=None, maybe=-3),
        Shape(label="s", points=[Point(x=1), Point(x=-2, y=3)], center=Point(x=0), pair=(5, "v")),
        Bag(env={"PATH": "/bin", "é": ""}, counts={"a": 1}, extra=[1, "x", None, True]),
        Bag(extra={"k": 2.5, "j": "v"}, anything={"a": [1, 2], "b": None}),
        Bag(extra="plain"),
        Node(name="a", children=[Node(name="b", children=[Node(name="c")]), Node(name="d")]),
        AllOptional(),
        AllOptional(b="x"),
        AllOptional(a=1, c=True),
        Empty(),
    ]
    for case in cases:
        regex = schema_to_regex(type(case).model_json_schema())
        for text in (dumped(case), dumped(case, exclude_defaults=True)):
            assert re.fullmatch(regex, text), (type(case).__name__, text)


def test_all_optional_subsets_match_in_order_only() -> None:
    regex = schema_to_regex(AllOptional.model_json_schema())
    import itertools

    members = ['"a":1', '"b":"x"', '"c":true']
    for r in range(4):
        for subset in itertools.combinations(members, r):
            assert re.fullmatch(regex, "{" + ",".join(subset) + "}"), subset
    assert not re.fullmatch(regex, '{"b":"x","a":1}')  # declared order only
    assert not re.fullmatch(regex, '{,"b":"x"}')
    assert not re.fullmatch(regex, '{"a":1,}')


# --- what must not match --------------------------------------------------------------------


@pytest.mark.parametrize(
    "model", [Flags, Numbers, Texts, Shape, Bag, Node], ids=lambda m: m.__name__
)
def test_whitespace_variants_do_not_match(model: type[BaseModel]) -> None:
    regex = re.compile(schema_to_regex(model.model_json_schema()))
    for instance in instances(model, n=15):
        value = instance.model_dump(mode="json")
        for text in (
            json.dumps(value, ensure_ascii=False),  # ", " and ": "
            json.dumps(value, indent=2, ensure_ascii=False),
            " " + compact_json(value),
            compact_json(value) + "\n",
            compact_json(value).replace(":", ": ", 1),
        ):
            if text != compact_json(value):
                assert not regex.fullmatch(text), text


def test_wrong_values_do_not_match() -> None:
    flags = schema_to_regex(Flags.model_json_schema())
    assert re.fullmatch(flags, '{"mode":"fast","level":1,"on":true}')
    assert not re.fullmatch(flags, '{"mode":"slow","level":1,"on":true}')  # not in the enum
    assert not re.fullmatch(flags, '{"mode":"fast","level":4,"on":true}')
    assert not re.fullmatch(flags, '{"mode":"fast","level":"1","on":true}')
    assert not re.fullmatch(flags, '{"mode":"fast","on":true}')  # required field missing
    assert not re.fullmatch(flags, '{"level":1,"mode":"fast","on":true}')  # order
    assert not re.fullmatch(flags, '{"mode":"fast","level":1,"on":true,"x":1}')  # closed
    assert not re.fullmatch(flags, '{"mode":"fast","level":1,"on":1}')

    numbers = schema_to_regex(Numbers.model_json_schema())
    ok = '{"count":5,"small":3,"positive":2,"negative":-2,"ratio":0.5,"weight":2}'
    assert re.fullmatch(numbers, ok)
    for bad in (
        ok.replace('"count":5', '"count":05'),
        ok.replace('"count":5', '"count":5.0'),
        ok.replace('"small":3', '"small":21'),
        ok.replace('"positive":2', '"positive":0'),
        ok.replace('"negative":-2', '"negative":0'),
        ok.replace('"weight":2', '"weight":-2'),
        ok.replace('"ratio":0.5', '"ratio":.5'),
        ok.replace('"ratio":0.5', '"ratio":NaN'),
    ):
        assert not re.fullmatch(numbers, bad), bad

    texts = schema_to_regex(Texts.model_json_schema())
    assert re.fullmatch(texts, '{"name":"a\\u00e9\\n","code":"abc"}')
    assert not re.fullmatch(texts, '{"name":"a","code":"a"}')  # minLength 2
    assert not re.fullmatch(texts, '{"name":"a","code":"abcdefg"}')  # maxLength 6
    assert not re.fullmatch(texts, '{"name":"a\nb","code":"ab"}')  # raw control character
    assert not re.fullmatch(texts, '{"name":"a\\qb","code":"ab"}')  # invalid escape
    assert not re.fullmatch(texts, '{"name":"a"b","code":"ab"}')


def test_bounds() -> None:
    schema = {"type": "array", "items": {"type": "string"}}
    regex = schema_to_regex(schema, max_string=3, max_items=2)
    assert re.fullmatch(regex, '["abc","de"]')
    assert not re.fullmatch(regex, '["abcd"]')
    assert not re.fullmatch(regex, '["a","b","c"]')
    unbounded = schema_to_regex(schema, max_string=None, max_items=None)
    assert re.fullmatch(unbounded, compact_json(["x" * 500] * 50))
    assert "{" not in unbounded.replace("\\{", "").replace("{4}", "")  # no counted repetition
    explicit = {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 3}
    regex = schema_to_regex(explicit, max_items=8)
    assert not re.fullmatch(regex, "[1]")
    assert re.fullmatch(regex, "[1,2]") and re.fullmatch(regex, "[1,2,3]")
    assert not re.fullmatch(regex, "[1,2,3,4]")
    pairs = schema_to_regex(
        {"type": "object", "additionalProperties": {"type": "integer"}}, max_items=2
    )
    assert re.fullmatch(pairs, "{}") and re.fullmatch(pairs, '{"a":1,"b":2}')
    assert not re.fullmatch(pairs, '{"a":1,"b":2,"c":3}')
    assert re.fullmatch(schema_to_regex({"type": "object", "additionalProperties": False}), "{}")


def test_any_value_is_depth_bounded() -> None:
    regex = schema_to_regex({}, max_items=3)
    for value in (None, True, 1, -2.5e-3, "x", [], {}, [1, "a", None], {"a": 1, "b": "c"}):
        assert re.fullmatch(regex, compact_json(value)), value
    assert not re.fullmatch(regex, compact_json([[1]]))
    assert not re.fullmatch(regex, compact_json({"a": {"b": 1}}))
    assert not re.fullmatch(regex, compact_json([1, 2, 3, 4]))


def test_recursion_is_bounded() -> None:
    schema = Node.model_json_schema()
    deep = Node(name="a", children=[Node(name="b", children=[Node(name="c")])])
    deeper = Node(
        name="a", children=[Node(name="b", children=[Node(name="c", children=[Node(name="d")])])]
    )
    assert re.fullmatch(schema_to_regex(schema), dumped(deep))
    assert not re.fullmatch(schema_to_regex(schema), dumped(deeper))
    assert re.fullmatch(schema_to_regex(schema, max_recursion=3), dumped(deeper))
    flat = schema_to_regex(schema, max_recursion=0)
    assert re.fullmatch(flat, '{"name":"a","children":[]}')
    assert not re.fullmatch(flat, dumped(deep))


def test_unsatisfiable_and_unsupported_schemas_raise() -> None:
    class Loop(BaseModel):
        next: Loop

    with pytest.raises(ValueError):
        schema_to_regex(Loop.model_json_schema())
    with pytest.raises(ValueError):
        schema_to_regex({"$ref": "#/$defs/Missing"})
    with pytest.raises(ValueError):
        schema_to_regex({"allOf": [{"type": "string"}, {"type": "integer"}]})
    with pytest.raises(ValueError):
        schema_to_regex({"type": "string", "minLength": 5, "maxLength": 2})
    with pytest.raises(ValueError):
        schema_to_regex({"type": "integer", "minimum": 3, "maximum": 1})
    with pytest.raises(ValueError):
        schema_to_regex({"type": "frobnicate"})
    with pytest.raises(ValueError):
        schema_to_regex({"type": "string"}, max_string=-1)


def test_pydantic_model_class_is_accepted() -> None:
    assert schema_to_regex(Point) == schema_to_regex(Point.model_json_schema())


def test_formats() -> None:
    import datetime
    import uuid

    class Stamp(BaseModel):
        day: datetime.date
        at: datetime.datetime
        id: uuid.UUID

    regex = schema_to_regex(Stamp.model_json_schema())
    for at in (datetime.datetime(2024, 5, 6, 7, 8, 9), datetime.datetime.now(datetime.UTC)):
        stamp = Stamp(day=datetime.date(2024, 1, 31), at=at, id=uuid.uuid4())
        assert re.fullmatch(regex, dumped(stamp))
    assert not re.fullmatch(regex, '{"day":"soon","at":"now","id":"x"}')


# --- dialect ----------------------------------------------------------------------------------


def all_regexes() -> list[str]:
    out = [schema_to_regex(m.model_json_schema()) for m in MODELS]
    out.append(envelope_regex(TOOLS, FINAL))
    return out


def test_regexes_stay_in_the_portable_dialect() -> None:
    for regex in all_regexes():
        re.compile(regex)
        assert "(?" not in regex  # no non-capturing groups, lookarounds, flags
        assert "{," not in regex
        assert not re.search(r"(?<!\\)\\[dDwWsSbB]", regex.replace("\\\\", ""))
        assert "|)" not in regex and "(|" not in regex and "||" not in regex
        assert not re.search(r"[*+?}]\+|[*+}]\?", regex.replace("\\}", "").replace("\\+", ""))
        assert " " not in regex.replace("\\ ", "")  # no literal whitespace between tokens
        # Every repetition bound stays within what XGrammar expands cheaply.
        for bound in re.findall(r"(?<!\\)\{(\d+)(?:,(\d*))?\}", regex):
            assert all(int(b) <= XGRAMMAR_REPEAT_LIMIT for b in bound if b), (bound, regex)


def test_regex_literal_escapes_metacharacters() -> None:
    for text in ("a.b", "x*y+z?", "(a|b)", "[x]{2}", "^$", "back\\slash", "sl/ash", "ctl\x01", "é"):
        assert re.fullmatch(regex_literal(text), text)
    assert not re.fullmatch(regex_literal("a.b"), "axb")


def test_scalar_constants() -> None:
    for text in ("0", "-1", "123", "9999999999999999"):
        assert re.fullmatch(INTEGER, text)
    for text in ("01", "-", "1.0", "+1"):
        assert not re.fullmatch(INTEGER, text)
    for value in (0.0, -1.5, 1e-05, 1e16, 1.5e300, 0.30000000000000004, 0.00012345678901234567):
        assert re.fullmatch(NUMBER, json.dumps(value)), value


# --- envelope ---------------------------------------------------------------------------------


class ReadFile(BaseModel):
    path: str


class ListDir(BaseModel):
    path: str = "."
    recursive: bool = False


class WriteFile(BaseModel):
    path: str
    content: str


class Summary(BaseModel):
    summary: str
    ok: bool = True


TOOLS = {
    "read_file": ReadFile.model_json_schema(),
    "list_dir": ListDir.model_json_schema(),
    "write_file": WriteFile.model_json_schema(),
}
FINAL = Summary.model_json_schema()
ARGS = {"read_file": ReadFile, "list_dir": ListDir, "write_file": WriteFile}


def test_envelope_regex_matches_each_tool_and_final() -> None:
    regex = re.compile(envelope_regex(TOOLS, FINAL))
    calls = [
        ToolCall(name="read_file", args={"path": "src/app.py"}),
        ToolCall(name="list_dir", args={}),
        ToolCall(name="list_dir", args={"path": "src", "recursive": True}),
        ToolCall(name="write_file", args={"path": "a.txt", "content": 'x\n"y"'}),
    ]
    for call in calls:
        text = compact_json(call.model_dump(mode="json"))
        assert regex.fullmatch(text), text
        assert parse_envelope(text) == call
    final = FinalAnswer(output={"summary": "done", "ok": False})
    assert regex.fullmatch(compact_json(final.model_dump(mode="json")))
    assert regex.fullmatch('{"type":"final","output":{"summary":"done"}}')


def test_envelope_regex_rejects_what_is_not_offered() -> None:
    regex = re.compile(envelope_regex(TOOLS, FINAL))
    assert not regex.fullmatch('{"type":"tool","name":"delete_file","args":{"path":"a"}}')
    assert not regex.fullmatch('{"type":"tool","name":"read_file","args":{"content":"a"}}')
    assert not regex.fullmatch('{"type":"tool","name":"write_file","args":{"path":"a"}}')
    assert not regex.fullmatch('{"type":"final","output":{"ok":true}}')
    assert not regex.fullmatch('{"type": "tool","name":"read_file","args":{"path":"a"}}')
    assert not regex.fullmatch('{"name":"read_file","type":"tool","args":{"path":"a"}}')
    tools_only = re.compile(envelope_regex(TOOLS, None))
    assert tools_only.fullmatch('{"type":"tool","name":"read_file","args":{"path":"a"}}')
    assert not tools_only.fullmatch('{"type":"final","output":{"summary":"done"}}')
    final_only = re.compile(envelope_regex({}, FINAL))
    assert final_only.fullmatch('{"type":"final","output":{"summary":"done"}}')
    with pytest.raises(ValueError):
        envelope_regex({}, None)


def test_envelope_regex_escapes_tool_names() -> None:
    regex = re.compile(
        envelope_regex({"fs.read": {}, "a+b": {"type": "object", "properties": {}}}, None)
    )
    assert regex.fullmatch('{"type":"tool","name":"fs.read","args":{}}')
    assert regex.fullmatch('{"type":"tool","name":"a+b","args":{}}')
    assert not regex.fullmatch('{"type":"tool","name":"fsXread","args":{}}')
    assert not regex.fullmatch('{"type":"tool","name":"aab","args":{}}')


# --- the real engine -------------------------------------------------------------------------

def _gguf() -> Path:
    """The default model (pulled into the cache when missing), or PANTHEON_TEST_GGUF."""
    from pantheon_engine.engines.catalogue import resolve_model

    if os.environ.get("PANTHEON_TEST_GGUF"):
        return Path(os.environ["PANTHEON_TEST_GGUF"])
    return resolve_model("smollm2-135m", allow_download=True)


@pytest.fixture(scope="module")
def pipeline() -> Any:
    genai = pytest.importorskip("openvino_genai")
    return genai.LLMPipeline(str(_gguf()), "CPU")


def _generate(
    pipeline: Any, regex: str, messages: list[dict[str, str]], max_new_tokens: int
) -> str:
    import openvino_genai as genai

    prompt = pipeline.get_tokenizer().apply_chat_template(messages, add_generation_prompt=True)
    config = genai.GenerationConfig()
    config.max_new_tokens = max_new_tokens
    structured = genai.StructuredOutputConfig()
    structured.regex = regex
    config.structured_output_config = structured
    return str(pipeline.generate(prompt, config))


@pytest.mark.model
def test_xgrammar_accepts_every_regex(pipeline: Any) -> None:
    """The engine compiles each generated regex (small bounds keep compilation quick)."""
    messages = [{"role": "user", "content": "Answer in JSON."}]
    for model in MODELS:
        regex = schema_to_regex(model.model_json_schema(), max_string=8, max_items=2)
        text = _generate(pipeline, regex, messages, max_new_tokens=1)
        assert isinstance(text, str)


@pytest.mark.model
def test_model_writes_valid_envelopes(pipeline: Any) -> None:
    regex = envelope_regex(TOOLS, FINAL, max_string=48, max_items=4)
    system = (
        "You are a coding agent. Reply with exactly one JSON object and nothing else.\n"
        'To call a tool: {"type":"tool","name":"<tool>","args":{...}}\n'
        'To finish: {"type":"final","output":{"summary":"..."}}\n'
        "Tools: read_file(path), list_dir(path, recursive), write_file(path, content)."
    )
    tasks = [
        "Read the file README.md.",
        "List the files in the src folder.",
        "Write the text hello into notes.txt.",
        "Show me what is in setup.cfg.",
        "What files are in the tests directory? Look recursively.",
        "Create a file todo.md containing: buy milk.",
        "You are done. Summarise that all tests pass.",
        "Open pyproject.toml and read it.",
    ]
    valid = 0
    outputs = []
    for task in tasks:
        messages = [{"role": "system", "content": system}, {"role": "user", "content": task}]
        text = _generate(pipeline, regex, messages, max_new_tokens=320)
        outputs.append(text)
        assert re.fullmatch(regex, text), text
        envelope = parse_envelope(text)
        if isinstance(envelope, ToolCall):
            ARGS[envelope.name].model_validate(envelope.args)
        else:
            Summary.model_validate(envelope.output)
        valid += 1
    assert valid == len(tasks), outputs


# --- block arguments -------------------------------------------------------------------------


def _block_regex() -> str:
    return envelope_regex(
        {"write_file": {"type": "object",
                        "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
                        "required": ["path", "content"]}},
        FINAL, blocks={"write_file": "content"}, max_string=None)


def test_a_block_argument_leaves_the_json_and_follows_it_fenced() -> None:
    regex = re.compile(_block_regex())
    code = 'def f(x):\n    return {"a": x, "b": "`"}\n'
    assert regex.fullmatch('{"type":"tool","name":"write_file","args":{"path":"f.py"}}\n'
                           f"```python\n{code}```")
    assert regex.fullmatch('{"type":"tool","name":"write_file","args":{"path":"f.py"}}\n'
                           f"```\n{code}```")
    # the argument is no longer offered inside the JSON, and a bare call has no block
    assert not regex.fullmatch(
        '{"type":"tool","name":"write_file","args":{"path":"f.py","content":"x"}}')
    assert not regex.fullmatch('{"type":"tool","name":"write_file","args":{"path":"f.py"}}')
    # the block ends at the first closing fence: nothing may follow it
    assert not regex.fullmatch('{"type":"tool","name":"write_file","args":{"path":"f.py"}}\n'
                               "```\nx = 1\n```\nmore text")
    assert regex.fullmatch('{"type":"final","output":{"summary":"done"}}')
    # a newline may close the reply: "```" + newline is one token for many tokenizers
    assert regex.fullmatch('{"type":"tool","name":"write_file","args":{"path":"f.py"}}\n'
                           "```\nx = 1\n```\n")


@pytest.mark.model
def test_xgrammar_compiles_a_block_branch(pipeline: Any) -> None:
    messages = [{"role": "user", "content": "Write a file a.py that prints hello."}]
    regex = _block_regex()
    text = _generate(pipeline, regex, messages, max_new_tokens=96)
    assert isinstance(text, str) and text.startswith('{"type":')
