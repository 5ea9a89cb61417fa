"""Mining: training examples from the trace store's green runs, plus the dataset format.

One example is one model call of an agent: exactly the messages the tool loop sent at that
step, then the reply the model gave, kept as the raw JSON envelope the served loop parses::

    {"messages": [{"role": "system", ...}, {"role": "user", ...},
                  {"role": "assistant", "content": "{\\"type\\":\\"tool\\",...}"}],
     "tools": [{"type": "function", "function": {"name": ..., "parameters": {...}}}],
     "meta": {"source": "trace", "agent": "doc.frontmatter@1", "run_id": ..., "task_id": ...,
              "step": 2, "kind": "tool", "model": ...}}

That is TRL's conversational format (``messages`` plus ``tools``), one object per line,
loadable with ``datasets.load_dataset("json", data_files=...)``. ``kind`` is ``tool`` (context
→ the next tool call) or ``final`` (context → the final answer). The system message already
describes the tools as the loop shows them; ``tools`` lists them as JSON-schema function
definitions for tooling that wants them (render it into the prompt and training no longer
sees what serving sends).

Only green runs are mined: ``run.json``'s ``check.passed`` is true and the check graded
this agent. Of each node only the last attempt counts, and of that only the steps whose
reply was a valid tool call or the accepted final answer. Every example then goes through
a :class:`Curator`: no holdout task (by task id, by the split an eval recorded, or by a
holdout document's path appearing in the text), no HumanEval prompt text
(:mod:`pantheon_engine.specialize.benchmark_text`), no secret-looking string, no duplicate.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pantheon_engine.agents.ref import AgentRef
from pantheon_engine.agents.spec import AgentSpec, Prepared
from pantheon_engine.atomic import atomic_write_text, read_dict
from pantheon_engine.errors import ConfigError
from pantheon_engine.evals.suite import Suite
from pantheon_engine.loop.envelope import EnvelopeError, FinalAnswer, parse_envelope
from pantheon_engine.loop.tool_loop import unbind
from pantheon_engine.specialize.benchmark_text import BenchmarkText, humaneval_text
from pantheon_engine.specialize.secrets import scan_texts
from pantheon_engine.tools.registry import get_tool

Source = Literal["trace", "best-of-k", "search", "feedback", "teacher", "demo", "import",
                 "fix"]
SOURCES: tuple[str, ...] = ("trace", "best-of-k", "search", "feedback", "teacher", "demo",
                            "import", "fix")
#: sources whose data the model found itself (the rest are demonstrations: a teacher model's,
#: the scripted solver's, imported or fixed by hand)
OWN_SOURCES: tuple[str, ...] = ("trace", "best-of-k", "search", "feedback")
#: how reports name a source where its name alone would mislead
SOURCE_LABELS: dict[str, str] = {"demo": "demo (scripted, upper bound)"}


def source_label(source: str) -> str:
    """A source as reports show it: the scripted solver is an upper bound, not a model's
    work (``demo (scripted, upper bound)``); every other source by its name."""
    return SOURCE_LABELS.get(source, source)


def render_sources(counts: dict[str, int]) -> str:
    """``best-of-k 6, demo (scripted, upper bound) 12`` (``none`` when empty)."""
    return ", ".join(f"{source_label(k)} {n}" for k, n in counts.items()) or "none"
Kind = Literal["tool", "final"]
#: marker file an eval folder gets when a best-of-k harvest made it
HARVEST_MARKER = "harvest.json"
#: steps of green runs the miner passes over, by reason (the curator's drops come on top)
MINER_SKIPS: tuple[str, ...] = ("measurement_run", "holdout_run", "earlier_attempt",
                                "failed_reply", "no_messages", "malformed", "other_agent")


# --- the dataset format ---------------------------------------------------------------------


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "user", "assistant", "tool"]
    content: str


class ExampleMeta(BaseModel):
    """Where an example came from; ``source`` lets results be reported per source."""

    model_config = ConfigDict(extra="forbid")

    source: Source
    agent: str
    run_id: str | None = None
    task_id: str | None = None
    step: int | None = None
    kind: Kind
    model: str | None = None
    #: the teacher model that wrote the reply (source ``teacher``): the prompt is still
    #: the student agent's own
    teacher: str | None = None
    #: feedback rounds the trajectory needed before the check passed (source ``feedback``;
    #: the stored conversation holds none of them)
    feedback_rounds: int | None = None


class Example(BaseModel):
    """One training example: the request's messages, the assistant's reply last."""

    model_config = ConfigDict(extra="forbid")

    messages: list[ChatMessage] = Field(min_length=2)
    tools: list[dict[str, Any]] = Field(default_factory=list)
    meta: ExampleMeta

    @model_validator(mode="after")
    def _reply_last(self) -> Example:
        if self.messages[-1].role != "assistant":
            raise ValueError("the last message is the assistant's reply (role assistant)")
        if not any(m.role == "user" for m in self.messages[:-1]):
            raise ValueError("the messages before the reply hold no user message")
        try:
            envelope = parse_envelope(self.messages[-1].content)
        except EnvelopeError as exc:
            raise ValueError(f"the reply is not a tool-loop envelope: {exc.message}") from None
        kind = "final" if isinstance(envelope, FinalAnswer) else "tool"
        if kind != self.meta.kind:
            raise ValueError(f"meta.kind is {self.meta.kind!r} but the reply is a {kind} reply")
        return self

    @property
    def reply(self) -> str:
        return self.messages[-1].content

    def key(self) -> str:
        """Identity for deduplication: the messages and the reply, nothing else."""
        body = json.dumps([[m.role, m.content] for m in self.messages], ensure_ascii=False)
        return hashlib.sha256(body.encode("utf-8")).hexdigest()

    def texts(self) -> list[str]:
        return [m.content for m in self.messages]


def make_example(messages: Sequence[Any], reply: str, *, tools: list[dict[str, Any]],
                 source: str, agent: str, kind: str, run_id: str | None = None,
                 task_id: str | None = None, step: int | None = None,
                 model: str | None = None, teacher: str | None = None,
                 feedback_rounds: int | None = None) -> Example:
    """An example from the request's messages (``Message`` objects or dicts) and a reply."""
    msgs = [m.model_dump(mode="json") if isinstance(m, BaseModel) else dict(m)
            for m in messages]
    extra = {k: v for k, v in (("teacher", teacher), ("feedback_rounds", feedback_rounds))
             if v is not None}
    return Example.model_validate({
        "messages": [*msgs, {"role": "assistant", "content": reply}], "tools": tools,
        "meta": {"source": source, "agent": agent, "run_id": run_id, "task_id": task_id,
                 "step": step, "kind": kind, "model": model, **extra}})


def tool_defs(spec: AgentSpec, prepared: Prepared | None = None) -> list[dict[str, Any]]:
    """The agent's tools as JSON-schema function definitions, as the loop shows them.

    With ``prepared`` (what the agent's ``prepare`` hook returned) its narrowed schemas are
    used and its bound arguments left out, as in the prompt and the grammar.
    """
    overrides = prepared.schema_overrides if prepared is not None else {}
    bound = prepared.bound_args if prepared is not None else {}
    defs = []
    for name in spec.tools:
        tool = get_tool(name)
        schema = unbind(overrides.get(name, tool.args_schema()), bound.get(name, {}))
        defs.append({"type": "function", "function": {
            "name": name, "description": tool.description, "parameters": schema}})
    return defs


async def agent_tool_defs(spec: AgentSpec, run_input: dict[str, Any],
                          workspace: Path) -> list[dict[str, Any]]:
    """:func:`tool_defs` after running the agent's ``prepare`` hook on one input.

    Falls back to the tools' own schemas when the hook cannot run here (the input's files
    are gone, say).
    """
    if spec.prepare is None:
        return tool_defs(spec)
    from pantheon_engine.agents.context import AgentContext
    from pantheon_engine.artifacts import NodeArtifacts
    from pantheon_engine.tools.base import ToolContext

    try:
        data = spec.input_model.model_validate(run_input)
        with tempfile.TemporaryDirectory(prefix="pantheon-tools-") as tmp:
            ctx = AgentContext(run_id="tools", node_id="tools", agent=spec,
                               workspace=Path(workspace),
                               tool_ctx=ToolContext(workspace=Path(workspace)),
                               artifacts=NodeArtifacts(Path(tmp)), run_input=run_input)
            prepared = await spec.prepare(ctx, data)
    except Exception:  # the hook needs what is no longer there: the plain schemas will do
        return tool_defs(spec)
    return tool_defs(spec, prepared)


def write_examples(path: Path, examples: Iterable[Example]) -> int:
    """Write ``examples`` as JSONL (atomically); returns how many lines were written.

    ``meta.teacher`` and ``meta.feedback_rounds`` appear only on examples that have them."""
    lines = [json.dumps(_line(e), ensure_ascii=False, separators=(",", ":")) for e in examples]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, "".join(line + "\n" for line in lines))
    return len(lines)


#: meta fields written only when set
_OPTIONAL_META = ("teacher", "feedback_rounds")


def _line(example: Example) -> dict[str, Any]:
    data = example.model_dump(mode="json")
    for key in _OPTIONAL_META:
        if data["meta"].get(key) is None:
            data["meta"].pop(key, None)
    return data


def read_examples(path: Path, *, source: str | None = None,
                  agent: str | None = None) -> list[Example]:
    """Read a JSONL file of examples; every line must have the example shape.

    ``source``: overwrite each example's source (imports are ``import`` whatever they
    say); ``meta`` may then be left out or partial (``kind`` is read from the reply, the
    agent defaults to ``agent``). A bad line is a :class:`ConfigError` naming the file and
    line.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read it: {exc}") from exc
    examples = []
    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}:{number}: not JSON: {exc.msg}",
                              hint="one example object per line") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}:{number}: an example is a JSON object")
        if source is not None:
            raw_meta = data.get("meta")
            meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
            data = {**data, "meta": _imported_meta(meta, data, source, agent)}
        try:
            examples.append(Example.model_validate(data))
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(map(str, err["loc"])) or "(root)"
            raise ConfigError(
                f"{path}:{number}: not an example: {loc}: {err['msg']}".replace(
                    "Value error, ", ""),
                hint='a line is {"messages": [{"role": ..., "content": ...}, ..., '
                '{"role": "assistant", "content": "<reply envelope>"}], "tools": [...], '
                '"meta": {...}}; see docs/specialize.md') from None
    return examples


def _imported_meta(meta: dict[str, Any], data: dict[str, Any], source: str,
                   agent: str | None) -> dict[str, Any]:
    kind = meta.get("kind")
    if kind is None:  # infer it from the reply; a bad reply fails validation later
        messages = data.get("messages")
        if isinstance(messages, list) and messages and isinstance(messages[-1], dict):
            try:
                envelope = parse_envelope(str(messages[-1].get("content", "")))
                kind = "final" if isinstance(envelope, FinalAnswer) else "tool"
            except EnvelopeError:
                kind = "tool"
    keep = {k: meta.get(k) for k in ("agent", "run_id", "task_id", "step", "model", "teacher",
                                     "feedback_rounds")
            if meta.get(k) is not None}
    return {"agent": meta.get("agent") or agent or "", **keep,
            "source": source, "kind": kind}


# --- keeping holdout tasks out ----------------------------------------------------------


@dataclass
class HoldoutGuard:
    """What must never reach training data: holdout task ids and holdout documents."""

    task_ids: set[str] = field(default_factory=set)
    paths: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._pattern: re.Pattern[str] | None = None
        if self.paths:
            alternatives = "|".join(re.escape(p) for p in sorted(self.paths, key=len,
                                                                 reverse=True))
            self._pattern = re.compile(rf"(?<![\w-])({alternatives})(?![\w-])")

    @classmethod
    def from_suite(cls, suite: Suite, split: str = "train") -> HoldoutGuard:
        """Everything of ``suite`` outside ``split``: its task ids and the files they name."""
        outside = [t for t in suite.tasks if t.split != split]
        return cls(task_ids={t.id for t in outside},
                   paths={p for t in outside for p in _task_paths(t.input)})

    def leak(self, example: Example) -> str | None:
        """Why ``example`` may not be used (``holdout_task``, ``holdout_path``), or None."""
        task = example.meta.task_id
        if task is not None and task in self.task_ids:
            return "holdout_task"
        if self._pattern is not None and any(self._pattern.search(t)
                                             for t in example.texts()):
            return "holdout_path"
        return None


def _task_paths(run_input: dict[str, Any]) -> list[str]:
    paths = []
    for key in ("path", "files"):
        value = run_input.get(key)
        if isinstance(value, str) and value.strip():
            paths.append(value.strip())
        elif isinstance(value, list):
            paths += [v.strip() for v in value if isinstance(v, str) and v.strip()]
    return paths


class Curator:
    """Admits examples one by one: no holdout leak, no benchmark text, no secret, no
    duplicate; counts drops.

    ``benchmark``: the prompts no example may share text with (default: HumanEval's,
    :func:`~pantheon_engine.specialize.benchmark_text.humaneval_text`).
    """

    def __init__(self, guard: HoldoutGuard | None = None,
                 benchmark: BenchmarkText | None = None) -> None:
        self.guard = guard
        self.benchmark = benchmark if benchmark is not None else humaneval_text()
        self.kept: list[Example] = []
        self.dropped: Counter[str] = Counter()
        self.secrets: Counter[str] = Counter()
        self._seen: set[str] = set()

    def add(self, example: Example) -> bool:
        why = self.guard.leak(example) if self.guard is not None else None
        if why is None and self.benchmark.leak(example.texts()) is not None:
            why = self.benchmark.reason
        if why is not None:
            self.dropped[why] += 1
            return False
        labels = scan_texts(example.texts())
        if labels:
            self.dropped["secret"] += 1
            self.secrets.update(labels)
            return False
        key = example.key()
        if key in self._seen:
            self.dropped["duplicate"] += 1
            return False
        self._seen.add(key)
        self.kept.append(example)
        return True

    def add_all(self, examples: Iterable[Example]) -> int:
        return sum(self.add(e) for e in examples)


class ExampleCounts(BaseModel):
    """Examples by kind and by source, and what was dropped and why."""

    examples: int = 0
    by_kind: dict[str, int] = Field(default_factory=dict)
    by_source: dict[str, int] = Field(default_factory=dict)
    dropped: dict[str, int] = Field(default_factory=dict)
    secrets: dict[str, int] = Field(default_factory=dict)

    @classmethod
    def of(cls, curator: Curator, skipped: Counter[str] | None = None) -> ExampleCounts:
        kinds = Counter(e.meta.kind for e in curator.kept)
        sources: Counter[str] = Counter(e.meta.source for e in curator.kept)
        dropped = Counter(curator.dropped)
        dropped.update(skipped or {})
        return cls(examples=len(curator.kept),
                   by_kind={k: kinds[k] for k in ("tool", "final") if kinds[k]},
                   by_source={s: sources[s] for s in SOURCES if sources[s]},
                   dropped=dict(sorted(dropped.items())),
                   secrets=dict(sorted(curator.secrets.items())))

    def render(self) -> str:
        kinds = ", ".join(f"{k} {n}" for k, n in self.by_kind.items()) or "none"
        sources = render_sources(self.by_source)
        lines = [f"examples: {self.examples} (by kind: {kinds}; by source: {sources})"]
        if self.dropped:
            lines.append("dropped: " + ", ".join(f"{k} {n}" for k, n in self.dropped.items()))
        if self.secrets:
            lines.append("secret-looking strings: "
                         + ", ".join(f"{k} {n}" for k, n in self.secrets.items()))
        return "\n".join(lines)


# --- green runs in the artifacts folder ---------------------------------------------------


@dataclass
class RunRecord:
    """A finished run as mining sees it."""

    run_id: str
    dir: Path
    meta: dict[str, Any]
    #: the split the eval that ran it recorded for its task (None: not an eval run)
    split: str | None = None
    source: str = "trace"
    #: run by an eval of a measurement-only suite (HumanEval): never mined
    measurement_only: bool = False
    #: the teacher model a teacher harvest served (its marker says; source ``teacher``)
    teacher: str | None = None

    @property
    def task_id(self) -> str | None:
        value = self.meta.get("task_id")
        return str(value) if value is not None else None

    @property
    def check(self) -> dict[str, Any]:
        check = self.meta.get("check")
        return check if isinstance(check, dict) else {}

    def green_for(self, agent: str) -> bool:
        """The run's checks passed and they graded ``agent`` (``name`` or ``name@v``)."""
        if self.check.get("passed") is not True:
            return False
        return any(_agent_matches(str(ref), agent) for ref in self.check.get("graded") or [])


def _agent_matches(ref: str, wanted: str) -> bool:
    """``doc.frontmatter@1`` matches ``doc.frontmatter`` and ``doc.frontmatter@1``."""
    return ref == wanted if "@" in wanted else AgentRef.name_of(ref) == wanted


def _read_runs(folder: Path) -> list[tuple[Path, dict[str, Any]]]:
    """The ``run.json`` of every run in ``folder``, in the order the runs started."""
    found = [(path, meta) for path in folder.glob("*/run.json")
             if (meta := read_dict(path)) is not None]
    return sorted(found, key=lambda item: (str(item[1].get("started_at") or ""),
                                           item[0].parent.name))


def find_runs(artifacts: Path) -> Iterator[RunRecord]:
    """Every run with a ``run.json``: night runs, then each eval's (and harvest's) runs."""
    artifacts = Path(artifacts)
    for run_json, meta in _read_runs(artifacts / "runs"):
        split = meta.get("split")  # a queued harvest's jobs record their task's split
        yield RunRecord(run_id=str(meta.get("run_id") or run_json.parent.name),
                        dir=run_json.parent, meta=meta, source=_source(meta.get("source")),
                        split=str(split) if split in ("train", "holdout") else None,
                        measurement_only=meta.get("measurement_only") is True)
    for eval_dir in sorted(p for p in (artifacts / "evals").glob("*") if p.is_dir()):
        info = read_dict(eval_dir / "eval.json") or {}
        splits = {str(t.get("id")): str(t.get("split")) for t in info.get("tasks") or []
                  if isinstance(t, dict)}
        default_split = str(info["split"]) if info.get("split") in ("train", "holdout") \
            else None
        marker = read_dict(eval_dir / HARVEST_MARKER)
        source = _source(marker.get("source")) if marker else "trace"
        teacher = str(marker["teacher"]) if marker and marker.get("teacher") else None
        measuring = info.get("measurement_only") is True
        for run_json, meta in _read_runs(eval_dir / "runs"):
            task = meta.get("task_id")
            split = splits.get(str(task), default_split) if task is not None else default_split
            yield RunRecord(run_id=str(meta.get("run_id") or run_json.parent.name),
                            dir=run_json.parent, meta=meta, split=split, source=source,
                            measurement_only=measuring or meta.get("measurement_only") is True,
                            teacher=teacher)


def _source(value: Any) -> str:
    return str(value) if value in SOURCES else "trace"


# --- mining -------------------------------------------------------------------------------


class MineResult(BaseModel):
    """What ``pantheon traces mine`` did."""

    agent: str
    runs_seen: int = 0
    runs_green: int = 0
    runs_used: int = 0
    included: list[str] = Field(default_factory=list)
    #: the trace store read (None: there was none, only included files were read)
    traces: str | None = None
    counts: ExampleCounts = Field(default_factory=ExampleCounts)
    out: str | None = None

    def render(self) -> str:
        head = (f"{self.agent}: {self.runs_seen} run(s), {self.runs_green} green, "
                f"{self.runs_used} with examples" if self.traces is not None
                else f"{self.agent}: no trace store, runs not mined")
        if self.included:
            head += f"; included {len(self.included)} file(s)"
        return head + "\n" + self.counts.render()


class Miner:
    """Reads runs and the trace store; feeds a :class:`Curator`."""

    def __init__(self, store: Any, spec: AgentSpec, curator: Curator, *,
                 agent: str | None = None) -> None:
        self.store = store
        self.spec = spec
        self.agent = agent or spec.name
        self.curator = curator
        self.skipped: Counter[str] = Counter()
        self.runs_seen = self.runs_green = self.runs_used = 0
        self._tools: list[dict[str, Any]] | None = None

    async def tools_for(self, run: RunRecord) -> list[dict[str, Any]]:
        """The agent's tool definitions, computed once (from the first green run)."""
        if self._tools is None:
            run_input = run.meta.get("input")
            workspace = run.meta.get("workspace")
            if isinstance(run_input, dict) and isinstance(workspace, str):
                self._tools = await agent_tool_defs(self.spec, run_input, Path(workspace))
            else:
                self._tools = tool_defs(self.spec)
        return self._tools

    async def mine_run(self, run: RunRecord) -> int:
        """Offer the examples of one run to the curator; returns how many it kept."""
        self.runs_seen += 1
        if not run.green_for(self.agent):
            return 0
        self.runs_green += 1
        if run.measurement_only:  # a peer's benchmark (HumanEval): a measurement, never data
            self.skipped["measurement_run"] += 1
            return 0
        if run.split == "holdout":  # the eval that ran it says so, whatever --suite says
            self.skipped["holdout_run"] += 1
            return 0
        rows = [r for r in self.store.model_calls(run_id=run.run_id)
                if _agent_matches(str(r["agent"]), self.agent)]
        last: dict[str, int] = {}
        for row in rows:
            last[row["node_id"]] = max(last.get(row["node_id"], 0), int(row["attempt"]))
        tools = await self.tools_for(run) if rows else []
        kept = 0
        for row in rows:
            if int(row["attempt"]) != last[row["node_id"]]:
                self.skipped["earlier_attempt"] += 1
                continue
            if row["outcome"] not in ("tool", "final"):
                self.skipped["failed_reply"] += 1
                continue
            if not row.get("messages_json"):
                self.skipped["no_messages"] += 1
                continue
            try:
                example = make_example(
                    json.loads(row["messages_json"]), row["reply"], tools=tools,
                    source=run.source, agent=str(row["agent"]), kind=row["outcome"],
                    run_id=run.run_id, task_id=run.task_id, step=int(row["step"]),
                    model=run.meta.get("model"),
                    teacher=(run.teacher or run.meta.get("model")) if run.source == "teacher"
                    else None)
            except (ValidationError, ValueError):
                self.skipped["malformed"] += 1
                continue
            kept += self.curator.add(example)
        self.runs_used += kept > 0
        return kept


def open_traces(artifacts: Path, traces: Path | None = None) -> Any:
    """The trace store of an artifacts folder, opened for reading (it must exist)."""
    from pantheon_engine.loop.traces import TraceStore, default_traces_path

    path = Path(traces) if traces is not None else default_traces_path(artifacts)
    if not path.is_file():
        raise ConfigError(f"no trace store at {path}",
                          hint="runs record their model calls there when they run with a "
                          "trace store (pantheon night, pantheon harvest); pass --artifacts")
    return TraceStore(path, flush_interval_s=None)


async def mine(artifacts: Path, spec: AgentSpec, *, agent: str | None = None,
               guard: HoldoutGuard | None = None, include: Sequence[Path] = (),
               run_filter: Any = None, traces: Path | None = None,
               curator: Curator | None = None) -> tuple[MineResult, list[Example]]:
    """Mine ``agent``'s green runs under ``artifacts`` and merge the ``include`` files.

    ``run_filter``: a predicate on :class:`RunRecord` (e.g. only one eval's runs).
    Returns the report and the examples kept, in order (included files last). Without a
    trace store only the ``include`` files are read (and without those either, that is
    a :class:`ConfigError`).
    """
    from pantheon_engine.loop.traces import default_traces_path

    curator = curator or Curator(guard)
    path = Path(traces) if traces is not None else default_traces_path(artifacts)
    store = open_traces(artifacts, traces) if path.is_file() or not include else None
    miner = Miner(store, spec, curator, agent=agent)
    if store is not None:
        try:
            for run in find_runs(artifacts):
                if run_filter is None or run_filter(run):
                    await miner.mine_run(run)
        finally:
            store.close()
    for path in include:
        for example in read_examples(path):
            if _agent_matches(example.meta.agent, miner.agent):
                curator.add(example)
            else:
                miner.skipped["other_agent"] += 1
    result = MineResult(agent=agent or spec.name, runs_seen=miner.runs_seen,
                        runs_green=miner.runs_green, runs_used=miner.runs_used,
                        included=[str(p) for p in include],
                        traces=str(path) if store is not None else None,
                        counts=ExampleCounts.of(curator, miner.skipped))
    return result, list(curator.kept)
