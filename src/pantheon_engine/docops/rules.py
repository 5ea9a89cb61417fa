"""House rules for a document's front matter: typed, each with the English the model reads.

A rule says what a compliant document looks like, never which edit gets there: the model
reads ``rule.text()`` and decides the edits itself. Whether a document complies is
decided by :mod:`pantheon_engine.docops.check`, which has its own parser.

Each kind has a fixed wording (its template). A rule may instead carry its own wording in
``phrasing`` (a paraphrased suite, :mod:`pantheon_engine.docops.phrasing`): the model then
reads that sentence, while the check still goes by the rule's kind and parameters. Two
rules may share one sentence (the same ``phrasing``, next to each other); the prompt
shows it once.

Most kinds take their value from the rule. Two take it from the document's body:
``body_line`` (the name on the line that starts with a marker, such as "Maintained by")
and ``changelog_date`` (the newest date listed under a section heading, such as
"Changelog"); the check reads the value from the document.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    ValidationError,
    model_serializer,
)

from pantheon_engine import file_problems
from pantheon_engine.errors import SpecError

#: a front matter key as rules name it (the model may still type any bounded key)
KEY_PATTERN = r"^[A-Za-z_][A-Za-z0-9_-]{0,39}$"
Key = Annotated[str, Field(pattern=KEY_PATTERN)]
#: one line of text: a rule's wording is one numbered line of the prompt
_LINE = r"^[^\n\r]+$"
#: a phrase a rule quotes from the body (a marker, a section heading): no backticks
Phrase = Annotated[str, Field(min_length=1, max_length=60, pattern=r"^[^\n\r`]+$")]


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: the sentence the model reads for this rule, when not the kind's template
    phrasing: str | None = Field(default=None, min_length=1, max_length=400, pattern=_LINE)

    @model_serializer(mode="wrap")
    def _without_absent_phrasing(self, handler: SerializerFunctionWrapHandler,
                                 info: SerializationInfo) -> dict[str, Any]:
        """A rule without its own wording dumps as before phrasings existed."""
        data: dict[str, Any] = handler(self)
        phrasing = data.pop("phrasing", None)
        if phrasing is not None:  # after the parameters, the way a reader scans a rule
            data["phrasing"] = phrasing
        return data

    def text(self) -> str:
        """What the model reads: the rule's own phrasing, else its kind's template."""
        return self.phrasing or self.template()

    def template(self) -> str:  # pragma: no cover - every rule overrides it
        raise NotImplementedError

    def plain(self) -> _Rule:
        """The same rule without its own wording (what the rule requires, nothing else)."""
        return self.model_copy(update={"phrasing": None})

    @property
    def label(self) -> str:
        """A short, stable name for reports: the kind and its key."""
        key = getattr(self, "key", None)
        return f"{self.kind}:{key}" if key else str(self.kind)  # type: ignore[attr-defined]


class LowercaseKeys(_Rule):
    kind: Literal["lowercase_keys"] = "lowercase_keys"

    def template(self) -> str:
        return "Every front matter key is lowercase (keep each value)."


class KeyAbsent(_Rule):
    kind: Literal["absent"] = "absent"
    key: Key

    def template(self) -> str:
        return f"The front matter has no key `{self.key}`."


class KeyEquals(_Rule):
    kind: Literal["equals"] = "equals"
    key: Key
    value: str = Field(min_length=1, max_length=80)

    def template(self) -> str:
        return f"The key `{self.key}` has the value `{self.value}`."


class KeyRenamed(_Rule):
    kind: Literal["renamed"] = "renamed"
    key: Key
    to: Key

    def template(self) -> str:
        return (f"A key `{self.key}` is called `{self.to}` instead "
                "(same value, same place).")


class DateValue(_Rule):
    kind: Literal["date"] = "date"
    key: Key

    def template(self) -> str:
        return (f"If there is a key `{self.key}`, its value is the same day written "
                "YYYY-MM-DD.")


class ListValue(_Rule):
    kind: Literal["list"] = "list"
    key: Key

    def template(self) -> str:
        return (f"If there is a key `{self.key}`, its value is a YAML list of the same "
                "items, in order.")


class TitleFromHeading(_Rule):
    kind: Literal["title_heading"] = "title_heading"

    def template(self) -> str:
        return "The key `title` exists and equals the text of the document's first `# ` heading."


class BodyLine(_Rule):
    """The key holds the name on the body's line that starts with ``marker``."""

    kind: Literal["body_line"] = "body_line"
    key: Key
    marker: Phrase

    def template(self) -> str:
        return (f"The key `{self.key}` exists and holds the name that follows `{self.marker}` "
                "on the body line that starts with it.")


class ChangelogDate(_Rule):
    """The key holds the newest day listed under the body's ``section`` heading."""

    kind: Literal["changelog_date"] = "changelog_date"
    key: Key
    section: Phrase

    def template(self) -> str:
        return (f"The key `{self.key}` exists and holds the newest date listed under the "
                f"`{self.section}` heading of the body, written YYYY-MM-DD.")


Rule = Annotated[
    LowercaseKeys | KeyAbsent | KeyEquals | KeyRenamed | DateValue | ListValue
    | TitleFromHeading | BodyLine | ChangelogDate,
    Field(discriminator="kind"),
]
RULE_KINDS = ("lowercase_keys", "absent", "equals", "renamed", "date", "list", "title_heading",
              "body_line", "changelog_date")
_KINDS_HINT = f"each rule is an object with a kind, one of: {', '.join(RULE_KINDS)}"


class _RulesFile(BaseModel):
    """A rules file written as a mapping: ``rules:`` and nothing else."""

    model_config = ConfigDict(extra="forbid")
    rules: list[Rule]


def parse_rules(data: Any, *, source: str = "rules",
                lines: file_problems.Lines | None = None) -> list[Rule]:
    """Validate a list of rule objects (or a mapping with a ``rules`` list); every bad rule
    and unknown key is named in one :class:`SpecError`, each with its line when ``lines``
    (the file's, :func:`~pantheon_engine.file_problems.yaml_lines`) are given."""
    if data is None:
        raise SpecError(f"{source}: the rules file is empty", hint=_KINDS_HINT)
    if not isinstance(data, list | dict):
        raise SpecError(f"{source}: expected a list of rules, or a mapping with `rules:`, "
                        f"not {type(data).__name__}", hint=_KINDS_HINT)
    if isinstance(data, list):  # a bare list: read as the `rules:` of a mapping
        data = {"rules": data}
        lines = {("rules", *loc): line for loc, line in (lines or {}).items()}
    try:
        rules = _RulesFile.model_validate(data).rules
    except ValidationError as exc:
        problems = file_problems.validation_problems(
            exc, file=source, data=data, lines=lines or {},
            schema=file_problems.schema_of(_RulesFile))
        raise SpecError(file_problems.problems_text(problems), hint=_KINDS_HINT) from None
    if not rules:
        raise SpecError(f"{source}: no rules", hint="list at least one rule")
    return rules


def load_rules_file(path: Path) -> list[Rule]:
    """Rules from a YAML or JSON file: a list, or a mapping with a ``rules`` list."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise SpecError(f"{path}: cannot read the rules file: {why}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SpecError(str(file_problems.yaml_syntax_problem(exc, str(path))),
                        hint="check the indentation and quoting on that line") from None
    return parse_rules(data, source=str(path), lines=file_problems.yaml_lines(text))


def rule_sentences(rules: list[Rule]) -> list[str]:
    """The rules' texts in order, a sentence that states several rules in a row once."""
    sentences: list[str] = []
    for rule in rules:
        text = rule.text()
        if not sentences or text != sentences[-1] or rule.phrasing is None:
            sentences.append(text)
    return sentences


def rules_text(rules: list[Rule]) -> str:
    """The house rules as the model reads them, one numbered line per sentence."""
    return "\n".join(f"{i}. {text}" for i, text in enumerate(rule_sentences(rules), 1))


def rules_json(rules: list[Rule]) -> list[dict[str, Any]]:
    return [rule.model_dump(mode="json") for rule in rules]
