"""AgentRef: ``name@N`` parsed once, with errors that name the text."""

from __future__ import annotations

import pytest

from pantheon_engine.agents.ref import AgentRef
from pantheon_engine.errors import SpecError, UserError


@pytest.mark.parametrize(("text", "name", "version"), [
    ("doc.frontmatter", "doc.frontmatter", None),
    ("doc.frontmatter@2", "doc.frontmatter", 2),
    ("codegen@1", "codegen", 1),
    ("  review.peer@12 ", "review.peer", 12),
])
def test_parse_reads_the_name_and_the_version(text: str, name: str,
                                              version: int | None) -> None:
    ref = AgentRef.parse(text)
    assert (ref.name, ref.version) == (name, version)


@pytest.mark.parametrize("text", ["doc.frontmatter", "doc.frontmatter@2", "codegen@10"])
def test_str_round_trips(text: str) -> None:
    assert str(AgentRef.parse(text)) == text
    assert AgentRef.parse(str(AgentRef.parse(text))) == AgentRef.parse(text)


def test_str_of_a_constructed_ref() -> None:
    assert str(AgentRef("doc.frontmatter")) == "doc.frontmatter"
    assert str(AgentRef("doc.frontmatter", 3)) == "doc.frontmatter@3"


def test_refs_are_frozen_values() -> None:
    ref = AgentRef.parse("codegen@2")
    assert ref == AgentRef("codegen", 2)
    assert {ref, AgentRef("codegen", 2)} == {ref}
    with pytest.raises(AttributeError):
        ref.version = 3  # type: ignore[misc]


@pytest.mark.parametrize(("text", "why"), [
    ("x@", "no version after the @"),
    ("x@abc", "must be a number, not 'abc'"),
    ("x@1@2", "must be a number, not '1@2'"),
    ("x@-1", "must be a number"),
    ("@3", "no agent name before the @"),
    ("", "no agent name"),
    ("doc frontmatter", "no blanks"),
])
def test_a_bad_ref_is_a_spec_error_naming_the_text(text: str, why: str) -> None:
    with pytest.raises(SpecError) as caught:
        AgentRef.parse(text)
    assert caught.value.message.startswith(f"{text!r} is not an agent reference")
    assert why in caught.value.message
    assert caught.value.hint == "write NAME or NAME@N, e.g. doc.frontmatter@2"
    # a user error: the command exits 2 before anything runs
    assert isinstance(caught.value, UserError) and caught.value.exit_code == 2


@pytest.mark.parametrize(("text", "name"), [
    ("doc.frontmatter@2", "doc.frontmatter"),
    ("doc.frontmatter", "doc.frontmatter"),
    ("custom@0.1.0", "custom"),  # an agent file may declare any version string
    ("x@", "x"),
])
def test_name_of_reads_recorded_refs_without_failing(text: str, name: str) -> None:
    assert AgentRef.name_of(text) == name
