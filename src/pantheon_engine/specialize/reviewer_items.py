"""Labelled review items from a task suite: what reviewers are trained on and measured by.

A review item is a change to one task of a suite and the verdict a reviewer should give
it. Every label comes from the task's own check, in code that is not a reviewer's:

* **docops** suites (``pantheon suite make docops``): the scripted solver's change to the
  task's document is the good item (the check passes it); the bad item is the same change
  with one defect the check catches (:func:`~pantheon_engine.night.reviewing.canary.make_canary`):
  a required edit left out, a near-miss value (a date in another spelling, another
  capitalisation), a key kept that a rule removes, an edit no rule asks for, or the right
  edit made to the wrong key. A bad change the check would miss cannot be built (the check
  is the label), so the hard items are these plausible but wrong ones.
* **code** suites (``pantheon suite make code``): see
  :mod:`pantheon_engine.specialize.reviewer_code`.

Each task gives one good and one bad item or none (both classes are equally many). Items
of a split are built only from that split's tasks, and the keys an ``extra_edit`` adds
differ between train and holdout, so a holdout item holds no text that only a train item
has.

Each item is then shown to the review nodes of the flow its kind of work runs in (docops:
``reviewA`` and ``reviewB`` of ``docops.yaml``) through
:class:`~pantheon_engine.night.reviewing.runner.CanaryRunner`, the code a night's canaries
go through, with an engine that answers with the right verdict. What the engine receives
is the reviewer's exact prompt; with the reply it is one training example in the format
``pantheon train`` reads (:func:`item_examples`).
"""

from __future__ import annotations

import random
import re
import tempfile
from collections import Counter, deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pantheon_engine.agents.registry import AgentRegistry, default_registry
from pantheon_engine.docops.check import check_document
from pantheon_engine.docops.rules import parse_rules
from pantheon_engine.engines.base import Completion, EngineRequest
from pantheon_engine.errors import ConfigError, PantheonError, SuiteError
from pantheon_engine.evals.suite import SPLITS, Suite, SuiteTask, load_suite
from pantheon_engine.flows_builtin import builtin_flow
from pantheon_engine.loop.envelope import FinalAnswer, envelope_text, parse_envelope
from pantheon_engine.night.reviewing.canary import (
    ALL_DEFECTS,
    EXTRA_KEYS,
    Canary,
    make_canary,
)
from pantheon_engine.night.reviewing.code_canary import CodeCanary
from pantheon_engine.night.reviewing.ledger import ReviewerLedger
from pantheon_engine.night.reviewing.runner import CanaryRunner, review_nodes
from pantheon_engine.policy import Policy
from pantheon_engine.run.flows import Flow, load_flow_checked
from pantheon_engine.specialize.demos import DemoMismatch, RecordingEngine
from pantheon_engine.specialize.review_item import ReviewItem, WorkKind
from pantheon_engine.specialize.reviewer_code import code_items, reference_replies
from pantheon_engine.specialize.train_data import Example

__all__ = ["EXTRA_KEYS_BY_SPLIT", "ITEM_SOURCE", "ReviewItem", "build_items", "item_examples",
           "review_flow", "suite_kind"]

#: ``meta.source`` of a training example made from a labelled review item
ITEM_SOURCE = "review-label"
#: the keys (and values) an ``extra_edit`` adds, per split: the holdout's are its own
EXTRA_KEYS_BY_SPLIT: dict[str, tuple[tuple[str, str], ...]] = {
    "train": EXTRA_KEYS,
    "holdout": (("audience", "internal"), ("weight", "3"), ("lang", "en")),
}
#: the flow whose review nodes see each kind of work
FLOWS: dict[WorkKind, str] = {"docs": "docops", "code": "spec2code"}
#: what a reviewer that is right says about a good docops change
GOOD_RATIONALE = "the diff makes the edits the rules ask for and nothing else"
RATIONALE_MAX = 120
#: tools whose replies carry a fenced block (compare_reference's reference)
_BLOCKS = {"compare_reference": "reference"}


def suite_kind(suite: Suite) -> WorkKind:
    """What a suite's tasks ask for: docops documents (``path`` and ``rules``) or code
    (``files`` and ``tests``); a SuiteError for a suite that mixes them or has neither."""
    kinds = set()
    for task in suite.tasks:
        data = task.input
        if "path" in data and "rules" in data:
            kinds.add("docs")
        elif "files" in data and "tests" in data:
            kinds.add("code")
        else:
            raise SuiteError(f"{suite.folder}: task {task.id} is neither a docops task (path "
                             "and rules) nor a code task (files and tests)",
                             hint="review items are built from `pantheon suite make docops` "
                             "or `pantheon suite make code` suites")
    if len(kinds) != 1:
        raise SuiteError(f"{suite.folder}: mixes docops and code tasks" if kinds
                         else f"{suite.folder}: has no task")
    return "docs" if kinds == {"docs"} else "code"


def review_flow(kind: WorkKind, registry: AgentRegistry) -> Flow:
    """The built-in flow whose review nodes review this kind of work."""
    path = builtin_flow(FLOWS[kind])
    if path is None:  # pragma: no cover - the flows ship with the package
        raise ConfigError(f"the built-in flow {FLOWS[kind]} is missing")
    return load_flow_checked(path, registry)


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= RATIONALE_MAX else text[:RATIONALE_MAX - 1] + "…"


def docs_rationale(canary: Canary) -> str:
    """Why a right reviewer passes or fails ``canary``: for a bad one, the first thing the
    check finds wrong (an unmet rule's detail, or what the change broke)."""
    if canary.expected == "pass":
        return GOOD_RATIONALE
    report = check_document(canary.after, parse_rules(canary.rules), canary.before)
    reasons = [r.detail or f"rule not met: {r.text}" for r in report.rules if not r.ok]
    reasons += report.broken + ([report.error] if report.error else [])
    return _clip(reasons[0] if reasons else "the change does not meet the rules")


def _docs_task_items(suite: Suite, task: SuiteTask, split: str,
                     rng: random.Random) -> list[ReviewItem]:
    """A task's good and bad item, or none when the task cannot give both."""
    try:
        rules = parse_rules(task.input["rules"], source=f"{suite.folder} task {task.id}")
        path = str(task.input["path"])
        text = (suite.workspace / path).read_text(encoding="utf-8")
    except (PantheonError, OSError, UnicodeDecodeError, KeyError):
        return []
    source = f"suite {suite.folder.name} ({split})"
    extras = EXTRA_KEYS_BY_SPLIT.get(split, EXTRA_KEYS)
    pair: list[ReviewItem] = []
    for bad in (False, True):
        item_id = f"{task.id}-{'bad' if bad else 'good'}"
        canary = make_canary(item_id, path, text, rules, bad=bad, rng=rng, source=source,
                             defects=ALL_DEFECTS, extras=extras)
        if canary is None:
            return []
        pair.append(ReviewItem(id=item_id, task_id=task.id, split=split, kind="docs",
                               canary=canary, rationale=docs_rationale(canary)))
    return pair


def build_items(suite_dir: Path, split: str, *, seed: int = 0, limit: int | None = None,
                loader: Callable[[Path], Suite] | None = None) -> list[ReviewItem]:
    """The labelled review items of one split of a suite, good and bad alike.

    Only the split's own tasks are read. ``limit``: at most this many items (whole
    good/bad pairs, in suite order). A SuiteError when the split gives no item.
    """
    if split not in SPLITS:
        raise ConfigError(f"--split {split!r}: expected train or holdout",
                          hint="items of the train split train a reviewer; items of the "
                          "holdout split measure it")
    if limit is not None and limit < 2:
        raise ConfigError(f"--limit must be at least 2 (a good and a bad item), got {limit}")
    suite = (loader or load_suite)(Path(suite_dir))
    kind = suite_kind(suite)
    tasks = suite.split(split)
    rng = random.Random(seed)
    items: list[ReviewItem] = []
    if kind == "code":
        items = code_items(suite, tasks, split, rng=rng, limit=limit)
    else:
        for task in tasks:
            if limit is not None and len(items) + 2 > limit:
                break
            items += _docs_task_items(suite, task, split, rng)
    if not items:
        raise SuiteError(f"the {split} split of {suite.folder} gives no review item",
                         hint="items need tasks whose change the check can grade both ways "
                         "(a docops document that needs edits, a code task with a reference)")
    return items


def counts(items: Sequence[ReviewItem]) -> dict[str, Any]:
    """Items by verdict and by defect kind."""
    return {"items": len(items),
            "by_verdict": dict(sorted(Counter(i.expected for i in items).items())),
            "by_defect": dict(sorted(Counter((i.defect or "none").split(":")[0]
                                             for i in items).items())),
            "tasks": len({i.task_id for i in items})}


def verdict_reply(item: ReviewItem) -> str:
    """The final answer of a reviewer that gets ``item`` right (review.peer's envelope)."""
    return envelope_text(FinalAnswer(output={"verdict": item.expected,
                                             "rationale": item.rationale}))


class ScriptEngine(RecordingEngine):
    """Answers each review node (a request's ``key``) with its own scripted replies, in
    order, refusing one the node's grammar would not let a model write."""

    name = "script"
    model = "script:labels"
    supports_constraints = True

    def __init__(self, replies: dict[str, list[str]]) -> None:
        super().__init__()
        self._replies = {key: deque(texts) for key, texts in replies.items()}

    async def complete(self, request: EngineRequest) -> Completion:
        queue = self._replies.get(request.key or "")
        if not queue:
            raise DemoMismatch(f"no scripted reply left for {request.key}")
        text = queue.popleft()
        constraint = request.constraint
        if constraint is not None and constraint.regex is not None \
                and re.fullmatch(constraint.regex, text) is None:
            raise DemoMismatch(f"the scripted reply {text[:120]!r} is outside the "
                               "reviewer's grammar")
        return self.record(request, text)


async def _record(item: ReviewItem, flow: Flow, registry: AgentRegistry, policy: Policy,
                  folder: Path, replies: dict[str, list[str]]
                  ) -> tuple[ScriptEngine, dict[str, str | None]]:
    """``item`` through the flow's review nodes, each answered by its own replies."""
    engine = ScriptEngine(replies)
    docs = [item.canary] if isinstance(item.canary, Canary) else []
    code = [item.canary] if isinstance(item.canary, CodeCanary) else []
    runner = CanaryRunner(registry=registry, engine=engine, policy=policy,
                          ledger=ReviewerLedger(), pool=docs, code_pool=code, folder=folder,
                          night_id="review-items", share=0.0, calibration=0)
    verdicts = await runner.run_canary(flow, item.canary, item.id)
    return engine, verdicts


async def item_examples(items: Sequence[ReviewItem], *, suite: str,
                        registry: AgentRegistry | None = None,
                        policy: Policy | None = None) -> tuple[list[dict[str, Any]],
                                                               Counter[str]]:
    """Training examples: each item through each review node of its flow, with the reply
    of a reviewer that is right; returns the examples (dicts that validate as
    :class:`~pantheon_engine.specialize.train_data.Example`) and what was skipped, by why.

    The prompt of each example is the request the node's tool loop sent, so it is exactly
    what the reviewer sees in a flow. A node whose scripted reply the loop did not accept
    (a reply outside its grammar, a verdict that disagrees with the label) gives none.
    """
    registry = registry or default_registry()
    policy = policy or Policy(mode="day")
    examples: list[dict[str, Any]] = []
    skipped: Counter[str] = Counter()
    flows: dict[str, Flow] = {}
    with tempfile.TemporaryDirectory(prefix="pantheon-review-items-") as tmp:
        for number, item in enumerate(items):
            flow = flows.get(item.kind) or flows.setdefault(item.kind,
                                                            review_flow(item.kind, registry))
            nodes = review_nodes(flow, registry)
            replies = {node.id: _scripted_replies(item) for node in nodes}
            engine, verdicts = await _record(item, flow, registry, policy,
                                             Path(tmp) / f"{number:05d}", replies)
            for node in nodes:
                if verdicts.get(node.id) != item.expected:
                    skipped["verdict_not_recorded" if verdicts.get(node.id) is None
                            else "verdict_differs"] += 1
                    continue
                calls = [(r, t) for r, t in engine.calls if r.key == node.id]
                agent = registry.get(node.agent)
                for step, (request, reply) in enumerate(calls, 1):
                    examples.append(_example(item, request.messages, reply, node=node.id,
                                             agent=agent.ref, step=step, suite=suite))
    return examples, skipped


def _scripted_replies(item: ReviewItem) -> list[str]:
    """What a right reviewer replies to ``item``: review.peer's verdict, or (code)
    review.reference's comparison with the suite's reference and its final answer."""
    if item.kind == "code":
        return reference_replies(item)
    return [verdict_reply(item)]


def _example(item: ReviewItem, messages: Sequence[Any], reply: str, *, node: str, agent: str,
             step: int, suite: str) -> dict[str, Any]:
    msgs = [{"role": m.role, "content": m.content} for m in messages]
    kind = "final" if isinstance(parse_envelope(reply, block_args=_BLOCKS),
                                 FinalAnswer) else "tool"
    data = {"messages": [*msgs, {"role": "assistant", "content": reply}], "tools": [],
            "meta": {"source": ITEM_SOURCE, "agent": agent, "kind": kind,
                     "task_id": item.task_id, "item": item.id, "node": node, "step": step,
                     "split": item.split, "expected": item.expected, "defect": item.defect,
                     "suite": suite}}
    Example.model_validate(data)  # the format pantheon train reads
    return data
