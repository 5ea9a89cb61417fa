"""A paraphrase grammar for house rules: many ways to say each rule, split by family.

A *family* is one way of saying a rule kind (an imperative, a declarative, a passive, a
"must/should", a negative "no document may ..."), written as a form with alternatives:
``{Remove|Delete} the <key> key{| from the front matter}.`` picks one word of each
``{...|...}`` group (an empty one drops the words) and puts the rule's parameters where
``<key>``, ``<value>``, ``<to>``, ``<marker>`` and ``<section>`` stand (``<title>`` is the
key ``title``, which ``title_heading`` names without a parameter). Each sentence quotes its
keys and values one way: in backticks, double or single quotes, or bare (a phrase with a
space is never bare).

Every family belongs to one split. A train task is phrased with train families only, a
holdout task with holdout families only, so no holdout sentence is a train sentence with
other keys in it. Sometimes two rules of a task share one sentence, joined by a
conjunction that is split the same way.

:func:`phrase_rules` returns the rules with their ``phrasing`` set (what the model reads)
and the family of each, for the suite's record.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Literal

from pantheon_engine.docops.rules import Rule

Split = Literal["train", "holdout"]
SPLITS: tuple[Split, ...] = ("train", "holdout")
JOIN_CHANCE = 0.2
QUOTES = ("`", '"', "'", "")
QUOTE_WEIGHTS = (4, 2, 1, 2)
_SLOT = re.compile(r"<(key|value|to|marker|section|title)>")
_CHOICE = re.compile(r"\{([^{}]*)\}")


@dataclass(frozen=True)
class Family:
    """One way of saying a rule kind (``kind``; ``and`` for the conjunction of two)."""

    name: str
    kind: str
    split: Split
    form: str


def _families(kind: str, train: dict[str, str], holdout: dict[str, str]) -> list[Family]:
    by_split: dict[Split, dict[str, str]] = {"train": train, "holdout": holdout}
    return [Family(f"{kind}.{style}.{split}", kind, split, form)
            for split, forms in by_split.items() for style, form in forms.items()]


FAMILIES: list[Family] = [
    *_families("absent", {
        "imperative": "{Remove|Delete|Drop} the <key> key{| from the front matter}.",
        "declarative": "The front matter has no <key> {key|entry|field}.",
        "modal": "<key> {must|should} not {appear|be present} in the front matter.",
        "negative": "No document may keep {the|a} <key> field.",
    }, {
        "passive": "{Any|A} <key> {entry|field} is to be {removed|deleted|taken out}.",
        "imperative": "{Get rid of|Strip|Take out} <key>{| wherever it appears| if it is "
                      "there}.",
        "negative": "There must be no <key> in the metadata{| at all}.",
        "declarative": "<key> {is obsolete|is no longer used|has been retired} and does not "
                       "belong in the metadata.",
    }),
    *_families("equals", {
        "declarative": "The <key> key {has|carries} the value <value>.",
        "imperative": "Set <key> to <value>{| (add the key if it is missing)}.",
        "modal": "<key> {must|should} {exist and |}be <value>.",
        "negative": "<key> may hold nothing but <value>, and it may not be missing.",
    }, {
        "passive": "<key> is to be set to <value>{|, added if absent}.",
        "imperative": "{Make sure|Ensure|See to it} that <key> {equals|reads} <value>.",
        "declarative": "Every document carries <key> with the value <value>.",
        "negative": "No value other than <value> is allowed for <key>, and the key may not "
                    "be left out.",
    }),
    *_families("renamed", {
        "declarative": "A key <key> is called <to> instead (same value, same place).",
        "imperative": "Rename <key> to <to>{|, keeping its value}.",
        "modal": "<key> {must|should} be renamed <to>{|; the value stays}.",
        "negative": "<key> is not an allowed name: use <to> for the same value.",
    }, {
        "passive": "The <key> key is to be renamed to <to>{| with its value unchanged}.",
        "imperative": "{Change|Switch} the name <key> to <to>{|, leaving the value alone}.",
        "declarative": "What used to be <key> is now <to>{| (the value carries over)}.",
        "negative": "No document may use the old name <key>; it is <to> now, value "
                    "unchanged.",
    }),
    *_families("date", {
        "declarative": "If there is a key <key>, its value is the same day written "
                       "YYYY-MM-DD.",
        "imperative": "Write any <key> value as YYYY-MM-DD{|, keeping the same day}.",
        "modal": "When present, <key> {must|should} be an ISO date (YYYY-MM-DD) for the same "
                 "day.",
        "negative": "<key> may not be written any way other than YYYY-MM-DD (same day).",
    }, {
        "passive": "Wherever <key> appears, it is to be rewritten as year-month-day with "
                   "dashes, same date.",
        "imperative": "{Normalise|Convert} <key> to the ISO 8601 calendar form (four-digit "
                      "year, month, day){|, keeping the date}.",
        "declarative": "Dates under <key> follow the YYYY-MM-DD pattern and keep the day "
                       "they name.",
        "negative": "No <key> value may stay in a format other than YYYY-MM-DD; the date "
                    "itself does not change.",
    }),
    *_families("list", {
        "declarative": "If there is a key <key>, its value is a YAML list of the same items, "
                       "in order.",
        "imperative": "Turn <key> into a YAML list{| of the same items}{|, keeping their "
                      "order}.",
        "modal": "<key> {must|should} be a YAML list holding the same items in the same "
                 "order.",
        "negative": "<key> may not be a plain string: make it a list of the same items, in "
                    "order.",
    }, {
        "passive": "A <key> value is to be stored as a sequence of its items, order "
                   "preserved.",
        "imperative": "{Split|Break} <key> into a proper list (one element per item, "
                      "original order).",
        "declarative": "Wherever it occurs, <key> is a YAML sequence with the original items "
                       "in their original order.",
        "negative": "No comma-separated <key> string is allowed; each item becomes a list "
                    "element, same order.",
    }),
    *_families("lowercase_keys", {
        "declarative": "Every front matter key is lowercase (keep each value).",
        "imperative": "{Lowercase|Downcase} every front matter key{|, keeping the values}.",
        "modal": "Front matter keys {must|should} be all lowercase; values stay as they are.",
        "negative": "No front matter key may contain a capital letter (values are "
                    "unchanged).",
    }, {
        "passive": "Keys with upper-case letters are to be renamed to their lower-case form, "
                   "values untouched.",
        "imperative": "Make each metadata key lower case{| without touching its value}.",
        "declarative": "The metadata uses lower-case key names only; the values remain.",
        "negative": "Capitalised key names are not allowed: spell each key in small letters, "
                    "same value.",
    }),
    *_families("title_heading", {
        "declarative": "The key <title> exists and equals the text of the document's first "
                       "`# ` heading.",
        "imperative": "Set <title> to the text of the first level-one heading.",
        "modal": "<title> {must|should} match the document's first `#` heading{| exactly}.",
        "negative": "No document may lack a <title> or have one other than its first `# ` "
                    "heading.",
    }, {
        "passive": "<title> is to be copied from the top-level heading of the body{| word "
                   "for word}.",
        "imperative": "Take the first H1 of the page and use its text as <title>.",
        "declarative": "A page's <title> is exactly what its first single-# heading says.",
        "negative": "There may be no <title> that differs from the body's first H1 (add one "
                    "if missing).",
    }),
    *_families("body_line", {
        "declarative": "The key <key> holds the name that follows <marker> in the body.",
        "imperative": "Set <key> to the person named in the body's <marker> line.",
        "modal": "<key> {must|should} be the person the body's <marker> line names.",
        "negative": "<key> may not be missing or name anyone but the person after <marker> in "
                    "the body.",
    }, {
        "passive": "<key> is to be filled in with the name given after <marker> in the text.",
        "imperative": "Read the name after <marker> in the page and {put|write} it in <key>.",
        "declarative": "Whoever the <marker> line of the page names is the <key>.",
        "negative": "No page may lack a <key> or give one other than the person named in "
                    "the <marker> line{| of the page}.",
    }),
    *_families("changelog_date", {
        "declarative": "The key <key> holds the date of the newest entry under the <section> "
                       "heading, as YYYY-MM-DD.",
        "imperative": "Set <key> to the most recent date listed in the <section> section, "
                      "written YYYY-MM-DD.",
        "modal": "<key> {must|should} be the latest date in the body's <section> list "
                 "(YYYY-MM-DD).",
        "negative": "<key> may not be missing or differ from the newest <section> entry's "
                    "date (written YYYY-MM-DD).",
    }, {
        "passive": "<key> is to be set to the day of the most recent <section> entry, in "
                   "YYYY-MM-DD form.",
        "imperative": "Find the latest dated entry under <section> and copy its day into "
                      "<key> as YYYY-MM-DD.",
        "declarative": "A page is as recent as its newest <section> item: <key> carries that "
                       "day, YYYY-MM-DD.",
        "negative": "A missing <key>, or one other than the date of the newest item in "
                    "<section> (ISO form), is not acceptable.",
    }),
    *_families("and", {
        "semicolon": "<1>; <2>",
        "and": "<1>, and <2>",
    }, {
        "addition": "<1>, and in addition <2>",
        "likewise": "<1>; likewise, <2>",
    }),
]


def families(kind: str, split: Split) -> list[Family]:
    return [f for f in FAMILIES if f.kind == kind and f.split == split]


def _quoted(value: str, quote: str) -> str:
    if not quote and re.search(r"\s", value):
        quote = '"'
    return f"{quote}{value}{quote}"


def _parameters(rule: Rule) -> dict[str, str]:
    values = {name: getattr(rule, name, None) for name in ("key", "value", "to", "marker",
                                                          "section")}
    return {name: value for name, value in values.items() if isinstance(value, str)}


def say(rule: Rule, family: Family, rng: random.Random) -> str:
    """One sentence of ``family`` that states ``rule``."""
    if family.kind != rule.kind:
        raise ValueError(f"family {family.name} does not phrase {rule.kind} rules")
    form = _CHOICE.sub(lambda m: rng.choice(m.group(1).split("|")), family.form)
    quote = rng.choices(QUOTES, QUOTE_WEIGHTS)[0]
    params = {**_parameters(rule), "title": "title"}
    text = _SLOT.sub(lambda m: _quoted(params[m.group(1)], quote), form)
    return text[:1].upper() + text[1:] if not form.startswith("<") else text


def join(first: str, second: str, second_form: str, family: Family) -> str:
    """Two sentences as one: the first without its full stop, the second's first word
    lower-cased unless it is a parameter (a key keeps its spelling)."""
    tail = second if second_form.startswith("<") else second[:1].lower() + second[1:]
    return family.form.replace("<1>", first.removesuffix(".")).replace("<2>", tail)


@dataclass(frozen=True)
class Phrased:
    """A task's rules with their sentences, and the families the sentences came from (one
    per rule, in order, then each conjunction used)."""

    rules: list[Rule]
    families: list[str]


def _with_phrasing(rule: Rule, text: str) -> Rule:
    data = {**rule.model_dump(mode="json"), "phrasing": text}
    return type(rule).model_validate(data)


def phrase_rules(rules: list[Rule], split: Split, rng: random.Random) -> Phrased:
    """``rules`` phrased with ``split``'s families; now and then two neighbours share one
    sentence (both carry it, so the prompt shows it once)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}")
    out: list[Rule] = []
    used: list[str] = []
    joined: list[str] = []
    index = 0
    while index < len(rules):
        rule = rules[index]
        family = rng.choice(families(rule.kind, split))
        text = say(rule, family, rng)
        used.append(family.name)
        group = [rule]
        if index + 1 < len(rules) and rng.random() < JOIN_CHANCE:
            other = rules[index + 1]
            other_family = rng.choice(families(other.kind, split))
            conjunction = rng.choice(families("and", split))
            text = join(text, say(other, other_family, rng), other_family.form, conjunction)
            used.append(other_family.name)
            joined.append(conjunction.name)
            group.append(other)
        out += [_with_phrasing(each, text) for each in group]
        index += len(group)
    return Phrased(out, used + joined)
