"""Draw docops documents: varied Markdown bodies and front matter as messy as real ones.

Every draw takes its keys, values, people and subjects from one :class:`Vocab` (the house
the document belongs to). A house with markers and changelog headings also gives some
bodies a marker line (``Maintained by Ada Byron.``) and a changelog section, the places the
``body_line`` and ``changelog_date`` rules read their values from. The classic house has
neither, so its documents are drawn exactly as before those rules existed.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from pantheon_engine.docops.rules import Rule
from pantheon_engine.docops.vocab import CLASSIC, ROLES, Vocab

TITLE_FORMS = [
    "{S}", "A guide to {s}", "Notes on {s}", "How we handle {s}", "{S}: a primer",
    "Working with {s}", "{S} in practice", "Getting started with {s}", "{S} FAQ",
    "Troubleshooting {s}", "Why we changed {s}", "{S}, step by step", "Rethinking {s}",
    "{S} checklist", "Lessons from {s}", "{S} (2nd edition)",
]
SECTIONS = ["Background", "Why it matters", "How it works", "Steps", "Pitfalls", "See also",
            "Open questions", "Examples", "Rollout", "Who to ask"]
SENTENCES = [
    "This page explains {s} for new team members.",
    "Most questions about {s} come up during the first week.",
    "The {team} team owns {s} and reviews every change to it.",
    "We revisited {s} after the last incident review.",
    "Run `{cmd}` before you change anything related to {s}.",
    "Changes to {s} ship behind a flag for {n} days.",
    "If something looks wrong, ask in #{channel} first.",
    "Keep each change small; {s} is easier to review that way.",
    "The numbers below were measured on the staging cluster.",
    "Older notes about {s} live in the archive and are no longer maintained.",
    "A checklist at the end summarises what to verify.",
    "Expect about {n} minutes for the whole procedure.",
    "Nothing here replaces the runbook; it links to it.",
    "We document decisions about {s} so that they can be revisited.",
]
TEAMS = ["platform", "docs", "payments", "infra", "mobile", "search", "security", "data"]
COMMANDS = ["make check", "make docs", "just test", "npm run lint", "pytest -q",
            "cargo test", "go vet ./...", "tox -e py311"]
CHANNELS = ["help-platform", "docs", "ops", "releases", "security-questions"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]
#: keys that no rule ever names: a change must leave them alone
EXTRA_KEYS: dict[str, list[str | int | bool]] = {
    "weight": [1, 5, 10, 20], "toc": [True, False],
    "series": ["Platform basics", "Operations", "Release notes"],
    "reading_time": ["4 min", "10 min", "2 min"],
    "audience": ["engineers", "everyone", "new hires"],
    "nav_order": [1, 2, 3, 7], "cover_image": ["/img/cover.png", "img/hero.jpg"],
    "sidebar_label": ["Overview", "Guide", "FAQ"]}
#: how often each role's key is in a document's front matter
ROLE_CHANCES = dict(zip(ROLES, (0.7, 0.65, 0.8, 0.25, 0.6, 0.2, 0.35, 0.2, 0.4, 0.3, 0.15),
                        strict=True))
MARKER_CHANCE = 0.45
CHANGELOG_CHANCE = 0.4


@dataclass
class Entry:
    """One front matter line: a key and its value as written after ``key:``."""

    key: str
    text: str


@dataclass
class Doc:
    heading: str
    body: str
    entries: list[Entry] | None  # None: the document has no front matter at all
    rules: list[Rule] = field(default_factory=list)
    #: the marker the body has a line for, the changelog heading it has (None: none)
    marker: str | None = None
    section: str | None = None

    def render(self) -> str:
        if self.entries is None:
            return self.body
        lines = "".join(f"{e.key}:{e.text}\n" for e in self.entries)
        return f"---\n{lines}---\n{self.body}"

    def key_names(self) -> list[str]:
        return [e.key for e in self.entries or []]


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def heading(rng: random.Random, vocab: Vocab = CLASSIC) -> tuple[str, str]:
    """A page heading and the subject it is about."""
    subject = rng.choice(vocab.subjects)
    return rng.choice(TITLE_FORMS).format(s=subject, S=_cap(subject)), subject


def slug(text: str) -> str:
    made = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return made[:40].rstrip("-") or "doc"


def _sentences(rng: random.Random, subject: str, count: int) -> list[str]:
    return [form.format(s=subject, team=rng.choice(TEAMS), cmd=rng.choice(COMMANDS),
                        n=rng.randint(2, 30), channel=rng.choice(CHANNELS))
            for form in rng.sample(SENTENCES, count)]


def _marker_line(rng: random.Random, vocab: Vocab) -> tuple[str, str]:
    marker, name = rng.choice(vocab.markers), rng.choice(vocab.people)
    form = rng.choice(["{m} {n}.", "_{m} {n}._", "{m}: {n}", "{m} **{n}**.", "*{m} {n}*"])
    return marker, form.format(m=marker, n=name) + "\n"


def _entry_day(rng: random.Random, day: dt.date) -> str:
    """A changelog entry's day: year first or a month name, never a time or quotes."""
    month = MONTHS[day.month - 1]
    return rng.choice([day.isoformat(), f"{day.year}/{day.month:02d}/{day.day:02d}",
                       f"{month} {day.day}, {day.year}", f"{month[:3]} {day.day}, {day.year}",
                       f"{day.day} {month[:3]} {day.year}", f"{day.day} {month} {day.year}"])


def _changelog(rng: random.Random, vocab: Vocab) -> tuple[str, str]:
    """A changelog section: two to four entries on different days, newest first or last."""
    section = rng.choice(vocab.sections)
    days = [vocab.day(n) for n in sorted(rng.sample(range(vocab.days), rng.randint(2, 4)))]
    if rng.random() < 0.5:
        days.reverse()
    separator = rng.choice([": ", " — ", " - "])
    lines = "".join(f"- {_entry_day(rng, day)}{separator}{rng.choice(vocab.changes)}\n"
                    for day in days)
    return section, f"## {section}\n\n{lines}"


def body(rng: random.Random, title: str, subject: str,
         vocab: Vocab = CLASSIC) -> tuple[str, str | None, str | None]:
    """A Markdown body headed ``# title``; and its marker and changelog heading, if any."""
    parts = []
    if rng.random() < 0.1:
        parts.append("<!-- generated page: edit the source, not the export -->\n")
    parts.append(f"# {title}\n")
    after_heading = len(parts)
    for index in range(rng.randint(1, 4)):
        if index and rng.random() < 0.5:
            parts.append(f"## {rng.choice(SECTIONS)}\n")
        kind = rng.random()
        if kind < 0.15:
            items = _sentences(rng, subject, rng.randint(2, 4))
            parts.append("".join(f"- {item}\n" for item in items))
        elif kind < 0.25:
            command = rng.choice(COMMANDS)
            parts.append(f"```sh\n# run from the repository root\n{command}\n```\n")
        else:
            parts.append(" ".join(_sentences(rng, subject, rng.randint(1, 3))) + "\n")
    marker = section = None
    if vocab.markers and rng.random() < MARKER_CHANCE:
        marker, line = _marker_line(rng, vocab)
        parts.insert(rng.choice([after_heading, len(parts)]), line)
    if vocab.sections and rng.random() < CHANGELOG_CHANCE:
        section, block = _changelog(rng, vocab)
        parts.append(block)
    return "\n".join(parts), marker, section


def yaml_value(value: Any) -> str:
    """``value`` as YAML after ``key:`` in the plainest form that reads back the same."""
    if isinstance(value, list):
        return " " + yaml.safe_dump(value, allow_unicode=True, width=1000,
                                    default_flow_style=True).strip()
    dumped = yaml.safe_dump({"k": value}, allow_unicode=True, width=1000,
                            default_flow_style=False)
    return dumped[len("k:"):].rstrip("\n")


def _messy_string(rng: random.Random, value: str) -> str:
    roll = rng.random()
    if roll < 0.15 and '"' not in value and "\\" not in value:
        return f' "{value}"'
    if roll < 0.25:
        return " '" + value.replace("'", "''") + "'"
    return yaml_value(value)


def date_text(rng: random.Random, day: dt.date, *, clean: bool = False) -> str:
    """``day`` as written after ``date:``, in one of the spellings real front matter has.

    Every spelling names exactly one day: the year comes first (``2024/03/05``,
    ``20240305``, ``2024.03.05``, ISO with or without a time, quoted ISO) or the month is
    named (``March 5, 2024``, ``5 Mar 2024``). Never ``05/03/2024``: that could be the 5th
    of March or the 3rd of May, and the check (which requires the day the original names)
    does not guess.
    """
    if clean:
        return f" {day.isoformat()}"
    forms = [
        lambda d: f" {d.isoformat()}",
        lambda d: f" {d.year}/{d.month:02d}/{d.day:02d}",
        lambda d: f" {MONTHS[d.month - 1]} {d.day}, {d.year}",
        lambda d: f" {MONTHS[d.month - 1][:3]} {d.day}, {d.year}",
        lambda d: f" {d.day} {MONTHS[d.month - 1][:3]} {d.year}",
        lambda d: f" {d.day} {MONTHS[d.month - 1]} {d.year}",
        lambda d: f" {d.year}{d.month:02d}{d.day:02d}",
        lambda d: f" {d.year}.{d.month:02d}.{d.day:02d}",
        lambda d: f" {d.isoformat()}T{rng.randint(7, 18):02d}:{rng.choice([0, 15, 30]):02d}:00",
        lambda d: f' "{d.isoformat()}"',
    ]
    weights = [2, 3, 3, 2, 2, 1, 2, 1, 1, 1]
    return rng.choices(forms, weights)[0](day)


def words_text(rng: random.Random, words: list[str]) -> str:
    """``words`` (or only the first) as written after ``tags:``: a comma or semicolon
    string, one word, a flow list or a block list; each holds its words in order."""
    roll = rng.random()
    if roll < 0.45:
        return " " + ", ".join(words)
    if roll < 0.55:
        return " " + ";".join(words)
    if roll < 0.65:
        return " " + words[0]
    if roll < 0.85:
        return " [" + ", ".join(words) + "]"
    return "".join(f"\n  - {w}" for w in words)


def _bool_text(rng: random.Random, value: bool) -> str:
    spellings = ["true", "True", "yes"] if value else ["false", "False", "no"]
    return " " + rng.choices(spellings, [6, 2, 1])[0]


def _role_value(rng: random.Random, role: str, title: str, vocab: Vocab) -> str:
    if role == "title":
        stale = [title, title, title.lower(), f"{title} (draft)", "Untitled",
                 heading(rng, vocab)[0], title.upper()]
        return _messy_string(rng, rng.choice(stale))
    if role == "author":
        return _messy_string(rng, rng.choice(vocab.people))
    if role in ("date", "updated"):
        return date_text(rng, vocab.first_day + dt.timedelta(days=rng.randint(0, vocab.days - 1)))
    if role == "tags":
        return words_text(rng, rng.sample(vocab.tag_words, rng.randint(1, 4)))
    if role == "categories":
        return words_text(rng, rng.sample(vocab.category_words, rng.randint(1, 3)))
    if role == "description":
        return _messy_string(rng, f"What to know about {title.lower()}.")
    if role == "slug":
        return yaml_value(slug(title))
    if role == "draft":
        return _bool_text(rng, rng.random() < 0.6)
    if role == "status":
        return " " + rng.choice(vocab.status_words)
    if role == "category":
        return " " + rng.choice(vocab.category_words)
    raise ValueError(role)  # pragma: no cover - every role is listed above


def front_matter(rng: random.Random, title: str, vocab: Vocab = CLASSIC) -> list[Entry] | None:
    """A messy front matter for a page headed ``title`` (None: the page has none)."""
    if rng.random() < 0.04:
        return None
    taken: set[str] = set()
    entries: list[Entry] = []
    upper_left = rng.choice([0, 1, 1, 2, 2, 3])
    for role, chance in ROLE_CHANCES.items():
        if rng.random() >= chance:
            continue
        spellings = list(vocab.key_spellings[role])
        if upper_left <= 0:
            spellings = [k for k in spellings if k == k.lower()]
        key = rng.choice(spellings)
        if key.lower() in taken or vocab.renames.get(key, "") in taken:
            continue
        if key != key.lower():
            upper_left -= 1
        taken.add(key.lower())
        entries.append(Entry(key, _role_value(rng, role, title, vocab)))
    for pool in (vocab.legacy_keys, EXTRA_KEYS):
        for key in rng.sample(sorted(pool), rng.choice([0, 1, 1, 2])):
            value = rng.choice(pool[key])
            text = _bool_text(rng, value) if isinstance(value, bool) else yaml_value(value)
            entries.append(Entry(key, text))
    title_first = bool(entries) and entries[0].key.lower() == "title" and rng.random() < 0.8
    head, rest = (entries[:1], entries[1:]) if title_first else ([], entries)
    rng.shuffle(rest)
    return head + rest


def draw_document(rng: random.Random, vocab: Vocab = CLASSIC) -> Doc:
    """A page of ``vocab``'s house, without rules yet."""
    title, subject = heading(rng, vocab)
    text, marker, section = body(rng, title, subject, vocab)
    return Doc(title, text, front_matter(rng, title, vocab), marker=marker, section=section)
