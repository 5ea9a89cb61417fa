"""Input and output models of the built-in agents (the contracts between flow nodes)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pantheon_engine.docops.rules import KeyAbsent, KeyEquals, KeyRenamed, Rule


class Spec(BaseModel):
    """A task spec: what to build, where, and how we will know it is done."""

    model_config = ConfigDict(extra="ignore")

    title: str = Field(min_length=3, max_length=200)
    scope: str = Field(min_length=3, max_length=4_000)
    acceptance: list[str] = Field(min_length=1, max_length=30)
    files: list[str] = Field(min_length=1, max_length=20,
                             description="files the change may write, relative to the workspace")
    tests: str = Field(default="tests", description="test path run by test.pytest")
    workspace: str | None = None


class Plan(Spec):
    """A spec that passed plan.validate, with the contents of the files it names."""

    steps: list[str]
    existing: dict[str, str] = Field(default_factory=dict,
                                     description="current content of the spec's files")


class CodePatch(BaseModel):
    model_config = ConfigDict(extra="ignore")

    diff: str
    files_changed: int
    lines_added: int
    lines_removed: int
    summary: str = ""


class CodegenFinal(BaseModel):
    summary: str = Field(max_length=120)


class TestReport(BaseModel):
    model_config = ConfigDict(extra="ignore")
    __test__ = False  # not a pytest class

    passed: bool
    test_summary: str
    counts: dict[str, int] = Field(default_factory=dict)
    check: str = "pytest"

    @property
    def check_passed(self) -> bool:
        return self.passed


class ReviewInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    diff: str
    summary: str = ""
    passed: bool | None = None
    test_summary: str = ""


class ReviewVerdict(BaseModel):
    verdict: Literal["pass", "fail"]
    rationale: str = Field(min_length=1, max_length=120)


class Review(ReviewVerdict):
    reviewer: str


class CheckOutcome(BaseModel):
    check: str
    passed: bool


class MergeInput(BaseModel):
    reviews: list[Review]
    checks: list[CheckOutcome] = Field(default_factory=list)


class MergeResult(BaseModel):
    merged: bool
    branch: str
    commit: str
    files_changed: int
    reviews: list[Review]
    #: the shared remote the branch was pushed to (a night of several workers), if any
    remote: str | None = None


class DocTask(BaseModel):
    """A front-matter micro-task: one Markdown file and the house rules it must meet.

    The rules say what a compliant file looks like; which edits get there is the model's
    decision. The older edit-list shape (``set``/``delete``/``rename``) is read as the
    equivalent rules (``equals``, ``absent``, ``renamed``).
    """

    model_config = ConfigDict(extra="ignore")

    path: str = Field(min_length=1, max_length=300)
    rules: list[Rule] = Field(min_length=1, max_length=20)
    workspace: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _edits_as_rules(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not any(k in data for k in ("set", "delete", "rename")):
            return data
        rules: list[Any] = list(data.get("rules") or [])
        rules += [KeyRenamed(key=k, to=v) for k, v in (data.get("rename") or {}).items()]
        rules += [KeyAbsent(key=k) for k in data.get("delete") or []]
        rules += [KeyEquals(key=k, value=str(v)) for k, v in (data.get("set") or {}).items()]
        rest = {k: v for k, v in data.items() if k not in ("set", "delete", "rename")}
        return {**rest, "rules": rules}


class DocFinal(BaseModel):
    summary: str = Field(max_length=120)


class RulesCheck(BaseModel):
    """What ``check.rules`` found: the verdict from the files, and the change it graded."""

    model_config = ConfigDict(extra="ignore")

    check: str = "rules"
    check_passed: bool
    rules_met: int
    rules_total: int
    failed: list[str] = Field(default_factory=list)
    diff: str = ""
    summary: str = ""
