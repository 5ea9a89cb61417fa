"""Input and output models of the built-in agents (the contracts between flow nodes)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


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


class MergeInput(BaseModel):
    reviews: list[Review]


class MergeResult(BaseModel):
    merged: bool
    branch: str
    commit: str
    files_changed: int
    reviews: list[Review]


class DocTask(BaseModel):
    """A front-matter micro-task on one Markdown file."""

    model_config = ConfigDict(extra="ignore")

    path: str = Field(min_length=1)
    set: dict[str, str] = Field(default_factory=dict)
    delete: list[str] = Field(default_factory=list)
    rename: dict[str, str] = Field(default_factory=dict)
    workspace: str | None = None


class DocFinal(BaseModel):
    summary: str = Field(max_length=120)
