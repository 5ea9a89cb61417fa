"""The docops baselines: strategies that read the prompt ``doc.frontmatter`` gets, nothing more.

Each one is a function from the request's messages to a reply, so it runs through the same
loop, tools and check as a model (see :mod:`pantheon_engine.evals.baselines`):

* **copy the rule** — one call made of the first house rule's quoted strings, copied as
  they stand (one string: ``fm_delete`` it; two: ``fm_rename`` the first to the second
  when the sentence speaks of a name, else ``fm_set`` the first to the second), then final.
  What a model gets that copies the prompt into a call without reading the file;
* **train-phrasing parser** — a regex parser whose patterns are *learned from the train
  split's rule texts only* (each text with its rule's parameters cut out), which reads the
  house rules back into rules and lets the scripted solver choose the edit for the file as
  the prompt shows it, one call per step. On a holdout whose rules are phrased as in train
  it solves what the solver solves; a rule phrased any other way is not understood and is
  left undone. So it measures how much of a holdout a template reader already gets.

The prompt's layout (``HOUSE RULES:``, the numbered rules, ``FRONT MATTER NOW:``, ``BODY
STARTS:``, ``EDITS SO FAR:``) is that of :mod:`pantheon_engine.agents.docops`.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from pantheon_engine.agents.io import DocTask
from pantheon_engine.docops.check import UnreadableDocument
from pantheon_engine.docops.rules import Rule, parse_rules
from pantheon_engine.docops.solver import solve
from pantheon_engine.engines.base import Message
from pantheon_engine.errors import SpecError
from pantheon_engine.evals.suite import Suite
from pantheon_engine.loop.grammar import compact_json

#: a reply from the request's messages (what an engine would answer)
Strategy = Callable[[Sequence[Message]], str]

#: the parameters a rule's text quotes; every other part of the text is its phrasing
PARAMS = ("key", "value", "to", "marker", "section")
_NUMBERED = re.compile(r"^\s*\d+[.)]\s+(?P<text>.+?)\s*$")
_QUOTED = re.compile(r"`([^`]+)`")
_NAMING = re.compile(r"\b(called|named|renamed?|instead)\b", re.IGNORECASE)


def final_reply(summary: str) -> str:
    return compact_json({"type": "final", "output": {"summary": summary}})


def tool_reply(name: str, args: dict[str, Any]) -> str:
    return compact_json({"type": "tool", "name": name, "args": args})


# --- reading the prompt ------------------------------------------------------------------


def task_text(messages: Sequence[Message]) -> str:
    """The task message: the first user message (rules, then the file as it is now)."""
    return next((m.content for m in messages if m.role == "user"), "")


def house_rules(text: str) -> list[str]:
    """The house rules of a ``doc.frontmatter`` prompt, one text each, numbers cut."""
    lines = text.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "HOUSE RULES:")
    except StopIteration:
        return []
    rules: list[str] = []
    for line in lines[start + 1:]:
        if line.startswith("FILE ") or not line.strip():
            break
        match = _NUMBERED.match(line)
        rules.append(match.group("text") if match else line.strip())
    return rules


class DocState(BaseModel):
    """The file as the prompt shows it: its front matter, the start of its body, the edits."""

    model_config = ConfigDict(frozen=True)

    meta: dict[str, Any]
    has_front_matter: bool
    body: str
    edits: list[str]

    def text(self) -> str:
        """A Markdown text with this front matter and body, for the scripted solver."""
        if not self.has_front_matter:
            return self.body
        block = yaml.safe_dump(self.meta, sort_keys=False, allow_unicode=True) \
            if self.meta else ""
        return f"---\n{block}---\n{self.body}"


def _value(shown: str) -> Any:
    """A value as the prompt shows it (compact JSON; dates as their text) back as YAML."""
    try:
        value = json.loads(shown)
    except json.JSONDecodeError:
        return shown
    if isinstance(value, str):
        try:
            loaded = yaml.safe_load(value)
        except (yaml.YAMLError, ValueError):
            return value
        if isinstance(loaded, dt.date):  # a date or a timestamp, shown as its text
            return loaded
    return value


def doc_state(text: str) -> DocState | None:
    """The ``FRONT MATTER NOW`` / ``BODY STARTS`` / ``EDITS SO FAR`` part of the prompt
    (None when the prompt has none, or says the front matter is unreadable)."""
    lines = text.splitlines()
    marks = {line.strip(): i for i, line in enumerate(lines)
             if line.strip() in ("FRONT MATTER NOW:", "BODY STARTS:")}
    edits_at = next((i for i in range(len(lines) - 1, -1, -1)
                     if lines[i].startswith("EDITS SO FAR:")), None)
    if "FRONT MATTER NOW:" not in marks or "BODY STARTS:" not in marks or edits_at is None:
        return None
    shown = lines[marks["FRONT MATTER NOW:"] + 1: marks["BODY STARTS:"]]
    meta: dict[str, Any] = {}
    has_front_matter = shown != ["(none)"]
    if has_front_matter:
        for line in shown:
            key, sep, rest = line.partition(": ")
            if not sep:
                return None
            meta[key] = _value(rest)
    body = "\n\n".join(lines[marks["BODY STARTS:"] + 1: edits_at]) + "\n"
    done = lines[edits_at].removeprefix("EDITS SO FAR:").strip()
    return DocState(meta=meta, has_front_matter=has_front_matter, body=body,
                    edits=[] if done == "none" else done.split("; "))


# --- (b) copy the rule into one call -----------------------------------------------------


def copy_rule(messages: Sequence[Message]) -> str:
    """One call whose arguments are the first rule's quoted strings, verbatim; then final."""
    text = task_text(messages)
    state = doc_state(text)
    rules = house_rules(text)
    if state is None or state.edits or not rules:
        return final_reply("copied the rule")
    quoted = _QUOTED.findall(rules[0])
    if len(quoted) >= 2:
        if _NAMING.search(rules[0]):
            return tool_reply("fm_rename", {"key": quoted[0], "new_key": quoted[1]})
        return tool_reply("fm_set", {"key": quoted[0], "value": quoted[1]})
    if len(quoted) == 1:
        return tool_reply("fm_delete", {"key": quoted[0]})
    return final_reply("nothing to copy")


# --- (c) the train-phrasing parser -------------------------------------------------------


class Phrasing(BaseModel):
    """One way the train split phrases a rule kind: a full-match pattern with the rule's
    parameters as named groups, and how many train rule texts it was learned from."""

    model_config = ConfigDict(frozen=True)

    kind: str
    pattern: str
    support: int = 1


def _rule(kind: str, params: dict[str, str]) -> Rule | None:
    try:
        return parse_rules([{"kind": kind, **params}])[0]
    except SpecError:
        return None


def _params(rule: Rule) -> dict[str, str]:
    return {name: str(value) for name in PARAMS
            if isinstance(value := getattr(rule, name, None), str)}


def learn_phrasing(text: str, rule: Rule) -> Phrasing | None:
    """The pattern of ``text`` with ``rule``'s parameters cut out (None when they cannot be
    found in it, or the pattern would not read the text back into the same rule)."""
    params = _params(rule)
    spans: list[tuple[int, int, str]] = []
    for name, value in sorted(params.items(), key=lambda kv: -len(kv[1])):
        found = re.compile(r"(?<![A-Za-z0-9_])" + re.escape(value) + r"(?![A-Za-z0-9_])")
        for match in found.finditer(text):
            if all(match.end() <= s or match.start() >= e for s, e, _ in spans):
                spans.append((match.start(), match.end(), name))
    if {name for _, _, name in spans} != set(params):
        return None
    pattern, at, seen = "", 0, set()
    for start, end, name in sorted(spans):
        pattern += re.escape(text[at:start])
        pattern += f"(?P={name})" if name in seen else f"(?P<{name}>.+?)"
        seen.add(name)
        at = end
    pattern += re.escape(text[at:])
    phrasing = Phrasing(kind=rule.kind, pattern=pattern)
    return phrasing if PhrasingParser([phrasing]).parse(text) == rule.plain() else None


class PhrasingParser:
    """Reads rule texts with the phrasings it learned; a text phrased otherwise is None."""

    def __init__(self, phrasings: Iterable[Phrasing]) -> None:
        self.phrasings = sorted(phrasings, key=lambda p: (-p.support, p.kind, p.pattern))
        self._compiled = [(p, re.compile(p.pattern, re.DOTALL)) for p in self.phrasings]

    @classmethod
    def learn(cls, examples: Iterable[tuple[str, Rule]]) -> PhrasingParser:
        """Learn from ``(rule text, rule)`` pairs: one phrasing per distinct pattern."""
        counts: dict[tuple[str, str], int] = {}
        for text, rule in examples:
            phrasing = learn_phrasing(text, rule)
            if phrasing is not None:
                key = (phrasing.kind, phrasing.pattern)
                counts[key] = counts.get(key, 0) + 1
        return cls(Phrasing(kind=kind, pattern=pattern, support=n)
                   for (kind, pattern), n in counts.items())

    @classmethod
    def from_suite(cls, suite: Suite, split: str = "train") -> PhrasingParser:
        """Learned from the rule texts of ``split``'s tasks (train: never the holdout)."""
        return cls.learn(pair for task in suite.split(split) for pair in rule_texts(task.input))

    def parse(self, text: str) -> Rule | None:
        for phrasing, compiled in self._compiled:
            match = compiled.fullmatch(text.strip())
            if match is None:
                continue
            rule = _rule(phrasing.kind, {k: v for k, v in match.groupdict().items()
                                         if v is not None})
            if rule is not None:
                return rule
        return None

    def strategy(self) -> Strategy:
        """Parse the rules it can read, then make the solver's next edit of the file as the
        prompt shows it; final when the solver needs none (or the prompt cannot be read)."""

        def reply(messages: Sequence[Message]) -> str:
            text = task_text(messages)
            state = doc_state(text)
            if state is None:
                return final_reply("could not read the file")
            rules = [rule for line in house_rules(text) if (rule := self.parse(line))]
            try:
                calls = solve(state.text(), rules) if rules else []
            except UnreadableDocument:
                calls = []
            if not calls:
                return final_reply("the rules I read are met")
            name, args = calls[0]
            return tool_reply(name, args)

        return reply


def rule_texts(task_input: dict[str, Any]) -> list[tuple[str, Rule]]:
    """A docops task's rules with the text the model reads for each (none for other
    tasks): its own phrasing, else its kind's template. Two rules stated in one sentence
    both come with that sentence."""
    try:
        task = DocTask.model_validate(task_input)
    except ValidationError:
        return []
    return [(rule.text(), rule) for rule in task.rules]
