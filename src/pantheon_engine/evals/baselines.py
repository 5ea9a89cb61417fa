"""Baselines: what trivial strategies get on the same tasks, graded by the same check.

A pass rate means little alone: on a suite where 12 % of the documents already comply,
replying final at once scores 12 %; on a holdout phrased like its train split, a regex that
reads the rules scores nearly everything. So ``pantheon eval`` also runs, on exactly the
tasks it measured:

* ``final_at_once`` (every agent): reply final at the first step;
* ``copy_rule`` (docops): one call made of the first rule's quoted strings, verbatim, then
  final (:func:`pantheon_engine.evals.docops_baselines.copy_rule`);
* ``stub_unchanged`` (code agents that get a ``Plan``): write each file back as the prompt
  shows it, then final;
* ``train_phrasing_parser`` (docops): rules read back with the phrasings of the *train*
  split only, and the scripted solver's edits
  (:class:`pantheon_engine.evals.docops_baselines.PhrasingParser`).

Each baseline is a scripted :class:`BaselineEngine`: it answers the agent's requests from
the prompt alone, as a model would, and the eval runs through
:func:`pantheon_engine.evals.runner.run_eval` as usual, so its number comes from the same
orchestrator, tool loop, tools, step budget and check as the model's, and is never a
re-implementation of the check. A model's pass@1 is read against the best of them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from pantheon_engine.agents.io import DocTask, Plan
from pantheon_engine.agents.registry import AgentRegistry
from pantheon_engine.agents.spec import AgentSpec
from pantheon_engine.engines.base import Completion, Engine, EngineRequest, Message
from pantheon_engine.evals.docops_baselines import PhrasingParser, Strategy, copy_rule, tool_reply
from pantheon_engine.evals.results import BaselineScore, EvalResult, compare, render_baselines
from pantheon_engine.evals.runner import agent_spec, run_eval
from pantheon_engine.evals.stats import wilson_interval
from pantheon_engine.evals.suite import Suite
from pantheon_engine.loop.grammar import compact_json
from pantheon_engine.policy import Policy

FINAL_SUMMARY = "done"

# --- replies that fit any agent ----------------------------------------------------------


def _fill(schema: dict[str, Any], defs: dict[str, Any]) -> Any:
    """The smallest value a JSON schema admits, for the shapes final models use."""
    if "$ref" in schema:
        return _fill(defs[str(schema["$ref"]).rsplit("/", 1)[-1]], defs)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    if "default" in schema:
        return schema["default"]
    for key in ("anyOf", "oneOf", "allOf"):
        options = [o for o in schema.get(key) or [] if o.get("type") != "null"]
        if options:
            return _fill(options[0], defs)
    kind = schema.get("type")
    if kind == "string":
        text = FINAL_SUMMARY.ljust(int(schema.get("minLength", 0)), ".")
        return text[: int(schema.get("maxLength", len(text)))]
    if kind in ("integer", "number"):
        return schema.get("minimum", 0)
    if kind == "boolean":
        return False
    if kind == "array":
        return [_fill(schema.get("items") or {}, defs)] * int(schema.get("minItems", 0))
    if kind == "object":
        properties = schema.get("properties") or {}
        return {name: _fill(properties.get(name) or {}, defs)
                for name in schema.get("required") or []}
    return None


def final_output(model: type[BaseModel]) -> dict[str, Any]:
    """The smallest final output ``model`` accepts (``{"summary": "done"}`` for most)."""
    schema = model.model_json_schema()
    value = _fill(schema, schema.get("$defs") or {})
    return dict(value) if isinstance(value, dict) else {}


def final_at_once(spec: AgentSpec) -> Strategy:
    reply = compact_json({"type": "final", "output": final_output(spec.final)})
    return lambda _messages: reply


_CURRENT = re.compile(r"^CURRENT CONTENT:\n(?P<body>.*?)\nWrite the complete", re.S | re.M)
_FILE_HEAD = re.compile(r"^--- (?P<path>\S[^\n]*)\n", re.M)


def current_files(text: str) -> dict[str, str]:
    """The files a code prompt shows under ``CURRENT CONTENT:`` (``--- path`` then the
    content), as the prompt has them."""
    block = _CURRENT.search(text)
    if block is None:
        return {}
    body = block.group("body")
    heads = list(_FILE_HEAD.finditer(body))
    files = {}
    for head, after in zip(heads, [*heads[1:], None], strict=True):
        content = body[head.end(): after.start() if after else len(body)]
        if after is not None:
            content = content.removesuffix("\n")  # the separator the prompt put between
        files[head.group("path")] = content
    return files


def stub_unchanged(spec: AgentSpec) -> Strategy:
    """Write the first file back as the prompt shows it (the stub, unchanged), then final."""
    final = compact_json({"type": "final", "output": final_output(spec.final)})

    def reply(messages: Sequence[Message]) -> str:
        if any(m.role == "assistant" for m in messages):
            return final
        task = next((m.content for m in messages if m.role == "user"), "")
        files = current_files(task)
        if not files:
            return final
        path, content = next(iter(files.items()))
        if content == "(new file)":
            content = ""
        return tool_reply("write_file", {"path": path, "content": content})

    return reply


# --- the engine ---------------------------------------------------------------------------


class _Scripted(Engine):
    """Answers every request with ``strategy(messages)``."""

    supports_constraints = False

    def __init__(self, name: str, strategy: Strategy) -> None:
        self.name = "baseline"
        self.model = f"baseline:{name}"
        self._strategy = strategy
        self._completed = 0

    async def complete(self, request: EngineRequest) -> Completion:
        self._completed += 1
        return Completion(text=self._strategy(request.messages), engine=self.name,
                          model=self.model)


class BaselineEngine(_Scripted):
    """A baseline's strategy for the agent measured; any other model agent of a flow (a
    reviewer after the check, say) replies final at once with its smallest output."""

    def __init__(self, name: str, strategy: Strategy, agent: str,
                 registry: AgentRegistry) -> None:
        super().__init__(name, strategy)
        self._agent = agent
        self._registry = registry
        self._others: dict[str, Engine] = {}

    def for_agent(self, agent: str) -> Engine:
        if agent == self._agent or agent not in self._registry:
            return self
        if agent not in self._others:
            self._others[agent] = _Scripted(self.model,
                                            final_at_once(self._registry.get(agent)))
        return self._others[agent]


# --- which baselines an agent gets -------------------------------------------------------


@dataclass(frozen=True)
class Baseline:
    name: str
    description: str
    strategy: Strategy
    upper_bound: bool = False


def _takes(spec: AgentSpec, model: type[BaseModel]) -> bool:
    return isinstance(spec.input_model, type) and issubclass(spec.input_model, model)


def baselines_for(spec: AgentSpec, suite: Suite) -> list[Baseline]:
    """The trivial strategies that apply to ``spec``'s tasks, the bar first to last."""
    found = [Baseline("final_at_once", "reply final at the first step", final_at_once(spec))]
    if _takes(spec, DocTask) and {"fm_set", "fm_delete", "fm_rename"} <= set(spec.tools):
        parser = PhrasingParser.from_suite(suite, "train")
        found += [
            Baseline("copy_rule", "one call of the first rule's quoted strings, then final",
                     copy_rule),
            Baseline("train_phrasing_parser",
                     f"rules read with the {len(parser.phrasings)} phrasings of the train "
                     "split, edits by the scripted solver", parser.strategy()),
        ]
    elif _takes(spec, Plan) and "write_file" in spec.tools:
        found.append(Baseline("stub_unchanged", "write the file back as the prompt shows it, "
                              "then final", stub_unchanged(spec)))
    return found


# --- running them -------------------------------------------------------------------------


def score(baseline: Baseline, result: EvalResult, against: EvalResult | None = None
          ) -> BaselineScore:
    """A baseline's eval as a score; paired with the model's eval when ``against`` is given."""
    paired = compare(against, result) if against is not None else None
    return BaselineScore(
        description=baseline.description, passed=result.passed_samples,
        total=result.total_samples, rate=result.pass_at_1,
        interval=wilson_interval(result.passed_samples, result.total_samples),
        upper_bound=baseline.upper_bound, dir=result.dir,
        won=paired.only_a if paired else None, lost=paired.only_b if paired else None,
        p_value=paired.p_value if paired else None)


Announce = Callable[[str, BaselineScore], None]


async def run_baselines(suite: Suite, *, agent: str, split: str | None,
                        registry: AgentRegistry, artifacts: Path, policy: Policy | None = None,
                        concurrency: int = 32, seed: int = 0, limit: int | None = None,
                        against: EvalResult | None = None,
                        on_done: Announce | None = None) -> dict[str, BaselineScore]:
    """Run every baseline of ``agent`` over the split's tasks (its first ``limit``).

    Each is an ordinary eval (one sample per task, no trace store: a baseline's runs are
    never mined) under ``<artifacts>/evals/<baseline name>/``. ``against``: the model's eval
    of the same tasks, for the paired counts.
    """
    spec = agent_spec(registry, agent)
    scores: dict[str, BaselineScore] = {}
    for baseline in baselines_for(spec, suite):
        engine = BaselineEngine(baseline.name, baseline.strategy, spec.name, registry)
        result = await run_eval(
            suite, agent=spec.ref, split=split, engine=engine, registry=registry,
            artifacts=artifacts, samples=1, concurrency=concurrency, seed=seed,
            policy=policy, eval_id=baseline.name, traces=None, limit=limit)
        scores[baseline.name] = score(baseline, result, against)
        if on_done is not None:
            on_done(baseline.name, scores[baseline.name])
    return scores


class BaselineReport(BaseModel):
    """``pantheon eval --baselines-only``: the baselines of one agent on one split."""

    agent: str
    suite: str
    split: str
    tasks_n: int
    dir: str
    baselines: dict[str, BaselineScore] = Field(default_factory=dict)

    def render_text(self) -> str:
        head = f"baselines of {self.agent} on {self.suite} ({self.split}), {self.tasks_n} tasks"
        return "\n".join([head, *render_baselines(self.baselines)[1:]])
